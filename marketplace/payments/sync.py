"""Lost webhooks cannot lose money: payments are read back from Stripe without waiting for an event.

The buyer's return page syncs their payment; a beat task syncs checkouts still open after a few
minutes and holds whose ``capture_before`` (read from the charge) has come, and captures holds
before it comes.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import stripe
from flask import current_app
from flask_babel import gettext as _

from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders.models import Order
from marketplace.payments.common import commit_step, now
from marketplace.payments.models import CardPayment, CardPaymentStatus
from marketplace.payments.services import capture_expiring_authorisations, sync_payment

# A checkout's webhook normally arrives within seconds: past this, ask Stripe.
OPEN_CHECKOUT_SYNC_AFTER = timedelta(minutes=10)


def sync_on_return(user: User, order_id: int) -> Order:
    """The buyer is back from Stripe's page: read the payment now (its webhook may be late or lost)."""
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != user.id:
        raise NotFound(_("No such order."))
    payment = order.card_payment
    if payment is not None and payment.status == CardPaymentStatus.OPEN:
        try:
            sync_payment(order_id)
        except stripe.StripeError as exc:  # the page refreshes itself; the beat task syncs it later
            current_app.logger.warning("Payment sync on return failed for order %s: %s", order_id, exc)
            db.session.rollback()
    return db.session.get(Order, order_id)


def payments_to_sync(at: datetime) -> list[int]:
    """Orders whose payment may have changed at Stripe without us hearing it."""
    rows = db.session.query(CardPayment).filter(
        CardPayment.status.in_([CardPaymentStatus.OPEN, CardPaymentStatus.AUTHORISED])).all()
    due = []
    for payment in rows:
        if payment.status == CardPaymentStatus.OPEN:
            if payment.session_id and payment.created_at <= at - OPEN_CHECKOUT_SYNC_AFTER:
                due.append(payment.order_id)
        elif payment.capture_before is not None and payment.capture_before <= at:
            due.append(payment.order_id)  # past Stripe's deadline: captured, or lapsed?
    return sorted(due)


def sync_payments(at: datetime | None = None) -> dict[str, list[int]]:
    """Beat: sync what may have been missed, then capture holds whose capture_before is near."""
    at = at or now()
    synced = payments_to_sync(at)
    for order_id in synced:
        sync_payment(order_id)
    captured = capture_expiring_authorisations(at)
    commit_step()
    return {"synced": synced, "captured": captured}
