"""Billing tasks: thin wrappers around billing.services, safe to run twice."""
from __future__ import annotations

from celery import shared_task
from celery.schedules import crontab
from flask import current_app
from sqlalchemy.exc import OperationalError

from marketplace.billing import services
from marketplace.core.errors import ServiceError
from marketplace.extensions import db

# Merged into marketplace.schedule.beat_schedule(): close last month's period on the 1st, at night
# (crontab is read in the Celery timezone, the coop's); a sweep there redoes a close lost with a worker.
BEAT_SCHEDULE = {
    "close-billing-periods": {"task": "billing.close_due_periods",
                              "schedule": crontab(minute="15", hour="2", day_of_month="1")},
}


@shared_task(name="billing.close_due_periods", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=600, max_retries=5, soft_time_limit=270, time_limit=300)
def close_due_periods() -> list[int]:
    """Close every ended period in order; a period already closed (twice delivered) is skipped."""
    ids = services.due_period_ids()
    db.session.commit()
    closed = []
    # One transaction per period: a period that cannot be closed (no rule in force yet) must not
    # take back the statements of an earlier period closed in the same run.
    for period_id in ids:
        try:
            services.close_period(period_id)
            db.session.commit()
            closed.append(period_id)
        except services.PeriodAlreadyClosed:
            db.session.rollback()
        except ServiceError as exc:  # e.g. no rule adopted yet: say so, retry next month / by hand
            db.session.rollback()
            current_app.logger.warning("Billing period %s not closed: %s", period_id, exc.message)
            break
    return closed


@shared_task(name="billing.close_period", acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=600, max_retries=5, soft_time_limit=270, time_limit=300)
def close_period(period_id: int) -> bool:
    """Close one period; False if it was already closed."""
    try:
        services.close_period(period_id)
        db.session.commit()
    except services.PeriodAlreadyClosed:
        db.session.rollback()
        return False
    return True
