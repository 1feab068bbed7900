"""The member account at checkout and at the pickup: the balance pays first, the sheet says what to collect."""
from __future__ import annotations

import pytest

from marketplace.accounts import services as accounts
from marketplace.accounts.models import AccountMovement, Means, MovementKind
from marketplace.core.errors import Conflict
from marketplace.disputes import services as disputes
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.documents import pickup_sheet
from marketplace.orders.states import PaymentStatus
from tests.admin_fixtures import coop, place_order  # noqa: F401
from tests.factories import get_admin, login, make_distribution, make_product


def _credit_from_a_dispute(coop, cents=560):
    line = next(l for p in coop["done_order"].parts for l in p.lines if l.product_name == "Carrots")
    dispute = disputes.open_dispute(coop["buyer"], line.id, DisputeReason.DAMAGED, "Mouldy carrots")
    disputes.resolve_dispute(get_admin(), dispute.id, DisputeStatus.CREDITED, cents, "Damaged goods")
    db.session.commit()


def _next_order(coop, use_account=True, weighed=False):
    distribution = make_distribution([coop["ferme"], coop["chevre"]])
    orders.choose_distribution(coop["buyer"], distribution.id)
    items = [(coop["leeks"], 2), (coop["cheese"], 2)]  # 2 x 2.50 + 2 x 3.50 = 12.00
    if weighed:
        items = [(make_product(coop["ferme"], "Potatoes", price_cents=300, weight_priced_g=1000), 2)]  # ~6.00
    order = place_order(coop["buyer"], items, use_account=use_account)
    db.session.commit()
    return order, distribution


def _make_ready(coop, order, grams=None):
    by_profile = {coop["ferme"].producer_profile.id: coop["ferme"], coop["chevre"].producer_profile.id: coop["chevre"]}
    for part in order.parts:
        orders.accept_part(by_profile[part.producer_id], part.id)
        for line in part.lines:
            if line.is_weight_priced:
                orders.record_weight(by_profile[part.producer_id], line.id, grams)
        orders.mark_ready(by_profile[part.producer_id], part.id)
    db.session.commit()


def _sheet_row(distribution_id, reference):
    return next(row for row in pickup_sheet(distribution_id).rows if row[1] == reference)


def test_a_dispute_credit_on_a_pay_at_pickup_order_reduces_the_next_order_and_shows_on_its_pickup_sheet(coop):
    _credit_from_a_dispute(coop)
    order, distribution = _next_order(coop)
    assert accounts.order_share_cents(order.id) == 560 and accounts.balance_cents(coop["buyer"].id) == 0
    _make_ready(coop, order)
    assert _sheet_row(distribution.id, order.reference)[3].startswith("To pay: €6.40")
    orders.mark_collected(get_admin(), order.id)
    db.session.commit()
    assert order.payment_status == PaymentStatus.PAID
    # Newest first; the oldest two are the cash received for the first order, at its pickup.
    movements = [(m.kind, m.amount_cents, m.means) for m in accounts.movements_of(coop["buyer"].id)]
    assert movements[:4] == [(MovementKind.ORDER_PAYMENT, -640, None), (MovementKind.TOP_UP, 640, Means.CASH),
                         (MovementKind.ORDER_PAYMENT, -560, None), (MovementKind.DISPUTE_CREDIT, 560, None)]
    assert accounts.balance_cents(coop["buyer"].id) == 0


def test_a_credit_granted_after_the_order_was_placed_is_deducted_at_the_pickup(coop):
    order, distribution = _next_order(coop)
    _credit_from_a_dispute(coop, 300)
    _make_ready(coop, order)
    assert _sheet_row(distribution.id, order.reference)[3] == "To pay: €9.00 (order €12.00, account €3.00)"
    orders.mark_collected(get_admin(), order.id, 1000, Means.CHEQUE)  # a cheque of 10.00: 1.00 stays
    db.session.commit()
    assert accounts.balance_cents(coop["buyer"].id) == 100


def test_the_buyer_may_keep_the_balance_for_later(coop):
    _credit_from_a_dispute(coop)
    order, _distribution = _next_order(coop, use_account=False)
    assert accounts.order_share_cents(order.id) == 0 and accounts.balance_cents(coop["buyer"].id) == 560


def test_what_the_account_paid_beyond_the_weighed_amount_goes_back_to_it(coop):
    _credit_from_a_dispute(coop)
    order, _distribution = _next_order(coop, weighed=True)  # estimate 6.00: the credit pays 5.60 of it
    _make_ready(coop, order, grams=1600)  # weighed: 4.80
    assert accounts.order_share_cents(order.id) == 480 and accounts.balance_cents(coop["buyer"].id) == 80
    assert orders.handover_due(order).to_collect_cents == 0


def test_a_small_shortfall_at_the_pickup_is_carried_over_a_large_one_is_refused(coop):
    order, _distribution = _next_order(coop)
    _make_ready(coop, order)
    with pytest.raises(Conflict):
        orders.mark_collected(get_admin(), order.id, 900, Means.CASH)  # 3.00 short: above the 2.00 limit
    db.session.rollback()
    orders.mark_collected(get_admin(), order.id, 1050, Means.CASH)
    db.session.commit()
    assert accounts.balance_cents(coop["buyer"].id) == -150
    # The next order's sheet adds it.
    order, distribution = _next_order(coop)
    _make_ready(coop, order)
    assert _sheet_row(distribution.id, order.reference)[3] == "To pay: €13.50 (order €12.00, account -€1.50)"


def test_the_checkout_page_shows_the_balance_and_the_choice(coop, client):
    _credit_from_a_dispute(coop)
    distribution = make_distribution([coop["ferme"]])
    orders.choose_distribution(coop["buyer"], distribution.id)
    orders.add_to_cart(coop["buyer"], coop["leeks"].id, 2)
    db.session.commit()
    login(client, coop["buyer"])
    page = client.get("/checkout").get_data(as_text=True)
    assert "€5.00 of this order" in page and "skip_account" in page
    response = client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "pay_at_pickup",
                                              "skip_account": "y"})
    assert response.status_code == 302
    assert accounts.balance_cents(coop["buyer"].id) == 560


def test_a_small_excess_captured_on_a_card_is_carried_to_the_account_not_refunded(coop):
    from tests.admin_fixtures import complete_order
    from marketplace.orders.states import PaymentMethod
    from marketplace.payments import services as payments
    from marketplace.payments.models import CardPayment, CardPaymentStatus, Credit

    order = place_order(coop["buyer"], [(coop["cheese"], 2)])  # 7.00
    order.payment_method, order.payment_status = PaymentMethod.CARD, PaymentStatus.PAID
    complete_order(order, [coop["chevre"]])
    # Captured early for the hold (an expiring authorisation), 1.50 above the final amount.
    db.session.add(CardPayment(order_id=order.id, payment_intent_id="pi_1", charge_id="ch_1",
                               status=CardPaymentStatus.CAPTURED, authorised_cents=850, captured_cents=850))
    db.session.commit()
    assert payments.rebalance_order(order.id) is None
    assert db.session.query(Credit).count() == 0
    movement = accounts.movements_of(coop["buyer"].id)[0]
    assert (movement.kind, movement.amount_cents, movement.order_id) == (MovementKind.CARRY_OVER, 150, order.id)
    assert payments.amount_due_cents(order) == 850  # what the card paid now covers the order and the carry-over
    count = len(accounts.movements_of(coop["buyer"].id))
    assert payments.rebalance_order(order.id) is None and len(accounts.movements_of(coop["buyer"].id)) == count


def test_a_cancelled_order_gives_the_account_back_what_it_paid(coop):
    _credit_from_a_dispute(coop)
    order, _distribution = _next_order(coop)
    assert accounts.balance_cents(coop["buyer"].id) == 0
    orders.cancel_order(coop["buyer"], order.id)
    db.session.commit()
    assert accounts.balance_cents(coop["buyer"].id) == 560 and accounts.order_share_cents(order.id) == 0
    assert accounts.movements_of(coop["buyer"].id)[0].kind == MovementKind.REFUND_TO_ACCOUNT


def test_the_courier_stop_says_what_to_collect_and_the_delivery_records_it(client):
    from marketplace.dispatch import services as dispatch
    from marketplace.dispatch.models import Run
    from tests.dispatch_fixtures import delivery_scene

    _distribution, _couriers, [order] = delivery_scene()
    accounts.post_movement(order.buyer_id, MovementKind.DISPUTE_CREDIT, 300, reason="Broken eggs")
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    run = db.session.get(Run, run_id)
    due = orders.handover_due(order)
    assert due.order_rest_cents == order.total_due_cents and due.to_collect_cents == order.total_due_cents - 300
    login(client, run.offered_to)
    assert client.post(f"/courier/runs/{run.id}/accept").status_code == 302
    page = client.get(f"/courier/runs/{run.id}").get_data(as_text=True)
    expected = f"€{(order.total_due_cents - 300) // 100}.{(order.total_due_cents - 300) % 100:02d}"
    assert 'data-testid="to-pay"' in page and f"To pay: {expected}" in page
    for stop in run.stops[:-1]:
        client.post(f"/courier/stops/{stop.id}/picked-up")
    client.post(f"/courier/stops/{run.stops[-1].id}/delivered", data={"code": order.delivery_code})
    db.session.expire_all()
    assert accounts.balance_cents(order.buyer_id) == 0
    assert accounts.movements_of(order.buyer_id)[1].amount_cents == order.total_due_cents - 300  # cash received


def test_movements_the_shop_posts_store_no_sentence_and_read_in_the_readers_language(coop, app):
    """Issue 16: codes stored, words at display time. The handover's movements keep no sentence written in
    the language of whoever ran the pickup; each reader sees them in their own."""
    from flask_babel import force_locale

    order, distribution = _next_order(coop)
    _make_ready(coop, order)
    orders.mark_collected(get_admin(), order.id, 1300, Means.CASH)  # 1.00 more than the 12.00 due
    db.session.commit()
    handover = db.session.query(AccountMovement).filter_by(
        order_id=order.id, kind=MovementKind.TOP_UP).one()
    assert handover.reason == ""
    with app.test_request_context():
        with force_locale("en"):
            english = accounts.movement_text(handover)
        with force_locale("fr"):
            french = accounts.movement_text(handover)
    assert english == f"Received at the handover of order {order.reference}"
    assert order.reference in french and french != english
