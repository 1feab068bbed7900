"""The admin orders list sums what each order is due in SQL: the same amounts as `Order.total_due_cents`."""
from __future__ import annotations

from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.services import CheckoutInput
from marketplace.orders.states import Fulfilment, LineStatus, PartStatus
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import counting


def _order(buyer, products, fee: int = 0) -> Order:
    for product, quantity in products:
        orders.add_to_cart(buyer, product.id, quantity)
    order = orders.checkout(buyer, CheckoutInput())
    order.delivery_fee_cents = fee
    if fee:
        order.fulfilment = Fulfilment.DELIVERY
    return order


def test_sql_totals_match_the_orders_own_amounts_line_for_line(app):
    get_admin()
    farms = [make_producer(f"farm{i}@test.coop", f"Ferme {i}") for i in range(2)]
    carrots = make_product(farms[0], "Carrots", price_cents=333, stock=None)
    # Weight-priced at 17.99 €/kg, pieces of about 333 g: amounts that need rounding half up.
    cheese = make_product(farms[1], "Cheese", price_cents=1799, stock=None, weight_priced_g=333)
    make_distribution(farms)
    db.session.commit()
    buyers = [make_member(f"b{i}@test.coop") for i in range(8)]
    plain = _order(buyers[0], [(carrots, 3)], fee=450)
    estimated = _order(buyers[1], [(cheese, 3), (carrots, 1)], fee=450)
    weighed = _order(buyers[2], [(cheese, 2), (carrots, 2)])
    weighed.parts[1].lines[0].weighed_grams = 1017  # 1,017 g at 17.99 €/kg: 18.2958… → 18.30 €
    rejected = _order(buyers[3], [(cheese, 1), (carrots, 4)])
    rejected.parts[1].lines[0].status = LineStatus.REJECTED  # parts in producer order: [carrots, cheese]
    half_cancelled = _order(buyers[4], [(cheese, 2), (carrots, 5)], fee=300)
    half_cancelled.parts[1].status = PartStatus.CANCELLED
    cancelled = _order(buyers[5], [(carrots, 2)], fee=300)
    cancelled.parts[0].status = PartStatus.CANCELLED
    agreed = _order(buyers[6], [(carrots, 3)])
    agreed.parts[0].lines[0].agreed_cents = 777  # a contract's price spread over its lines
    agreed_weighed = _order(buyers[7], [(cheese, 2)])
    agreed_weighed.parts[0].lines[0].agreed_cents = 1111
    agreed_weighed.parts[0].lines[0].weighed_grams = 700  # weighed, but the agreed amount is what is due
    db.session.commit()
    everything = [plain, estimated, weighed, rejected, half_cancelled, cancelled, agreed, agreed_weighed]

    totals = orders.total_due_cents_by_order(everything)

    assert totals == {order.id: order.total_due_cents for order in everything}
    assert totals[plain.id] == 3 * 333 + 450
    assert totals[weighed.id] == 1830 + 2 * 333
    assert totals[cancelled.id] == 0  # nothing left to pay: no delivery either
    assert totals[rejected.id] == 4 * 333
    assert totals[agreed.id] == 777 and totals[agreed_weighed.id] == 1111


def test_sql_producer_totals_match_the_parts_own_estimates(app):
    get_admin()
    farms = [make_producer(f"farm{i}@test.coop", f"Ferme {i}") for i in range(3)]
    carrots = make_product(farms[0], "Carrots", price_cents=333, stock=None)
    cheese = make_product(farms[1], "Cheese", price_cents=1799, stock=None, weight_priced_g=333)
    eggs = make_product(farms[2], "Eggs", price_cents=410, stock=None)
    distribution = make_distribution(farms)
    db.session.commit()
    buyers = [make_member(f"b{i}@test.coop") for i in range(4)]
    first = _order(buyers[0], [(carrots, 3), (cheese, 3), (eggs, 1)])
    second = _order(buyers[1], [(cheese, 1), (carrots, 2)])
    second.parts[1].lines[0].agreed_cents = 777  # an amount agreed (a standing order's), whatever the weight
    third = _order(buyers[2], [(carrots, 4), (eggs, 2)])
    third.parts[0].lines[0].status = LineStatus.REJECTED
    third.parts[1].status = PartStatus.CANCELLED
    only_rejected = _order(buyers[3], [(eggs, 5)])
    only_rejected.parts[0].lines[0].status = LineStatus.REJECTED  # a live part without an active line: 0
    db.session.commit()
    expected: dict[int, int] = {}
    for order in (first, second, third, only_rejected):
        for part in order.parts:
            if part.status != PartStatus.CANCELLED:
                expected[part.producer_id] = expected.get(part.producer_id, 0) + part.estimated_cents

    distribution_id = distribution.id
    cheese_farm, eggs_farm = farms[1].producer_profile.id, farms[2].producer_profile.id
    db.session.expunge_all()  # nothing loaded already: what the statement count measures is the read itself
    with counting() as statements:
        totals = orders.producer_totals(distribution_id)

    assert totals == expected and len(statements) == 1  # summed by the database, whatever the parts
    assert totals[cheese_farm] == round(3 * 333 * 1799 / 1000) + 777
    assert totals[eggs_farm] == 410  # the first order's eggs; the rest rejected or cancelled
