"""A member downloads all their data and erases their account; accounting records stay."""
from __future__ import annotations

import io
import json
import zipfile

from marketplace.audit.models import AuditEntry
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members.models import College, MembershipStatus, User
from marketplace.orders.models import Order
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import PASSWORD, login, make_member
from tests.privacy_fixtures import AFTER, BEFORE, KEPT, identifiers, leftovers, member_with_a_past, numbers


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


def test_the_account_page_remembers_earlier_identifiers_and_the_export_lists_them(coop, client):
    login(client, coop["buyer"])
    for name, address in (("Marie Sklodowska", "5 quai de la Fosse"), ("Marie S. Curie", "5 quai de la Fosse")):
        response = client.post("/me/account", data={"full_name": name, "phone": "0600000000", "address": address,
                                                     "postcode": "44200", "town": "Nantes", "locale": "fr"})
        assert response.status_code == 302
    earlier = {(row["kind"], row["value"]) for row in _download(client)["tables"]["member_former_identifiers"]}
    # Every value she stopped using, once each; the phone she kept is not "earlier".
    assert earlier == {("name", "Marie Curie"), ("name", "Marie Sklodowska"), ("address", "3 rue Kervégan"),
                       ("place", "44000 Nantes")}


def test_erasure_takes_what_was_hers_and_spares_the_next_owner_a_housemate_and_a_namesake(coop, client):
    from marketplace.timeutil import utcnow

    marie = coop["buyer"]
    # The same words in another buyer's note are theirs: only her own copies go.
    coop["done_order"].note = coop["open_order"].note = "Please leave it by the garden door"
    marie.email = "marie.new@test.coop"  # whichever path changes it (no page does yet)
    db.session.commit()
    until = utcnow()
    next_owner = make_member("marie@test.coop", College.BUYER, name="Anne Next")
    housemate = make_member("pierre@test.coop", College.BUYER, name="Pierre Curie", address="3 rue Kervégan",
                            postcode="44000", town="Nantes")
    namesake = make_member("marie.curie@elsewhere.coop", College.BUYER, name="Marie Curie")
    db.session.commit()
    ids = (next_owner.id, housemate.id, namesake.id)
    hers = db.session.query(OutboundEmail.id).filter(OutboundEmail.recipient == "marie@test.coop",
                                                      OutboundEmail.created_at <= until).count()
    assert hers >= 2 and db.session.query(OutboundEmail).filter_by(recipient="marie@test.coop").count() > hers

    login(client, "marie.new@test.coop")
    exported = _download(client)["tables"]["outbound_emails"]  # hers, under both addresses; not the newcomer's
    assert len([e for e in exported if e["recipient"] == "marie@test.coop"]) == hers
    assert client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"}).status_code == 302

    db.session.expire_all()
    # Her e-mails, sent to the address while it was hers, are gone; the next owner's are not.
    left = db.session.query(OutboundEmail).filter_by(recipient="marie@test.coop").all()
    assert left and all(e.created_at > until for e in left) and len(left) == 1
    next_owner, housemate, namesake = (db.session.get(User, i) for i in ids)
    assert next_owner.email == "marie@test.coop"
    assert (housemate.address, housemate.postcode, housemate.town) == ("3 rue Kervégan", "44000", "Nantes")
    assert namesake.full_name == "Marie Curie"
    assert db.session.get(Order, coop["open_order"].id).note == "Please leave it by the garden door"


def test_erasure_strips_contact_details_from_stripe_webhook_payloads(coop, client):
    from marketplace.payments.models import CardPayment, StripeEvent

    def event(event_id: str, session_id: str, email: str, name: str) -> StripeEvent:
        payload = {"id": event_id, "type": "checkout.session.completed", "data": {"object": {
            "id": session_id, "object": "checkout.session", "amount_total": 910, "customer_email": email,
            "customer_details": {"email": email.upper(), "name": name, "phone": None,
                                 "address": {"line1": "3 RUE KERVEGAN", "postal_code": "44000", "city": "NANTES"}},
            "metadata": {"order": "ref"}}}}
        return StripeEvent(event_id=event_id, type="checkout.session.completed", object_id=session_id,
                           payload=json.dumps(payload))

    db.session.add(CardPayment(order_id=coop["done_order"].id, session_id="cs_test_marie"))
    # The card holder's name as typed in Stripe's form: no spelling of it is known to the coop.
    db.session.add(event("evt_marie", "cs_test_marie", "marie@test.coop", "M CURIE"))
    db.session.add(event("evt_paul", "cs_test_paul", "paul@test.coop", "PAUL OTHER"))
    db.session.commit()
    login(client, coop["buyer"])
    assert client.post("/me/data/erase", data={"password": PASSWORD, "confirmation": "ERASE"}).status_code == 302

    db.session.expire_all()
    mine = db.session.query(StripeEvent).filter_by(event_id="evt_marie").one()
    session = json.loads(mine.payload)["data"]["object"]
    assert session["customer_details"] is None and session["customer_email"] is None
    assert session["amount_total"] == 910 and session["id"] == "cs_test_marie"
    assert "CURIE" not in mine.payload and "KERVEGAN" not in mine.payload
    other = json.loads(db.session.query(StripeEvent).filter_by(event_id="evt_paul").one().payload)
    assert other["data"]["object"]["customer_details"]["name"] == "PAUL OTHER"


def test_the_migration_carries_the_audit_trigger_of_the_models():
    import importlib.util
    from pathlib import Path

    from marketplace.audit.models import PG_TRIGGER_FUNCTION

    path = next((Path(__file__).resolve().parents[2] / "migrations" / "versions").glob("fbc56f363597_*.py"))
    spec = importlib.util.spec_from_file_location("erasure_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.REDACTABLE_FUNCTION.split() == PG_TRIGGER_FUNCTION.split()
