"""Stripe's webhooks: verified, stored once, handled by reading the current state from Stripe.

Two endpoints, each with its own signing secret, as Stripe sends them: the platform's events,
and the Connect events about members' accounts (those carrying ``account``).
"""
from __future__ import annotations

import json

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import db
from marketplace.payments import emails
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.common import attr, commit_step, now, raise_alert
from marketplace.payments.models import CardPayment, EventStatus, StripeEvent
from marketplace.tasking import enqueue_after_commit

HANDLED_TYPES = {
    "account.updated",
    "checkout.session.completed", "checkout.session.expired", "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.amount_capturable_updated", "payment_intent.succeeded", "payment_intent.canceled",
    "payment_intent.payment_failed",
    "charge.succeeded", "charge.captured", "charge.refunded", "charge.expired",
    "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
    "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
    "refund.updated", "refund.failed", "charge.refund.updated",
    "balance.available",
    # Movements we start ourselves: checked against the ledger.
    "transfer.created", "transfer.reversed", "refund.created",
}
# About members' own accounts, we act on one event only: the rest (their payouts...) is theirs.
CONNECT_HANDLED_TYPES = {"account.updated"}
REFUND_TYPES = {"refund.updated", "refund.failed", "charge.refund.updated"}


def receive_webhook(payload: bytes, signature: str, connect: bool = False) -> StripeEvent | None:
    """Verify and store an event once; enqueue its handling. Returns None for a replay.

    Raises ValueError / stripe.SignatureVerificationError for a forged, stale or malformed call.
    """
    event = gateway.construct_event(payload, signature, connect=connect)
    obj = attr(attr(event, "data"), "object")
    account = attr(event, "account") or ""
    row = StripeEvent(event_id=event.id, type=event.type, account=account,
                      object_id=attr(obj, "id") or "", payload=payload.decode("utf-8"))
    if db.session.query(StripeEvent.id).filter_by(event_id=event.id).first():
        return None
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # the same event delivered twice at once
        db.session.rollback()
        return None
    if event.type in (CONNECT_HANDLED_TYPES if account else HANDLED_TYPES):
        enqueue_after_commit("payments.handle_event", [row.id], dedup_key=f"stripe-event:{event.id}")
    else:
        row.status = EventStatus.IGNORED
        row.processed_at = now()
    return row


def handle_event(event_row_id: int) -> EventStatus:
    """Act on a stored event by fetching the current state from Stripe (events may come in any order)."""
    row = db.session.get(StripeEvent, event_row_id)
    if row is None or row.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
        return row.status if row else EventStatus.IGNORED
    event_type, obj = row.type, json.loads(row.payload)["data"]["object"]
    status, note = _dispatch(event_type, obj)
    row = db.session.get(StripeEvent, event_row_id)
    row.status, row.note, row.processed_at = status, note, now()
    if status == EventStatus.UNMATCHED:
        raise_alert(emails.event_unmatched, key=f"event:{row.event_id}", type=row.type, id=row.event_id,
                    object=row.object_id)
    commit_step()
    return status


def _dispatch(event_type: str, obj: dict) -> tuple[EventStatus, str]:
    from marketplace.payments import chargebacks, payouts, refunds, services
    from marketplace.payments.topups import sync_top_up, top_up_for_object

    if event_type == "account.updated":
        if services.sync_account(obj["id"]) is None:
            return EventStatus.UNMATCHED, _("No member has this Stripe account.")
    elif event_type.startswith("charge.dispute."):
        if chargebacks.sync_dispute(obj["id"]) is None:
            return EventStatus.UNMATCHED, _("No order matches this disputed charge.")
    elif event_type in REFUND_TYPES:
        if refunds.sync_refund(obj["id"]) is None:
            return EventStatus.UNMATCHED, _("No refund of the shop matches this one.")
    elif event_type == "balance.available":
        payouts.retry_waiting_payouts()
    elif event_type.startswith(("checkout.session.", "payment_intent.", "charge.")) and top_up_for_object(obj):
        sync_top_up(top_up_for_object(obj))  # a member's account top-up, not an order
    elif event_type.startswith(("checkout.session.", "payment_intent.", "charge.")):
        order_id = _order_for_object(obj)
        if order_id is None:
            return EventStatus.UNMATCHED, _("No order matches this payment.")
        services.sync_payment(order_id)
    # transfer.created, transfer.reversed, refund.created: we made these; the ledger has them.
    return EventStatus.PROCESSED, ""


def _order_for_object(obj: dict) -> int | None:
    kind = obj.get("object")
    query = db.session.query(CardPayment)
    payment = None
    if kind == "checkout.session":
        payment = query.filter_by(session_id=obj["id"]).first()
    elif kind == "payment_intent":
        payment = query.filter_by(payment_intent_id=obj["id"]).first()
    elif kind == "charge":
        payment = query.filter_by(payment_intent_id=obj.get("payment_intent")).first()
    if payment is not None:
        return payment.order_id
    # The PaymentIntent id may not be known yet (events in any order): use our own metadata.
    raw = (obj.get("metadata") or {}).get("order_id") or obj.get("client_reference_id")
    if raw and str(raw).isdigit():
        payment = query.filter_by(order_id=int(raw)).first()
        if payment is not None:
            return payment.order_id
    return None
