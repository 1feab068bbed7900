"""On PostgreSQL, checkout runs as many SQL statements for a cart of ten lines as for a cart of two.

(On SQLite the ORM inserts order lines one by one, so the count is pinned where it matters.)
"""
from __future__ import annotations

import pytest

from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.services import CheckoutInput
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import counting

pytestmark = pytest.mark.integration


@pytest.fixture
def farms(pg_app):
    get_admin()
    farms = [make_producer(f"farm{i}@test.coop", f"Ferme {i}") for i in range(2)]
    shelves = [[make_product(farm, f"Produce {i}.{n}", stock=100) for n in range(5)] for i, farm in enumerate(farms)]
    make_distribution(farms)
    db.session.commit()
    return shelves


def _checkout_statements(products: list[Product], email: str) -> tuple[int, Order]:
    buyer = make_member(email)
    for n, product in enumerate(products):
        orders.add_to_cart(buyer, product.id, n + 1)
    db.session.commit()
    db.session.expire_all()  # as a new request would: nothing loaded yet
    with counting() as statements:
        order = orders.checkout(buyer, CheckoutInput())
        db.session.flush()
    db.session.commit()
    return len(statements), order


def test_checkout_statement_count_does_not_follow_the_cart_size(farms):
    small, small_order = _checkout_statements([farms[0][0], farms[1][0]], "small@test.coop")
    large, large_order = _checkout_statements(farms[0] + farms[1], "large@test.coop")
    assert sum(len(p.lines) for p in large_order.parts) == 10
    assert large == small, f"{small} statements for 2 lines, {large} for 10"
    # The member and membership (expired here), the cart with its items and distribution, the products
    # locked, the terms (variants, products, producers, offers: one), the stock UPDATE, the order (its
    # INSERT checks its reference is new), its parts, its lines, its event, the cart emptied, the balance,
    # the pickup place, the audit row and the e-mail (27 before: the cart and the terms read twice, the
    # producers taking part, the account row locked and created for a zero balance; 16 while the reference
    # was checked by a SELECT of its own).
    assert small == 15
    # Every line took its own quantity: 1 and 2 by the small cart, then 1..10 by the large one.
    stocks = {p.name: p.stock for p in db.session.query(Product)}
    assert stocks["Produce 0.0"] == 100 - 1 - 1 and stocks["Produce 1.0"] == 100 - 2 - 6
    assert stocks["Produce 0.4"] == 100 - 5 and stocks["Produce 1.4"] == 100 - 10
