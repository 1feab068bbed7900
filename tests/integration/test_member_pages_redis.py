"""With REDIS_URL set, a member's kept catalogue pages are ended in every worker at once: logging out through
one worker (each is its own app and memory) ends the pages another worker keeps for that member's sessions."""
from __future__ import annotations

import re

import pytest

from marketplace import create_app
from marketplace.extensions import db
from tests.factories import PASSWORD, make_distribution, make_member, make_producer, make_product
from tests.services import require_redis

pytestmark = pytest.mark.integration
TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def _forget_versions(url: str) -> None:
    import redis

    connection = redis.Redis.from_url(url)
    for pattern in ("catalog:version", "site:version", "member:*:version", "catalog:fragment:*",
                    "catalog:product:*", "catalog:products:*"):
        for key in connection.scan_iter(pattern):
            connection.delete(key)


def _login(app, email: str):
    client = app.test_client()
    with app.app_context():
        token = TOKEN.search(client.get("/login").data).group(1).decode()
    with app.app_context():
        response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        client.get("/me")  # the page after logging in
    return client


def _get(client, url: str = "/products"):
    from sqlalchemy import event

    statements: list[str] = []
    with client.application.app_context():
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page = client.get(url).data
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    return page, statements


def _two_workers(tmp_path, monkeypatch):
    url = require_redis()
    _forget_versions(url)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    database = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    config = {"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database, "WTF_CSRF_ENABLED": True,
              "UPLOAD_FOLDER": str(tmp_path / "u"), "PASSWORD_HASH_CHEAP": True,
              "REDIS_URL": url, "BABEL_DEFAULT_LOCALE": "en",
              "CELERY": {"task_always_eager": True, "broker_url": "memory://", "result_backend": "cache+memory://"}}
    return create_app(dict(config)), create_app(dict(config))


def test_logging_out_through_one_worker_ends_the_pages_another_keeps(tmp_path, monkeypatch):
    first, second = _two_workers(tmp_path, monkeypatch)
    with first.app_context():
        db.create_all()
        farm = make_producer("farm@test.coop", "Ferme du Marais")
        carrots = make_product(farm, "Carrots")
        make_distribution([farm])
        make_member("marie@test.coop", name="Marie Curieuse")
        db.session.commit()
        carrots_url = f"/products/{carrots.id}"
        db.session.remove()
    phone, laptop = _login(first, "marie@test.coop"), _login(second, "marie@test.coop")
    for client in (phone, laptop):
        for url_ in ("/products", carrots_url):
            _get(client, url_)
            page, statements = _get(client, url_)
            assert statements == [] and b"Marie Curieuse" in page  # kept by that worker
    with second.app_context():
        token = TOKEN.search(laptop.get("/products").data).group(1).decode()
    with second.app_context():
        assert laptop.post("/logout", data={"csrf_token": token}).status_code == 302
    for url_ in ("/products", carrots_url):
        page, statements = _get(phone, url_)  # the first worker never saw the log-out
        assert statements and b"Marie Curieuse" not in page and b"Log in" in page
    for app in (first, second):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_product_page_rendered_by_one_worker_is_served_by_another_without_rendering(tmp_path, monkeypatch):
    """The product's shared part goes through Redis: the other worker puts it in the member's shell, no SQL."""
    first, second = _two_workers(tmp_path, monkeypatch)
    with first.app_context():
        db.create_all()
        farm = make_producer("farm@test.coop", "Ferme du Marais")
        carrots, leeks = make_product(farm, "Carrots"), make_product(farm, "Leeks")
        make_distribution([farm])
        make_member("marie@test.coop", name="Marie Curieuse")
        make_member("paul@test.coop", name="Paul Persil")
        db.session.commit()
        carrots_url, leeks_url = f"/products/{carrots.id}", f"/products/{leeks.id}"
        db.session.remove()
    paul, marie = _login(first, "paul@test.coop"), _login(second, "marie@test.coop")
    assert _get(marie, carrots_url)[1]  # her shell, in the second worker
    leeks_for_paul, statements = _get(paul, leeks_url)  # the leeks rendered by the first worker...
    assert statements and b"Leeks" in leeks_for_paul
    page, statements = _get(marie, leeks_url)  # ...and served by the second one from Redis
    assert statements == [] and b"Leeks" in page and b"Marie Curieuse" in page and b"Paul Persil" not in page
    for app in (first, second):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
