"""Card payments with Stripe Connect (separate charges and transfers): the rules, in one place.

The coop never keeps members' money: the buyer's card is authorised at checkout, captured for the
final amount once every producer has weighed, and each producer part is transferred in full from
that charge. Refunds, reversals, withholdings and Stripe's fee are all written to the ledger.

Services that call Stripe are run by Celery tasks; they commit their own intent rows *before* the
call, so the row id makes the idempotency key and a retried task can never pay twice.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import stripe
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.services import queue_email
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import format_money, weighed_amount_cents
from marketplace.orders.models import Order, OrderEvent, OrderLine, OrderPart
from marketplace.orders.states import LineStatus, PartStatus, PaymentMethod, PaymentStatus
from marketplace.payments import signals
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.models import (CardPayment, CardPaymentStatus, ConnectedAccount, Credit, CreditKind,
                                         CreditStatus, EventStatus, LedgerEntry, LedgerKind, Payout, PayoutKind,
                                         PayoutStatus, StripeEvent)
from marketplace.tasking import enqueue_after_commit
from marketplace.timeutil import utcnow

# Card networks keep an authorisation about 7 days; capture a day before that (beat runs hourly).
AUTHORISATION_VALIDITY = timedelta(days=7)
CAPTURE_SAFETY_MARGIN = timedelta(days=1)
MIN_CARD_CENTS = 50
CHECKOUT_SESSION_LIFETIME = timedelta(hours=1)
# Parts whose final amount is known (the producer has weighed and packed).
SETTLED_PART_STATES = {PartStatus.READY, PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED}

# Order.payment_status changes made by payments: the allowed ones.
PAYMENT_TRANSITIONS: dict[PaymentStatus, set[PaymentStatus]] = {
    PaymentStatus.AWAITING: {PaymentStatus.AUTHORISED, PaymentStatus.PAID, PaymentStatus.CANCELLED},
    PaymentStatus.AUTHORISED: {PaymentStatus.PAID, PaymentStatus.CANCELLED},
    PaymentStatus.PAID: {PaymentStatus.REFUNDED},
    PaymentStatus.REFUNDED: set(),
    PaymentStatus.CANCELLED: set(),
    PaymentStatus.DUE: set(),
}


def _set_payment_status(order: Order, target: PaymentStatus, detail: str = "") -> bool:
    if order.payment_status == target or target not in PAYMENT_TRANSITIONS[order.payment_status]:
        return False
    order.payment_status = target
    order.events.append(OrderEvent(kind=f"payment_{target.value}", detail=detail))
    return True


def _admins() -> list[User]:
    return db.session.query(User).filter_by(is_admin=True).all()


def _alert_admins(subject: str, body: str) -> None:
    for admin in _admins():
        queue_email(admin.email, subject, body)


def _attr(obj, name: str, default=None):
    """Read a field of a Stripe object (or a plain dict from a webhook payload)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    try:
        return getattr(obj, name)
    except AttributeError:
        return default


def _id_of(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _attr(value, "id")


# ---------------------------------------------------------------- connected accounts (onboarding)

def account_of(user_id: int) -> ConnectedAccount | None:
    return db.session.query(ConnectedAccount).filter_by(user_id=user_id).first()


def _require_payee(user: User) -> None:
    require_active_member(user)
    if user.membership.college not in (College.PRODUCER, College.COURIER):
        raise NotAllowed(_("Only producers and couriers receive payments."))


def start_onboarding(user: User) -> str:
    """Create (once) the member's Express account and return a fresh onboarding link."""
    _require_payee(user)
    client = gateway.client()
    account = account_of(user.id)
    if account is None:
        created = client.v1.accounts.create(
            {"type": "express", "country": current_app.config.get("STRIPE_ACCOUNT_COUNTRY", "FR"),
             "email": user.email, "capabilities": {"transfers": {"requested": True}},
             "metadata": {"user_id": str(user.id)}},
            gateway.idem(f"account:{user.id}"))
        account = ConnectedAccount(user_id=user.id, stripe_account_id=created.id, links_created=0)
        db.session.add(account)
        _apply_account(account, created)
    account.links_created += 1
    db.session.flush()
    link = client.v1.account_links.create(
        {"account": account.stripe_account_id, "type": "account_onboarding",
         "return_url": public_url("payments.onboarding_return"),
         "refresh_url": public_url("payments.onboarding_refresh")},
        gateway.idem(f"account-link:{account.id}:{account.links_created}"))
    return link.url


def _apply_account(account: ConnectedAccount, obj) -> None:
    requirements = _attr(obj, "requirements") or {}
    due = list(_attr(requirements, "currently_due") or []) + \
        [r for r in (_attr(requirements, "past_due") or []) if r not in (_attr(requirements, "currently_due") or [])]
    capabilities = _attr(obj, "capabilities") or {}
    account.charges_enabled = bool(_attr(obj, "charges_enabled"))
    account.payouts_enabled = bool(_attr(obj, "payouts_enabled"))
    account.details_submitted = bool(_attr(obj, "details_submitted"))
    account.transfers_active = _attr(capabilities, "transfers") == "active"
    account.requirements_json = json.dumps(due)
    account.disabled_reason = _attr(requirements, "disabled_reason") or ""
    account.synced_at = utcnow()


def sync_account(stripe_account_id: str) -> ConnectedAccount | None:
    """Fetch the account from Stripe (the truth, whatever the event order) and store its state."""
    account = db.session.query(ConnectedAccount).filter_by(stripe_account_id=stripe_account_id).first()
    if account is None:
        return None
    was_usable = account.can_receive_transfers
    _apply_account(account, gateway.client().v1.accounts.retrieve(stripe_account_id))
    if account.can_receive_transfers and not was_usable:
        # Payouts that waited for this account can go now.
        for payout in db.session.query(Payout).filter_by(user_id=account.user_id, status=PayoutStatus.BLOCKED):
            payout.status = PayoutStatus.PENDING
            enqueue_after_commit("payments.execute_payout", [payout.id])
    db.session.flush()
    return account


def producer_can_take_cards(producer_user_id: int) -> bool:
    account = account_of(producer_user_id)
    return account is not None and account.can_receive_transfers


# ---------------------------------------------------------------- amounts

def line_hold_cents(line: OrderLine) -> int:
    """The most a line can cost: weighed price if known, else estimate plus the published margin."""
    if line.status != LineStatus.ACTIVE:
        return 0
    if not line.is_weight_priced:
        return line.estimated_cents
    if line.weighed_grams is not None:
        return line.final_cents
    from marketplace.orders.services import weight_bounds_g

    return weighed_amount_cents(weight_bounds_g(line)[1], line.unit_price_cents)


def _live_parts(order: Order) -> list[OrderPart]:
    return [p for p in order.parts if p.status != PartStatus.CANCELLED]


def hold_cents(order: Order) -> int:
    """What the card is authorised for: every live line at its maximum, plus the delivery fee."""
    goods = sum(line_hold_cents(line) for part in _live_parts(order) for line in part.lines)
    return goods + (order.delivery_fee_cents if goods > 0 else 0)


def is_final(order: Order) -> bool:
    """Every live part weighed and packed: the amount due is final."""
    live = _live_parts(order)
    return bool(live) and all(p.status in SETTLED_PART_STATES for p in live)


def checkout_line_items(order: Order) -> list[dict]:
    """One Checkout line per product (weight-priced ones at their maximum), the delivery fee apart."""
    cur = gateway.currency()
    items = []
    for part in _live_parts(order):
        for line in part.lines:
            if line.status != LineStatus.ACTIVE:
                continue
            if line.is_weight_priced:
                name = _("%(product)s × %(n)d (~%(g)d g) — %(producer)s, held at most, charged as weighed",
                         product=line.product_name, n=line.quantity, g=line.estimated_weight_total_g,
                         producer=part.producer.name)
                items.append({"quantity": 1, "price_data": {"currency": cur, "unit_amount": line_hold_cents(line),
                                                            "product_data": {"name": name[:250]}}})
            else:
                name = f"{line.product_name} — {part.producer.name}"
                items.append({"quantity": line.quantity, "price_data": {
                    "currency": cur, "unit_amount": line.unit_price_cents, "product_data": {"name": name[:250]}}})
    if order.delivery_fee_cents and items:
        items.append({"quantity": 1, "price_data": {"currency": cur, "unit_amount": order.delivery_fee_cents,
                                                    "product_data": {"name": _("Home delivery (courier's pay at cost)")}}})
    return items


# ---------------------------------------------------------------- checkout

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
    if hold_cents(order) < MIN_CARD_CENTS:
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
    if payment is not None and payment.session_url and payment.status == CardPaymentStatus.OPEN:
        return payment.session_url
    check_card_order(order)
    amount = hold_cents(order)
    import time

    expires = int(time.time() + CHECKOUT_SESSION_LIFETIME.total_seconds())
    params = {
        "mode": "payment",
        "line_items": checkout_line_items(order),
        "client_reference_id": str(order.id),
        "customer_email": order.buyer.email,
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
    params["expires_at"] = expires
    session = gateway.client().v1.checkout.sessions.create(params, gateway.idem(f"checkout:{order.id}"))
    if payment is None:
        payment = CardPayment(order_id=order.id)
        db.session.add(payment)
    payment.session_id = session.id
    payment.session_url = session.url or ""
    payment.requested_cents = amount
    db.session.flush()
    return payment.session_url


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
                                                         gateway.idem(f"expire:{order.id}"))
        except stripe.InvalidRequestError:
            # Already completed or expired: the webhook will tell us which; do not cancel a paid order.
            session = gateway.client().v1.checkout.sessions.retrieve(payment.session_id)
            if _attr(session, "status") == "complete":
                raise Conflict(_("Your payment went through: the order is not cancelled."))
        payment.status = CardPaymentStatus.EXPIRED
    from marketplace.orders.services import cancel_unpaid_order

    return cancel_unpaid_order(order.id, _("Card payment cancelled by the buyer."))


# ---------------------------------------------------------------- webhooks

def receive_webhook(payload: bytes, signature: str) -> StripeEvent | None:
    """Verify and store an event once; enqueue its handling. Returns None for a replay.

    Raises ValueError / stripe.SignatureVerificationError for a forged, stale or malformed call.
    """
    event = gateway.construct_event(payload, signature)
    obj = _attr(_attr(event, "data"), "object")
    row = StripeEvent(event_id=event.id, type=event.type, account=_attr(event, "account") or "",
                      object_id=_attr(obj, "id") or "", payload=payload.decode("utf-8"))
    if db.session.query(StripeEvent.id).filter_by(event_id=event.id).first():
        return None
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # the same event delivered twice at once
        db.session.rollback()
        return None
    if event.type in HANDLED_TYPES:
        enqueue_after_commit("payments.handle_event", [row.id], dedup_key=f"stripe-event:{event.id}")
    else:
        row.status = EventStatus.IGNORED
        row.processed_at = utcnow()
    return row


HANDLED_TYPES = {
    "account.updated",
    "checkout.session.completed", "checkout.session.expired", "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.amount_capturable_updated", "payment_intent.succeeded", "payment_intent.canceled",
    "payment_intent.payment_failed",
    "charge.succeeded", "charge.captured", "charge.refunded",
    # Movements we start ourselves: checked against the ledger.
    "transfer.created", "transfer.reversed", "refund.created",
}


def handle_event(event_row_id: int) -> EventStatus:
    """Act on a stored event by fetching the current state from Stripe (events may come in any order)."""
    row = db.session.get(StripeEvent, event_row_id)
    if row is None or row.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
        return row.status if row else EventStatus.IGNORED
    obj = json.loads(row.payload)["data"]["object"]
    status, note = EventStatus.PROCESSED, ""
    if row.type == "account.updated":
        if sync_account(obj["id"]) is None:
            status, note = EventStatus.UNMATCHED, _("No member has this Stripe account.")
    elif row.type.startswith(("checkout.session.", "payment_intent.", "charge.")):
        order_id = _order_for_object(obj)
        if order_id is None:
            status, note = EventStatus.UNMATCHED, _("No order matches this payment.")
        else:
            sync_payment(order_id)
    elif row.type in ("transfer.created", "transfer.reversed", "refund.created"):
        # We made these: the API response is already in (or about to be in) the ledger.
        status = EventStatus.PROCESSED
    row = db.session.get(StripeEvent, event_row_id)
    row.status, row.note, row.processed_at = status, note, utcnow()
    if status == EventStatus.UNMATCHED:
        _alert_admins(_("Payment event needs checking"),
                      _("Stripe sent %(type)s (%(id)s) about %(object)s, which matches nothing in the shop. "
                        "Check it in the Stripe dashboard.", type=row.type, id=row.event_id, object=row.object_id))
    db.session.commit()
    return status


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


# ---------------------------------------------------------------- the payment's state

def _locked_payment(order_id: int) -> CardPayment | None:
    return db.session.query(CardPayment).filter_by(order_id=order_id).with_for_update().first()


def sync_payment(order_id: int) -> CardPayment | None:
    """Bring our records in line with Stripe's PaymentIntent; only this makes an order authorised or paid."""
    payment = _locked_payment(order_id)
    if payment is None:
        return None
    order = payment.order
    client = gateway.client()
    if payment.payment_intent_id is None and payment.session_id:
        session = client.v1.checkout.sessions.retrieve(payment.session_id)
        if _attr(session, "status") == "expired":
            payment.status = CardPaymentStatus.EXPIRED
            from marketplace.orders.services import cancel_unpaid_order

            cancel_unpaid_order(order.id, _("The card payment was not completed in time."))
            db.session.commit()
            return payment
        payment.payment_intent_id = _id_of(_attr(session, "payment_intent"))
    if payment.payment_intent_id is None:
        db.session.commit()
        return payment
    intent = client.v1.payment_intents.retrieve(payment.payment_intent_id,
                                                {"expand": ["latest_charge.balance_transaction"]})
    charge = _attr(intent, "latest_charge")
    status = _attr(intent, "status")
    if charge is not None and not isinstance(charge, str):
        payment.charge_id = charge.id
    if status == "requires_capture":
        if payment.status == CardPaymentStatus.OPEN:
            payment.status = CardPaymentStatus.AUTHORISED
            payment.authorised_cents = _attr(intent, "amount_capturable") or 0
            payment.authorised_at = datetime.fromtimestamp(_attr(charge, "created") or _attr(intent, "created"),
                                                            timezone.utc).replace(tzinfo=None)
            if _set_payment_status(order, PaymentStatus.AUTHORISED, format_money(payment.authorised_cents)):
                queue_email(order.buyer.email, _("Card authorised for order %(ref)s", ref=order.reference),
                            _("Your card is authorised for at most %(max)s. You will be charged the final amount "
                              "once the producers have weighed and packed your order.",
                              max=format_money(payment.authorised_cents)))
            if is_final(order) or not _live_parts(order):
                enqueue_after_commit("payments.capture_order", [order.id], dedup_key=f"capture:{order.id}")
    elif status == "succeeded":
        captured = _attr(charge, "amount_captured") or _attr(intent, "amount_received") or 0
        payment.authorised_cents = payment.authorised_cents or _attr(intent, "amount") or 0
        payment.status = CardPaymentStatus.CAPTURED
        payment.captured_cents = captured
        payment.captured_at = payment.captured_at or utcnow()
        _ledger(LedgerKind.CHARGE, captured, order_id=order.id, stripe_id=charge.id,
                note=_("Card payment of order %(ref)s", ref=order.reference))
        txn = _attr(charge, "balance_transaction")
        if txn is not None and not isinstance(txn, str):
            _ledger(LedgerKind.FEE, _attr(txn, "fee") or 0, order_id=order.id, stripe_id=txn.id,
                    note=_("Stripe processing fee (coop cost)"))
        if _set_payment_status(order, PaymentStatus.PAID, format_money(captured)):
            queue_email(order.buyer.email, _("Payment of order %(ref)s", ref=order.reference),
                        _("Your card has been charged %(amount)s for order %(ref)s. Each producer's receipt is on "
                          "your order page.", amount=format_money(captured), ref=order.reference))
        enqueue_after_commit("payments.settle_order", [order.id])
    elif status == "canceled":
        if payment.status in (CardPaymentStatus.OPEN, CardPaymentStatus.AUTHORISED):
            payment.status = CardPaymentStatus.RELEASED
            _set_payment_status(order, PaymentStatus.CANCELLED, _("Card authorisation released."))
    db.session.commit()
    return payment


def _ledger(kind: LedgerKind, amount: int, *, order_id: int | None = None, part_id: int | None = None,
            user_id: int | None = None, stripe_id: str | None = None, reference: str | None = None,
            note: str = "") -> LedgerEntry | None:
    """Write a ledger row once (keyed by the Stripe id or our reference)."""
    if amount <= 0 and kind not in (LedgerKind.FEE,):
        return None
    query = db.session.query(LedgerEntry)
    existing = (query.filter_by(stripe_id=stripe_id).first() if stripe_id
                else query.filter_by(reference=reference).first())
    if existing is not None:
        return existing
    entry = LedgerEntry(kind=kind, amount_cents=amount, order_id=order_id, part_id=part_id, user_id=user_id,
                        stripe_id=stripe_id, reference=reference, note=note)
    db.session.add(entry)
    db.session.flush()
    return entry


# ---------------------------------------------------------------- capture

def capture_order(order_id: int, *, early: bool = False) -> str:
    """Capture the final amount (or release the hold if nothing is left); early=True before expiry."""
    payment = _locked_payment(order_id)
    if payment is not None and payment.status == CardPaymentStatus.CAPTURED and is_final(payment.order):
        # Captured early (before an expiring hold lapsed): now that the amounts are final,
        # settle: refund the surplus and pay the producers.
        enqueue_after_commit("payments.settle_order", [order_id], dedup_key=f"settle-final:{order_id}")
        db.session.commit()
        return "settle"
    if payment is None or payment.status != CardPaymentStatus.AUTHORISED or payment.payment_intent_id is None:
        db.session.commit()
        return "nothing-to-do"
    order = payment.order
    client = gateway.client()
    if not _live_parts(order) or (not early and order.total_due_cents == 0):
        db.session.commit()
        try:
            client.v1.payment_intents.cancel(payment.payment_intent_id, {"cancellation_reason": "abandoned"},
                                             gateway.idem(f"cancel:{order.id}"))
        except stripe.InvalidRequestError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise
        return "released"
    if not early and not is_final(order):
        db.session.commit()
        return "not-final"
    due = hold_cents(order) if early else order.total_due_cents
    amount = min(due, payment.authorised_cents)
    if due > payment.authorised_cents:
        _alert_admins(_("Order %(ref)s: amount above the card hold", ref=order.reference),
                      _("%(due)s is due but only %(held)s was authorised; %(gap)s must be collected another way.",
                        due=format_money(due), held=format_money(payment.authorised_cents),
                        gap=format_money(due - payment.authorised_cents)))
    payment.captured_early = early
    db.session.commit()  # release the row lock before calling Stripe: its webhooks come back to us
    try:
        client.v1.payment_intents.capture(payment.payment_intent_id, {"amount_to_capture": amount},
                                          gateway.idem(f"capture:{order.id}"))
    except stripe.InvalidRequestError as exc:
        if exc.code != "payment_intent_unexpected_state":
            raise
    return "captured"


def capture_expiring_authorisations(now: datetime | None = None) -> list[int]:
    """Capture, before the card network drops them, holds that would outlive their validity."""
    now = now or utcnow()
    limit = now - (AUTHORISATION_VALIDITY - CAPTURE_SAFETY_MARGIN)
    due = [order_id for (order_id,) in db.session.query(CardPayment.order_id)
           .filter(CardPayment.status == CardPaymentStatus.AUTHORISED, CardPayment.authorised_at <= limit)]
    for order_id in due:
        order = db.session.get(Order, order_id)
        capture_order(order_id, early=not is_final(order))
    return due


# ---------------------------------------------------------------- settlement: transfers and rebalancing

def settle_order(order_id: int) -> list[int]:
    """After capture: give back anything captured beyond what is due, and pay each ready part."""
    rebalance_order(order_id)
    order = db.session.get(Order, order_id)
    payment = order.card_payment if order else None
    if payment is None or payment.status != CardPaymentStatus.CAPTURED or not is_final(order):
        db.session.commit()
        return []
    _locked_payment(order_id)  # one settlement at a time per order
    payout_ids = []
    for part in _live_parts(order):
        payout = plan_part_payout(part)
        if payout is not None and payout.status == PayoutStatus.PENDING:
            payout_ids.append(payout.id)
            enqueue_after_commit("payments.execute_payout", [payout.id], dedup_key=f"payout:{payout.id}")
    signals.order_settled.send(order)
    db.session.commit()
    return payout_ids


def _disputed_cents(part_id: int) -> int:
    return db.session.query(func.coalesce(func.sum(Credit.amount_cents), 0)).filter(
        Credit.part_id == part_id, Credit.kind == CreditKind.DISPUTE).scalar()


def plan_part_payout(part: OrderPart) -> Payout | None:
    """Record (once) what a producer is owed for a part: the part in full, less member's fees due."""
    existing = db.session.query(Payout).filter_by(part_id=part.id).first()
    if existing is not None:
        return existing
    gross = part.final_cents - _disputed_cents(part.id)
    if gross <= 0:
        return None
    user_id = part.producer.user_id
    withheld = withholding_for(user_id, gross)
    payout = Payout(kind=PayoutKind.PRODUCER, reference=f"transfer:{part.id}", user_id=user_id,
                    order_id=part.order_id, part_id=part.id, gross_cents=gross, withheld_cents=withheld)
    db.session.add(payout)
    db.session.flush()
    if withheld:
        _ledger(LedgerKind.WITHHOLDING, withheld, order_id=part.order_id, part_id=part.id, user_id=user_id,
                reference=f"withholding:{payout.reference}", note=_("Coop fees due, withheld"))
        _notify_billing(user_id, withheld, payout.reference)
    return payout


def execute_payout(payout_id: int) -> Payout | None:
    """Send a planned payout with a Transfer (idempotency key = its reference): safe to run twice."""
    payout = db.session.query(Payout).filter_by(id=payout_id).with_for_update().first()
    if payout is None or payout.status == PayoutStatus.PAID:
        db.session.commit()
        return payout
    if payout.net_cents == 0:
        payout.status, payout.paid_at = PayoutStatus.PAID, utcnow()
        db.session.commit()
        return payout
    account = account_of(payout.user_id)
    if account is None or not account.can_receive_transfers:
        payout.status = PayoutStatus.BLOCKED
        payout.error = _("The member's Stripe account cannot receive transfers yet.")
        db.session.commit()
        return payout
    order = payout.order
    source = order.card_payment.charge_id if order is not None and order.card_payment else None
    params = {"amount": payout.net_cents, "currency": gateway.currency(), "destination": account.stripe_account_id,
              "transfer_group": order.reference if order else payout.reference,
              "metadata": {"payout_id": str(payout.id), "reference": payout.reference,
                           "order_id": str(payout.order_id or "")},
              "description": payout.reference}
    if source:
        params["source_transaction"] = source
    db.session.commit()
    try:
        transfer = gateway.client().v1.transfers.create(params, gateway.idem(payout.reference))
    except stripe.InvalidRequestError as exc:
        payout = db.session.get(Payout, payout_id)
        payout.status, payout.error = PayoutStatus.BLOCKED, str(exc.user_message or exc)[:500]
        _alert_admins(_("A payout is blocked"), _("%(ref)s: %(error)s", ref=payout.reference, error=payout.error))
        db.session.commit()
        return payout
    payout = db.session.query(Payout).filter_by(id=payout_id).with_for_update().first()
    payout.status, payout.paid_at, payout.error = PayoutStatus.PAID, utcnow(), ""
    payout.stripe_transfer_id = transfer.id
    kind = LedgerKind.TRANSFER if payout.kind == PayoutKind.PRODUCER else LedgerKind.COURIER_TRANSFER
    _ledger(kind, payout.net_cents, order_id=payout.order_id, part_id=payout.part_id, user_id=payout.user_id,
            stripe_id=transfer.id, note=payout.reference)
    queue_email(payout.user.email, _("Payment sent: %(amount)s", amount=format_money(payout.net_cents)),
                _("%(amount)s has been transferred to your Stripe account (%(ref)s).", amount=format_money(
                    payout.net_cents), ref=order.reference if order else payout.reference)
                + ((" " + _("%(w)s was withheld for your coop fees due.", w=format_money(payout.withheld_cents)))
                   if payout.withheld_cents else ""))
    db.session.commit()
    return payout


def rebalance_order(order_id: int) -> Credit | None:
    """If more was captured than is now due (parts cancelled, lines rejected, hold above the weighed
    price), refund the difference; if nothing was captured and nothing is left, release the hold."""
    payment = _locked_payment(order_id)
    if payment is None:
        db.session.commit()
        return None
    order = payment.order
    if payment.status == CardPaymentStatus.AUTHORISED and not _live_parts(order):
        db.session.commit()
        enqueue_now_or_outbox("payments.capture_order", [order_id])
        return None
    if payment.status != CardPaymentStatus.CAPTURED:
        db.session.commit()
        return None
    credits = db.session.query(Credit).filter_by(order_id=order_id).all()
    refunded = sum(c.amount_cents for c in credits)
    disputed = sum(c.amount_cents for c in credits if c.kind == CreditKind.DISPUTE)
    due = (order.total_due_cents if is_final(order) or not _live_parts(order) else hold_cents(order)) - disputed
    excess = payment.captured_cents - refunded - max(due, 0)
    credit = None
    if excess > 0:
        credit = Credit(kind=CreditKind.REBALANCE, order_id=order_id, amount_cents=excess,
                        reason=_("Captured beyond the amount now due"))
        db.session.add(credit)
        db.session.flush()
    db.session.commit()
    if credit is not None:
        enqueue_now_or_outbox("payments.execute_credit", [credit.id])
    return credit


def enqueue_now_or_outbox(task_name: str, args: list) -> None:
    """Enqueue after the current (already committed) work; outbox keeps it if the broker is down."""
    enqueue_after_commit(task_name, args)
    db.session.commit()


def resolve_dispute(admin: User, line_id: int, amount_cents: int, reason: str) -> Credit:
    """An admin refunds part of a paid line: the buyer gets it back, the producer's transfer is reversed."""
    require_admin(admin)
    line = db.session.get(OrderLine, line_id)
    if line is None:
        raise NotFound(_("No such order line."))
    order = line.part.order
    payment = order.card_payment
    if payment is None or payment.status != CardPaymentStatus.CAPTURED:
        raise Conflict(_("Only card payments already charged can be refunded here."))
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_("Give the reason for the refund."), "reason")
    already = db.session.query(func.coalesce(func.sum(Credit.amount_cents), 0)).filter(
        Credit.line_id == line.id).scalar()
    if not isinstance(amount_cents, int) or amount_cents <= 0 or amount_cents > line.final_cents - already:
        raise ServiceError(_("The refund must be between 0.01 and %(max)s.",
                             max=format_money(line.final_cents - already)), "amount")
    credit = Credit(kind=CreditKind.DISPUTE, order_id=order.id, part_id=line.part_id, line_id=line.id,
                    amount_cents=amount_cents, reason=reason, actor_id=admin.id)
    db.session.add(credit)
    order.events.append(OrderEvent(kind="refund", part=line.part, actor_id=admin.id,
                                   detail=f"{line.product_name}: {format_money(amount_cents)} — {reason}"))
    db.session.flush()
    signals.refund_decided.send(credit)
    enqueue_after_commit("payments.execute_credit", [credit.id], dedup_key=f"credit:{credit.id}")
    return credit


def execute_credit(credit_id: int) -> Credit | None:
    """Refund a credit to the buyer and, for a dispute on a paid part, reverse it from the producer."""
    credit = db.session.query(Credit).filter_by(id=credit_id).with_for_update().first()
    if credit is None or credit.status == CreditStatus.DONE:
        db.session.commit()
        return credit
    order = credit.order
    payment = order.card_payment
    client = gateway.client()
    if credit.stripe_refund_id is None:
        db.session.commit()
        refund = client.v1.refunds.create(
            {"payment_intent": payment.payment_intent_id, "amount": credit.amount_cents,
             "reason": "requested_by_customer", "metadata": {"order_id": str(order.id), "credit_id": str(credit.id)}},
            gateway.idem(f"refund:{credit.id}"))
        credit = db.session.query(Credit).filter_by(id=credit_id).with_for_update().first()
        credit.stripe_refund_id = refund.id
        _ledger(LedgerKind.REFUND, credit.amount_cents, order_id=order.id, part_id=credit.part_id,
                stripe_id=refund.id, note=credit.reason)
        db.session.commit()
        credit = db.session.query(Credit).filter_by(id=credit_id).with_for_update().first()
    if credit.kind == CreditKind.DISPUTE and credit.part_id is not None and credit.stripe_reversal_id is None:
        payout = db.session.query(Payout).filter_by(part_id=credit.part_id).with_for_update().first()
        if payout is not None and payout.stripe_transfer_id:
            amount = min(credit.amount_cents, payout.net_cents - payout.reversed_cents)
            if amount > 0:
                db.session.commit()
                reversal = client.v1.transfers.reversals.create(
                    payout.stripe_transfer_id, {"amount": amount, "metadata": {"credit_id": str(credit.id)}},
                    gateway.idem(f"reversal:{credit.id}"))
                payout = db.session.query(Payout).filter_by(part_id=credit.part_id).with_for_update().first()
                credit = db.session.get(Credit, credit_id)
                payout.reversed_cents += amount
                credit.reversed_cents = amount
                credit.stripe_reversal_id = reversal.id
                _ledger(LedgerKind.REVERSAL, amount, order_id=order.id, part_id=credit.part_id,
                        user_id=payout.user_id, stripe_id=reversal.id, note=credit.reason)
        # A part not yet transferred is paid net of the dispute (plan_part_payout subtracts it).
    credit.status = CreditStatus.DONE
    queue_email(order.buyer.email, _("Refund for order %(ref)s", ref=order.reference),
                _("%(amount)s is being refunded to your card: %(reason)s", amount=format_money(credit.amount_cents),
                  reason=credit.reason))
    refunded = sum(c.amount_cents for c in db.session.query(Credit).filter_by(order_id=order.id))
    if refunded >= payment.captured_cents:
        _set_payment_status(order, PaymentStatus.REFUNDED)
    db.session.commit()
    return credit


# ---------------------------------------------------------------- couriers

def pay_courier(courier_user_id: int, amount_cents: int, reference: str, source_order_ids: list[int]) -> list[int]:
    """Pay a courier for a run: one Transfer per source order (from that order's charge, up to its delivery fee).

    `reference` (e.g. "courier-run:42") makes every idempotency key, so calling twice pays once. Any part
    of `amount_cents` above the delivery fees collected is paid from the coop's balance (its own cost).
    Returns the payout ids.
    """
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ServiceError(_("A courier payment must be positive."))
    courier = db.session.get(User, courier_user_id)
    if courier is None:
        raise NotFound(_("No such courier."))
    remaining = amount_cents
    payouts = []
    for order_id in sorted(set(source_order_ids)):
        key = f"{reference}:order:{order_id}"
        existing = db.session.query(Payout).filter_by(reference=key).first()
        if existing is not None:
            payouts.append(existing)
            remaining -= existing.gross_cents
            continue
        order = db.session.get(Order, order_id)
        payment = order.card_payment if order else None
        if payment is None or payment.status != CardPaymentStatus.CAPTURED or not order.delivery_fee_cents:
            continue  # a pay-at-pickup order's fee was paid in cash: nothing routed by card
        share = min(remaining, order.delivery_fee_cents)
        if share <= 0:
            continue
        payouts.append(_courier_payout(courier_user_id, key, order_id, share))
        remaining -= share
    if remaining > 0:
        key = f"{reference}:coop"
        existing = db.session.query(Payout).filter_by(reference=key).first()
        payouts.append(existing or _courier_payout(courier_user_id, key, None, remaining))
    for payout in payouts:
        if payout.status == PayoutStatus.PENDING:
            enqueue_after_commit("payments.execute_payout", [payout.id], dedup_key=f"payout:{payout.id}")
    db.session.commit()
    return [p.id for p in payouts]


def _courier_payout(user_id: int, key: str, order_id: int | None, amount: int) -> Payout:
    withheld = withholding_for(user_id, amount)
    payout = Payout(kind=PayoutKind.COURIER, reference=key, user_id=user_id, order_id=order_id, gross_cents=amount,
                    withheld_cents=withheld)
    db.session.add(payout)
    db.session.flush()
    if withheld:
        _ledger(LedgerKind.WITHHOLDING, withheld, order_id=order_id, user_id=user_id,
                reference=f"withholding:{key}", note=_("Coop fees due, withheld"))
        _notify_billing(user_id, withheld, key)
    return payout


# ---------------------------------------------------------------- members' fees (billing hook)

def _billing():
    try:
        return importlib.import_module("marketplace.billing.services")
    except ImportError:
        return None


def withheld_total_cents(user_id: int) -> int:
    """Everything ever withheld from this member's transfers (billing subtracts it from dues)."""
    return db.session.query(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).filter(
        LedgerEntry.kind == LedgerKind.WITHHOLDING, LedgerEntry.user_id == user_id).scalar()


def withholding_for(member_user_id: int, available_cents: int) -> int:
    """How much of a transfer to keep for the member's at-cost fees due: 0 unless billing says so."""
    billing = _billing()
    fees_due = getattr(billing, "fees_due_cents", None) if billing else None
    if fees_due is None or available_cents <= 0:
        return 0
    due = int(fees_due(member_user_id) or 0)
    return max(0, min(due, available_cents))


def _notify_billing(user_id: int, cents: int, reference: str) -> None:
    billing = _billing()
    record = getattr(billing, "record_fee_withheld", None) if billing else None
    if record is not None:
        record(user_id, cents, reference)


# ---------------------------------------------------------------- reconciliation

@dataclass
class OrderBalance:
    order_id: int
    reference: str
    charged: int
    transferred: int
    refunded: int
    withheld: int
    settled: bool
    stripe_problems: list[str]

    @property
    def difference(self) -> int:
        return self.charged - self.transferred - self.refunded - self.withheld

    @property
    def ok(self) -> bool:
        if self.stripe_problems or self.difference < 0:
            return False
        return self.difference == 0 or not self.settled


def order_balance(order: Order, check_stripe: bool = False) -> OrderBalance:
    """charged = transferred (net of reversals) + refunded + withheld, from the ledger (and Stripe)."""
    sums = dict(db.session.query(LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
                .filter(LedgerEntry.order_id == order.id).group_by(LedgerEntry.kind).all())
    get = lambda kind: int(sums.get(kind, 0) or 0)  # noqa: E731
    transferred = get(LedgerKind.TRANSFER) + get(LedgerKind.COURIER_TRANSFER) - get(LedgerKind.REVERSAL)
    payouts = db.session.query(Payout).filter_by(order_id=order.id).all()
    credits = db.session.query(Credit).filter_by(order_id=order.id).all()
    parts_paid = all(any(p.part_id == part.id and p.status == PayoutStatus.PAID for p in payouts)
                     for part in _live_parts(order) if part.final_cents - _disputed_cents(part.id) > 0)
    courier_done = (not order.delivery_fee_cents or not order.goods_final_cents
                    or any(p.kind == PayoutKind.COURIER and p.status == PayoutStatus.PAID for p in payouts))
    settled = (order.payment_status in (PaymentStatus.PAID, PaymentStatus.REFUNDED) and is_final(order)
               and parts_paid and courier_done and all(c.status == CreditStatus.DONE for c in credits))
    problems = []
    if check_stripe and order.card_payment and order.card_payment.charge_id:
        problems = _stripe_problems(order, get(LedgerKind.CHARGE), get(LedgerKind.REFUND), transferred)
    return OrderBalance(order.id, order.reference, get(LedgerKind.CHARGE), transferred, get(LedgerKind.REFUND),
                        get(LedgerKind.WITHHOLDING), settled, problems)


def _stripe_problems(order: Order, charged: int, refunded: int, transferred: int) -> list[str]:
    client = gateway.client()
    charge = client.v1.charges.retrieve(order.card_payment.charge_id)
    problems = []
    if (_attr(charge, "amount_captured") or 0) != charged:
        problems.append(f"charge {charge.id}: Stripe {_attr(charge, 'amount_captured')} vs ledger {charged}")
    if (_attr(charge, "amount_refunded") or 0) != refunded:
        problems.append(f"refunds: Stripe {_attr(charge, 'amount_refunded')} vs ledger {refunded}")
    transfers = client.v1.transfers.list({"transfer_group": order.reference, "limit": 100})
    stripe_net = sum(t.amount - t.amount_reversed for t in transfers.data)
    # Courier transfers carry the order's transfer_group too, so they are in both sums.
    if stripe_net != transferred:
        problems.append(f"transfers: Stripe {stripe_net} vs ledger {transferred}")
    return problems


def reconcile(check_stripe: bool = True) -> list[OrderBalance]:
    """The balance of every card order that has money on it."""
    order_ids = [oid for (oid,) in db.session.query(CardPayment.order_id)
                 .filter(CardPayment.status == CardPaymentStatus.CAPTURED).order_by(CardPayment.order_id)]
    check = check_stripe and gateway.is_configured()
    return [order_balance(db.session.get(Order, oid), check_stripe=check) for oid in order_ids]


def reconcile_and_alert(check_stripe: bool = True) -> list[OrderBalance]:
    """Run the reconciliation; e-mail the admins about every order that does not balance."""
    wrong = [b for b in reconcile(check_stripe) if not b.ok]
    if wrong:
        lines = [f"{b.reference}: charged {format_money(b.charged)}, transferred {format_money(b.transferred)}, "
                 f"refunded {format_money(b.refunded)}, withheld {format_money(b.withheld)}, difference "
                 f"{format_money(b.difference)} {'; '.join(b.stripe_problems)}" for b in wrong]
        _alert_admins(_("Payments do not reconcile"), "\n".join(lines))
    db.session.commit()
    return wrong


# ---------------------------------------------------------------- what members see

def member_statement(user: User) -> dict:
    """A producer's or courier's payouts, withholdings and reversals."""
    payouts = db.session.query(Payout).filter_by(user_id=user.id).order_by(Payout.created_at.desc()).all()
    return {"account": account_of(user.id), "payouts": payouts,
            "withheld_cents": withheld_total_cents(user.id),
            "paid_cents": sum(p.net_cents - p.reversed_cents for p in payouts if p.status == PayoutStatus.PAID)}


def part_receipt(user: User, order_id: int, part_id: int) -> OrderPart:
    """A producer part's receipt: for the buyer, that producer or an admin, once the order is paid."""
    part = db.session.get(OrderPart, part_id)
    if part is None or part.order_id != order_id:
        raise NotFound(_("No such receipt."))
    allowed = user.is_admin or part.order.buyer_id == user.id or part.producer.user_id == user.id
    if not allowed:
        raise NotFound(_("No such receipt."))
    if part.order.payment_status not in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
        raise Conflict(_("The receipt is available once the order is paid."))
    return part


def part_refunded_cents(part_id: int) -> int:
    return _disputed_cents(part_id)


def processing_fees_between(start: datetime, end: datetime) -> list[tuple[date, int, str]]:
    """Stripe's processing fees recorded in [start, end) as (date, cents, stripe id): a coop cost."""
    rows = (db.session.query(LedgerEntry.created_at, LedgerEntry.amount_cents, LedgerEntry.stripe_id,
                             LedgerEntry.reference)
            .filter(LedgerEntry.kind == LedgerKind.FEE, LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
            .order_by(LedgerEntry.id).all())
    return [(created.date(), cents, stripe_id or reference) for created, cents, stripe_id, reference in rows]
