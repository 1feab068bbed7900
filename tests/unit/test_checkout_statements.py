"""Checkout takes every line's stock in one statement: one short line refuses the whole order."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.services import CheckoutInput, OutOfStock
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product


@pytest.fixture
def farms(app):
    get_admin()
    farms = [make_producer(f"farm{i}@test.coop", f"Ferme {i}") for i in range(2)]
    shelves = [[make_product(farm, f"Produce {i}.{n}", stock=100) for n in range(5)] for i, farm in enumerate(farms)]
    make_distribution(farms)
    db.session.commit()
    return shelves


def test_one_short_line_refuses_the_whole_checkout_and_names_it(farms):
    buyer = make_member("buyer@test.coop")
    orders.add_to_cart(buyer, farms[0][0].id, 3)
    orders.add_to_cart(buyer, farms[1][0].id, 4)
    db.session.commit()
    db.session.query(Product).filter_by(id=farms[1][0].id).update({"stock": 2})  # another buyer took the rest
    db.session.commit()
    with pytest.raises(OutOfStock, match="only 2 left of Produce 1.0"):
        orders.checkout(buyer, CheckoutInput())
    db.session.rollback()
    assert db.session.get(Product, farms[0][0].id).stock == 100  # the line that fitted was not taken either
    assert db.session.query(Order).count() == 0
