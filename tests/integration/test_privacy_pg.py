"""Personal data on the real PostgreSQL: export, then erasure that keeps the books and the audit log intact."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import Enum, String, Text, select, text

from marketplace.billing import services as billing
from marketplace.billing.models import DuesEntry, Statement
from marketplace.disputes import services as disputes
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.members.models import MembershipStatus, User
from tests.admin_fixtures import pg_coop  # noqa: F401
from tests.billing_fixtures import add_cost, adopt_rule, last_month
from tests.factories import PASSWORD, get_admin, login
from tests.privacy_fixtures import identifiers, leftovers, member_with_a_past, numbers

pytestmark = pytest.mark.integration

PERSONAL = ("marie@test.coop", "Marie Curie", "0600000000", "3 rue Kervégan")


def _rows(table: str, exclude: tuple[str, ...] = ()) -> list[dict]:
    columns = db.metadata.tables[table].c
    query = select(*[c for c in columns if c.name not in exclude]).order_by(columns.id)
    return [dict(r) for r in db.session.execute(query).mappings()]


def _books(buyer_id: int) -> dict:
    """The accounting rows that must survive an erasure unchanged (addresses and notes may go)."""
    return {"orders": _rows("orders", exclude=("delivery_address", "delivery_postcode", "delivery_town",
                                               "delivery_code", "note", "updated_at")),
            "order_parts": _rows("order_parts"), "order_lines": _rows("order_lines"),
            "billing_statements": _rows("billing_statements"), "billing_dues": _rows("billing_dues"),
            "disputes": _rows("disputes", exclude=("note",)), "memberships": db.session.execute(text(
                "SELECT id, member_number, college, shares_count, share_nominal_cents FROM memberships "
                "WHERE user_id = :u"), {"u": buyer_id}).mappings().all()}


def _audit() -> list[tuple]:
    return [tuple(r) for r in db.session.execute(text("SELECT * FROM audit_log ORDER BY id"))]


# Kept as issued whatever happens, as the law requires: the audit log, and invoices (with what is to be
# invoiced), whose buyer's name and address must stay for ten years (C. com. L123-22; GDPR art. 17(3)(b)).
KEPT_BY_LAW = {"audit_log", "invoices", "invoice_drafts"}


def _personal_leftovers() -> list[str]:
    """Every text column (those kept by law aside) still holding one of Marie's personal values."""
    leftovers = []
    for table in db.metadata.sorted_tables:
        if table.name in KEPT_BY_LAW:
            continue
        for column in table.columns:
            if isinstance(column.type, (String, Text)) and not isinstance(column.type, Enum) and not column.foreign_keys:
                for value in PERSONAL:
                    if db.session.execute(select(column).where(column.contains(value)).limit(1)).first():
                        leftovers.append(f"{table.name}.{column.name} holds {value!r}")
    return leftovers


@pytest.fixture
def books(pg_coop):
    """Last month closed (statements and dues for every member) and a settled dispute on Marie's order."""
    admin = get_admin()
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 2, "courier": 1, "buyer": 1})
    add_cost(12_000, last_month() + timedelta(days=3))
    billing.close_month(admin, last_month())
    line = next(l for p in pg_coop["done_order"].parts for l in p.lines if l.product_name == "Carrots")
    dispute = disputes.open_dispute(pg_coop["buyer"], line.id, DisputeReason.MISSING, "Only one bunch")
    disputes.resolve_dispute(admin, dispute.id, DisputeStatus.CREDITED, 280, "One bunch credited")
    # The credit went to her member account; it is handed back before she leaves (erasure waits for it).
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import Means

    accounts.record_payback(admin, pg_coop["buyer"].id, Means.CASH)
    db.session.commit()
    return pg_coop


def test_export_on_postgres_holds_orders_statements_and_no_secret(pg_app, pg_client, books):
    buyer = books["buyer"]
    login(pg_client, buyer)
    response = pg_client.get("/me/data/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        tables = json.loads(archive.read("data.json"))["tables"]
    assert tables["users"][0]["email"] == "marie@test.coop" and "password_hash" not in tables["users"][0]
    assert [o["reference"] for o in tables["orders"]] == [books["done_order"].reference]
    assert sorted(line["product_name"] for line in tables["order_lines"]) == ["Carrots", "Goat cheese"]
    [statement] = tables["billing_statements"]
    assert statement["user_id"] == buyer.id and statement["total_cents"] >= 50
    assert tables["disputes"][0]["note"] == "Only one bunch"
    dumped = json.dumps(tables, ensure_ascii=False)
    assert "paul@test.coop" not in dumped and "$argon2" not in dumped
    db.session.expire_all()
    assert db.session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'privacy.data_exported' "
                                   "AND actor_id = :u"), {"u": buyer.id}).scalar() == 1


def test_erasure_on_postgres_keeps_the_books_and_the_audit_log(pg_app, pg_client, books):
    buyer_id = books["buyer"].id
    db.session.expire_all()
    books_before, audit_before = _books(buyer_id), _audit()
    assert books_before["billing_statements"] and books_before["billing_dues"]
    assert db.session.query(Statement).filter_by(user_id=buyer_id).count() == 1

    login(pg_client, "marie@test.coop")
    response = pg_client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"})
    assert response.status_code == 302

    db.session.expire_all()
    # Accounting rows: every order, part, line, statement, dues entry and dispute is still there, unchanged.
    assert _books(buyer_id) == books_before
    assert db.session.query(Statement).filter_by(user_id=buyer_id).count() == 1
    assert db.session.query(DuesEntry).filter_by(user_id=buyer_id).count() >= 1
    # Personal fields are anonymised.
    user = db.session.get(User, buyer_id)
    assert user.email == f"erased-{buyer_id}@invalid" and user.full_name == "Erased member"
    assert (user.phone, user.address, user.postcode, user.town) == ("", "", "", "")
    assert user.login_disabled and user.erased_at is not None and user.password_hash == "!erased"
    assert user.membership.status == MembershipStatus.LEFT
    # The audit log: history is untouched, the erasure is appended after it.
    audit_after = _audit()
    assert audit_after[:len(audit_before)] == audit_before
    appended = audit_after[len(audit_before):]
    assert "privacy.account_erased" in [row[3] for row in appended]
    assert {row[3] for row in appended} <= {"privacy.account_erased", "user.updated", "membership.left"}
    # What is appended can never be removed, so it must not copy the personal data being erased.
    assert not [value for value in PERSONAL for row in appended if value in json.dumps(row, default=str)]
    # Nothing personal is left in a text column outside the audit log (kept as the law requires); copies of
    assert _personal_leftovers() == []
    # The old credentials no longer open a session.
    assert login(pg_client, "marie@test.coop").status_code != 302
    assert pg_client.get("/me/data/").status_code == 302


def test_erasure_leaves_no_name_in_emails_sent_to_others(pg_app, pg_client, books):
    login(pg_client, "marie@test.coop")
    assert pg_client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"}).status_code == 302
    db.session.expire_all()
    assert _personal_leftovers() == []


# ---------------------------------------------------------------- erasure finds every copy (issue 9, item 13)

AUDIT_FRAME = "SELECT id, created_at, actor_id, action, subject_type, subject_id FROM audit_log ORDER BY id"


def test_erasure_on_postgres_leaves_no_identifier_anywhere_and_the_audit_frame_intact(pg_app, pg_client):
    member_with_a_past(pg_client)
    values = identifiers()
    assert "audit_log.note: Marie Curie" in leftovers(values)
    books, frame, texts = numbers(), _frame(), _audit()

    response = pg_client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"})
    assert response.status_code == 302

    db.session.expire_all()
    assert leftovers(values) == []  # every text column of every table, the audit log included
    assert numbers() == books
    # The audit log: no entry removed or moved, who/what/when/on-what untouched; the texts changed only
    # in the entries the erasure says it redacted.
    assert _frame()[:len(frame)] == frame
    [erased] = db.session.execute(text("SELECT after_json FROM audit_log WHERE action = 'privacy.account_erased'"))
    redacted = json.loads(erased[0])["audit_entries_redacted"]
    changed = [before[0] for before, after in zip(texts, _audit()) if before != after]
    assert redacted and changed == redacted


def _frame() -> list[tuple]:
    return [tuple(r) for r in db.session.execute(text(AUDIT_FRAME))]


def test_the_audit_trigger_allows_only_an_announced_redaction_of_texts(pg_app):
    import sqlalchemy.exc

    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (created_at, action, subject_type, subject_id, before_json,"
                          " after_json, note) VALUES (now(), 'x', 't', '1', '{}', '{}', 'Marie Curie')"))
    refused = ["UPDATE audit_log SET note = ''",  # not announced
               "SELECT set_config('marketplace.audit_redaction', 'on', true); UPDATE audit_log SET action = 'y'",
               "SELECT set_config('marketplace.audit_redaction', 'on', true); DELETE FROM audit_log"]
    for statement in refused:
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            for part in statement.split("; "):
                conn.execute(text(part))
    with db.engine.begin() as conn:
        conn.execute(text("SELECT set_config('marketplace.audit_redaction', 'on', true)"))
        conn.execute(text("UPDATE audit_log SET note = '[…]'"))
    # The setting ended with its transaction.
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET note = ''"))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT action, note FROM audit_log")).all() == [("x", "[…]")]
