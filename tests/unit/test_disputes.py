"""Disputes: the buyer reports, the producer answers, an admin decides; every step is e-mailed."""
from __future__ import annotations

import pytest

from marketplace.accounts import services as accounts
from marketplace.accounts.models import AccountMovement, MovementKind
from marketplace.audit.models import AuditEntry
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.disputes import services
from marketplace.disputes.models import Dispute, DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.orders.states import PaymentMethod, PaymentStatus
from marketplace.payments.models import CardPayment, CardPaymentStatus, Credit, CreditKind
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import get_admin, login


def _line(coop, name="Carrots"):
    return next(l for p in coop["done_order"].parts for l in p.lines if l.product_name == name)


def _mails(to: str) -> list[str]:
    return [e.subject for e in db.session.query(OutboundEmail).filter_by(recipient=to).order_by(OutboundEmail.id)]


def test_full_dispute_on_a_pay_at_pickup_order_ends_in_a_credit(coop, client):
    line = _line(coop)
    login(client, coop["buyer"])
    assert client.get(f"/disputes/report/{line.id}").status_code == 200
    response = client.post(f"/disputes/report/{line.id}", data={"reason": "damaged", "note": "Carrots were mouldy"})
    assert response.status_code == 302
    dispute = db.session.query(Dispute).one()
    assert dispute.status == DisputeStatus.OPEN and dispute.producer_id == coop["ferme"].producer_profile.id
    assert any("Problem reported" in s for s in _mails("ferme@test.coop"))
    assert any("Problem reported" in s for s in _mails("admin@test.coop"))
    client.post("/logout")

    login(client, coop["ferme"])
    assert client.get(f"/disputes/{dispute.id}").status_code == 200
    assert client.post(f"/disputes/{dispute.id}/answer", data={"answer": "Sorry, wet week"}).status_code == 302
    assert any("answered" in s for s in _mails("marie@test.coop"))
    assert client.post(f"/disputes/{dispute.id}/resolve", data={"outcome": "credited", "amount": "1",
                                                                 "note": "x"}).status_code == 403
    client.post("/logout")

    login(client, coop["admin"])
    response = client.post(f"/disputes/{dispute.id}/resolve",
                           data={"outcome": "refunded", "amount": "5.60", "note": "Damaged goods"})
    assert response.status_code == 302
    db.session.expire_all()
    dispute = db.session.get(Dispute, dispute.id)
    # Paid at the pickup: the money goes back the same way, as a credit (no card refund).
    assert dispute.status == DisputeStatus.CREDITED and dispute.amount_cents == 560
    assert db.session.query(Credit).count() == 0
    assert accounts.balance_cents(coop["buyer"].id) == 560
    movement = db.session.query(AccountMovement).filter_by(kind=MovementKind.DISPUTE_CREDIT).one()
    assert movement.kind == MovementKind.DISPUTE_CREDIT and movement.order_id == coop["done_order"].id
    assert movement.reason == "Damaged goods"
    assert [e.kind for e in dispute.events] == ["opened", "answered", "credited"]
    assert any("Decision" in s for s in _mails("marie@test.coop"))
    assert any("Decision" in s for s in _mails("ferme@test.coop"))
    entry = db.session.query(AuditEntry).filter_by(action="dispute.credited").one()
    assert entry.actor_id == coop["admin"].id and entry.after["amount_cents"] == 560
    # Settled: a second decision is refused.
    response = client.post(f"/disputes/{dispute.id}/resolve", data={"outcome": "rejected", "note": "no"})
    assert response.status_code == 409


def test_a_card_order_is_refunded_on_the_card_through_payments(coop):
    order = coop["done_order"]
    order.payment_method = PaymentMethod.CARD
    order.payment_status = PaymentStatus.PAID
    db.session.add(CardPayment(order_id=order.id, payment_intent_id="pi_test_1", charge_id="ch_test_1",
                               status=CardPaymentStatus.CAPTURED, authorised_cents=order.total_due_cents,
                               captured_cents=order.total_due_cents))
    line = _line(coop, "Goat cheese")
    dispute = services.open_dispute(coop["buyer"], line.id, DisputeReason.MISSING, "No cheese in the bag")
    db.session.commit()
    services.resolve_dispute(get_admin(), dispute.id, DisputeStatus.REFUNDED, 350, "Missing from the bag")
    db.session.commit()
    credit = db.session.query(Credit).one()
    assert credit.kind == CreditKind.DISPUTE and credit.line_id == line.id and credit.amount_cents == 350
    assert dispute.status == DisputeStatus.REFUNDED and dispute.payment_credit_id == credit.id


def test_rules_who_may_do_what(coop):
    line = _line(coop)
    with pytest.raises(NotFound):
        services.open_dispute(coop["other_buyer"], line.id, DisputeReason.MISSING, "not mine")
    with pytest.raises(ServiceError):
        services.open_dispute(coop["buyer"], line.id, DisputeReason.MISSING, "   ")
    dispute = services.open_dispute(coop["buyer"], line.id, DisputeReason.LATE, "Two hours late")
    db.session.commit()
    with pytest.raises(Conflict):
        services.open_dispute(coop["buyer"], line.id, DisputeReason.LATE, "again")
    with pytest.raises(NotFound):
        services.answer_dispute(coop["chevre"], dispute.id, "not my product")
    with pytest.raises(NotFound):
        services.get_dispute(coop["other_buyer"], dispute.id)
    with pytest.raises(NotAllowed):
        services.resolve_dispute(coop["buyer"], dispute.id, DisputeStatus.CREDITED, 100, "self-service")
    with pytest.raises(ServiceError):
        services.resolve_dispute(get_admin(), dispute.id, DisputeStatus.CREDITED, 10_000, "more than the line")
    with pytest.raises(ServiceError):
        services.resolve_dispute(get_admin(), dispute.id, DisputeStatus.REJECTED, 0, "")
    services.resolve_dispute(get_admin(), dispute.id, DisputeStatus.REJECTED, 0, "Pickup hours were posted")
    assert dispute.amount_cents == 0 and dispute.status == DisputeStatus.REJECTED


def test_an_open_order_cannot_be_disputed_yet(coop):
    line = coop["open_order"].parts[0].lines[0]
    with pytest.raises(Conflict):
        services.open_dispute(coop["other_buyer"], line.id, DisputeReason.MISSING, "too early")


def test_admin_list_and_party_lists(coop, client):
    line = _line(coop)
    services.open_dispute(coop["buyer"], line.id, DisputeReason.DAMAGED, "Broken")
    db.session.commit()
    login(client, coop["admin"])
    assert b"Carrots" in client.get("/disputes/admin").data
    client.post("/logout")
    login(client, coop["ferme"])
    assert b"Carrots" in client.get("/disputes/").data
    assert client.get("/disputes/admin").status_code == 403
    client.post("/logout")
    login(client, coop["chevre"])
    assert b"Carrots" not in client.get("/disputes/").data
