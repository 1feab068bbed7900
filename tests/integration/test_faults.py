"""Fault injection (issue 11) on the real services: PostgreSQL, a private redis-server that the tests stop,
real Celery workers and beats (and gunicorn) started as processes, killed with SIGKILL when the scenario
says so. Beat sweeps and the outbox drain run every few seconds here instead of every minute.
"""
from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

import pytest
import redis
import requests

from marketplace import tasking
from marketplace.billing.models import BillingPeriod, PeriodStatus, Statement
from marketplace.core.models import OutboundEmail, OutboxMessage
from marketplace.dispatch.models import DeliveryJob, JobStatus, Run, RunStop, StopKind
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services as orders
from marketplace.orders.models import Order, OrderPart
from marketplace.timeutil import utcnow
from tests.billing_fixtures import add_cost, adopt_rule, last_month
from tests.dispatch_fixtures import delivery_day, delivery_scene, make_courier
from tests.factories import PASSWORD, make_member, make_producer, make_product
from tests.fault_fixtures import (BlackHole, Process, RedisServer, app_env, celery_beat, celery_worker,
                                  deployed_log_in_limits, free_port, received, row_lock, wait_until, waiting_on_lock)
from tests.live import serve

pytestmark = pytest.mark.integration

# Not a performance claim: a bound far from the bug (about 19 s per request while the web process
# waited through 20 reconnections) and far from a loaded 2-core machine's slowest answer (~2 s).
ANSWER_WITHIN_S = 8.0


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(redis_server):
    return {"CELERY": {"task_always_eager": False, "broker_url": redis_server.url}}


class Stack:
    """The processes a test starts; all stopped at its end, before the database is emptied."""

    def __init__(self, tmp_path, redis_server: RedisServer):
        self.tmp_path, self.redis = tmp_path, redis_server
        self.processes: list[Process] = []

    def env(self, **extra) -> dict:
        return app_env(self.tmp_path, self.redis.url, **extra)

    def up(self, *processes: Process) -> list[Process]:
        """Start processes side by side (each takes seconds to import the app), then wait for all."""
        self.processes.extend(processes)
        for process in processes:
            process.launch()
        return [process.wait_ready() for process in processes]

    def worker(self, name: str = "w1", **extra) -> Process:
        return celery_worker(self.env(**extra), self.tmp_path, name)

    def beat(self, name: str = "beat1", **extra) -> Process:
        return celery_beat(self.env(**extra), self.tmp_path, name)

    def stop_all(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.stop()


@pytest.fixture
def stack(pg_app, redis_server, tmp_path):
    if redis_server.proc is None:
        redis_server.start()  # a failed test may have left it stopped
    redis.Redis.from_url(redis_server.url).flushdb()
    tasking._broker_paused_until = 0.0
    stack = Stack(tmp_path, redis_server)
    yield stack
    stack.stop_all()


def fresh(query_fn):
    """Read the database afresh (other processes wrote it)."""
    def read():
        db.session.rollback()
        db.session.expire_all()
        return query_fn()
    return read


def _planned_once(order_ids: list[int]) -> bool:
    """Each order has exactly one drop-off in a live run, and its delivery job says planned."""
    for order_id in order_ids:
        drops = (db.session.query(RunStop).filter(RunStop.order_id == order_id, RunStop.kind == StopKind.DROPOFF)
                 .count())
        job = db.session.query(DeliveryJob).filter_by(order_id=order_id).one_or_none()
        if drops != 1 or job is None or job.status != JobStatus.PLANNED:
            return False
    return True


def _timed(session: requests.Session, method: str, url: str, data: dict | None = None) -> requests.Response:
    started = time.monotonic()
    response = session.request(method, url, data=data, allow_redirects=False, timeout=30)
    elapsed = time.monotonic() - started
    # The old code waited through 20 reconnections to the result store here: ~19 s per request.
    assert elapsed < ANSWER_WITHIN_S, f"{method} {url} took {elapsed:.1f} s with Redis down or hung"
    return response


def _log_in(base_url: str, email: str) -> requests.Session:
    """Log in, within the bound: the log-in limits count in Redis too."""
    session = requests.Session()
    response = _timed(session, "POST", f"{base_url}/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text[:500]
    return session


def _timed_post(session: requests.Session, url: str, data: dict | None = None) -> requests.Response:
    return _timed(session, "POST", url, data or {})


def _browse(session: requests.Session, *urls: str) -> None:
    """Pages a member reads (catalogue, orders), each within the bound."""
    for url in urls:
        response = _timed(session, "GET", url)
        assert response.status_code == 200, f"GET {url}: {response.status_code}"


# ---------------------------------------------------------------- Redis down while the shop is used

def test_redis_down_during_checkouts_and_mark_ready_loses_nothing_and_runs_each_task_once(pg_app, stack,
                                                                                          monkeypatch):
    """With two beats running (two drains at a time): each outbox row is still published and run once. Log-ins
    (their limits count in the same Redis, as deployed), browsing and actions all answer within the bound."""
    farm_a, farm_b = make_producer("farm.a@test.coop", "Ferme A"), make_producer("farm.b@test.coop", "Ferme B")
    carrots, eggs = make_product(farm_a, "Carrots", price_cents=250), make_product(farm_b, "Eggs", price_cents=400)
    distribution = delivery_day([farm_a, farm_b])
    make_courier("courier@test.coop", distribution)
    buyers = [make_member(f"buyer{i}@test.coop", College.BUYER) for i in range(3)]
    for buyer in buyers:
        orders.choose_distribution(buyer, distribution.id)
        orders.add_to_cart(buyer, carrots.id, 1)
        orders.add_to_cart(buyer, eggs.id, 1)
    db.session.commit()
    slot_id, emails = distribution.slots[0].id, [b.email for b in buyers]
    deployed_log_in_limits(monkeypatch, stack.tmp_path, stack.redis.url)
    worker, *beats = stack.up(stack.worker(), stack.beat("beat1"), stack.beat("beat2"))

    with serve(pg_app) as url, stack.redis.down():
        for email in emails:
            session = _log_in(url, email)
            _browse(session, f"{url}/products", f"{url}/cart")
            response = _timed_post(session, f"{url}/checkout", {
                "fulfilment": "delivery", "payment_method": "pay_at_pickup", "delivery_address": "3 rue Crébillon",
                "delivery_postcode": "44000", "delivery_town": "Nantes", "delivery_slot_id": slot_id})
            assert response.status_code == 302 and "/orders/" in response.headers["Location"]
            _browse(session, url + response.headers["Location"].removeprefix(url), f"{url}/orders")
        order_ids = [o.id for o in db.session.query(Order).order_by(Order.id)]
        assert len(order_ids) == 3
        for producer in ("farm.a@test.coop", "farm.b@test.coop"):
            session = _log_in(url, producer)
            parts = fresh(lambda: [p.id for p in db.session.query(OrderPart).join(OrderPart.producer)
                                   .filter_by(name="Ferme A" if producer.startswith("farm.a") else "Ferme B")])()
            for part_id in parts:
                for action in ("accept", "ready"):
                    response = _timed_post(session, f"{url}/producer/parts/{part_id}/{action}")
                    assert response.status_code == 302
            _browse(session, f"{url}/producer/orders")
        rows = fresh(lambda: db.session.query(OutboxMessage).filter_by(task_name="dispatch.plan_for_order").all())()
        assert len(rows) == 3 and all(r.published_at is None and r.attempts == 0 for r in rows)

    # Redis is back: the beat's drain publishes every waiting row, the worker plans each order once.
    wait_until(fresh(lambda: _planned_once(order_ids)), 90, "every order planned")
    wait_until(fresh(lambda: db.session.query(OutboxMessage).filter(OutboxMessage.published_at.is_(None))
                     .count() == 0), 30, "the outbox drained")
    time.sleep(3)  # a few more drains and sweeps: none may publish or plan anything twice
    rows = fresh(lambda: db.session.query(OutboxMessage).all())()
    assert rows and all(r.attempts == 1 and r.dead_at is None for r in rows)
    log = worker.log()
    for row in rows:
        assert received(log, f"outbox-{row.id}") == 1, row.task_name
    assert fresh(lambda: _planned_once(order_ids))()
    assert db.session.query(Run).count() >= 1
    for beat in beats:  # both beats were sending their drains all along
        assert beat.log().count("Sending due task drain-task-outbox") >= 3


# ---------------------------------------------------------------- workers killed mid-task

def _billing_scene():
    month = last_month()
    make_producer("farm@test.coop")
    make_member("buyer@test.coop", College.BUYER)
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 2, "buyer": 1})
    add_cost(8_000, month + timedelta(days=1))
    add_cost(1_999, month + timedelta(days=15))
    db.session.commit()
    from marketplace.billing.services import get_or_create_period

    period = get_or_create_period(month)
    db.session.commit()
    return period.id


def test_worker_killed_during_planning_and_billing_close_the_sweeps_do_the_work_once(pg_app, stack):
    period_id = _billing_scene()
    distribution, _couriers, [order] = delivery_scene()
    # Past its cut-off, so that the beat's planning sweep also covers this slot.
    distribution.cutoff_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    slot_id, order_id, distribution_id = distribution.slots[0].id, order.id, distribution.id

    with row_lock("delivery_slots", slot_id), row_lock("billing_periods", period_id):
        [worker] = stack.up(stack.worker())  # two slots: planning and the close, both held in flight
        pg_app.extensions["celery"].send_task("billing.close_due_periods")
        wait_until(lambda: waiting_on_lock("%delivery_slots%") and waiting_on_lock("%UPDATE billing_periods%"), 60,
                   "planning and the billing close in flight")
        worker.kill()
    assert fresh(lambda: db.session.get(BillingPeriod, period_id).status)() == PeriodStatus.OPEN
    assert db.session.query(Run).count() == 0

    stack.up(stack.worker("w2"), stack.beat())
    wait_until(fresh(lambda: _planned_once([order_id])), 60, "the order planned by the sweep")
    wait_until(fresh(lambda: db.session.get(BillingPeriod, period_id).status == PeriodStatus.CLOSED), 60,
               "the period closed by the sweep")
    time.sleep(4)  # more sweeps: nothing is planned or billed twice
    db.session.rollback()
    assert _planned_once([order_id]) and db.session.query(Run).count() == 1
    statements = db.session.query(Statement).filter_by(period_id=period_id).all()
    members = {s.user_id for s in statements}
    assert len(statements) == len(members) >= 2
    assert sum(s.total_cents for s in statements) == 9_999 == db.session.get(BillingPeriod, period_id).billed_cents
    fee_emails = db.session.query(OutboundEmail).filter(OutboundEmail.subject.like("Your coop fee%")).count()
    assert fee_emails == len(statements)
    assert db.session.get(Distribution, distribution_id).closed_at is not None


# ---------------------------------------------------------------- concurrent drains, two beats

def test_three_drains_at_once_publish_each_row_once(pg_app, stack):
    rows = [OutboxMessage(task_name="core.send_pending_emails", args_json="[]") for _ in range(300)]
    db.session.add_all(rows)  # straight into the table: only the drains publish them
    db.session.commit()
    results = []

    def drain():
        with pg_app.app_context():
            results.append(tasking.publish_outbox(pg_app))

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.published for r in results) == 300
    assert redis.Redis.from_url(stack.redis.url).llen("celery") == 300
    db.session.expire_all()
    assert {r.attempts for r in db.session.query(OutboxMessage)} == {1}


# ---------------------------------------------------------------- the worker through Redis outages

def _health(stack: Stack) -> int:
    import subprocess

    return subprocess.run([sys.executable, "-m", "marketplace.core.healthcheck", "worker"], env=stack.env(),
                          capture_output=True).returncode


def test_worker_survives_outages_with_a_task_in_flight_reports_its_health_and_exits_after_a_long_one(pg_app, stack):
    """Celery 5.7.0 died here: AttributeError 'hostname' while closing the lost connection (issue 11, item 4)."""
    _distribution, _couriers, [order] = delivery_scene()
    db.session.commit()
    slot_id, order_id = _distribution.slots[0].id, order.id
    with row_lock("delivery_slots", slot_id):
        [worker] = stack.up(stack.worker(WORKER_BROKER_LOSS_EXIT_S=15))
        wait_until(lambda: _health(stack) == 0, 30, "a healthy worker")
        wait_until(lambda: waiting_on_lock("%delivery_slots%"), 60, "planning in flight")
        for outage in (1, 2):
            with stack.redis.down():
                wait_until(lambda: "Connection to broker lost" in worker.log()
                           and worker.log().count("Connection to broker lost") >= outage, 30, "the worker noticing")
                wait_until(lambda: _health(stack) == 1, 30, "the health check failing without a broker")
            assert worker.alive(), worker.log()[-4000:]
            wait_until(lambda: _health(stack) == 0, 60, "the worker healthy again")
    assert worker.alive()
    wait_until(fresh(lambda: _planned_once([order_id])), 60, "the order planned after the outages")
    assert "'hostname'" not in worker.log() and "Unrecoverable error" not in worker.log()

    with stack.redis.down():  # a long outage: the worker gives up so that the restart policy replaces it
        wait_until(lambda: not worker.alive(), 60, "the worker to exit")
    assert worker.proc.returncode == 70
    assert "exiting so that the worker is restarted" in worker.log()


# ---------------------------------------------------------------- a web worker killed after saving

def test_a_web_worker_killed_just_after_saving_has_already_told_the_user_it_worked(pg_app, stack, tmp_path):
    """Gunicorn kills a worker stuck for longer than its timeout. Publishing now happens after the response,
    so a broker that hangs (accepts, never answers) no longer turns a saved action into an error page."""
    _distribution, _couriers, [order] = delivery_scene(ready=False)
    db.session.commit()
    part_ids = [p.id for p in order.parts]
    hole = BlackHole()
    port = free_port()
    env = app_env(tmp_path, hole.url, OUTBOX_PUBLISH_TIMEOUT_S=10)
    web = Process("gunicorn", [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                               "--timeout", "2", "--no-control-socket", "tests.fault_wsgi:app"], env, tmp_path,
                  "Booting worker")
    try:
        stack.up(web)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), 60, "gunicorn answering")
        farms = {p.producer.user.email: p.id for p in order.parts}
        for email, part_id in farms.items():
            session = _log_in(url, email)
            for action in ("accept", "ready"):
                response = session.post(f"{url}/producer/parts/{part_id}/{action}", allow_redirects=False, timeout=30)
                assert response.status_code == 302, response.text[:300]
                assert session.get(f"{url}/producer/orders", timeout=30).status_code == 200
        wait_until(lambda: "WORKER TIMEOUT" in web.log(), 30, "gunicorn killing the worker stuck on the broker")
    finally:
        hole.close()
    assert fresh(lambda: all(db.session.get(OrderPart, i).status.value == "ready" for i in part_ids))()
    [row] = db.session.query(OutboxMessage).filter_by(task_name="dispatch.plan_for_order").all()
    assert row.published_at is None  # the kill cut the publish short: the drain sends it
    assert tasking.publish_outbox(pg_app).published == 1
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).attempts == 1


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
