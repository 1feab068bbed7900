"""Period close on the real PostgreSQL, with a real Celery worker on Redis."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import time

import pytest
from celery.beat import Scheduler
from celery.schedules import crontab
from sqlalchemy import func, select

from marketplace.billing import services
from marketplace.billing.models import BillingPeriod, DuesEntry, PeriodStatus, Statement
from marketplace.billing.tasks import BEAT_SCHEDULE
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders.models import OrderLine
from tests.billing_fixtures import LineSpec, add_cost, adopt_rule, last_month, make_sale, past_distribution
from tests.factories import get_admin, make_member, make_producer

from tests.worker_fixtures import celery_config, wait_for, worker  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def app_config():
    return celery_config()


@pytest.fixture
def scene(pg_app):
    month = last_month()
    producer = make_producer("farm@test.coop")
    buyer = make_member("buyer@test.coop", College.BUYER)
    make_member("courier@test.coop", College.COURIER)
    make_sale(buyer, producer, past_distribution(month + timedelta(days=4), [producer]),
              [LineSpec(price_cents=1_250, quantity=2), LineSpec(price_cents=2_000, weight_priced_g=800,
                                                                  weighed_grams=1_234)])
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 2, "buyer": 1})
    add_cost(8_000, month + timedelta(days=1))
    add_cost(1_999, month + timedelta(days=15))
    db.session.commit()
    return month


def _closed(month):
    return lambda: db.session.query(BillingPeriod).filter_by(starts_on=month, status=PeriodStatus.CLOSED).first()


def _counts(period_id: int) -> tuple[int, int, int]:
    return (db.session.query(func.count(Statement.id)).filter_by(period_id=period_id).scalar(),
            db.session.query(func.count(DuesEntry.id)).filter_by(period_id=period_id).scalar(),
            db.session.query(func.count(OutboundEmail.id)).filter(OutboundEmail.subject.like("Your coop fee%")).scalar())


def test_beat_closes_last_month_on_the_first(pg_app, worker, scene) -> None:
    entry = BEAT_SCHEDULE["close-billing-periods"]
    schedule = entry["schedule"]
    today = services.coop_today()
    first = datetime(today.year + today.month // 12, today.month % 12 + 1, 1, 2, 16)  # next 1st, 02:16

    def at(moment):
        return crontab(minute=schedule._orig_minute, hour=schedule._orig_hour,
                       day_of_month=schedule._orig_day_of_month, nowfun=lambda: moment, app=worker)

    assert at(first - timedelta(days=1)).is_due(first - timedelta(days=2))[0] is False
    # Beat's own scheduler decides the entry is due on the 1st and publishes the task to Redis.
    scheduler = Scheduler(app=worker, lazy=True)
    scheduler.update_from_dict({"close-billing-periods": {"task": entry["task"], "schedule": at(first),
                                                         "last_run_at": first - timedelta(days=1)}})
    assert scheduler.schedule["close-billing-periods"].is_due()[0] is True
    scheduler.tick()
    period = wait_for(_closed(scene), 30, "the period closed by the beat task")
    statements = db.session.query(Statement).filter_by(period_id=period.id).all()
    assert len(statements) == 3 and sum(s.total_cents for s in statements) == 9_999 == period.billed_cents


def test_task_delivered_twice_bills_once(pg_app, worker, scene) -> None:
    results = [worker.send_task("billing.close_due_periods") for _ in range(2)]
    outcomes = [r.get(timeout=60) for r in results]
    period = wait_for(_closed(scene), 5, "the closed period")
    assert sorted(len(o) for o in outcomes) == [0, 1]  # one close, one no-op
    assert _counts(period.id) == (3, 2, 3)  # 3 statements, 2 charges (the courier owes 0), 3 e-mails
    assert db.session.query(func.sum(Statement.total_cents)).scalar() == 9_999


def test_concurrent_admin_closes_one_wins(pg_app, scene) -> None:
    period_id = services.get_or_create_period(scene).id
    admin_id = get_admin().id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def close() -> None:
        with pg_app.app_context():
            from marketplace.members.models import User

            admin = db.session.get(User, admin_id)
            barrier.wait()
            try:
                services.close_period(period_id, admin)
                time.sleep(0.3)  # hold the row lock so the other close really waits on it
                db.session.commit()
                outcomes.append("closed")
            except services.PeriodAlreadyClosed as exc:
                db.session.rollback()
                outcomes.append(f"refused: {exc.message}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["closed", "refused"]
    assert "closed" in [o for o in outcomes if o.startswith("refused")][0]
    db.session.expire_all()
    assert _counts(period_id) == (3, 2, 3)


def test_cost_after_close_cannot_change_the_period(pg_app, scene) -> None:
    period = services.close_month(get_admin(), scene)
    db.session.commit()
    fees = sorted(db.session.execute(select(Statement.user_id, Statement.total_cents)).all())
    late = add_cost(4_321, scene + timedelta(days=10))
    db.session.commit()
    db.session.expire_all()
    period = db.session.get(BillingPeriod, period.id)
    assert late.period_id != period.id and late.adjusts_period_id == period.id
    assert period.total_cost_cents == 9_999
    assert sum(c.amount_cents for c in period.costs) == 9_999
    assert sorted(db.session.execute(select(Statement.user_id, Statement.total_cents)).all()) == fees
    assert db.session.get(BillingPeriod, late.period_id).starts_on == services.next_month(scene)


def test_sql_line_amounts_match_python_on_postgres(pg_app) -> None:
    producer = make_producer()
    specs = [LineSpec(999_999, 500), LineSpec(1, 1, 1, None), LineSpec(1, 1, 1, 1), LineSpec(123_457, 3, 499, 99_999),
             LineSpec(250, 3, 333, None), LineSpec(777, 2, rejected=True), LineSpec(500, 7, 1_000, 1_500)]
    order = make_sale(make_member(), producer, past_distribution(last_month(), [producer]), specs)
    db.session.commit()
    amounts = dict(db.session.execute(select(OrderLine.id, services.line_amount_sql())).all())
    for line in order.parts[0].lines:
        assert amounts[line.id] == line.final_cents
        assert isinstance(amounts[line.id], int)
    start, end = services.utc_bounds(services.get_or_create_period(last_month()))
    assert services.producer_sales_by_member(start, end) == {producer.id: order.parts[0].final_cents}
