"""Dispatch with a real Celery worker on the real Redis and PostgreSQL."""
from __future__ import annotations

import threading

import time

import pytest

from marketplace.core.errors import Conflict
from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import DispatchRules, OfferStatus, Run, RunOffer, RunStatus
from marketplace.extensions import db
from marketplace.timeutil import utcnow
from tests.dispatch_fixtures import delivery_scene

from tests.worker_fixtures import celery_config, wait_for, worker  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def app_config():
    return celery_config()


def _offers():
    return db.session.query(RunOffer).order_by(RunOffer.id).all()


def test_ready_order_is_offered_to_a_courier_within_5_seconds(pg_app, worker):
    _, [courier], [order] = delivery_scene()
    db.session.commit()  # the outbox publishes the planning task after this commit
    [offer] = wait_for(_offers, 5, "an offer")
    assert offer.courier_id == courier.id and offer.status == OfferStatus.PENDING
    assert offer.run.status == RunStatus.OFFERED and order.id in offer.run.order_ids


def test_decline_and_timeout_reoffer_the_run(pg_app, worker):
    db.session.add(DispatchRules(id=1, offer_timeout_s=2))
    _, couriers, _orders = delivery_scene(n_couriers=3)
    db.session.commit()
    [first] = wait_for(_offers, 10, "the first offer")
    dispatch.decline_run(first.courier, first.run_id)
    db.session.commit()
    offers = _offers()
    assert [o.status for o in offers] == [OfferStatus.DECLINED, OfferStatus.PENDING]
    second = offers[1]
    # Nobody answers the second courier: the beat's sweep re-offers the run to the third.
    offers = wait_for(lambda: _sweep_when_due(worker) or (len(_offers()) == 3 and _offers()), 15,
                      "the timeout re-offer")
    assert [o.status for o in offers] == [OfferStatus.DECLINED, OfferStatus.EXPIRED, OfferStatus.PENDING]
    assert len({o.courier_id for o in offers}) == 3
    run = db.session.get(Run, second.run_id)
    assert run.offered_to_id == offers[2].courier_id
    # The third lets it expire too: everyone was asked, so the run is open to any suitable courier.
    wait_for(lambda: _sweep_when_due(worker) or db.session.get(Run, run.id).status == RunStatus.OPEN, 15,
             "the run to open")


def _sweep_when_due(worker) -> None:
    """What beat does every 30 s (dispatch.expire_due_offers), sent here as soon as an offer is due."""
    if any(o.status == OfferStatus.PENDING and o.expires_at <= utcnow() for o in _offers()):
        worker.send_task("dispatch.expire_due_offers")


def test_planning_task_delivered_twice_makes_one_set_of_runs(pg_app, worker):
    _, _, orders = delivery_scene(n_orders=2, n_couriers=2)
    db.session.commit()
    results = [worker.send_task("dispatch.plan_for_order", args=[orders[0].id]) for _ in range(3)]
    for result in results:
        result.get(timeout=30)
    wait_for(lambda: db.session.query(Run).count() > 0, 10, "runs")
    time.sleep(0.5)  # let the outbox's own delivery finish too
    runs = db.session.query(Run).all()
    dropoffs = sorted(s.order_id for r in runs for s in r.stops if s.kind.value == "dropoff")
    assert dropoffs == sorted(o.id for o in orders)  # each order in exactly one run
    assert len(_offers()) == len(runs)


def test_two_couriers_accepting_at_once_only_one_holds_the_run(pg_app):
    _, couriers, [order] = delivery_scene(n_couriers=2)
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    for _ in couriers:  # both decline in turn: the run becomes open to the first taker
        run = db.session.get(Run, run_id)
        dispatch.decline_run(run.offered_to, run_id)
        db.session.commit()
    assert db.session.get(Run, run_id).status == RunStatus.OPEN
    user_ids = [c.id for c in couriers]
    barrier = threading.Barrier(2)
    outcome: dict[int, str] = {}

    def take(user_id: int) -> None:
        with pg_app.app_context():
            from marketplace.members.models import User

            user = db.session.get(User, user_id)
            user.courier_profile.zones  # load before the race
            barrier.wait()
            try:
                dispatch.accept_run(user, run_id)
                db.session.commit()
                outcome[user_id] = "won"
            except Conflict:
                db.session.rollback()
                outcome[user_id] = "lost"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=take, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcome.values()) == ["lost", "won"]
    winner = next(uid for uid, result in outcome.items() if result == "won")
    db.session.expire_all()
    run = db.session.get(Run, run_id)
    assert run.status == RunStatus.ACCEPTED and run.courier_id == winner
    assert [o.courier_id for o in run.offers if o.status == OfferStatus.ACCEPTED] == [winner]
