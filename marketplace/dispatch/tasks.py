"""Dispatch tasks: thin, take ids, safe to run twice; the rules are in dispatch.services."""
from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import OperationalError

from marketplace.dispatch import services
from marketplace.extensions import db

# Planning runs the VROOM solver: the longest tasks, still within the broker's visibility timeout.
RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True,
         "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8, "soft_time_limit": 270, "time_limit": 300}


def _commit_or_rollback(fn, *args):
    try:
        result = fn(*args)
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise


@shared_task(name="dispatch.plan_for_order", **RETRY)
def plan_for_order(order_id: int) -> list[int]:
    return _commit_or_rollback(services.plan_for_order, order_id)


@shared_task(name="dispatch.plan_slot", **RETRY)
def plan_slot(plan_key: str) -> list[int]:
    return _commit_or_rollback(services.plan_slot, plan_key)


@shared_task(name="dispatch.plan_due_slots", **RETRY)
def plan_due_slots() -> list[str]:
    """Beat: plan the slots past their cut-off that hold ready deliveries nobody planned."""
    keys = services.plannable_keys()
    db.session.rollback()
    for key in keys:
        _commit_or_rollback(services.plan_slot, key)
    return keys


@shared_task(name="dispatch.expire_offer", **RETRY)
def expire_offer(offer_id: int) -> None:
    """Expire one offer if it is due. One not due yet is left to the beat sweep below: a countdown
    of hours would outlive the broker's visibility timeout and be delivered again and again."""
    _commit_or_rollback(services.expire_offer, offer_id)


@shared_task(name="dispatch.expire_due_offers", **RETRY)
def expire_due_offers() -> int:
    """Beat: offers whose time is up go to the next courier (every 30 s)."""
    return _commit_or_rollback(services.expire_due_offers)
