"""Payment tasks: thin, take ids, safe to run twice (every Stripe POST carries an idempotency key)."""
from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from marketplace.payments import services
from marketplace.payments.stripe_gateway import TRANSIENT_ERRORS

RETRY = dict(acks_late=True, autoretry_for=TRANSIENT_ERRORS + (OperationalError,), retry_backoff=True,
             retry_backoff_max=600, retry_jitter=True, max_retries=10)


def _done(result):
    db.session.commit()
    return result


@shared_task(name="payments.handle_event", **RETRY)
def handle_event(event_row_id: int) -> str:
    return _done(services.handle_event(event_row_id).value)


@shared_task(name="payments.capture_order", **RETRY)
def capture_order(order_id: int) -> str:
    return _done(services.capture_order(order_id))


@shared_task(name="payments.settle_order", **RETRY)
def settle_order(order_id: int) -> list[int]:
    return _done(services.settle_order(order_id))


@shared_task(name="payments.rebalance_order", **RETRY)
def rebalance_order(order_id: int) -> int | None:
    credit = services.rebalance_order(order_id)
    return _done(credit.id if credit else None)


@shared_task(name="payments.execute_payout", **RETRY)
def execute_payout(payout_id: int) -> str | None:
    payout = services.execute_payout(payout_id)
    return _done(payout.status.value if payout else None)


@shared_task(name="payments.execute_credit", **RETRY)
def execute_credit(credit_id: int) -> str | None:
    credit = services.execute_credit(credit_id)
    return _done(credit.status.value if credit else None)


@shared_task(name="payments.pay_courier", **RETRY)
def pay_courier(courier_user_id: int, amount_cents: int, reference: str, source_order_ids: list[int]) -> list[int]:
    return _done(services.pay_courier(courier_user_id, amount_cents, reference, source_order_ids))


@shared_task(name="payments.sync_account", **RETRY)
def sync_account(stripe_account_id: str) -> bool:
    return _done(services.sync_account(stripe_account_id) is not None)


@shared_task(name="payments.capture_expiring_authorisations", **RETRY)
def capture_expiring_authorisations() -> list[int]:
    return _done(services.capture_expiring_authorisations())


@shared_task(name="payments.reconcile", **RETRY)
def reconcile() -> list[str]:
    return _done([b.reference for b in services.reconcile_and_alert()])
