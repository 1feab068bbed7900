"""No N+1: the catalogue, a product page and the producer's order desk run as many SQL queries for 50 items as for 5."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import CheckoutInput
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product


@pytest.fixture
def app_config():
    return {"PRODUCTS_PER_PAGE": 100}  # every product on one page: the count must not follow it


@contextmanager
def counting():
    statements: list[str] = []

    def _count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def _queries(client, url: str) -> int:
    # Its own app context, as in production: a fresh session (empty identity map) and a fresh `g`.
    with client.application.app_context(), counting() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)


def _add_products(count: int, start: int) -> list:
    """`count` products, each from its own producer (the worst case for a per-product producer lookup),
    all taking part in the one open distribution."""
    producers = [make_producer(f"farm{start + i}@test.coop", f"Farm {start + i:03d}") for i in range(count)]
    products = [make_product(p, f"Produce {start + i:03d}", stock=20) for i, p in enumerate(producers)]
    distribution = db.session.query(Distribution).first()
    if distribution is None:
        make_distribution(producers)
    else:
        distribution.producers.extend(p.producer_profile for p in producers)
    db.session.commit()
    return products


@pytest.mark.parametrize("who", ["anonymous", "buyer"])
def test_catalogue_query_count_does_not_follow_the_products_shown(app, client, who):
    get_admin()
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    if who == "buyer":
        login(client, buyer)
    _add_products(5, 0)
    for _ in range(2):  # the session gets its CSRF secret, then the coop's settings are kept (until they change)
        _queries(client, "/products?category=no-such")
    few = _queries(client, "/products")
    assert client.get("/products").data.count(b'class="card product"') == 5
    _add_products(45, 5)
    many = _queries(client, "/products")
    assert client.get("/products").data.count(b'class="card product"') == 50
    assert many == few, f"{few} queries for 5 products, {many} for 50"


def test_product_page_query_count_does_not_follow_the_catalogue(app, client):
    get_admin()
    buyer = make_member("buyer@test.coop")
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    first = make_product(farm, "Carrots", stock=20)
    for i in range(4):
        make_product(farm, f"Vegetable {i}")
    make_distribution([farm])
    db.session.commit()
    login(client, buyer)
    for _ in range(2):  # the session gets its CSRF secret, then the coop's settings are kept (until they change)
        _queries(client, "/products?category=no-such")
    few = _queries(client, f"/products/{first.id}")
    for i in range(45):
        make_product(farm, f"More {i}")
    _add_products(5, 100)
    first.stock = 19  # its page is rendered again (other products' changes leave it kept: test_product_stamps)
    db.session.commit()
    many = _queries(client, f"/products/{first.id}")
    assert many == few, f"{few} queries with 5 products, {many} with 55"


def _orders(farm, products, buyers: int, start: int) -> None:
    """`buyers` orders at the farm, each from its own buyer, with two lines."""
    for i in range(buyers):
        buyer = make_member(f"buyer{start + i}@test.coop")
        orders.add_to_cart(buyer, products[0].id, 1)
        orders.add_to_cart(buyer, products[1].id, 2)
        orders.checkout(buyer, CheckoutInput())
    db.session.commit()


def desk_farm():
    """A producer selling carrots and leeks at an open distribution: (producer, [carrots, leeks])."""
    get_admin()
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    products = [make_product(farm, "Carrots", stock=500), make_product(farm, "Leeks", stock=500)]
    make_distribution([farm])
    db.session.commit()
    return farm, products


def test_producer_order_desk_query_count_does_not_follow_the_parts_shown(app, client):
    farm, products = desk_farm()
    _orders(farm, products, 5, 0)
    login(client, farm)
    few = _queries(client, "/producer/orders")
    assert client.get("/producer/orders").data.count(b'data-testid="part-') == 5
    _orders(farm, products, 45, 5)
    many = _queries(client, "/producer/orders")
    assert client.get("/producer/orders").data.count(b'data-testid="part-') == 50
    assert many == few, f"{few} queries for 5 order parts, {many} for 50"


# ---------------------------------------------------------------- the anonymous catalogue page cache

def test_anonymous_catalogue_is_served_from_cache_until_a_product_changes(app, client):
    from marketplace.catalog.models import Product, Unit
    from marketplace.catalog.services import ProductInput, update_product

    farm_user = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm_user, "Carrots", price_cents=280)
    make_distribution([farm_user])
    db.session.commit()
    assert b"Carrots" in client.get("/products").data
    assert _queries(client, "/products") == 0  # the same page again: no SQL at all

    update_product(farm_user, carrots.id, ProductInput(name="Purple carrots", category_id=carrots.category_id,
                                                       unit=Unit.PIECE, price_cents=310, stock=50))
    db.session.commit()
    page = client.get("/products").data
    assert b"Purple carrots" in page and "€3.10".encode() in page
    make_product(farm_user, "Leeks")
    db.session.commit()
    assert b"Leeks" in client.get("/products").data
    db.session.get(Product, carrots.id).hidden_reason = "Not organic"  # an admin hides it
    db.session.commit()
    assert b"Purple carrots" not in client.get("/products").data
    # Another query string is another page.
    assert b"Leeks" in client.get("/products?q=leek").data and b"Leeks" not in client.get("/products?q=zzz").data


def test_a_members_catalogue_shares_only_the_cached_grid(app, client):
    farm_user = make_producer("farm@test.coop", "Ferme du Marais")
    make_product(farm_user, "Carrots")
    make_distribution([farm_user])
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    anonymous = client.get("/products").data
    assert b'name="csrf_token"' not in anonymous
    login(client, buyer)
    page = client.get("/products").data
    assert b'name="product_id"' in page and b'name="csrf_token"' in page  # the member's own page, with forms
    with client.application.app_context(), counting() as statements:
        assert client.get("/products").status_code == 200
    assert statements  # the member is loaded on every request...
    assert not [s for s in statements if "FROM products" in s]  # ...the grid comes from the fragment cache


def test_the_cached_page_follows_the_visitors_language(app):
    farm_user = make_producer("farm@test.coop", "Ferme du Marais")
    make_product(farm_user, "Carrots")
    make_distribution([farm_user])
    db.session.commit()
    for accept, lang in (("en", b'lang="en"'), ("fr", b'lang="fr"'), ("en", b'lang="en"'), ("fr", b'lang="fr"')):
        with app.app_context():  # one request, one app context, as in production (the locale is kept per context)
            assert lang in app.test_client().get("/products", headers={"Accept-Language": accept}).data
