"""Adding to the cart: each refusal says why, in the rules' order, and leaves the cart as it was."""
from __future__ import annotations

import html
import re

import pytest

from marketplace.catalog.services import archive_product
from marketplace.extensions import db
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput
from marketplace.orders import services as orders
from marketplace.orders.models import Cart, CartItem
from marketplace.timeutil import utcnow
from tests.factories import login, make_distribution, make_member, make_producer, make_product
from tests.refusals import flashed_errors

NOT_SOLD = "This product does not exist or is no longer sold."
CLOSED = "Ordering for this distribution is closed."
ERROR_PAGE = re.compile(r'<p class="flash flash-error" role="alert">(.*?)</p>', re.S)
TOO_MANY = "Enter a whole number of units from 0 (removes the line) to 999."


@pytest.fixture
def shop(app):
    """Marie's cart orders 2 carrots for a distribution where the Marais sells by default and the Orchard
    sells only its offers (its eggs are not among them); the Chèvrerie is not there."""
    marais = make_producer("marais@test.coop", "Ferme du Marais")
    orchard = make_producer("orchard@test.coop", "Orchard")
    chevre = make_producer("chevre@test.coop", "Chèvrerie")
    carrots = make_product(marais, "Carrots", stock=10)
    old = make_product(marais, "Old beans", stock=10)
    apples = make_product(orchard, "Apples", stock=10)
    eggs = make_product(orchard, "Eggs", stock=10)
    cheese = make_product(chevre, "Goat cheese", stock=10)
    distribution = make_distribution([marais, orchard])
    make_distribution([chevre])
    offers.set_offers(orchard, distribution.id, [OfferInput(apples.variants[0].id, 5)])
    archive_product(marais, old.id)
    buyer = make_member("marie@test.coop")
    orders.choose_distribution(buyer, distribution.id)
    orders.add_to_cart(buyer, carrots.id, 2)
    db.session.commit()
    return {"buyer": buyer, "carrots": carrots, "old": old, "apples": apples, "eggs": eggs, "cheese": cheese,
                "distribution": distribution}


def _cart(shop) -> tuple:
    db.session.expire_all()
    cart = db.session.query(Cart).filter_by(user_id=shop["buyer"].id).one()
    return cart.distribution_id, sorted((i.product_id, i.variant_id, i.quantity) for i in db.session.query(CartItem))


def _add(client, product_id: int, quantity: int = 1, variant_id: int | None = None) -> list[str]:
    """The reasons shown: flashed on the page the form came from, or on the 404 page for what is not sold."""
    data = {"product_id": product_id, f"quantity-{product_id}": quantity, "next": "/products",
            **({f"variant-{product_id}": variant_id} if variant_id else {})}
    response = client.post("/cart/add", data=data)
    if response.status_code == 404:
        return [html.unescape(m).strip() for m in ERROR_PAGE.findall(response.get_data(as_text=True))]
    assert response.status_code == 303, response.status_code
    return flashed_errors(client.get(response.headers["Location"]).get_data(as_text=True))


def test_each_refusal_says_why_and_leaves_the_cart_untouched(client, shop):
    before = _cart(shop)
    login(client, shop["buyer"])
    apples = shop["apples"].variants[0].id
    cases = [
        (shop["old"].id, 1, None, NOT_SOLD),
        (10**6, 1, None, NOT_SOLD),
        (shop["carrots"].id, 1, apples, NOT_SOLD),  # another product's variant
        (shop["carrots"].id, 998, None, TOO_MANY),
        (shop["cheese"].id, 1, None, "Chèvrerie does not take part in this distribution."),
        (shop["eggs"].id, 1, None, "Eggs is not offered at this distribution."),
        (shop["carrots"].id, 9, None, "Out of stock: only 10 left of Carrots."),
        (shop["apples"].id, 6, None, "Out of stock: only 5 left of Apples."),
        (shop["apples"].id, 6, apples, "Out of stock: only 5 left of Apples."),
    ]
    assert [_add(client, product_id, quantity, variant) for product_id, quantity, variant, _why in cases] == \
        [[why] for *_asked, why in cases]
    assert _cart(shop) == before
    response = client.post("/cart/add", data={"product_id": shop["carrots"].id,
                                              f"quantity-{shop['carrots'].id}": 8})
    assert response.status_code == 302  # exactly what is left: accepted
    assert _cart(shop)[1] == [(shop["carrots"].id, shop["carrots"].variants[0].id, 10)]


def test_a_closed_distribution_is_checked_after_the_product_and_the_quantity(client, shop):
    shop["distribution"].closed_at = utcnow()
    db.session.commit()
    before = _cart(shop)
    login(client, shop["buyer"])
    assert _add(client, shop["old"].id) == [NOT_SOLD]
    assert _add(client, shop["carrots"].id, 998) == [TOO_MANY]
    assert _add(client, shop["carrots"].id) == [CLOSED]
    assert _add(client, shop["cheese"].id) == [CLOSED]
    assert _add(client, shop["eggs"].id) == [CLOSED]
    assert _cart(shop) == before


def test_an_empty_cart_orders_for_the_first_open_distribution_of_the_producer(client, app):
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    lonely = make_producer("lonely@test.coop", "Lonely farm")
    carrots = make_product(farm, "Carrots", stock=10)
    honey = make_product(lonely, "Honey", stock=10)
    distribution = make_distribution([farm])
    buyer = make_member("marie@test.coop")
    db.session.commit()
    login(client, buyer)
    assert _add(client, honey.id) == ["Lonely farm takes part in no distribution open for orders right now."]
    db.session.expire_all()
    assert db.session.query(CartItem).count() == 0
    response = client.post("/cart/add", data={"product_id": carrots.id, f"quantity-{carrots.id}": 3})
    assert response.status_code == 302
    db.session.expire_all()
    cart = db.session.query(Cart).filter_by(user_id=buyer.id).one()
    assert (cart.distribution_id, [(i.product_id, i.quantity) for i in cart.items]) == \
        (distribution.id, [(carrots.id, 3)])
    assert flashed_errors(client.get("/cart").get_data(as_text=True)) == []


def test_adding_from_a_distributions_catalogue_orders_an_empty_cart_for_it(client, shop):
    later_farm = make_producer("later@test.coop", "Later farm")
    pears = make_product(later_farm, "Pears", stock=10)
    later = make_distribution([later_farm], pickup_in_hours=60)
    shop["distribution"].closed_at = utcnow()
    db.session.commit()
    login(client, shop["buyer"])
    carrots, old = shop["carrots"].id, shop["old"].id

    def add(product_id: int, browsed: int) -> tuple[int, list[str]]:
        response = client.post("/cart/add", data={"product_id": product_id, f"quantity-{product_id}": 1,
                                                  "distribution_id": browsed, "next": "/products"})
        if response.status_code != 303:
            return response.status_code, []
        return 303, flashed_errors(client.get(response.headers["Location"]).get_data(as_text=True))

    # A cart with lines keeps its own distribution (closed here), whatever catalogue the buyer browses.
    assert add(carrots, later.id) == (303, [CLOSED])
    db.session.query(CartItem).delete()
    db.session.commit()
    # Empty, the cart checks the browsed distribution first: closed, even for a product no longer sold.
    assert _add(client, old) == [NOT_SOLD]
    assert add(old, shop["distribution"].id) == (303, [CLOSED])
    # Empty, it orders for the browsed distribution, where the product is then checked.
    assert add(carrots, later.id) == (303, ["Ferme du Marais does not take part in this distribution."])
    assert _cart(shop) == (shop["distribution"].id, [])  # refused: nothing changed
    assert add(pears.id, later.id) == (302, [])
    assert _cart(shop) == (later.id, [(pears.id, pears.variants[0].id, 1)])
