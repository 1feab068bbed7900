"""Housekeeping tasks: thin wrappers around services."""
from datetime import timedelta

from celery import shared_task
from flask import current_app

from marketplace.core import outbox, services
from marketplace.extensions import db

# Short jobs: a minute is plenty, and well under the broker's visibility timeout.
HOUSEKEEPING = {"acks_late": True, "soft_time_limit": 50, "time_limit": 60}


@shared_task(name="core.send_pending_emails", **HOUSEKEEPING)
def send_pending_emails() -> int:
    sent = services.send_pending_emails()
    db.session.commit()
    return sent


@shared_task(name="core.drain_outbox", **HOUSEKEEPING)
def drain_outbox() -> int:
    """Beat: publish what commits could not (broker down, web worker gone); safe under two beats."""
    return outbox.drain(current_app._get_current_object()).published


@shared_task(name="core.prune_records", **HOUSEKEEPING)
def prune_records() -> int:
    """Beat: forget outbox rows published long ago and heartbeats of processes long gone."""
    days = current_app.config["OUTBOX_RETENTION_DAYS"]
    removed = outbox.prune_published(timedelta(days=days)) + services.prune_heartbeats()
    db.session.commit()
    return removed
