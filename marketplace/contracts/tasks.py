"""Contract tasks: thin wrappers that call the services and commit."""
from celery import shared_task

from marketplace.contracts import services
from marketplace.extensions import db

BEAT_SCHEDULE = {
    "contracts-create-due-orders": {"task": "contracts.create_due_orders", "schedule": 60.0},
}


@shared_task(name="contracts.create_due_orders", acks_late=True, soft_time_limit=280, time_limit=300)
def create_due_orders() -> int:
    """Each subscriber's order for every distribution whose window is open, exactly once.

    Commits after each subscriber: a worker killed in the middle keeps what it did; the next run
    (the beat's, a minute later) does the rest, and never a second order (contracts.services.ordering)."""
    made = services.create_due_orders(after_each=db.session.commit)
    db.session.commit()
    return made


@shared_task(name="contracts.create_subscription_orders", acks_late=True, soft_time_limit=280, time_limit=300)
def create_subscription_orders(distribution_id: int) -> int:
    made = services.create_subscription_orders(distribution_id, after_each=db.session.commit)
    db.session.commit()
    return made
