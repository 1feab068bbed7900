"""Dispatch tasks: thin, take ids, safe to run twice; the rules are in dispatch.services."""
from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import OperationalError

from marketplace.dispatch import services
from marketplace.extensions import db

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True,
         "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}


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


@shared_task(name="dispatch.expire_offer", bind=True, **RETRY)
def expire_offer(self, offer_id: int) -> None:
    remaining = _commit_or_rollback(services.expire_offer, offer_id)
    if remaining is not None:
        # Not due yet (published right after the commit): come back when it is (Celery countdown).
        self.apply_async((offer_id,), countdown=max(1.0, remaining))


@shared_task(name="dispatch.expire_due_offers", **RETRY)
def expire_due_offers() -> int:
    """Beat: the safety net for offer countdowns lost with a broker."""
    return _commit_or_rollback(services.expire_due_offers)
