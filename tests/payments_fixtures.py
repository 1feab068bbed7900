"""Fixtures for the payments tests: the fake Stripe, a live app server, a real Celery worker, helpers."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from marketplace.extensions import db
from marketplace.payments.models import ConnectedAccount
from tests.fakes.stripe_server import FakeStripeServer, start_fake_stripe

WEBHOOK_SECRET = "whsec_payments_test"
STRIPE_KEY = "sk_test_payments"


@pytest.fixture
def fake_stripe():
    server = start_fake_stripe(webhook_secret=WEBHOOK_SECRET)
    yield server
    server.stop()


def stripe_config(fake: FakeStripeServer) -> dict:
    return {"STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": fake.url}


def celery_config() -> dict:
    from tests.services import require_redis

    redis_url = require_redis()
    return {"CELERY": {"task_always_eager": False, "broker_url": redis_url, "result_backend": redis_url}}


@contextmanager
def live_server(app):
    """Serve `app` on a free loopback port in a thread (for Stripe's webhooks and the browser)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def celery_worker(app, flush: bool = True):
    """A real Celery worker (threads) consuming the app's Redis broker (emptied first unless flush=False)."""
    from celery.contrib.testing.worker import start_worker

    celery_app = app.extensions["celery"]
    if flush:
        flush_broker(app)
    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False,
                      shutdown_timeout=20):
        yield celery_app


def flush_broker(app) -> None:
    """Forget messages left by an earlier test (their ids may match new rows after a TRUNCATE)."""
    import redis

    redis.Redis.from_url(app.extensions["celery"].conf.broker_url).flushdb()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll the database until `predicate()` is truthy (work happens in the worker's threads)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def connect_ready_account(fake: FakeStripeServer, user) -> ConnectedAccount:
    """Give a member a Stripe Express account that finished onboarding (as the hosted page would)."""
    from marketplace.payments import stripe_gateway
    from marketplace.payments.services import sync_account

    account = stripe_gateway.client().v1.accounts.create(
        {"type": "express", "country": "FR", "email": user.email, "capabilities": {"transfers": {"requested": True}}})
    row = ConnectedAccount(user_id=user.id, stripe_account_id=account.id)
    db.session.add(row)
    db.session.flush()
    fake.make_account_ready(account.id)
    sync_account(account.id)
    db.session.flush()
    return row
