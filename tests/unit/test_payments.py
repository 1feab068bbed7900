"""Payments rules on SQLite with the fake Stripe (no worker: tasks are driven explicitly)."""
from __future__ import annotations

import json
import time

import pytest

from marketplace.core.errors import ServiceError
from marketplace.core.models import OutboundEmail, OutboxMessage
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services as orders
from marketplace.orders.states import PaymentMethod, PaymentStatus
from marketplace.billing import services as billing_services
from marketplace.payments import payouts, services, webhooks, withholding
from marketplace.payments import signals as payment_signals
from marketplace.payments.models import EventStatus, LedgerEntry, LedgerKind, Payout, StripeEvent
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import connect_ready_account, fake_stripe, stripe_config  # noqa: F401


@pytest.fixture
def app_config(request):
    if "fake_stripe" in request.fixturenames:
        return stripe_config(request.getfixturevalue("fake_stripe"))
    return {}


def _basket(producers_with_accounts=True, fake=None):
    farm = make_producer("farm@test.coop", "Green Farm")
    tomatoes = make_product(farm, "Tomatoes", price_cents=600, weight_priced_g=1000)
    distribution = make_distribution([farm])
    buyer = make_member("buyer@test.coop")
    orders.choose_distribution(buyer, distribution.id)
    orders.add_to_cart(buyer, tomatoes.id, 2)
    if producers_with_accounts:
        connect_ready_account(fake, farm)
    db.session.commit()
    return buyer, farm, tomatoes


# ---------------------------------------------------------------- no Stripe key

def test_without_a_stripe_key_the_shop_sells_with_pay_at_pickup_and_offers_no_card(app, client):
    assert not app.config["STRIPE_SECRET_KEY"]
    farm = make_producer("farm@test.coop")
    carrots = make_product(farm, "Carrots")
    distribution = make_distribution([farm])
    buyer = make_member("buyer@test.coop")
    orders.choose_distribution(buyer, distribution.id)
    orders.add_to_cart(buyer, carrots.id, 2)
    db.session.commit()
    login(client, buyer)
    page = client.get("/checkout").get_data(as_text=True)
    assert 'value="pay_at_pickup"' in page and 'value="card"' not in page
    refused = client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "card"})
    assert refused.status_code == 400
    placed = client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "pay_at_pickup"})
    assert placed.status_code == 302
    [order] = db.session.query(orders.Order).all()
    assert order.payment_method == PaymentMethod.PAY_AT_PICKUP and order.payment_status == PaymentStatus.DUE
    assert db.session.query(LedgerEntry).count() == 0


# ---------------------------------------------------------------- card checkout rules

def test_card_checkout_refuses_a_producer_without_a_usable_account(app, client, fake_stripe):
    buyer, farm, _ = _basket(producers_with_accounts=False)
    login(client, buyer)
    response = client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "card"})
    assert response.status_code == 400
    assert "Green Farm cannot be paid by card yet" in response.get_data(as_text=True)
    assert db.session.query(orders.Order).count() == 0
    # Pay at pickup still works for the same basket.
    assert client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "pay_at_pickup"}).status_code == 302


def test_card_checkout_holds_weight_priced_lines_with_the_published_margin(app, client, fake_stripe):
    buyer, farm, _ = _basket(fake=fake_stripe)
    login(client, buyer)
    response = client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "card"})
    [order] = db.session.query(orders.Order).all()
    # 307: the browser repeats the POST there; making a Checkout Session is never a GET.
    assert response.status_code == 307 and response.headers["Location"].endswith(f"/payments/orders/{order.id}/pay")
    assert client.get(f"/payments/orders/{order.id}/pay").status_code == 405
    assert order.card_payment is None
    to_stripe = client.post(f"/payments/orders/{order.id}/pay")
    assert to_stripe.status_code == 303 and to_stripe.headers["Location"].startswith(fake_stripe.url)
    session = fake_stripe.objects[order.card_payment.session_id]
    # 2 × ~1000 g at 6.00/kg = 12.00 estimated; held at +20 % = 14.40.
    assert session["amount_total"] == 1440 == order.card_payment.requested_cents
    create = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    assert create[0].idempotency_key == f"checkout:{order.id}:1"
    assert create[0].params["payment_intent_data"]["capture_method"] == "manual"
    assert create[0].params["payment_intent_data"]["transfer_group"] == order.reference
    # Coming back to the success URL does not make the order paid.
    client.get(f"/payments/orders/{order.id}/return?session_id={session['id']}")
    db.session.expire_all()
    assert order.payment_status == PaymentStatus.AWAITING


# ---------------------------------------------------------------- webhooks

def _post_event(client, fake, payload: str, signature: str | None = None):
    return client.post("/stripe/webhook", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": signature if signature is not None else fake.sign(payload)})


def _event(type_: str, obj: dict, event_id: str = "evt_unit_1") -> str:
    return json.dumps({"id": event_id, "object": "event", "type": type_, "created": int(time.time()),
                       "data": {"object": obj}, "api_version": "2024-06-20", "livemode": False})


def test_a_forged_or_stale_signature_gets_400_and_changes_nothing(app, client, fake_stripe):
    payload = _event("checkout.session.completed", {"id": "cs_test_x", "object": "checkout.session"})
    forged = fake_stripe.sign(payload, secret="whsec_not_ours")
    assert _post_event(client, fake_stripe, payload, forged).status_code == 400
    stale = fake_stripe.sign(payload, timestamp=int(time.time()) - 3600)
    assert _post_event(client, fake_stripe, payload, stale).status_code == 400
    assert _post_event(client, fake_stripe, payload, "").status_code == 400
    assert db.session.query(StripeEvent).count() == 0 and db.session.query(OutboxMessage).count() == 0


def test_a_replayed_event_is_stored_once_and_unknown_types_are_acknowledged(app, client, fake_stripe):
    payload = _event("account.updated", {"id": "acct_unknown", "object": "account"})
    assert _post_event(client, fake_stripe, payload).status_code == 200
    assert _post_event(client, fake_stripe, payload).status_code == 200
    assert db.session.query(StripeEvent).count() == 1
    assert db.session.query(OutboxMessage).filter_by(task_name="payments.handle_event").count() == 1
    other = _event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_unit_2")
    assert _post_event(client, fake_stripe, other).status_code == 200
    ignored = db.session.query(StripeEvent).filter_by(event_id="evt_unit_2").one()
    assert ignored.status == EventStatus.IGNORED


def test_an_event_for_an_unknown_order_is_recorded_and_flagged(app, client, fake_stripe):
    get_admin()
    db.session.commit()
    payload = _event("checkout.session.completed", {"id": "cs_test_nobody", "object": "checkout.session",
                                                    "metadata": {"order_id": "999"}})
    assert _post_event(client, fake_stripe, payload).status_code == 200
    row = db.session.query(StripeEvent).one()
    assert webhooks.handle_event(row.id) == EventStatus.UNMATCHED
    db.session.expire_all()
    assert row.status == EventStatus.UNMATCHED and "No order" in row.note
    assert db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "admin@test.coop",
                                                  OutboundEmail.body.contains("cs_test_nobody")).count() == 1


# ---------------------------------------------------------------- withholding hook

def test_members_fees_due_are_withheld_from_a_transfer_and_recorded(app, fake_stripe, monkeypatch):
    farm = make_producer("farm@test.coop")
    monkeypatch.setattr(billing_services, "fees_due_cents", lambda user_id: 300 if user_id == farm.id else 0)
    assert withholding.withholding_for(farm.id, 1000) == 300
    # Never more than the published share of a payment (50 % by default).
    assert withholding.withholding_for(farm.id, 200) == 100
    assert withholding.withholding_for(farm.id + 1000, 1000) == 0
    with payment_signals.fees_due.muted():  # no billing to answer: nothing is withheld
        assert withholding.withholding_for(farm.id, 1000) == 0


def test_courier_pay_is_refused_when_not_positive(app):
    courier = make_member("courier@test.coop", College.COURIER)
    with pytest.raises(ServiceError):
        payouts.pay_courier(courier.id, 0, "courier-run:1", [])


# ---------------------------------------------------------------- reconciliation

def test_reconcile_cli_and_beat_task_flag_an_order_that_does_not_balance(app, fake_stripe):
    from marketplace.payments.models import CardPayment, CardPaymentStatus
    from marketplace.payments.tasks import reconcile as reconcile_task

    buyer, farm, tomatoes = _basket(fake=fake_stripe)
    order = orders.checkout(buyer, orders.CheckoutInput(payment_method=PaymentMethod.CARD))
    db.session.add(CardPayment(order_id=order.id, status=CardPaymentStatus.CAPTURED, captured_cents=1000))
    db.session.add(LedgerEntry(kind=LedgerKind.CHARGE, amount_cents=1000, order_id=order.id, stripe_id="ch_x"))
    db.session.add(LedgerEntry(kind=LedgerKind.TRANSFER, amount_cents=1100, order_id=order.id, stripe_id="tr_x"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--no-stripe"])
    assert result.exit_code == 1 and "MISMATCH" in result.output and "difference -100" in result.output
    assert reconcile_task.run() == [order.reference]
    assert db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "admin@test.coop",
                                                  OutboundEmail.subject == "Payments do not reconcile").count() >= 1
