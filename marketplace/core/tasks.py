"""Housekeeping tasks: thin wrappers around services."""
from celery import shared_task
from flask import current_app

from marketplace.core import services


@shared_task(name="core.send_pending_emails", acks_late=True)
def send_pending_emails() -> int:
    return services.send_pending_emails()


@shared_task(name="core.drain_outbox", acks_late=True)
def drain_outbox() -> int:
    from marketplace.tasking import publish_outbox

    return publish_outbox(current_app._get_current_object())
