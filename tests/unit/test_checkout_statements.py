"""Checkout takes every line's stock in one statement: one short line refuses the whole order."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import CartItem, Order
from marketplace.orders.services import CheckoutInput, OutOfStock
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import counting


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



def _post_statements(client, url: str, data: dict) -> int:
    # Its own app context, as in production: a fresh session (nothing loaded yet) and a fresh `g`.
    with client.application.app_context(), counting() as statements:
        response = client.post(url, data=data)
    assert response.status_code == 302, (url, response.status_code)
    return len(statements)


def _add(client, product: Product) -> int:
    return _post_statements(client, "/cart/add", {"product_id": product.id, f"quantity-{product.id}": 1})


def test_adding_to_the_cart_runs_three_statements_new_line_or_more_units(farms, client):
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    login(client, buyer)
    _add(client, farms[1][4])  # the cart is made, for the distribution of this producer
    # The member (Flask-Login); the cart with its items, its distribution's window and the variant asked for
    # with its product, its producer's part in that distribution and its offer there; the insert or update.
    # (4 before: the variant read on its own; 12 before that: the cart read twice, the product, its
    # variants, the distribution, the producers taking part, the terms, their products and producers.)
    assert [_add(client, farms[0][0]), _add(client, farms[0][0]), _add(client, farms[1][2])] == [3, 3, 3]
    db.session.expire_all()
    quantities = {(i.product_id, i.quantity) for i in orders.get_cart(buyer).items}
    assert quantities == {(farms[1][4].id, 1), (farms[0][0].id, 2), (farms[1][2].id, 1)}


def test_adding_from_the_distributions_catalogue_runs_three_statements_too(farms, client):
    from marketplace.distributions.models import Distribution

    buyer = make_member("buyer@test.coop")
    db.session.commit()
    login(client, buyer)
    browsed = {"distribution_id": db.session.query(Distribution.id).scalar()}
    _post_statements(client, "/cart/add", {"product_id": farms[0][0].id, **browsed})  # the cart is made for it
    assert [_post_statements(client, "/cart/add", {"product_id": product.id, **browsed})
            for product in (farms[0][0], farms[1][1])] == [3, 3]
    db.session.query(CartItem).delete()
    db.session.commit()
    # Emptied, the cart orders for the distribution browsed: the same one, checked open on what was read.
    assert _post_statements(client, "/cart/add", {"product_id": farms[1][1].id, **browsed}) == 3


def test_checkout_statements_pinned(farms, client):
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    login(client, buyer)
    _add(client, farms[0][0])
    _add(client, farms[1][0])
    # 31 before (the cart read twice, the terms twice, the producers taking part, the account row locked and
    # created for a zero balance); 19 before the order's id and payment method were read before the commit
    # (not reloaded for the redirect), the delivery slots read only to show the form (not for a pickup order
    # placed) and the reference checked by the order's INSERT itself. SQLite inserts the order's 2 parts and
    # 2 lines one by one (PostgreSQL batches them: tests/integration/test_checkout_statements_pg.py).
    assert _post_statements(client, "/checkout", {"fulfilment": "pickup", "payment_method": "pay_at_pickup"}) == 16
    assert db.session.query(Order).count() == 1
    db.session.expire_all()
    assert {p.name: p.stock for p in db.session.query(Product) if p.stock != 100} == {
        "Produce 0.0": 99, "Produce 1.0": 99}


def test_checkout_draws_another_reference_when_one_is_taken(farms, monkeypatch):
    from marketplace.orders.services import placing

    first, second = make_member("first@test.coop"), make_member("second@test.coop")
    for buyer in (first, second):
        orders.add_to_cart(buyer, farms[0][0].id, 1)
    db.session.commit()
    taken = orders.checkout(first, CheckoutInput()).reference
    db.session.commit()
    drawn = iter([taken, "C0000-FRESH00001"])
    monkeypatch.setattr(placing, "_reference_candidate", lambda: next(drawn))
    order = orders.checkout(second, CheckoutInput())
    db.session.commit()
    assert order.reference == "C0000-FRESH00001"
    assert sorted(o.buyer_id for o in db.session.query(Order)) == sorted([first.id, second.id])


def test_a_checkout_refused_after_its_rows_were_written_leaves_nothing_behind(farms):
    from marketplace.core.errors import ServiceError
    from marketplace.orders import signals
    from marketplace.orders.models import OrderLine, OrderPart

    buyer = make_member("buyer@test.coop")
    orders.add_to_cart(buyer, farms[0][0].id, 2)
    orders.add_to_cart(buyer, farms[1][0].id, 1)
    db.session.commit()
    expected_cents = 2 * farms[0][0].price_cents + farms[1][0].price_cents

    def refuse(order, **_kw):
        # Everything written is there, read without a statement, before the refusal.
        with counting() as statements:
            assert [len(p.lines) for p in order.parts] == [1, 1] and order.events[0].kind == "placed"
            assert order.goods_estimated_cents == expected_cents
        assert statements == []
        raise ServiceError("refused")

    signals.order_placed.connect(refuse)
    try:
        with pytest.raises(ServiceError):
            orders.checkout(buyer, CheckoutInput())
    finally:
        signals.order_placed.disconnect(refuse)
    db.session.rollback()
    assert not [o for o in db.session.identity_map.values() if isinstance(o, (Order, OrderPart, OrderLine))]
    assert db.session.query(Order).count() == 0 and len(orders.get_cart(buyer).items) == 2
    order = orders.checkout(buyer, CheckoutInput())  # the same session goes on: the ids are free again (SQLite)
    db.session.commit()
    db.session.expire_all()
    assert [(p.producer_id, [(ln.product_id, ln.quantity) for ln in p.lines]) for p in order.parts] == [
        (farms[0][0].producer_id, [(farms[0][0].id, 2)]), (farms[1][0].producer_id, [(farms[1][0].id, 1)])]
    assert orders.get_cart(buyer).items == []


def test_checkout_says_why_a_line_can_no_longer_be_served(farms):
    from marketplace.catalog.models import ProductStatus
    from marketplace.core.errors import Conflict, NotFound
    from marketplace.distributions.models import Distribution
    from marketplace.offers import services as offers
    from marketplace.offers.services import OfferInput

    buyer = make_member("buyer@test.coop")
    sold, archived, offered, withdrawn = farms[0][0], farms[0][1], farms[1][0], farms[1][1]

    def fill_cart(*products: Product) -> None:
        db.session.query(CartItem).delete()
        db.session.commit()
        for product in products:
            orders.add_to_cart(buyer, product.id, 1)

    # Archived after it was put in the cart.
    fill_cart(archived, sold)
    db.session.get(Product, archived.id).status = ProductStatus.ARCHIVED
    db.session.commit()
    with pytest.raises(NotFound, match="Produce 0.1 is no longer sold: remove it from your cart."):
        orders.checkout(buyer, CheckoutInput())
    db.session.rollback()
    # The second farm now sells by offers at this distribution, and not the withdrawn product.
    fill_cart(withdrawn, offered)
    distribution = db.session.query(Distribution).one()
    offers.set_offers(offered.producer.user, distribution.id, [OfferInput(offered.variants[0].id, 10)])
    db.session.commit()
    with pytest.raises(Conflict, match="Produce 1.1 is not offered at this distribution: remove it from your cart."):
        orders.checkout(buyer, CheckoutInput())
    db.session.rollback()
    # Then the second farm leaves the distribution.
    db.session.query(Distribution).one().producers.remove(offered.producer)
    db.session.commit()
    with pytest.raises(Conflict, match="Ferme 1 does not take part in this distribution."):
        orders.checkout(buyer, CheckoutInput())
    db.session.rollback()
    assert db.session.query(Order).count() == 0
    assert [p.stock for p in db.session.query(Product)] == [100] * 10


def test_a_cart_checked_out_twice_at_once_is_refused_with_a_reason_not_an_error(farms):
    """Two clicks (or two tabs) checking out the same cart: the second finds the cart's items gone under it."""
    from sqlalchemy import delete

    from marketplace.core.errors import Conflict

    buyer = make_member("buyer@test.coop")
    orders.add_to_cart(buyer, farms[0][0].id, 2)
    db.session.commit()
    cart = orders.get_cart(buyer)
    assert len(cart.items) == 1  # this request read the cart...
    db.session.execute(delete(CartItem).where(CartItem.cart_id == cart.id))  # ...the other one emptied it
    with pytest.raises(Conflict, match="just ordered from another window"):
        orders.checkout(buyer, CheckoutInput())
    db.session.rollback()
    assert db.session.query(Order).count() == 0 and db.session.get(Product, farms[0][0].id).stock == 100


def _get_statements(client, url: str) -> tuple[int, str]:
    with client.application.app_context(), counting() as statements:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(statements), response.get_data(as_text=True)


def test_the_order_page_after_checkout_runs_the_same_statements_whatever_its_producers_and_lines(farms, client):
    """The page a buyer lands on after checking out: its producers, lines and history are read in a fixed number
    of statements (it read each producer's lines and the producer one by one: 2 statements per producer)."""
    small, large = make_member("small@test.coop"), make_member("large@test.coop")
    orders.add_to_cart(small, farms[0][0].id, 1)
    for shelf in farms:
        for product in shelf[:4]:
            orders.add_to_cart(large, product.id, 2)
    db.session.commit()
    small_order, large_order = orders.checkout(small, CheckoutInput()), orders.checkout(large, CheckoutInput())
    db.session.commit()
    ids = small_order.id, large_order.id
    login(client, small)
    one, page = _get_statements(client, f"/orders/{ids[0]}")
    assert "Produce 0.0" in page and "Ferme 0" in page
    login(client, large)
    eight, page = _get_statements(client, f"/orders/{ids[1]}")
    assert all(f"Produce {i}.{n}" in page for i in range(2) for n in range(4)) and "Ferme 1" in page
    assert one == eight
    response = client.get(f"/orders/{ids[0]}")  # someone else's order: not found, not shown
    assert response.status_code == 404 and "Produce 0.0" not in response.get_data(as_text=True)
