"""The audit log: recorded automatically for admin and money actions, append-only, readable by representatives."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from marketplace.audit import services as audit
from marketplace.audit.models import AppendOnlyViolation, AuditEntry
from marketplace.extensions import db
from marketplace.members.models import College, MembershipStatus
from marketplace.members.services import apply_for_membership, approve_membership, change_membership_status, register
from tests.factories import PASSWORD, get_admin, login, make_member


def _entries(action: str) -> list[AuditEntry]:
    return db.session.query(AuditEntry).filter_by(action=action).order_by(AuditEntry.id).all()


def test_membership_approval_is_recorded_with_the_admin_and_before_after(app):
    admin = get_admin()
    user = register("applicant@test.coop", PASSWORD, "Ann Applicant", confirmed=True)
    membership = apply_for_membership(user, College.BUYER)
    db.session.commit()
    approve_membership(admin, membership.id)
    db.session.commit()
    [entry] = _entries("membership.active")
    assert entry.actor_id == admin.id
    assert entry.subject_type == "memberships" and entry.subject_id == str(membership.id)
    assert entry.before["status"] == "pending" and entry.after["status"] == "active"
    assert entry.after["member_number"] == membership.member_number


def test_a_suspension_rolled_back_leaves_no_entry(app):
    member = make_member("sue@test.coop")
    db.session.commit()
    change_membership_status(get_admin(), member.membership.id, MembershipStatus.SUSPENDED, "unpaid shares")
    db.session.rollback()
    assert _entries("membership.suspended") == []


def test_settings_changed_through_the_console_are_recorded(app, client):
    admin = get_admin()
    db.session.commit()
    login(client, admin)
    response = client.post("/admin/settings", data={
        "coop_name": "Coop Renamed", "colour_primary": "#112233", "colour_accent": "#e8a33d",
        "share_nominal": "25.00", "weight_margin_percent": "20"})
    assert response.status_code == 302
    entries = {e.subject_id: e for e in db.session.query(AuditEntry).filter(AuditEntry.subject_type == "settings")}
    assert entries["coop_name"].after == {"value": "Coop Renamed"}
    assert entries["coop_name"].actor_id == admin.id
    assert entries["share_nominal_cents"].after == {"value": "2500"}


def test_entries_cannot_be_changed_or_deleted(app):
    entry = audit.record(None, "test.action", ("orders", 1), {"a": 1}, {"a": 2})
    db.session.commit()
    entry.note = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(AppendOnlyViolation):
        db.session.query(AuditEntry).filter_by(id=entry.id).update({"note": "x"})
    db.session.rollback()
    with pytest.raises(AppendOnlyViolation):
        db.session.execute(db.delete(AuditEntry).where(AuditEntry.id == entry.id))
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).note == ""


def test_readers_are_admins_and_representatives_only(app, client):
    admin = get_admin()
    rep = make_member("rep@test.coop")
    other = make_member("other@test.coop")
    audit.record(admin, "test.visible", ("orders", 7), {}, {"x": 1})
    db.session.commit()

    login(client, other)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    client.post("/logout")

    login(client, admin)
    assert client.post("/audit/readers", data={"email": "rep@test.coop"}).status_code == 302
    assert client.post("/audit/readers", data={"email": "nobody@test.coop"}).status_code == 404
    client.post("/logout")

    login(client, rep)
    page = client.get("/audit/")
    assert page.status_code == 200 and b"test.visible" in page.data
    assert client.get("/audit/readers").status_code == 403
    csv = client.get("/audit/export.csv")
    assert csv.status_code == 200 and csv.data.startswith("\ufeff".encode()) and b"audit.reader_granted" in csv.data
    granted = _entries("audit.reader_granted")[0]
    assert granted.actor_id == admin.id and granted.subject_id == str(rep.id)


def test_a_representative_who_left_loses_access(app, client):
    admin = get_admin()
    rep = make_member("rep2@test.coop")
    db.session.commit()
    audit.grant_reader(admin, "rep2@test.coop")
    change_membership_status(admin, rep.membership.id, MembershipStatus.LEFT, "moved away")
    db.session.commit()
    login(client, rep)
    assert client.get("/audit/").status_code == 403


def test_postgres_trigger_refuses_raw_sql(pg_app):
    audit.record(None, "test.pg", ("orders", 1), {}, {})
    db.session.commit()
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET note = 'x'"))
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    assert db.session.query(AuditEntry).count() == 1
