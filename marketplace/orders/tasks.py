"""Order tasks: thin wrappers that call the services."""
from celery import shared_task

from marketplace.orders import services


@shared_task(name="orders.close_due_distributions", acks_late=True, soft_time_limit=110, time_limit=120)
def close_due_distributions() -> list[int]:
    return services.close_due_distributions()


@shared_task(name="orders.close_distribution", acks_late=True, soft_time_limit=110, time_limit=120)
def close_distribution(distribution_id: int) -> bool:
    return services.close_distribution(distribution_id)
