"""Card holds about to expire: captured early at their maximum, the surplus refunded once weighed.

PostgreSQL, a real Celery worker on Redis, the fake Stripe and a live app server for its webhooks.
The passage of time is simulated by moving `CardPayment.authorised_at` and `capture_before` back in the database.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from flask import current_app
from sqlalchemy import update

from marketplace.core.models import OutboxMessage
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.states import Fulfilment, PaymentMethod, PaymentStatus
from marketplace.payments import payouts, reconciliation, services
from marketplace.payments.models import (CardPayment, CardPaymentStatus, Credit, CreditKind, CreditStatus,
                                         LedgerEntry, LedgerKind, Payout, PayoutStatus)
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import (celery_config, celery_worker, connect_ready_account, fake_stripe,  # noqa: F401
                                     live_server, point_webhooks, refunds_made, stripe_config, wait_for)

pytestmark = pytest.mark.integration

EXPIRY_TASK = "payments.capture_expiring_authorisations"
# 2 x ~1 kg tomatoes at 6.00/kg, held at estimate + 20 % (2.4 kg) = 14.40; 2 boxes of eggs at 3.50 = 7.00.
HELD_MAX = 1440 + 700
# Weighed 1.8 kg (10 % under the 2 kg estimate): 10.80.
FINAL_GOODS = 1080 + 700


@pytest.fixture
def app_config(fake_stripe):
    return {**stripe_config(fake_stripe), **celery_config()}


@pytest.fixture
def stack(pg_app, fake_stripe):
    with live_server(pg_app) as url:
        point_webhooks(fake_stripe, url)
        yield url


def _card_order(fake, url):
    """One producer (ready Stripe account), one weight-priced and one fixed-price line, pickup, card."""
    farm = make_producer("farm@test.coop", "Tomato Farm")
    tomatoes = make_product(farm, "Tomatoes", price_cents=600, weight_priced_g=1000)
    eggs = make_product(farm, "Eggs", price_cents=350)
    distribution = make_distribution([farm])
    account = connect_ready_account(fake, farm)
    buyer = make_member("buyer@test.coop")
    orders.choose_distribution(buyer, distribution.id)
    orders.add_to_cart(buyer, tomatoes.id, 2)
    orders.add_to_cart(buyer, eggs.id, 2)
    order = orders.checkout(buyer, orders.CheckoutInput(fulfilment=Fulfilment.PICKUP,
                                                         payment_method=PaymentMethod.CARD))
    db.session.commit()
    order_id, stripe_account_id = order.id, account.stripe_account_id
    with current_app.test_request_context(base_url=url):
        services.start_checkout(db.session.get(type(buyer), buyer.id), order_id)
        db.session.commit()
    db.session.expire_all()
    return order_id, stripe_account_id


def _payment(order_id) -> CardPayment:
    return db.session.query(CardPayment).filter_by(order_id=order_id).one()


def _authorise(fake, order_id) -> CardPayment:
    fake.pay_checkout_session(_payment(order_id).session_id)
    wait_for(lambda: db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED
             and _payment(order_id).capture_before is not None, what="authorisation and its capture_before")
    return _payment(order_id)


def _age_hold(fake, order_id, age: timedelta) -> None:
    """The simulated passage of time: the card was authorised `age` ago (Stripe's capture_before is as near,
    at Stripe too, so that a late event reading the charge back agrees)."""
    _wait_idle(current_app, "the authorisation's events")
    charge = fake.objects[_payment(order_id).charge_id]
    charge["payment_method_details"]["card"]["capture_before"] -= int(age.total_seconds())
    db.session.execute(update(CardPayment).where(CardPayment.order_id == order_id)
                       .values(authorised_at=CardPayment.authorised_at - age,
                               capture_before=CardPayment.capture_before - age))
    db.session.commit()


def _run_expiry_task(celery_app, times: int) -> list[list[int]]:
    """Send the beat task through the broker by name (all at once) and wait for every run's result."""
    results = [celery_app.send_task(EXPIRY_TASK) for _ in range(times)]
    return [r.get(timeout=30) for r in results]


def _wait_idle(app, what: str) -> None:
    """Wait until no task is queued, running or left in the outbox (twice in a row)."""
    broker = redis.Redis.from_url(app.extensions["celery"].conf.broker_url)

    def idle() -> bool:
        unpublished = db.session.query(OutboxMessage).filter(OutboxMessage.published_at.is_(None)).count()
        return not unpublished and broker.llen("celery") == 0 and broker.hlen("unacked") == 0

    wait_for(lambda: idle() and idle(), what=what)


def _of(fake, kind: str) -> list[dict]:
    return [o for o in fake.objects.values() if o.get("object") == kind]


def _capture_requests(fake, payment: CardPayment):
    return [r for r in fake.requests
            if r.method == "POST" and r.path == f"/v1/payment_intents/{payment.payment_intent_id}/capture"]


def _ledger(order_id, kind: LedgerKind) -> list[int]:
    return [e.amount_cents for e in db.session.query(LedgerEntry).filter_by(order_id=order_id, kind=kind)]


def test_a_hold_near_expiry_is_captured_at_its_maximum_then_the_surplus_refunded_once_weighed(
        pg_app, stack, fake_stripe):
    order_id, farm_account = _card_order(fake_stripe, stack)
    with celery_worker(pg_app) as celery_app:
        payment = _authorise(fake_stripe, order_id)
        assert payment.authorised_cents == HELD_MAX
        _age_hold(fake_stripe, order_id, timedelta(days=6, hours=12))

        runs = _run_expiry_task(celery_app, times=2)
        assert order_id in runs[0] + runs[1]
        wait_for(lambda: _payment(order_id).status == CardPaymentStatus.CAPTURED, what="early capture")
        _wait_idle(pg_app, "the capture's follow-up tasks")

        # Captured once, early, for the held maximum; nothing refunded or transferred yet.
        payment = _payment(order_id)
        captures = _capture_requests(fake_stripe, payment)
        assert [(int(r.params["amount_to_capture"]), r.status) for r in captures if not r.replayed] == \
            [(HELD_MAX, 200)]
        assert {r.idempotency_key for r in captures} == {f"capture:{order_id}"}
        assert payment.captured_early and payment.captured_cents == HELD_MAX
        assert fake_stripe.objects[payment.charge_id]["amount_captured"] == HELD_MAX
        assert _ledger(order_id, LedgerKind.CHARGE) == [HELD_MAX]
        assert not refunds_made(fake_stripe) and not _of(fake_stripe, "transfer")
        assert db.session.query(Credit).count() == 0 and db.session.query(Payout).count() == 0
        balance = reconciliation.order_balance(db.session.get(orders.Order, order_id))
        assert not balance.settled and balance.ok

        # A third run (the next hour's beat) finds nothing left to capture.
        assert _run_expiry_task(celery_app, times=1) == [[]]

        # The producer weighs 10 % under the estimate and packs the part.
        order = db.session.get(orders.Order, order_id)
        [part] = order.parts
        farm = part.producer.user
        orders.accept_part(farm, part.id)
        [tomatoes] = [line for line in part.lines if line.is_weight_priced]
        orders.record_weight(farm, tomatoes.id, 1800)
        db.session.commit()
        orders.mark_ready(farm, part.id)
        db.session.commit()
        _wait_idle(pg_app, "settlement")

        order = db.session.get(orders.Order, order_id)
        assert order.goods_final_cents == order.total_due_cents == FINAL_GOODS
        # One refund of the surplus to the buyer.
        refunds = refunds_made(fake_stripe)
        assert [(r["amount"], r["payment_intent"]) for r in refunds] == \
            [(HELD_MAX - FINAL_GOODS, payment.payment_intent_id)]
        [credit] = db.session.query(Credit).filter_by(order_id=order_id).all()
        assert (credit.kind, credit.status, credit.amount_cents) == \
            (CreditKind.REBALANCE, CreditStatus.DONE, HELD_MAX - FINAL_GOODS)
        assert _ledger(order_id, LedgerKind.REFUND) == [HELD_MAX - FINAL_GOODS]
        assert fake_stripe.objects[payment.charge_id]["amount_refunded"] == HELD_MAX - FINAL_GOODS
        # One transfer of the final goods amount to the producer.
        transfers = _of(fake_stripe, "transfer")
        assert [(t["amount"], t["destination"], t["source_transaction"]) for t in transfers] == \
            [(FINAL_GOODS, farm_account, payment.charge_id)]
        [payout] = db.session.query(Payout).filter_by(order_id=order_id).all()
        assert (payout.status, payout.net_cents, payout.part_id) == (PayoutStatus.PAID, FINAL_GOODS, part.id)
        assert _ledger(order_id, LedgerKind.TRANSFER) == [FINAL_GOODS]
        # `flask payments reconcile` (reconciliation.reconcile, checked against Stripe) finds it balanced.
        [balance] = reconciliation.reconcile(check_stripe=True)
        assert balance.order_id == order_id
        assert balance.settled and balance.ok and balance.difference == 0, balance
        assert (balance.charged, balance.refunded, balance.transferred) == \
            (HELD_MAX, HELD_MAX - FINAL_GOODS, FINAL_GOODS)


def test_a_hold_younger_than_the_limit_is_not_captured(pg_app, stack, fake_stripe):
    order_id, _account = _card_order(fake_stripe, stack)
    with celery_worker(pg_app) as celery_app:
        payment = _authorise(fake_stripe, order_id)
        _age_hold(fake_stripe, order_id, timedelta(days=5, hours=12))
        assert _run_expiry_task(celery_app, times=1) == [[]]
        _wait_idle(pg_app, "the task's follow-up")
    payment = _payment(order_id)
    assert payment.status == CardPaymentStatus.AUTHORISED and not payment.captured_early
    assert not _capture_requests(fake_stripe, payment)
    assert fake_stripe.objects[payment.payment_intent_id]["status"] == "requires_capture"
    assert db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED
    assert _ledger(order_id, LedgerKind.CHARGE) == []
