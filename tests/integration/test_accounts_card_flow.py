"""A card checkout paid in part from the member account: PostgreSQL, a real Celery worker, the fake Stripe.

The account pays first, the card is held and captured only for the rest; the producers, owed more than
the charge, are paid from the coop's platform balance (a transfer from the charge itself would exceed it),
and wait, as Stripe makes them, until that balance has the funds."""
from __future__ import annotations

import pytest
from flask import current_app

from marketplace.accounts import services as accounts
from marketplace.accounts import models as accounts_models
from marketplace.accounts.models import Means, MovementKind
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.states import Fulfilment, PaymentMethod, PaymentStatus
from marketplace.payments import payouts, reconciliation, services
from marketplace.payments.models import CardPayment, Payout, PayoutStatus
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import (celery_config, celery_worker, connect_ready_account, fake_stripe,  # noqa: F401
                                     live_server, point_webhooks, stripe_config, wait_for)

pytestmark = pytest.mark.integration


@pytest.fixture
def app_config(fake_stripe):
    return {**stripe_config(fake_stripe), **celery_config()}


@pytest.fixture
def stack(pg_app, fake_stripe):
    with live_server(pg_app) as url:
        point_webhooks(fake_stripe, url)
        yield url


def _order_with_a_balance(fake, url, balance_cents: int):
    farms = [make_producer(f"farm{i}@test.coop", name) for i, name in enumerate(["Tomato Farm", "Hens", "Bakery"])]
    tomatoes = make_product(farms[0], "Tomatoes", price_cents=600, weight_priced_g=1000)
    eggs = make_product(farms[1], "Eggs", price_cents=350)
    bread = make_product(farms[2], "Bread", price_cents=400)
    distribution = make_distribution(farms)
    for farm in farms:
        connect_ready_account(fake, farm)
    buyer = make_member("buyer@test.coop")
    accounts.record_top_up(get_admin(), buyer.id, balance_cents, Means.CASH, "Cash at the last pickup")
    orders.choose_distribution(buyer, distribution.id)
    for product, quantity in ((tomatoes, 2), (eggs, 2), (bread, 1)):
        orders.add_to_cart(buyer, product.id, quantity)
    order = orders.checkout(buyer, orders.CheckoutInput(fulfilment=Fulfilment.PICKUP,
                                                        payment_method=PaymentMethod.CARD))
    db.session.commit()
    order_id = order.id
    with current_app.test_request_context(base_url=url):
        services.start_checkout(db.session.get(type(buyer), buyer.id), order_id)
        db.session.commit()
    db.session.expire_all()
    return order_id, farms, buyer.id


def _prepare_all(order_id, weigh_grams):
    order = db.session.get(orders.Order, order_id)
    for part in order.parts:
        farm = part.producer.user
        orders.accept_part(farm, part.id)
        for line in part.lines:
            if line.is_weight_priced:
                orders.record_weight(farm, line.id, weigh_grams)
        db.session.commit()
    for part in order.parts:
        orders.mark_ready(part.producer.user, part.id)
        db.session.commit()


def test_the_account_pays_first_the_card_covers_the_rest_and_producers_are_paid_from_the_coop_balance(
        pg_app, stack, fake_stripe):
    order_id, farms, buyer_id = _order_with_a_balance(fake_stripe, stack, 1000)
    # Estimate: tomatoes 2 kg at 6.00 = 12.00, eggs 7.00, bread 4.00 = 23.00; the account pays 10.00 of it.
    assert accounts.balance_cents(buyer_id) == 0
    assert accounts.order_share_cents(order_id) == 1000
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    # The hold: tomatoes at most 14.40 (+20 %), eggs 7.00, bread 4.00 = 25.40, less the 10.00 already paid.
    assert payment.requested_cents == 1540
    with celery_worker(pg_app):
        fake_stripe.pay_checkout_session(payment.session_id)
        wait_for(lambda: db.session.get(orders.Order, order_id).payment_status == PaymentStatus.AUTHORISED,
                 what="authorisation")
        assert db.session.get(CardPayment, payment.id).authorised_cents == 1540
        _prepare_all(order_id, weigh_grams=1800)  # final: 10.80 + 7.00 + 4.00 = 21.80
        wait_for(lambda: db.session.query(Payout).filter_by(order_id=order_id).count() == 3
                 and all(p.status == PayoutStatus.WAITING for p in db.session.query(Payout).filter_by(
                     order_id=order_id)), what="three payouts waiting for the coop's balance")
        payment = db.session.get(CardPayment, payment.id)
        assert fake_stripe.objects[payment.charge_id]["amount_captured"] == 2180 - 1000
        assert db.session.get(orders.Order, order_id).payment_status == PaymentStatus.PAID
        # Nothing was transferred from the charge: it is smaller than what the producers are owed.
        assert not [o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]

        # The treasurer moves the members' cash to the Stripe balance (and what covers Stripe's fee on the
        # 11.80 charge, taken from that balance); the card funds become available two days later.
        fake_stripe.advance(3 * 24 * 3600)
        payouts.retry_waiting_payouts()
        # The charge's 11.80, less Stripe's fee, pays the tomatoes (10.80); eggs and bread wait for more.
        wait_for(lambda: sorted(p.status.value for p in db.session.query(Payout).filter_by(order_id=order_id))
                 == ["paid", "waiting", "waiting"], what="one transfer, two still waiting")
        fake_stripe.top_up(1100)
        payouts.retry_waiting_payouts()  # the same payouts, retried a second time
        wait_for(lambda: db.session.query(Payout).filter_by(order_id=order_id, status=PayoutStatus.PAID).count() == 3,
                 what="three transfers")
    transfers = [o for o in fake_stripe.objects.values() if o.get("object") == "transfer"]
    assert sorted(t["amount"] for t in transfers) == [400, 700, 1080]
    assert all("source_transaction" not in t or not t["source_transaction"] for t in transfers)
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.from_account == 1000 and balance.charged == 1180 and balance.transferred == 2180
    assert balance.ok and balance.settled and balance.difference == 0, balance
    kinds = [m.kind for m in accounts.movements_of(buyer_id)]
    assert kinds == [MovementKind.ORDER_PAYMENT, MovementKind.TOP_UP]


def test_a_card_top_up_lands_on_the_coop_account_and_credits_the_member_once(pg_app, stack, fake_stripe):
    from marketplace.payments import balances, topups
    from marketplace.payments.models import LedgerEntry, LedgerKind

    buyer = make_member("buyer@test.coop")
    db.session.commit()
    with current_app.test_request_context(base_url=stack):
        topups.start_top_up(buyer, 2000)
        db.session.commit()
    [top_up] = db.session.query(accounts_models.CardTopUp).all()
    session = fake_stripe.objects[top_up.session_id]
    assert session["metadata"] == {"top_up_id": str(top_up.id)}
    with celery_worker(pg_app):
        fake_stripe.pay_checkout_session(top_up.session_id)
        wait_for(lambda: accounts.balance_cents(buyer.id) == 2000, what="the top-up credited")
        for event in fake_stripe.events_of_type("checkout.session.completed"):
            assert fake_stripe.resend(event["id"]).ok  # a replayed webhook credits nothing more
        fake_stripe.wait_for_webhooks()
    db.session.expire_all()
    assert accounts.balance_cents(buyer.id) == 2000
    [movement] = accounts.movements_of(buyer.id)
    assert (movement.kind, movement.means) == (MovementKind.TOP_UP, Means.CARD)
    top_up = db.session.get(accounts_models.CardTopUp, top_up.id)
    charge = fake_stripe.objects[top_up.charge_id]
    assert charge["amount"] == 2000 and not charge.get("transfer_data") and not charge.get("on_behalf_of")
    assert db.session.query(LedgerEntry).filter_by(kind=LedgerKind.CHARGE, stripe_id=top_up.charge_id).one()
    balances.sync_platform_fees()
    assert balances.platform_problems() == []
