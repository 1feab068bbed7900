"""The worker renders every product page's shared part ahead of its visitors: a member (or a visitor) opening a
product nobody opened gets it from the front door, without Flask; a checkout taking its stock sends it back to be
rendered, and the next run renders that product only."""
from __future__ import annotations

import pytest
from flask import request_started

from marketplace.catalog import cache, member_pages, prerender
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import CheckoutInput
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.integration.test_member_pages_redis import _get, _login, _two_workers

pytestmark = pytest.mark.integration
VIEWS = 2 * 3  # two languages; a visitor, a member ordering for no distribution, a member ordering for the open one


@pytest.fixture
def shop(tmp_path, monkeypatch):
    web, worker = _two_workers(tmp_path, monkeypatch)
    with web.app_context():
        db.create_all()
        farm = make_producer("farm@test.coop", "Ferme du Marais")
        products = {name: make_product(farm, name, stock=stock).id
                    for name, stock in (("Carrots", 40), ("Leeks", 12), ("Kale", 9))}
        make_distribution([farm])
        make_member("marie@test.coop", name="Marie Curieuse")
        make_member("paul@test.coop", name="Paul Persil")
        db.session.commit()
        db.session.remove()
    yield web, worker, products
    for app in (web, worker):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _prerender(worker):
    with worker.app_context():
        return prerender.prerender_product_pages(worker)


def _flask_saw(app):
    seen: list[str] = []

    def started(sender, **extra):
        from flask import request

        seen.append(request.path)

    request_started.connect(started, app, weak=False)
    return seen


def test_a_product_nobody_opened_is_answered_by_the_front_door_as_flask_would_render_it(shop):
    web, worker, products = shop
    run = _prerender(worker)
    assert (run.products, run.rendered, run.present, run.finished) == (3, 3 * VIEWS, 0, True)
    again = _prerender(worker)
    assert (again.rendered, again.present) == (0, 3 * VIEWS)  # safe to run twice: nothing rendered again

    marie = _login(web, "marie@test.coop")
    _get(marie, f"/products/{products['Carrots']}")  # her first product page: its shell is kept
    seen = _flask_saw(web)
    leeks, statements = _get(marie, f"/products/{products['Leeks']}")
    assert seen == [] and statements == []  # never opened by anyone, answered before Flask
    assert b"Leeks" in leeks and b"12 in stock" in leeks and b"Marie Curieuse" in leeks
    with web.app_context():  # what Flask renders for her, nothing kept anywhere
        member_pages.clear()
        cache.clear()
    worker_redis = cache.redis_of(web)
    for key in worker_redis.scan_iter("catalog:fragment:*"):
        worker_redis.delete(key)
    rendered, statements = _get(marie, f"/products/{products['Leeks']}")
    assert statements and seen == [f"/products/{products['Leeks']}"] and rendered == leeks

    assert _prerender(worker).rendered == 3 * VIEWS - 1  # all gone but the one Flask just rendered for her
    visitor = web.test_client()
    _get(visitor, f"/products/{products['Carrots']}")  # visitors' shell (per Accept-Language)
    seen.clear()
    kale, statements = _get(visitor, f"/products/{products['Kale']}")
    assert seen == [] and statements == [] and b"Kale" in kale and b"Log in to order" in kale


def test_stock_taken_sends_the_page_back_and_the_next_run_renders_that_product_only(shop):
    web, worker, products = shop
    _prerender(worker)
    marie = _login(web, "marie@test.coop")
    _get(marie, f"/products/{products['Carrots']}")
    leeks_url = f"/products/{products['Leeks']}"
    assert b"12 in stock" in _get(marie, leeks_url)[0]
    with web.app_context():
        from marketplace.members.models import User

        paul = db.session.query(User).filter_by(email="paul@test.coop").one()
        orders.add_to_cart(paul, products["Leeks"], 2)
        db.session.commit()
        orders.checkout(paul, CheckoutInput())
        db.session.commit()
        db.session.remove()
    seen = _flask_saw(web)
    page, statements = _get(marie, leeks_url)
    assert b"10 in stock" in page and seen == [leeks_url] and statements
    run = _prerender(worker)
    # the leeks' parts under their new stamp: the one Flask just rendered for Marie is there already
    assert run.rendered == VIEWS - 1 and run.present == 2 * VIEWS + 1


@pytest.fixture
def worker_config():
    from tests.worker_fixtures import celery_config

    config = celery_config()
    return {**config, "REDIS_URL": config["CELERY"]["broker_url"], "WTF_CSRF_ENABLED": True}


def test_the_beats_task_run_by_a_real_worker_prerenders_on_postgresql(_pg_schema, tmp_path, monkeypatch,
                                                                      worker_config):
    from marketplace import create_app
    from tests.conftest import _base_config, truncate_all
    from tests.worker_fixtures import celery_worker

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(_base_config(tmp_path, _pg_schema, **worker_config))
    with app.app_context():
        truncate_all()
        farm = make_producer("farm@test.coop", "Ferme du Marais")
        ids = [make_product(farm, name, stock=5).id for name in ("Carrots", "Leeks")]
        make_distribution([farm])
        make_member("marie@test.coop", name="Marie Curieuse")
        db.session.commit()
        try:
            with celery_worker(app) as celery_app:  # its Redis emptied first: no part is there
                result = celery_app.send_task("catalog.prerender_product_pages").get(timeout=60)
            assert result == {"products": 2, "rendered": 2 * VIEWS, "present": 0, "finished": True}
            marie = _login(app, "marie@test.coop")
            _get(marie, f"/products/{ids[0]}")
            seen = _flask_saw(app)
            page, statements = _get(marie, f"/products/{ids[1]}")
            assert seen == [] and statements == [] and b"Leeks" in page and b"5 in stock" in page
        finally:
            db.session.remove()
            truncate_all()
            db.engine.dispose()


def test_an_emptied_redis_starts_a_generation_no_kept_part_was_rendered_under(shop):
    from marketplace.catalog import product_stamps

    web, worker, products = shop
    with web.app_context():
        first = product_stamps.stamp(web, products["Carrots"])
        client = cache.redis_of(web)
        client.flushdb()  # a Redis restarted without its data: the versions are gone, the workers' memory is not
        again = product_stamps.stamp(web, products["Carrots"])
    assert first is not None and again is not None
    assert first[1] != again[1] and again[1] > 1_000  # drawn at random, never back to a small count
