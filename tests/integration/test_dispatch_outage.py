"""Redis unreachable when an order becomes ready: the order is planned once Redis is back (outbox)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from celery.contrib.testing.worker import start_worker

from marketplace.core.models import OutboxMessage
from marketplace.dispatch.models import Run, RunOffer
from marketplace.extensions import db
from marketplace.tasking import publish_outbox
from tests.dispatch_fixtures import delivery_scene

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def private_redis_port():
    if shutil.which("redis-server") is None:
        from tests.services import _missing

        _missing("redis-server (to start a private Redis)", FileNotFoundError("redis-server"))
    return _free_port()


@pytest.fixture
def app_config(private_redis_port):
    url = f"redis://127.0.0.1:{private_redis_port}/0"
    return {"CELERY": {"task_always_eager": False, "broker_url": url}}


def _start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("private redis-server did not start")


def test_order_ready_while_redis_is_down_is_planned_once_it_is_back(pg_app, private_redis_port):
    _, [courier], [order] = delivery_scene()
    db.session.commit()  # publishing fails: Redis is not running
    [row] = db.session.query(OutboxMessage).filter_by(task_name="dispatch.plan_for_order").all()
    assert row.published_at is None and row.attempts == 0  # an unreachable broker costs the row no attempt
    assert db.session.query(Run).count() == 0

    redis = _start_redis(private_redis_port)
    try:
        celery_app = pg_app.extensions["celery"]
        with start_worker(celery_app, pool="threads", perform_ping_check=False, loglevel="WARNING"):
            deadline = time.monotonic() + 20
            while True:  # what the beat task core.drain_outbox does every 15 s
                publish_outbox(pg_app)
                db.session.expire_all()
                if db.session.get(OutboxMessage, row.id).published_at is not None:
                    break
                assert time.monotonic() < deadline, "the outbox was never drained"
                time.sleep(0.2)
            deadline = time.monotonic() + 20
            while db.session.query(RunOffer).count() == 0:
                assert time.monotonic() < deadline, "the order was never planned"
                time.sleep(0.1)
                db.session.rollback()
            publish_outbox(pg_app)  # a later beat drain must not plan the order again
            time.sleep(0.5)
            db.session.rollback()
            [run] = db.session.query(Run).all()
            assert run.offered_to_id == courier.id and order.id in run.order_ids
    finally:
        redis.terminate()
        redis.wait(10)
