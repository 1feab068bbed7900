"""Payment tasks: thin, take ids, safe to run twice (every Stripe POST carries an idempotency key)."""
from __future__ import annotations

from celery import shared_task
from celery.schedules import crontab
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from marketplace.payments import payouts, reconciliation, refunds, services, sync, webhooks
from marketplace.payments.stripe_gateway import TRANSIENT_ERRORS

RETRY = {"acks_late": True, "autoretry_for": TRANSIENT_ERRORS + (OperationalError,), "retry_backoff": True,
             "retry_backoff_max": 600, "retry_jitter": True, "max_retries": 10}

# Merged into marketplace.schedule.beat_schedule().
BEAT_SCHEDULE = {
    # Holds near capture_before are captured, open checkouts and lapsed holds read back from Stripe.
    "payments-sync": {"task": "payments.sync_payments", "schedule": 900.0},
    "payments-capture-expiring": {"task": "payments.capture_expiring_authorisations", "schedule": 3600.0},
    # Payouts waiting for the coop's balance, refused reversals, refunds still pending.
    "payments-retry-waiting-payouts": {"task": "payments.retry_waiting_payouts", "schedule": 3600.0},
    "payments-retry-reversals": {"task": "payments.retry_refused_reversals", "schedule": crontab(minute="40",
                                                                                                  hour="6")},
    "payments-sync-pending-refunds": {"task": "payments.sync_pending_refunds", "schedule": 21600.0},
    "payments-reconcile": {"task": "payments.reconcile", "schedule": 86400.0},
}


def _done(result):
    db.session.commit()
    return result


@shared_task(name="payments.handle_event", **RETRY)
def handle_event(event_row_id: int) -> str:
    return _done(webhooks.handle_event(event_row_id).value)


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
    payout = payouts.execute_payout(payout_id)
    return _done(payout.status.value if payout else None)


@shared_task(name="payments.execute_credit", **RETRY)
def execute_credit(credit_id: int) -> str | None:
    credit = refunds.execute_credit(credit_id)
    return _done(credit.status.value if credit else None)


@shared_task(name="payments.pay_courier", **RETRY)
def pay_courier(courier_user_id: int, amount_cents: int, reference: str, source_order_ids: list[int]) -> list[int]:
    return _done(payouts.pay_courier(courier_user_id, amount_cents, reference, source_order_ids))


@shared_task(name="payments.sync_account", **RETRY)
def sync_account(stripe_account_id: str) -> bool:
    return _done(services.sync_account(stripe_account_id) is not None)


@shared_task(name="payments.capture_expiring_authorisations", **RETRY)
def capture_expiring_authorisations() -> list[int]:
    return _done(services.capture_expiring_authorisations())


@shared_task(name="payments.sync_payments", **RETRY)
def sync_payments() -> dict[str, list[int]]:
    return _done(sync.sync_payments())


@shared_task(name="payments.retry_waiting_payouts", **RETRY)
def retry_waiting_payouts() -> list[int]:
    return _done(payouts.retry_waiting_payouts())


@shared_task(name="payments.retry_refused_reversals", **RETRY)
def retry_refused_reversals() -> list[int]:
    return _done(refunds.retry_refused_reversals())


@shared_task(name="payments.sync_pending_refunds", **RETRY)
def sync_pending_refunds() -> list[int]:
    return _done(refunds.sync_pending_refunds())


@shared_task(name="payments.reconcile", **RETRY)
def reconcile() -> list[str]:
    wrong, platform = reconciliation.reconcile_and_alert()
    return _done([b.reference for b in wrong] + platform)
