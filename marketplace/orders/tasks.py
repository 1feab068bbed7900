"""Order tasks: thin wrappers that call the services; each commits once, at the end."""
from celery import shared_task

from marketplace.extensions import db
from marketplace.orders import services


@shared_task(name="orders.close_due_distributions", acks_late=True, soft_time_limit=110, time_limit=120)
def close_due_distributions() -> list[int]:
    closed = services.close_due_distributions()
    db.session.commit()
    return closed


@shared_task(name="orders.close_distribution", acks_late=True, soft_time_limit=110, time_limit=120)
def close_distribution(distribution_id: int) -> bool:
    done = services.close_distribution(distribution_id)
    db.session.commit()
    return done
