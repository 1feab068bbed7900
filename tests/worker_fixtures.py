"""A real Celery worker on the real Redis, and polling helpers, for integration tests."""
from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from marketplace.extensions import db


def celery_config() -> dict:
    """App settings for a test that runs tasks through Redis instead of eagerly."""
    from tests.services import require_redis

    redis_url = require_redis()
    # These tests read task results (`.get()`); the shop itself stores none.
    return {"CELERY": {"task_always_eager": False, "broker_url": redis_url, "result_backend": redis_url,
                       "task_ignore_result": False}}


def flush_broker(app) -> None:
    """Forget messages left by an earlier test (their ids may match new rows after a TRUNCATE)."""
    import redis

    redis.Redis.from_url(app.extensions["celery"].conf.broker_url).flushdb()


@contextmanager
def celery_worker(app, flush: bool = True, concurrency: int = 4):
    """A real Celery worker (threads) consuming the app's Redis broker (emptied first unless flush=False)."""
    from celery.contrib.testing.worker import start_worker

    from marketplace import tasking

    celery_app = app.extensions["celery"]
    tasking._broker_paused_until = 0.0  # a broker failure in an earlier test must not delay this one's publishing
    if flush:
        flush_broker(app)
    with start_worker(celery_app, pool="threads", concurrency=concurrency, perform_ping_check=False,
                      loglevel="WARNING", shutdown_timeout=20):
        yield celery_app


@pytest.fixture
def worker(pg_app):
    with celery_worker(pg_app, concurrency=2) as celery_app:
        yield celery_app


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll the database (fresh session each time) until `predicate()` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
