"""The buyer's hosted Checkout: decide its parameters once, create or replace the session, give up."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import stripe
from flask_babel import gettext as _

from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import format_money
from marketplace.orders.models import Order
from marketplace.orders.states import PaymentMethod, PaymentStatus
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.accounts import producer_can_take_cards
from marketplace.payments.amounts import card_hold_cents, checkout_line_items, hold_cents
from marketplace.payments.common import attr, commit_step, from_timestamp, now, to_timestamp
from marketplace.payments.models import CardPayment, CardPaymentStatus

MIN_CARD_CENTS = 50
CHECKOUT_SESSION_LIFETIME = timedelta(hours=1)
# Stripe refuses a Checkout Session expiring less than 30 minutes after its creation: stored
# parameters are sent again only while they leave that much time (and a minute for clocks).
CHECKOUT_RETRY_MARGIN = timedelta(minutes=31)


def check_card_order(order: Order) -> None:
    """Refuse a card checkout that includes a producer who cannot be paid by card yet."""
    if order.payment_method != PaymentMethod.CARD:
        return
    if not gateway.is_configured():
        raise ServiceError(_("Card payment is not available."), "payment_method")
    for part in order.parts:
        if not producer_can_take_cards(part.producer.user_id):
            raise ServiceError(_("%(producer)s cannot be paid by card yet: choose pay at pickup, or remove "
                                 "their products from your cart.", producer=part.producer.name), "payment_method")
    if card_hold_cents(order) < MIN_CARD_CENTS:
        if card_hold_cents(order) < hold_cents(order):
            raise ServiceError(_("Your account balance covers this order: choose pay at pickup for what weighing "
                                 "may add."), "payment_method")
        raise ServiceError(_("Card payments start at %(min)s.", min=format_money(MIN_CARD_CENTS)), "payment_method")


def _buyer_card_order(user: User, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != user.id:
        raise NotFound(_("No such order."))
    if order.payment_method != PaymentMethod.CARD:
        raise Conflict(_("This order is paid at pickup."))
    return order


def start_checkout(user: User, order_id: int) -> str:
    """Create (once) the Checkout Session for an order and return the hosted page's URL."""
    order = _buyer_card_order(user, order_id)
    if order.payment_status != PaymentStatus.AWAITING:
        raise Conflict(_("This order needs no payment now."))
    payment = order.card_payment
    if payment is not None and payment.session_url and payment.status == CardPaymentStatus.OPEN \
            and _stored_expiry(payment) > now() + timedelta(minutes=1):
        return payment.session_url
    check_card_order(order)
    payment = _decide_checkout(order)
    session = gateway.client().v1.checkout.sessions.create(
        json.loads(payment.checkout_params), gateway.idem(f"checkout:{order.id}:{payment.checkout_attempt}"))
    payment = db.session.get(CardPayment, payment.id)
    payment.session_id, payment.session_url = session.id, session.url or ""
    db.session.flush()
    return payment.session_url


def _stored_expiry(payment: CardPayment) -> datetime:
    params = json.loads(payment.checkout_params or "{}")
    return from_timestamp(params.get("expires_at", 0))


def _decide_checkout(order: Order) -> CardPayment:
    """Store the Checkout Session's parameters (expires_at included) before the first call, and commit.

    A retry sends the stored ones again under the same key while Stripe would still accept them;
    after that, or once a session exists, a new attempt (new key) replaces the old session.
    """
    payment = order.card_payment
    if payment is None:
        payment = CardPayment(order_id=order.id, checkout_attempt=0, capture_attempt=0)
        db.session.add(payment)
    elif payment.checkout_params and payment.session_id is None and \
            _stored_expiry(payment) >= now() + CHECKOUT_RETRY_MARGIN:
        commit_step()
        return payment
    else:
        _retire_session(payment)
    payment.checkout_attempt += 1
    payment.requested_cents = card_hold_cents(order)
    payment.checkout_params = json.dumps(_checkout_params(order, now() + CHECKOUT_SESSION_LIFETIME))
    commit_step()
    return payment


def _retire_session(payment: CardPayment) -> None:
    """Expire the previous session (if any) so that only the new one can be paid."""
    if payment.session_id is None:
        return
    try:
        gateway.client().v1.checkout.sessions.expire(
            payment.session_id, None, gateway.idem(f"expire:{payment.order_id}:{payment.checkout_attempt}"))
    except stripe.InvalidRequestError:
        session = gateway.client().v1.checkout.sessions.retrieve(payment.session_id)
        if attr(session, "status") == "complete":
            raise Conflict(_("Your payment went through: reload your order page.")) from None
    payment.session_id, payment.session_url = None, ""


def _checkout_params(order: Order, expires_at: datetime) -> dict:
    return {
        "mode": "payment",
        "line_items": checkout_line_items(order),
        "client_reference_id": str(order.id),
        "customer_email": order.buyer.email,
        "expires_at": to_timestamp(expires_at),
        "metadata": {"order_id": str(order.id), "order_reference": order.reference},
        "success_url": public_url("payments.checkout_return", order_id=order.id)
                       + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": public_url("payments.checkout_cancelled", order_id=order.id),
        "payment_intent_data": {
            "capture_method": "manual", "transfer_group": order.reference,
            "description": _("Order %(ref)s — collected by %(coop)s on behalf of its producers",
                             ref=order.reference, coop=_coop_name()),
            "metadata": {"order_id": str(order.id), "order_reference": order.reference}},
    }


def _coop_name() -> str:
    from marketplace.core.services import get_setting

    return get_setting("coop_name")


def abandon_checkout(user: User, order_id: int) -> Order:
    """The buyer gives up paying: the session is expired at Stripe and the order cancelled."""
    order = _buyer_card_order(user, order_id)
    payment = order.card_payment
    if order.payment_status != PaymentStatus.AWAITING:
        raise Conflict(_("This order can no longer be cancelled this way."))
    if payment is not None and payment.session_id and payment.status == CardPaymentStatus.OPEN:
        try:
            gateway.client().v1.checkout.sessions.expire(payment.session_id, None,
                                                         gateway.idem(f"expire:{order.id}:{payment.checkout_attempt}"))
        except stripe.InvalidRequestError:
            # Already completed or expired: the webhook will tell us which; do not cancel a paid order.
            session = gateway.client().v1.checkout.sessions.retrieve(payment.session_id)
            if attr(session, "status") == "complete":
                raise Conflict(_("Your payment went through: the order is not cancelled.")) from None
        payment.status = CardPaymentStatus.EXPIRED
    from marketplace.orders.services import cancel_unpaid_order

    return cancel_unpaid_order(order.id, "card_abandoned")
