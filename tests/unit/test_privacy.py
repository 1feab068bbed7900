"""A member downloads all their data and erases their account; accounting records stay."""
from __future__ import annotations

import io
import json
import zipfile

from marketplace.audit.models import AuditEntry
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members.models import MembershipStatus, User
from marketplace.orders.models import Order
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import PASSWORD, login


def _download(client) -> dict:
    response = client.get("/me/data/export.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert {"data.json", "README.txt"} <= set(archive.namelist())
        return json.loads(archive.read("data.json"))


def test_download_holds_the_members_own_data_and_no_secret(coop, client):
    login(client, coop["buyer"])
    data = _download(client)["tables"]
    [me] = data["users"]
    assert me["email"] == "marie@test.coop" and me["phone"] == "0600000000"
    assert "password_hash" not in me
    assert data["memberships"][0]["status"] == "active"
    assert [o["reference"] for o in data["orders"]] == [coop["done_order"].reference]
    assert sorted(line["product_name"] for line in data["order_lines"]) == ["Carrots", "Goat cheese"]
    assert any(e["recipient"] == "marie@test.coop" for e in data["outbound_emails"])
    dumped = json.dumps(data)
    assert "paul@test.coop" not in dumped and "Leeks" not in dumped  # another buyer's order
    assert "$argon2" not in dumped


def test_a_producer_download_includes_their_products(coop, client):
    login(client, coop["ferme"])
    data = _download(client)["tables"]
    assert {p["name"] for p in data["products"]} == {"Carrots", "Leeks"}
    assert data["producers"][0]["name"] == "Ferme du Marais"


def test_erasure_anonymises_keeps_orders_and_blocks_login(coop, client):
    buyer_id, order_id = coop["buyer"].id, coop["done_order"].id
    total_before = coop["done_order"].total_due_cents
    login(client, coop["buyer"])
    response = client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "erase"})
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, buyer_id)
    assert user.email == f"erased-{buyer_id}@invalid"
    assert user.full_name == "Erased member" and user.phone == "" and user.address == "" and user.town == ""
    assert user.login_disabled and user.erased_at is not None
    assert user.membership.status == MembershipStatus.LEFT
    order = db.session.get(Order, order_id)
    assert order.buyer_id == buyer_id and order.total_due_cents == total_before
    assert not db.session.query(OutboundEmail).filter_by(recipient="marie@test.coop").count()
    assert db.session.query(AuditEntry).filter_by(action="privacy.account_erased").count() == 1
    # The session is gone and the old credentials no longer work.
    assert client.get("/me").status_code == 302
    assert login(client, "marie@test.coop").status_code != 302
    assert client.get("/me").status_code == 302


def test_erasure_needs_the_password_and_the_word(coop, client):
    login(client, coop["buyer"])
    assert client.post("/me/data/erase", data={"password": "wrong password", "confirmation": "ERASE"}).status_code == 403
    assert client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "yes"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(User, coop["buyer"].id).erased_at is None


def test_erasure_waits_for_orders_in_progress(coop, client):
    login(client, coop["other_buyer"])
    response = client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"})
    assert response.status_code == 409 and b"in progress" in response.data
    client.post("/logout")
    login(client, coop["ferme"])  # sells the open order
    response = client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"})
    assert response.status_code == 409


def test_the_data_page_needs_a_login(client, app):
    assert client.get("/me/data/").status_code == 302
    assert client.get("/me/data/export.zip").status_code == 302


# ---------------------------------------------------------------- erasure finds every copy (issue 9, item 13)

def test_erasure_leaves_none_of_the_members_identifiers_in_any_text_column(client):
    from tests.privacy_fixtures import AFTER, BEFORE, KEPT, identifiers, leftovers, member_with_a_past, numbers

    story = member_with_a_past(client)
    values = identifiers()
    before = leftovers(values)
    # The search can fail: her names, addresses and texts are spread over e-mails, orders, dispatch, disputes
    # and the audit log.
    assert {f.split(".")[0] for f in before} >= {"users", "orders", "outbound_emails", "disputes", "dispute_events",
                                                  "courier_run_stops", "order_events", "audit_log"}
    assert "outbound_emails.body: " + BEFORE["full_name"] in before  # under the name she had then
    books = numbers()

    response = client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"})
    assert response.status_code == 302

    db.session.expire_all()
    assert leftovers(values) == []
    assert numbers() == books  # amounts, quantities, counts and links: the accountant still balances
    assert all(leftovers([kept]) for kept in KEPT)  # the producers, products and the admin are untouched
    order = db.session.get(Order, story["order_id"])
    assert (order.delivery_address, order.delivery_postcode, order.note) == ("", "", "")
    assert order.total_due_cents > 0 and order.status == "delivered"
    from marketplace.dispatch.models import DeliveryJob, RunStop, StopKind

    drops = db.session.query(RunStop).filter_by(order_id=order.id, kind=StopKind.DROPOFF).all()
    assert len(drops) == 2 and all(s.latitude is None and s.longitude is None for s in drops)
    job = db.session.query(DeliveryJob).filter_by(order_id=order.id).one()
    assert job.latitude is None and job.longitude is None
    # The erasure is logged, with the audit entries it had to redact, and nothing personal.
    entry = db.session.query(AuditEntry).filter_by(action="privacy.account_erased").one()
    assert entry.after["audit_entries_redacted"]
    assert login(client, AFTER["email"]).status_code != 302
