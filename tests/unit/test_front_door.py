"""A member's stored page is answered in front of Flask, with the same headers, and only when Flask would serve it."""
from __future__ import annotations

import pytest
from flask import request_started

from marketplace.catalog.front_door import session_identifier
from marketplace.extensions import db
from tests.unit.test_catalogue_member_cache import _get, _login, shop  # noqa: F401  (the fixture)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "TRUSTED_HOSTS": ["localhost"]}


@pytest.fixture
def flask_requests(app):
    """Paths of the requests Flask itself handled (its request_started signal)."""
    seen: list[str] = []

    def started(sender, **extra):
        from flask import request

        seen.append(request.path)

    request_started.connect(started, app)
    yield seen
    request_started.disconnect(started, app)


def _open(client, url="/products", **kwargs):
    with client.application.app_context():
        return client.get(url, **kwargs)


@pytest.mark.parametrize("url", ["/products", "/products?q=carr", "product"])
def test_a_stored_page_is_answered_before_flask_with_the_headers_it_was_sent_with(app, shop, flask_requests, url):
    farm, carrots, alice, bob = shop
    url = f"/products/{carrots.id}" if url == "product" else url
    client = _login(app, alice)
    _get(client, "/me")
    first = _open(client, url)
    flask_requests.clear()
    again = _open(client, url)
    assert flask_requests == []  # Flask never saw it
    assert again.status_code == 200 and again.data == first.data and b"Alice Quenouille" in again.data
    assert sorted(again.headers.items()) == sorted(first.headers.items())
    assert again.headers["Content-Security-Policy"] and again.headers["Cache-Control"] == "no-store"
    assert again.headers["Vary"] == "Cookie" and "Set-Cookie" not in again.headers


def test_an_untrusted_host_a_forged_cookie_or_another_browser_goes_to_flask(app, shop, flask_requests):
    farm, carrots, alice, bob = shop
    client = _login(app, alice)
    _get(client, "/me")
    _open(client), _open(client)
    flask_requests.clear()
    assert _open(client, headers={"Host": "evil.example"}).status_code == 400  # refused by Flask, as before
    assert flask_requests == ["/products"]
    other_browser = _open(client, headers={"User-Agent": "Another browser/1.0"})  # session protection: Flask decides
    assert flask_requests == ["/products", "/products"] and other_browser.status_code == 200
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value[:-2] + ("AA" if not cookie.value.endswith("AA") else "BB"))
    forged = _open(client)
    assert flask_requests == ["/products"] * 3 and b"Alice Quenouille" not in forged.data


def test_a_page_is_never_answered_to_another_members_session(app, shop, flask_requests):
    farm, carrots, alice, bob = shop
    alice_client, bob_client = _login(app, alice), _login(app, bob)
    for client in (alice_client, bob_client):
        _get(client, "/me")
    alice_page = _open(alice_client).data
    _open(alice_client)
    flask_requests.clear()
    bob_page = _open(bob_client).data
    assert flask_requests == ["/products"] and b"Bob Tournesol" in bob_page and b"Alice Quenouille" not in bob_page
    assert _open(alice_client).data == alice_page and flask_requests == ["/products"]


@pytest.mark.parametrize("environ", [
    {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64)"},
    {"REMOTE_ADDR": "203.0.113.9"},
    {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7, 10.0.0.1", "HTTP_USER_AGENT": "Firefox"},
    {"REMOTE_ADDR": "::1", "HTTP_USER_AGENT": "Navigateur élégant"},
])
def test_the_session_identifier_is_flask_logins_own(app, environ):
    from flask_login.utils import _create_identifier

    with app.test_request_context("/products", environ_base=environ):
        from flask import request

        assert session_identifier(request.environ) == _create_identifier()


def test_a_product_page_the_member_never_opened_is_put_together_from_their_shell_and_the_shared_part(
        app, shop, flask_requests):
    from marketplace.catalog.member_pages import pages_of
    from tests.factories import make_product

    farm, carrots, alice, bob = shop
    leeks = make_product(farm, "Leeks", price_cents=350, stock=12)
    db.session.commit()
    alice_client, bob_client = _login(app, alice), _login(app, bob)
    for client in (alice_client, bob_client):
        _get(client, "/me")
    _open(alice_client, f"/products/{carrots.id}")  # her shell
    _open(bob_client, f"/products/{leeks.id}")  # the leeks' shared part, rendered for Bob
    flask_requests.clear()
    assembled = _open(alice_client, f"/products/{leeks.id}")
    assert flask_requests == []
    assert b"Leeks" in assembled.data and b"Alice Quenouille" in assembled.data and b"Bob Tournesol" not in assembled.data
    assert f'name="next" value="/products/{leeks.id}?"'.encode() in assembled.data
    pages_of(app).clear()
    rendered = _open(alice_client, f"/products/{leeks.id}")
    assert flask_requests == [f"/products/{leeks.id}"]  # the same page, rendered by Flask
    assert assembled.data == rendered.data and sorted(assembled.headers.items()) == sorted(rendered.headers.items())


def test_a_product_hidden_since_or_never_rendered_goes_to_flask(app, shop, flask_requests):
    from marketplace.catalog.models import Product
    from tests.factories import make_product

    farm, carrots, alice, bob = shop
    leeks = make_product(farm, "Leeks", price_cents=350, stock=12)
    db.session.commit()
    client = _login(app, alice)
    _get(client, "/me")
    _open(client, f"/products/{carrots.id}")
    flask_requests.clear()
    assert _open(client, f"/products/{leeks.id}").status_code == 200 and flask_requests == [f"/products/{leeks.id}"]
    db.session.get(Product, leeks.id).hidden_reason = "Not organic"
    db.session.commit()
    assert _open(client, f"/products/{leeks.id}").status_code == 404
    assert _open(client, "/products/999999").status_code == 404


def test_the_shared_parts_stay_within_their_byte_budget_dropping_the_least_recently_used():
    from marketplace.catalog.cache import _State

    state = _State(budget=250)
    for name in ("a", "b", "c"):
        state.put((name,), name.encode() * 100)
    assert state.size <= 250 and state.get(("a",)) is None
    assert state.get(("b",)) == b"b" * 100
    state.put(("d",), b"d" * 100)
    assert state.get(("c",)) is None and state.get(("b",)) is not None and state.size == 200


def test_a_session_cookie_verified_before_is_not_answered_once_older_than_the_sessions_lifetime(
        app, shop, flask_requests, monkeypatch):
    import time

    from marketplace.catalog import front_door

    farm, carrots, alice, bob = shop
    client = _login(app, alice)
    _get(client, "/me")
    _open(client), _open(client)
    flask_requests.clear()
    _open(client)
    assert flask_requests == []  # answered by the door, the cookie remembered as verified
    later = time.time() + app.permanent_session_lifetime.total_seconds() + 5
    monkeypatch.setattr(front_door.time, "time", lambda: later)
    _open(client)
    assert flask_requests == ["/products"]  # too old for the door: Flask decides


def _visit(app, url="/products", **kwargs):
    """A visitor without any cookie (a new client each time)."""
    return _open(app.test_client(use_cookies=False), url, **kwargs)


@pytest.mark.parametrize("url", ["/products", "/products?q=carr", "product"])
def test_a_visitors_page_is_answered_before_flask_to_every_visitor_without_a_session(app, shop, flask_requests, url):
    farm, carrots, alice, bob = shop
    url = f"/products/{carrots.id}" if url == "product" else url
    first = _visit(app, url)
    flask_requests.clear()
    again = _visit(app, url)
    assert flask_requests == [] and again.data == first.data and b"Carrots" in again.data and b"Log in" in again.data
    assert sorted(again.headers.items()) == sorted(first.headers.items()) and "Set-Cookie" not in again.headers
    french = _visit(app, url, headers={"Accept-Language": "fr"})  # other languages: another page, rendered by Flask
    assert flask_requests == [url.split("?")[0]] and french.data != first.data


def test_a_visitors_page_is_never_answered_to_a_session_and_follows_the_settings(app, shop, flask_requests):
    from marketplace.core.services import set_setting

    farm, carrots, alice, bob = shop
    _visit(app), _visit(app)
    client = _login(app, alice)
    flask_requests.clear()
    page = _open(client)
    assert flask_requests == ["/products"] and b"Alice Quenouille" in page.data
    with_session = app.test_client()
    with app.app_context():
        with_session.get("/login")  # a session started (its CSRF token), nobody logged in
    flask_requests.clear()
    _open(with_session)
    assert flask_requests == ["/products"]
    set_setting("coop_name", "La Coop des Marais")
    db.session.commit()
    assert b"La Coop des Marais" in _visit(app).data


def test_when_redis_does_not_answer_the_door_flask_does_not_wait_on_it_a_second_time(app, shop, monkeypatch):
    from marketplace.catalog import member_pages

    farm, carrots, alice, bob = shop
    client = _login(app, alice)
    _get(client, "/me")
    calls = []

    def unanswered(app_, user_id, product_id=None):
        calls.append(user_id)
        return None  # as when Redis is down

    monkeypatch.setattr(member_pages, "versions_of", unanswered)
    page = _open(client)
    assert page.status_code == 200 and b"Alice Quenouille" in page.data  # rendered, nothing kept
    assert calls == [alice.id]  # read once, by the door


def test_the_page_after_adding_to_the_cart_is_answered_before_flask_with_its_message_once(app, shop, flask_requests):
    from marketplace.orders import services as orders
    from tests.unit.test_catalogue_member_cache import _post, _token

    farm, carrots, alice, bob = shop
    orders.add_to_cart(alice, carrots.id, 1)  # her cart orders for the open distribution already
    db.session.commit()
    client = _login(app, alice)
    _get(client, "/me")
    page = _open(client).data
    _open(client)
    _post(client, "/cart/add", {"csrf_token": _token(page), "product_id": carrots.id,
                                f"quantity-{carrots.id}": 2, "next": "/products"})
    flask_requests.clear()
    shown = _open(client)
    assert flask_requests == []  # the door put the message in the stored page...
    assert shown.data.count(b'class="flash flash-success"') == 1 and b"Added to your cart." in shown.data
    cookie = shown.headers["Set-Cookie"]  # ...and saved the session without it, as Flask does
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert _open(client).data == page and flask_requests == []  # shown once
    with client.session_transaction() as session:
        assert "_flashes" not in session and session["_user_id"].startswith(f"{alice.id}:")
