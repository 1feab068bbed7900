"""No state change on GET: every GET route of the authorization matrix, as every role, writes no row
and changes nothing in the session (issue 9, item 12)."""
from __future__ import annotations

import pytest
from flask import request_finished, request_started, session
from sqlalchemy import event

from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import PaymentMethod
from marketplace.payments.models import ConnectedAccount
from tests.factories import login, make_producer
from tests.payments_fixtures import fake_stripe, stripe_config  # noqa: F401
from tests.unit.test_authorization_matrix import observe
from tests.unit.test_payments import _basket

# Written on a GET on purpose, each with its reason.
ALLOWED_WRITES = {
    # The audit log records that a member downloaded their personal data: a record of a read.
    ("privacy.export", "audit_log"),
    # Rows made on first sight with their defaults (get-or-create): nothing a visitor can choose or notice.
    ("orders.cart", "carts"),
    ("billing.admin_rules", "billing_settings"),
}
# Session keys that a GET may set: the CSRF token of the forms it shows, messages, Flask-Login's bookkeeping.
HARMLESS_SESSION_KEYS = {"csrf_token", "_flashes", "_id", "_fresh", "_user_id"}
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def app_config(request):
    config = {"RATELIMIT_ENABLED": False}
    if "fake_stripe" in request.fixturenames:
        config.update(stripe_config(request.getfixturevalue("fake_stripe")))
    return config


def _table(statement: str) -> str:
    words = statement.replace('"', " ").split()
    keyword = {"INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}[words[0].upper()]
    return words[words.index(keyword) + 1] if keyword in words else "?"


def test_no_get_route_writes_to_the_database_or_the_session(app, client):
    writes: list[str] = []
    session_changes: dict[str, object] = {}

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(WRITES):
            writes.append(_table(statement))

    # Signals, not before/after_request hooks: the app is shared by the session's tests and already serving.
    def start(sender, **extra):
        writes.clear()
        session_changes.clear()
        session_changes.update({"before": dict(session)})

    def compare(sender, response, **extra):
        before, after = session_changes["before"], dict(session)
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} - HARMLESS_SESSION_KEYS
        session_changes["changed"] = changed

    problems = {}

    def inspect(role, rule, method, response):
        if method != "GET":
            return
        tables = {t for t in writes if (rule.endpoint, t) not in ALLOWED_WRITES}
        changed = session_changes.get("changed") or set()
        if tables or changed:
            problems[f"GET {rule.endpoint} as {role}"] = {"tables": sorted(tables), "session": sorted(changed)}

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with request_started.connected_to(start, app), request_finished.connected_to(compare, app):
            seen = observe(app, client, inspect)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(seen) > 100
    assert not problems, "\n".join(f"{k}: {v}" for k, v in sorted(problems.items()))


def test_the_stripe_refresh_link_only_shows_a_button_and_the_button_posts(app, client, fake_stripe):
    farm = make_producer("farm@test.coop", "Green Farm")
    db.session.commit()
    login(client, farm)
    page = client.get("/payments/account/refresh")
    assert page.status_code == 200
    assert 'method="post" action="/payments/account/connect"' in page.get_data(as_text=True)
    assert db.session.query(ConnectedAccount).count() == 0 and not fake_stripe.requests
    to_stripe = client.post("/payments/account/connect")
    assert to_stripe.status_code == 303 and to_stripe.headers["Location"].startswith(fake_stripe.url)
    assert db.session.query(ConnectedAccount).count() == 1


def test_paying_by_card_starts_only_on_a_post(app, client, fake_stripe):
    buyer, _farm, _tomatoes = _basket(fake=fake_stripe)
    order = orders.checkout(buyer, orders.CheckoutInput(payment_method=PaymentMethod.CARD))
    db.session.commit()
    login(client, buyer)
    assert client.get(f"/payments/orders/{order.id}/pay").status_code == 405
    assert not [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    cancelled = client.get(f"/payments/orders/{order.id}/cancelled").get_data(as_text=True)
    assert f'method="post" action="/payments/orders/{order.id}/pay"' in cancelled
    to_stripe = client.post(f"/payments/orders/{order.id}/pay")
    assert to_stripe.status_code == 303 and to_stripe.headers["Location"].startswith(fake_stripe.url)
    assert db.session.get(Order, order.id).card_payment is not None


def test_the_language_switch_is_a_post_that_returns_only_to_this_site(app, client):
    # (Flask-Babel keeps the first locale it computes for the test's app context: switch first.)
    switched = client.post("/lang/fr", data={"next": "/products?q=miel"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/products?q=miel"
    page = client.get("/products").get_data(as_text=True)
    assert '<html lang="fr">' in page and 'method="post" action="/lang/en"' in page
    assert client.get("/lang/en?next=/products").status_code == 405
    for target in ("https://evil.example/", "//evil.example", "/\tevil", "/\t/evil.example"):
        assert client.post("/lang/en", data={"next": target}).headers["Location"] == "/"


@pytest.mark.parametrize("headers,data,location", [
    ({"Referer": "https://evil.example/phish"}, {}, "/admin/dispatch"),
    ({}, {"next": "https://evil.example/phish"}, "/admin/dispatch"),
    ({"Referer": "https://evil.example/phish"}, {"next": "/admin/dispatch?day=2026-03-02"}, "/admin/dispatch?day=2026-03-02"),
])
def test_board_actions_go_back_by_the_safe_next_rule_never_the_referer(app, client, headers, data, location):
    from tests.factories import get_admin

    login(client, get_admin())
    # A refusal goes back there, its reason flashed...
    response = client.post("/admin/dispatch/runs/999/reassign", data={"courier_id": "x", **data}, headers=headers)
    assert response.status_code == 303 and response.headers["Location"] == location
    # ...and a 404 is an error page whose "Back" link follows the same rule.
    response = client.post("/admin/dispatch/stops/999/reset-code", data=data, headers=headers)
    assert response.status_code == 404 and "Location" not in response.headers
    assert f'<a href="{location}" class="button">' in response.get_data(as_text=True)
