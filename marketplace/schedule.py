"""The beat's schedule: every domain's periodic tasks in one table (the app factory hands it to Celery).

It sits above the domains (it names their tasks); marketplace.tasking, below them, only publishes.
"""
from __future__ import annotations

from marketplace.billing.tasks import BEAT_SCHEDULE as billing_beat
from marketplace.contracts.tasks import BEAT_SCHEDULE as contracts_beat
from marketplace.invoicing.tasks import BEAT_SCHEDULE as invoicing_beat
from marketplace.payments.tasks import BEAT_SCHEDULE as payments_beat


def beat_schedule(config) -> dict:
    """Periodic work: every rule lives in a service; these only trigger it.

    Every entry is safe when two beats run (a scaled service, a restart overlap): the drain claims
    rows, the business tasks claim or lock what they change. The sweeps also redo, within a minute,
    the work of a message lost with a killed worker or an emptied Redis.
    """
    sweep = float(config["SWEEP_INTERVAL_S"])
    return {
        **billing_beat,
        **contracts_beat,
        **invoicing_beat,
        **payments_beat,
        "drain-task-outbox": {"task": "core.drain_outbox", "schedule": float(config["OUTBOX_DRAIN_INTERVAL_S"])},
        "prune-old-records": {"task": "core.prune_records", "schedule": 3600.0},
        "send-pending-emails": {"task": "core.send_pending_emails", "schedule": 20.0},
        "close-distributions-at-cutoff": {"task": "orders.close_due_distributions", "schedule": min(30.0, sweep)},
        "dispatch-plan-due-slots": {"task": "dispatch.plan_due_slots", "schedule": sweep},
        "dispatch-expire-due-offers": {"task": "dispatch.expire_due_offers", "schedule": min(30.0, sweep)},
        "billing-close-due-periods-sweep": {"task": "billing.close_due_periods", "schedule": sweep},
        "catalog-prerender-product-pages": {"task": "catalog.prerender_product_pages",
                                            "schedule": float(config["PRERENDER_INTERVAL_S"])},
    }
