"""An order's history is stored as codes (OrderEvent.kind) and amounts in cents, worded when shown."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from marketplace.money import format_money

EVENT_LABELS = {
    "placed": _l("placed"),
    "accepted": _l("accepted"),
    "ready": _l("ready"),
    "handed_to_courier": _l("out for delivery"),
    "collected": _l("collected"),
    "delivered": _l("delivered"),
    "cancelled": _l("cancelled"),
    "changed": _l("quantity changed"),
    "line_rejected": _l("product unavailable"),
    "weighed": _l("weighed"),
    "paid_at_pickup": _l("paid at pickup"),
    "delivery_failed": _l("delivery failed"),
    "refund": _l("refund decided"),
    "payment_awaiting": _l("card payment started"),
    "payment_authorised": _l("card authorised"),
    "payment_paid": _l("card charged"),
    "payment_due": _l("card hold lapsed: to be paid at pickup"),
    "payment_cancelled": _l("card authorisation released"),
    "payment_refunded": _l("refunded"),
}

# Reasons the shop itself gives for cancelling a part, stored as codes (OrderPart.cancel_reason, the
# event's detail); a producer's or admin's own words are stored and shown as typed.
REASONS = {
    "emptied_by_buyer": _l("Emptied by the buyer."),
    "cancelled_by_buyer": _l("Cancelled by the buyer."),
    "card_abandoned": _l("Card payment cancelled by the buyer."),
    "card_expired": _l("The card payment was not completed in time."),
    "minimum_not_reached": _l("The producer's minimum order for this distribution was not reached."),
    "absent": _l("Absence declared: no basket this time."),
    "not_offered": _l("Not offered at this distribution."),
    "sold_out": _l("Sold out for this distribution."),
    "distribution_cancelled": _l("The distribution was cancelled."),
}


def reason_text(reason: str) -> str:
    label = REASONS.get(reason)
    return str(label) if label is not None else reason


def event_label(kind: str) -> str:
    """The reader's words for an event code; an unknown code is shown as is (never passed to `_()`)."""
    label = EVENT_LABELS.get(kind)
    return str(label) if label is not None else kind


def event_text(event) -> str:
    """One history line after the date: what happened, then its data (amount, product, reason)."""
    parts = [event_label(event.kind)]
    if event.amount_cents is not None:
        parts.append(format_money(event.amount_cents))
    if event.detail:
        parts.append(reason_text(event.detail))
    return " — ".join(parts)
