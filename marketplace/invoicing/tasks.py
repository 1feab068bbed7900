"""Invoicing tasks: thin, take ids, safe to run twice."""
from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import OperationalError

from marketplace.extensions import db
from marketplace.invoicing import documents, issuing
from marketplace.invoicing.models import Invoice

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "retry_backoff_max": 600,
             "max_retries": 5}

# Merged into marketplace.schedule.beat_schedule(): waiting drafts are retried (the seller may have
# completed their identity, the coop its settings) even if nobody presses the admin's button.
BEAT_SCHEDULE = {
    "invoicing-issue-pending": {"task": "invoicing.issue_pending", "schedule": 900.0},
}


@shared_task(name="invoicing.render_document", **RETRY)
def render_document(invoice_id: int) -> bool:
    """Render and store an issued invoice's Factur-X once (a second run finds it stored)."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        return False
    documents.stored_document(invoice)
    db.session.commit()
    return True


@shared_task(name="invoicing.issue_pending", **RETRY)
def issue_pending() -> int:
    """Issue every waiting draft that can be issued now."""
    issued = issuing.issue_pending()
    db.session.commit()
    return len(issued)
