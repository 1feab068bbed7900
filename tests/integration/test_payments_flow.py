"""Card payments end to end: PostgreSQL, a real Celery worker, the fake Stripe and a live app server."""
from __future__ import annotations

import pytest
from flask import current_app

from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services as orders
from marketplace.orders.states import Fulfilment, PaymentMethod, PaymentStatus
from marketplace.payments import payouts, reconciliation, services
from marketplace.payments.models import (CardPayment, CardPaymentStatus, Credit, CreditStatus, LedgerEntry,
                                         LedgerKind, Payout, PayoutStatus, StripeEvent)
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import (celery_config, celery_worker, connect_ready_account, fake_stripe,  # noqa: F401
                                     flush_broker,
                                     live_server, point_webhooks, refunds_made, stripe_config, wait_for)

pytestmark = pytest.mark.integration


@pytest.fixture
def app_config(fake_stripe):
    return {**stripe_config(fake_stripe), **celery_config()}


@pytest.fixture
def stack(pg_app, fake_stripe):
    with live_server(pg_app) as url:
        point_webhooks(fake_stripe, url)
        yield url


def _three_producer_order(fake, url, delivery=True):
    farms = [make_producer(f"farm{i}@test.coop", name) for i, name in enumerate(["Tomato Farm", "Hens", "Bakery"])]
    tomatoes = make_product(farms[0], "Tomatoes", price_cents=600, weight_priced_g=1000)
    eggs = make_product(farms[1], "Eggs", price_cents=350)
    bread = make_product(farms[2], "Bread", price_cents=400)
    distribution = make_distribution(farms, home_delivery=delivery)
    for farm in farms:
        connect_ready_account(fake, farm)
    buyer = make_member("buyer@test.coop", postcode="44000", address="3 rue Kervégan", town="Nantes")
    orders.choose_distribution(buyer, distribution.id)
    orders.add_to_cart(buyer, tomatoes.id, 2)
    orders.add_to_cart(buyer, eggs.id, 2)
    orders.add_to_cart(buyer, bread.id, 1)
    order = orders.checkout(buyer, orders.CheckoutInput(
        fulfilment=Fulfilment.DELIVERY if delivery else Fulfilment.PICKUP, payment_method=PaymentMethod.CARD,
        delivery_address="3 rue Kervégan", delivery_postcode="44000", delivery_town="Nantes"))
    db.session.commit()
    order_id = order.id
    with current_app.test_request_context(base_url=url):
        services.start_checkout(db.session.get(type(buyer), buyer.id), order_id)
        db.session.commit()
    db.session.expire_all()
    return order_id, farms, buyer


def _pay(fake, order_id):
    fake.pay_checkout_session(db.session.get(CardPayment, _payment_id(order_id)).session_id)


def _payment_id(order_id):
    return db.session.query(CardPayment.id).filter_by(order_id=order_id).scalar()


def _prepare_all(order_id, farms, weigh_grams=1800):
    order = db.session.get(orders.Order, order_id)
    live = [p for p in order.parts if p.status.value != "cancelled"]
    for part in live:
        farm = part.producer.user
        orders.accept_part(farm, part.id)
        for line in part.lines:
            if line.is_weight_priced:
                orders.record_weight(farm, line.id, weigh_grams)
        db.session.commit()
    for part in live:
        orders.mark_ready(part.producer.user, part.id)
        db.session.commit()


def _paid_payouts(order_id):
    return db.session.query(Payout).filter_by(order_id=order_id, status=PayoutStatus.PAID).all()


def _pay_prepare_and_transfer(fake, order_id, farms):
    """With a worker running: the buyer pays, the three farms pack, each is transferred its part."""
    _pay(fake, order_id)
    wait_for(lambda: db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED)
    _prepare_all(order_id, farms)
    wait_for(lambda: len(_paid_payouts(order_id)) == 3, what="three transfers")


def test_three_producer_basket_captures_the_final_amount_transfers_each_part_and_reconciles(pg_app, stack, fake_stripe):
    order_id, farms, buyer = _three_producer_order(fake_stripe, stack)
    courier = make_member("courier@test.coop", College.COURIER)
    connect_ready_account(fake_stripe, courier)
    db.session.commit()
    with celery_worker(pg_app):
        _pay(fake_stripe, order_id)
        wait_for(lambda: db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED,
                 what="authorisation")
        payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
        # 2 kg tomatoes at 6.00 held +20 % = 14.40, eggs 7.00, bread 4.00, delivery 4.50.
        assert payment.authorised_cents == 1440 + 700 + 400 + 450
        _prepare_all(order_id, farms, weigh_grams=1800)  # 10 % under the 2000 g estimate
        wait_for(lambda: len(_paid_payouts(order_id)) == 3, what="three transfers")
        order = db.session.get(orders.Order, order_id)
        assert order.payment_status == PaymentStatus.PAID
        final_goods = 1080 + 700 + 400
        assert order.goods_final_cents == final_goods
        charge = fake_stripe.objects[payment.charge_id]
        assert charge["amount_captured"] == final_goods + 450 == order.total_due_cents
        transfers = [o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]
        assert sorted(t["amount"] for t in transfers) == [400, 700, 1080]
        assert sum(t["amount"] for t in transfers) == final_goods
        assert all(t["source_transaction"] == payment.charge_id and t["transfer_group"] == order.reference
                   for t in transfers)
        assert {r.idempotency_key for r in fake_stripe.requests if r.path == "/v1/transfers"} == \
            {f"transfer:{p.id}" for p in order.parts}
        fee = db.session.query(LedgerEntry).filter_by(order_id=order_id, kind=LedgerKind.FEE).one()
        assert fee.amount_cents == (order.total_due_cents * 15 + 500) // 1000 + 25

        # Delivered: dispatch enqueues the courier's pay by task name.
        orders.hand_to_courier(order_id, courier)
        orders.mark_delivered(order_id, courier)
        db.session.commit()
        pg_app.extensions["celery"].send_task("payments.pay_courier", args=[courier.id, 450, "courier-run:7", [order_id]])
        wait_for(lambda: db.session.query(Payout).filter_by(user_id=courier.id, status=PayoutStatus.PAID).count() == 1,
                 what="courier transfer")
        courier_transfer = db.session.query(LedgerEntry).filter_by(kind=LedgerKind.COURIER_TRANSFER).one()
        assert courier_transfer.amount_cents == 450

        [balance] = reconciliation.reconcile(check_stripe=True)
        assert balance.settled and balance.ok and balance.difference == 0, balance
        assert balance.charged == balance.transferred == final_goods + 450
        # A replayed webhook changes nothing.
        events_before = db.session.query(StripeEvent).count()
        ledger_before = db.session.query(LedgerEntry).count()
        completed = fake_stripe.events_of_type("checkout.session.completed")[0]
        assert fake_stripe.resend(completed["id"]).ok
        captured = fake_stripe.events_of_type("payment_intent.succeeded")[0]
        assert fake_stripe.resend(captured["id"]).ok
        assert db.session.query(StripeEvent).count() == events_before
        assert db.session.query(LedgerEntry).count() == ledger_before


def test_a_dispute_refunds_the_buyer_and_reverses_the_same_amount_from_the_producer(pg_app, stack, fake_stripe):
    order_id, farms, buyer = _three_producer_order(fake_stripe, stack, delivery=False)
    with celery_worker(pg_app):
        _pay_prepare_and_transfer(fake_stripe, order_id, farms)
        order = db.session.get(orders.Order, order_id)
        eggs = next(l for p in order.parts for l in p.lines if l.product_name == "Eggs")
        services.resolve_dispute(get_admin(), eggs.id, 350, "One box of eggs was broken.")
        db.session.commit()
        wait_for(lambda: db.session.query(Credit).filter_by(status=CreditStatus.DONE).count() == 1, what="refund")
        refunds = refunds_made(fake_stripe)
        reversals = [o for o in fake_stripe.objects.values() if o.get("object") == "transfer_reversal"]
        assert [r["amount"] for r in refunds] == [350] and [r["amount"] for r in reversals] == [350]
        eggs_payout = db.session.query(Payout).filter_by(part_id=eggs.part_id).one()
        assert reversals[0]["transfer"] == eggs_payout.stripe_transfer_id
        [balance] = reconciliation.reconcile(check_stripe=True)
        assert balance.ok and balance.settled and balance.refunded == 350


def test_a_line_rejected_before_capture_is_released_not_refunded(pg_app, stack, fake_stripe):
    order_id, farms, buyer = _three_producer_order(fake_stripe, stack, delivery=False)
    with celery_worker(pg_app):
        _pay(fake_stripe, order_id)
        wait_for(lambda: db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED)
        order = db.session.get(orders.Order, order_id)
        bread = next(l for p in order.parts for l in p.lines if l.product_name == "Bread")
        orders.reject_line(bread.part.producer.user, bread.id, "The oven broke down.")
        db.session.commit()
        _prepare_all(order_id, farms)
        wait_for(lambda: len(_paid_payouts(order_id)) == 2, what="two transfers")
        payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
        assert fake_stripe.objects[payment.charge_id]["amount_captured"] == 1080 + 700
        assert not refunds_made(fake_stripe)
        [balance] = reconciliation.reconcile(check_stripe=True)
        assert balance.ok and balance.settled


def test_a_transfer_task_killed_after_stripe_answered_pays_once_when_retried(pg_app, stack, fake_stripe, monkeypatch):
    flush_broker(pg_app)
    order_id, farms, buyer = _three_producer_order(fake_stripe, stack, delivery=False)
    # No worker yet: drive the steps here; the queued tasks will all run (again) later.
    _pay(fake_stripe, order_id)
    services.sync_payment(order_id)
    _prepare_all(order_id, farms)
    services.capture_order(order_id)
    services.sync_payment(order_id)
    payout_ids = services.settle_order(order_id)
    assert len(payout_ids) == 3
    real_ledger = payouts.write_ledger

    def die_after_stripe(kind, *args, **kwargs):
        if kind == LedgerKind.TRANSFER:
            raise SystemExit("worker killed")
        return real_ledger(kind, *args, **kwargs)

    monkeypatch.setattr(payouts, "write_ledger", die_after_stripe)
    with pytest.raises(SystemExit):
        payouts.execute_payout(payout_ids[0])
    db.session.rollback()
    monkeypatch.setattr(payouts, "write_ledger", real_ledger)
    assert db.session.get(Payout, payout_ids[0]).status == PayoutStatus.PENDING
    assert len([o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]) == 1

    with celery_worker(pg_app, flush=False):  # runs every queued task, including the transfers
        pg_app.extensions["celery"].send_task("payments.execute_payout", args=[payout_ids[0]])
        wait_for(lambda: len(_paid_payouts(order_id)) == 3, what="transfers")
    transfers = [o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]
    assert len(transfers) == 3
    assert db.session.query(LedgerEntry).filter_by(order_id=order_id, kind=LedgerKind.TRANSFER).count() == 3
    assert any(r.replayed and r.idempotency_key == f"transfer:{db.session.get(Payout, payout_ids[0]).part_id}"
               for r in fake_stripe.requests)
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled


def test_a_lost_chargeback_is_taken_back_from_the_producers_by_the_published_rule(pg_app, stack, fake_stripe):
    from marketplace.core.services import set_setting
    from marketplace.payments.models import Chargeback, CreditKind, PaymentAlert

    set_setting("lost_chargeback_rule", "reverse_producers")
    db.session.commit()
    order_id, farms, buyer = _three_producer_order(fake_stripe, stack, delivery=False)
    with celery_worker(pg_app):
        _pay_prepare_and_transfer(fake_stripe, order_id, farms)
        payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
        dispute = fake_stripe.open_dispute(payment.charge_id)
        wait_for(lambda: db.session.query(Chargeback).filter_by(status="needs_response").count() == 1,
                 what="the chargeback recorded")
        alert = db.session.query(PaymentAlert).filter(PaymentAlert.key == f"chargeback:{dispute['id']}").one()
        assert alert.order_id == order_id and "answer before" in alert.subject
        assert db.session.query(LedgerEntry).filter_by(kind=LedgerKind.DISPUTE, order_id=order_id).one() \
            .amount_cents == dispute["amount"] == 1080 + 700 + 400

        fake_stripe.close_dispute(dispute["id"], won=False)
        wait_for(lambda: db.session.query(Credit).filter_by(kind=CreditKind.CHARGEBACK,
                                                            status=CreditStatus.DONE).count() == 3,
                 what="the three producers' reversals")
        reversals = sorted(r["amount"] for r in fake_stripe.objects_of("transfer_reversal"))
        assert reversals == [400, 700, 1080]  # each farm gives back what it was paid for the order
        chargeback = db.session.query(Chargeback).one()
        assert (chargeback.status, chargeback.recovered_cents, chargeback.absorbed_cents) == ("lost", 2180, 0)
        [balance] = reconciliation.reconcile(check_stripe=True)
        assert balance.ok and balance.settled and balance.difference == 0
        assert reconciliation.reconcile_platform() == []


def test_a_hold_that_lapses_after_goods_were_collected_raises_an_alert_not_a_cancellation(pg_app, stack,
                                                                                         fake_stripe):
    from marketplace.payments.models import PaymentAlert

    order_id, farms, buyer = _three_producer_order(fake_stripe, stack, delivery=False)
    with celery_worker(pg_app):
        _pay(fake_stripe, order_id)
        wait_for(lambda: db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED)
        order = db.session.get(orders.Order, order_id)
        for part in order.parts:
            orders.accept_part(part.producer.user, part.id)
        db.session.commit()
        bakery = next(p for p in order.parts if p.producer.name == "Bakery")
        orders.mark_ready(bakery.producer.user, bakery.id)
        db.session.commit()
        orders.mark_collected(get_admin(), order_id)  # the bread is with the buyer; the rest is not packed
        db.session.commit()
        fake_stripe.advance(7 * 24 * 3600)  # nobody captured in time: the card network drops the hold
        wait_for(lambda: db.session.query(CardPayment).filter_by(order_id=order_id).one().status
                 == CardPaymentStatus.LAPSED, what="the lapsed hold")
        order = db.session.get(orders.Order, order_id)
        assert order.payment_status == PaymentStatus.DUE
        assert all(p.status.value != "cancelled" for p in order.parts)
        alert = db.session.query(PaymentAlert).filter_by(key=f"lapsed:{order_id}").one()
        assert alert.resolved_at is None and "handed over" in alert.body
        assert fake_stripe.objects[db.session.query(CardPayment).filter_by(order_id=order_id).one()
                                   .payment_intent_id]["cancellation_reason"] == "automatic"
        assert not db.session.query(LedgerEntry).filter_by(order_id=order_id, kind=LedgerKind.CHARGE).count()
