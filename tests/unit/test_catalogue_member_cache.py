"""The logged-in catalogue: its shared part is cached, never a member's own data, and follows every change."""
from __future__ import annotations

import re

import pytest

from marketplace.catalog.models import Product, Unit
from marketplace.catalog.services import ProductInput, set_stock, update_product, update_profile
from marketplace.extensions import db
from marketplace.orders import services as orders
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import counting

TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def _login(app, user):
    """A client logged in through the form, with CSRF on, as a browser does."""
    client = app.test_client()
    with app.app_context():  # each request in its own app context, as in production (`g` holds the token)
        token = TOKEN.search(client.get("/login").data).group(1).decode()
    with app.app_context():
        response = client.post("/login", data={"email": user.email, "password": "correct horse battery",
                                               "csrf_token": token})
    assert response.status_code == 302
    return client


def _get(client, url="/products"):
    """One request in its own app context (a fresh session, as in production), with its statements."""
    with client.application.app_context(), counting() as statements:
        response = client.get(url)
    assert response.status_code == 200
    return response.data, statements


def _post(client, url, data):
    with client.application.app_context():
        return client.post(url, data=data)


def _product_reads(statements) -> list[str]:
    return [s for s in statements if "FROM products" in s]


@pytest.fixture
def shop(app):
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm, "Carrots", price_cents=280, stock=40)
    make_distribution([farm])
    alice = make_member("alice@test.coop", name="Alice Quenouille")
    bob = make_member("bob@test.coop", name="Bob Tournesol")
    db.session.commit()
    return farm, carrots, alice, bob


def test_a_second_member_gets_the_cached_grid_with_only_their_own_name_and_token(app, shop):
    farm, carrots, alice, bob = shop
    alice_client, bob_client = _login(app, alice), _login(app, bob)
    first_page, first_statements = _get(alice_client)
    assert _product_reads(first_statements)  # the first rendering reads the catalogue...
    _post(alice_client, "/cart/add", {"csrf_token": TOKEN.search(first_page).group(1).decode(),
                                      "product_id": carrots.id, f"quantity-{carrots.id}": 7})
    alice_page = _get(alice_client)[0]
    bob_page, bob_statements = _get(bob_client)

    assert b"Carrots" in bob_page and b"Alice Quenouille" in alice_page
    assert not _product_reads(bob_statements)  # ...the next member's page comes from the fragment cache
    assert b"Bob Tournesol" in bob_page and b"Alice Quenouille" not in bob_page
    alice_tokens, bob_tokens = set(TOKEN.findall(alice_page)), set(TOKEN.findall(bob_page))
    assert len(bob_tokens) == 1 and alice_tokens.isdisjoint(bob_tokens)  # one token per page, Bob's own
    assert orders.get_cart(bob).items == []  # nothing of Alice's cart reached Bob
    assert [(i.product_id, i.quantity) for i in orders.get_cart(alice).items] == [(carrots.id, 7)]
    # The shared grid has no token of its own: every card's button submits the page's one form.
    assert bob_page.count(b'name="csrf_token"') == 2  # the add-to-cart form and the log-out form
    assert bob_page.count(b'form="add-to-cart"') == 2  # Carrots' quantity field and button


def test_the_members_grid_follows_price_stock_name_and_hiding(app, shop):
    farm, carrots, alice, bob = shop
    client = _login(app, alice)
    assert "€2.80".encode() in _get(client)[0] and b"40 in stock" in _get(client)[0]

    update_product(farm, carrots.id, ProductInput(name="Purple carrots", category_id=carrots.category_id,
                                                  unit=Unit.PIECE, price_cents=310, stock=40))
    db.session.commit()
    page = _get(client)[0]
    assert b"Purple carrots" in page and "€3.10".encode() in page

    set_stock(farm, carrots.id, 3)
    db.session.commit()
    assert b"3 in stock" in _get(client)[0]

    update_profile(farm, name="Ferme des Oiseaux", description="", town="Nantes", postcode="44000",
                   pickup_address="1 rue du Champ", min_order_cents=0)
    db.session.commit()
    assert b"Ferme des Oiseaux" in _get(client)[0]

    db.session.get(Product, carrots.id).hidden_reason = "Not organic"
    db.session.commit()
    assert b"Purple carrots" not in _get(client)[0]


def test_a_card_adds_its_own_product_and_quantity_through_the_shared_form(app, shop):
    farm, carrots, alice, bob = shop
    leeks = make_product(farm, "Leeks")
    db.session.commit()
    client = _login(app, alice)
    page = _get(client)[0]
    token = TOKEN.search(page).group(1).decode()
    # A browser sends every field of the shared form: both quantities, and the pressed button's value.
    response = _post(client, "/cart/add", {"csrf_token": token, "next": "/products", "product_id": leeks.id,
                                           f"quantity-{carrots.id}": 1, f"quantity-{leeks.id}": 4})
    assert response.status_code == 302
    assert [(i.product_id, i.quantity) for i in orders.get_cart(alice).items] == [(leeks.id, 4)]
    refused = _post(client, "/cart/add", {"product_id": leeks.id, f"quantity-{leeks.id}": 1})
    assert refused.status_code == 400  # no token, no cart change
    assert [(i.product_id, i.quantity) for i in orders.get_cart(alice).items] == [(leeks.id, 4)]


def test_a_product_page_is_rendered_once_for_every_member_with_only_their_own_name_and_token(app, shop):
    farm, carrots, alice, bob = shop
    url = f"/products/{carrots.id}"
    alice_client, bob_client = _login(app, alice), _login(app, bob)
    alice_page, alice_statements = _get(alice_client, url)
    assert _product_reads(alice_statements)  # the first member's visit reads the product...
    bob_page, bob_statements = _get(bob_client, url)

    assert not _product_reads(bob_statements)  # ...the next member's page comes from the shared fragment
    assert b"Carrots" in bob_page and b"Ferme du Marais" in bob_page and b"40 in stock" in bob_page
    assert b"Bob Tournesol" in bob_page and b"Alice Quenouille" not in bob_page
    alice_tokens, bob_tokens = set(TOKEN.findall(alice_page)), set(TOKEN.findall(bob_page))
    assert len(bob_tokens) == 1 and alice_tokens.isdisjoint(bob_tokens)  # one token per page, Bob's own
    assert bob_page.count(b'name="csrf_token"') == 2  # the page's add-to-cart form and the log-out form
    assert bob_page.count(b'form="add-to-cart"') == 3  # its one variant, the quantity field and the button
    # Bob's browser sends the page's form: his token, the quantity field, the pressed button's value.
    response = _post(bob_client, "/cart/add", {"csrf_token": _token(bob_page), "product_id": carrots.id,
                                               f"quantity-{carrots.id}": 3})
    assert response.status_code == 302 and response.headers["Location"].endswith("/cart")  # as before
    assert [(i.product_id, i.quantity) for i in orders.get_cart(bob).items] == [(carrots.id, 3)]
    assert orders.get_cart(alice).items == []


def test_a_shared_product_page_follows_price_and_hiding(app, shop):
    farm, carrots, alice, bob = shop
    url = f"/products/{carrots.id}"
    _get(_login(app, alice), url)
    update_product(farm, carrots.id, ProductInput(name="Purple carrots", category_id=carrots.category_id,
                                                  unit=Unit.PIECE, price_cents=310, stock=40))
    db.session.commit()
    page = _get(_login(app, bob), url)[0]
    assert b"Purple carrots" in page and "€3.10".encode() in page

    db.session.get(Product, carrots.id).hidden_reason = "Not organic"
    db.session.commit()
    with app.app_context():
        assert _login(app, alice).get(url).status_code == 404


# ---------------------------------------------------------------- whole pages (catalog/member_pages.py)

def _token(page: bytes) -> str:
    return TOKEN.search(page).group(1).decode()


@pytest.mark.parametrize("url", ["/products", "/products?q=carr", "product"])
def test_a_members_next_visit_of_a_page_runs_no_statement_and_is_still_their_own(app, shop, url):
    farm, carrots, alice, bob = shop
    url = f"/products/{carrots.id}" if url == "product" else url
    alice_client, bob_client = _login(app, alice), _login(app, bob)
    for client in (alice_client, bob_client):
        _get(client, "/me")  # the page after logging in: the session gets its CSRF secret there
    first, first_statements = _get(alice_client, url)
    again, again_statements = _get(alice_client, url)
    assert first_statements and again_statements == []  # the whole page came from the member page cache
    assert again == first and b"Alice Quenouille" in again and b"Carrots" in again
    bob_page, bob_statements = _get(bob_client, url)
    assert bob_statements  # Bob's first visit is rendered for him, never Alice's page
    assert b"Bob Tournesol" in bob_page and b"Alice Quenouille" not in bob_page
    assert set(TOKEN.findall(bob_page)).isdisjoint(TOKEN.findall(first))
    assert _get(bob_client, url)[0] == bob_page and _get(alice_client, url)[0] == first


def test_a_second_session_of_the_same_member_gets_its_own_token(app, shop):
    farm, carrots, alice, bob = shop
    phone, laptop = _login(app, alice), _login(app, alice)
    phone_page, laptop_page = _get(phone)[0], _get(laptop)[0]
    assert _get(phone)[0] == phone_page
    assert set(TOKEN.findall(phone_page)).isdisjoint(TOKEN.findall(laptop_page))


def _logged_out(page: bytes) -> bool:
    return b"Alice Quenouille" not in page and b'action="/logout"' not in page and b"Log in" in page


def test_logging_out_on_one_device_ends_the_cached_page_on_the_other(app, shop):
    farm, carrots, alice, bob = shop
    phone, laptop = _login(app, alice), _login(app, alice)
    for client in (phone, laptop, phone):
        page = _get(client)[0]
    assert b"Alice Quenouille" in page
    assert _post(laptop, "/logout", {"csrf_token": _token(_get(laptop)[0])}).status_code == 302
    assert _logged_out(_get(phone)[0]) and _logged_out(_get(phone, f"/products/{carrots.id}")[0])


def test_a_suspension_and_a_password_change_end_the_cached_pages(app, shop):
    from marketplace.members.models import MembershipStatus
    from marketplace.members.services import change_membership_status, set_password
    from tests.factories import get_admin

    farm, carrots, alice, bob = shop
    alice_client, bob_client = _login(app, alice), _login(app, bob)
    for client in (alice_client, bob_client, alice_client, bob_client):
        _get(client)
    change_membership_status(get_admin(), alice.membership.id, MembershipStatus.SUSPENDED, "Unpaid shares")
    db.session.commit()
    assert _logged_out(_get(alice_client)[0])
    assert b"Bob Tournesol" in _get(bob_client)[0]  # another member's pages are untouched...
    set_password(db.session.get(type(bob), bob.id), "sunflower seeds at dawn")
    db.session.commit()
    assert b"Bob Tournesol" not in _get(bob_client)[0]  # ...until his own password changes


def test_a_bulk_update_of_members_and_a_settings_change_reach_the_cached_pages(app, shop):
    from marketplace.core.services import set_setting
    from marketplace.members.models import User

    farm, carrots, alice, bob = shop
    client = _login(app, alice)
    _get(client), _get(client)
    db.session.query(User).filter(User.id == alice.id).update({"full_name": "Alice Roseau"})
    db.session.commit()
    assert b"Alice Roseau" in _get(client)[0]
    set_setting("coop_name", "La Coop des Marais")
    db.session.commit()
    assert b"La Coop des Marais" in _get(client)[0]


def test_a_flashed_message_is_shown_once_in_the_cached_page_and_never_kept(app, shop):
    farm, carrots, alice, bob = shop
    orders.add_to_cart(alice, carrots.id, 1)  # her cart orders for the open distribution already
    db.session.commit()
    client = _login(app, alice)
    _get(client, "/me")
    page = _get(client)[0]
    _post(client, "/cart/add", {"csrf_token": _token(page), "product_id": carrots.id,
                                f"quantity-{carrots.id}": 2, "next": "/products"})
    with_message, statements = _get(client)
    assert statements == []  # the stored page, with the message put in it
    assert with_message.count(b'class="flash flash-success"') == 1 and b"Added to your cart." in with_message
    assert _get(client)[0] == page  # shown once: the next visit has no message
    _post(client, "/cart/add", {"csrf_token": _token(page), "product_id": carrots.id,
                                f"quantity-{carrots.id}": 9999, "next": f"/products/{carrots.id}"})
    refused, statements = _get(client, f"/products/{carrots.id}")  # rendered (not stored yet), message shown
    assert statements and refused.count(b'class="flash flash-error"') == 1
    product_page, statements = _get(client, f"/products/{carrots.id}")
    assert statements == [] and b'class="flash' not in product_page  # kept without the message


def test_a_flashed_message_is_escaped_in_the_cached_page(app, shop):
    from flask import flash

    farm, carrots, alice, bob = shop
    client = _login(app, alice)
    _get(client, "/me")
    page = _get(client)[0]
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "<b>Carrots & co</b>")]
    shown, statements = _get(client)
    assert statements == [] and b"&lt;b&gt;Carrots &amp; co&lt;/b&gt;" in shown and b"<b>Carrots" not in shown
    assert flash  # (the same escaping as base.html's {{ message }})


def test_the_kept_pages_stay_within_their_byte_budget_dropping_the_least_recently_used():
    from marketplace.catalog.member_pages import _Pages

    pages = _Pages(budget=250)
    for name in ("a", "b", "c"):
        pages.put((name,), name.encode() * 100)
    assert pages.size <= 250 and pages.get(("a",)) is None  # the oldest went
    assert pages.get(("b",)) == b"b" * 100  # b is now the most recently used...
    pages.put(("d",), b"d" * 100)
    assert pages.get(("c",)) is None and pages.get(("b",)) is not None and pages.size == 200  # ...so c went


def test_choosing_the_distribution_to_order_for_reaches_the_members_cached_catalogue(app, shop):
    """The catalogue links to the distribution the cart orders for: a cart change is the member's own change."""
    farm, carrots, alice, bob = shop
    distribution = make_distribution([farm])
    db.session.commit()
    client = _login(app, alice)
    _get(client, "/me")
    page, _statements = _get(client)
    assert b'data-testid="ordering-for"' not in page
    assert _get(client)[1] == []  # kept
    orders.choose_distribution(alice, distribution.id)  # from another device, say: this session is unchanged
    db.session.commit()
    page, statements = _get(client)
    assert statements  # rendered again, not the page kept before the cart changed
    assert f'/products?distribution={distribution.id}"'.encode() in page
