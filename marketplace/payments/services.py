"""Card payments with Stripe Connect (separate charges and transfers): the rules, in one place.

The coop never keeps members' money: the buyer's card is authorised at checkout, captured for the
final amount once every producer has weighed, and each producer part is transferred in full from
that charge. Refunds, reversals, withholdings and Stripe's fees are all written to the ledger.

Services that call Stripe are run by Celery tasks; they commit their own intent rows *before* the
call, so the row id makes the idempotency key and a retried task can never pay twice. What a
request sends is decided and stored before its first call (the Checkout Session's parameters, the
capture amount), so a retry sends exactly the same request. Payouts (payouts.py), refunds
(refunds.py), chargebacks (chargebacks.py), the platform balance (balances.py), webhooks
(webhooks.py) and reconciliation (reconciliation.py) live beside this module.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import stripe
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func

from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.services import queue_email
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import format_money, weighed_amount_cents
from marketplace.orders.models import Order, OrderEvent, OrderLine, OrderPart
from marketplace.orders.services.account_payment import card_due_cents, carry_over
from marketplace.orders.states import LineStatus, PartStatus, PaymentMethod, PaymentStatus
from marketplace.payments import signals
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.common import (attr, call_stripe, from_timestamp, id_of, now, raise_alert, to_timestamp,
                                         write_ledger)
from marketplace.payments.models import (CardPayment, CardPaymentStatus, Chargeback, ConnectedAccount, Credit,
                                         CreditKind, LedgerEntry, LedgerKind, Payout, PayoutKind, PayoutStatus)
from marketplace.payments.withholding import (record_withholding, withheld_total_cents, withholding_cap_percent,
                                              withholding_for)
from marketplace.tasking import enqueue_after_commit

# Card networks keep an authorisation about 7 days (Stripe says when: the charge's capture_before);
# capture a day before that (beat runs hourly).
AUTHORISATION_VALIDITY = timedelta(days=7)
CAPTURE_SAFETY_MARGIN = timedelta(days=1)
MIN_CARD_CENTS = 50
CHECKOUT_SESSION_LIFETIME = timedelta(hours=1)
# Stripe refuses a Checkout Session expiring less than 30 minutes after its creation: stored
# parameters are sent again only while they leave that much time (and a minute for clocks).
CHECKOUT_RETRY_MARGIN = timedelta(minutes=31)
# Parts whose final amount is known (the producer has weighed and packed).
SETTLED_PART_STATES = {PartStatus.READY, PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED}
# Parts whose goods have left the producer: a lapsed hold there is money the buyer still owes.
HANDED_OVER_STATES = {PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED}

# Order.payment_status changes made by payments: the allowed ones.
PAYMENT_TRANSITIONS: dict[PaymentStatus, set[PaymentStatus]] = {
    PaymentStatus.AWAITING: {PaymentStatus.AUTHORISED, PaymentStatus.PAID, PaymentStatus.CANCELLED},
    # A hold that lapsed before capture leaves the amount due another way (pay at pickup, bank transfer).
    PaymentStatus.AUTHORISED: {PaymentStatus.PAID, PaymentStatus.CANCELLED, PaymentStatus.DUE},
    PaymentStatus.PAID: {PaymentStatus.REFUNDED},
    PaymentStatus.REFUNDED: set(),
    PaymentStatus.CANCELLED: set(),
    PaymentStatus.DUE: set(),
}

_attr, _id_of, _ledger = attr, id_of, write_ledger


def _set_payment_status(order: Order, target: PaymentStatus, detail: str = "") -> bool:
    if order.payment_status == target or target not in PAYMENT_TRANSITIONS[order.payment_status]:
        return False
    order.payment_status = target
    order.events.append(OrderEvent(kind=f"payment_{target.value}", detail=detail))
    return True


def _alert_admins(subject: str, body: str, key: str | None = None, order_id: int | None = None) -> None:
    raise_alert(subject, body, key=key, order_id=order_id)


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
        # Nothing that may change between attempts (not even the e-mail): Stripe asks it during onboarding.
        created = client.v1.accounts.create(
            {"type": "express", "country": current_app.config.get("STRIPE_ACCOUNT_COUNTRY", "FR"),
             "capabilities": {"transfers": {"requested": True}}, "metadata": {"user_id": str(user.id)}},
            gateway.idem(f"account:{user.id}"))
        account = ConnectedAccount(user_id=user.id, stripe_account_id=created.id, links_created=0)
        db.session.add(account)
        _apply_account(account, created)
    account.links_created += 1
    db.session.commit()  # each link its own key, even if this request is rolled back after the call
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
    account.synced_at = now()


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


def dashboard_link(user: User) -> str:
    """A one-time link to the member's own Stripe Express dashboard (balance, payouts, bank details)."""
    _require_payee(user)
    account = account_of(user.id)
    if account is None or not account.details_submitted:
        raise Conflict(_("Finish setting up your Stripe account first."))
    # A login link moves no money and is single-use: Stripe takes no idempotency key for it.
    return gateway.client().v1.accounts.login_links.create(account.stripe_account_id).url


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


def card_hold_cents(order: Order) -> int:
    """What the card is held for: the hold less what the buyer's member account already paid."""
    return card_due_cents(order, hold_cents(order))


def is_final(order: Order) -> bool:
    """Every live part weighed and packed: the amount due is final."""
    live = _live_parts(order)
    return bool(live) and all(p.status in SETTLED_PART_STATES for p in live)


def checkout_line_items(order: Order) -> list[dict]:
    """One Checkout line per product (weight-priced ones at their maximum), the delivery fee apart; one line
    for the rest when the member account paid part of the order (Stripe takes no negative line)."""
    cur = gateway.currency()
    if card_hold_cents(order) != hold_cents(order):
        name = _("Order %(ref)s: the rest after your account balance, held at most, charged as weighed",
                 ref=order.reference)
        return [{"quantity": 1, "price_data": {"currency": cur, "unit_amount": card_hold_cents(order),
                                               "product_data": {"name": name[:250]}}}]
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
        db.session.commit()
        return payment
    else:
        _retire_session(payment)
    payment.checkout_attempt += 1
    payment.requested_cents = card_hold_cents(order)
    payment.checkout_params = json.dumps(_checkout_params(order, now() + CHECKOUT_SESSION_LIFETIME))
    db.session.commit()
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
        if _attr(session, "status") == "complete":
            raise Conflict(_("Your payment went through: reload your order page."))
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
            if _attr(session, "status") == "complete":
                raise Conflict(_("Your payment went through: the order is not cancelled."))
        payment.status = CardPaymentStatus.EXPIRED
    from marketplace.orders.services import cancel_unpaid_order

    return cancel_unpaid_order(order.id, _("Card payment cancelled by the buyer."))


# ---------------------------------------------------------------- the payment's state

def _locked_payment(order_id: int) -> CardPayment | None:
    return db.session.query(CardPayment).filter_by(order_id=order_id).with_for_update().first()


def sync_payment(order_id: int) -> CardPayment | None:
    """Bring our records in line with Stripe's PaymentIntent; only this makes an order authorised or paid."""
    payment = _locked_payment(order_id)
    if payment is None:
        return None
    client = gateway.client()
    if payment.payment_intent_id is None and payment.session_id:
        session = client.v1.checkout.sessions.retrieve(payment.session_id)
        if _attr(session, "status") == "expired":
            _on_session_expired(payment)
            db.session.commit()
            return payment
        payment.payment_intent_id = _id_of(_attr(session, "payment_intent"))
    payment.synced_at = now()
    if payment.payment_intent_id is None:
        db.session.commit()
        return payment
    intent = client.v1.payment_intents.retrieve(payment.payment_intent_id,
                                                {"expand": ["latest_charge.balance_transaction"]})
    charge = _attr(intent, "latest_charge")
    if charge is not None and not isinstance(charge, str):
        payment.charge_id = charge.id
        card = _attr(_attr(charge, "payment_method_details"), "card")
        payment.capture_before = from_timestamp(_attr(card, "capture_before")) or payment.capture_before
    react = {"requires_capture": _on_authorised, "succeeded": _on_captured, "canceled": _on_canceled}
    if _attr(intent, "status") in react:
        react[_attr(intent, "status")](payment, intent, charge)
    db.session.commit()
    return payment


def _on_session_expired(payment: CardPayment) -> None:
    from marketplace.orders.services import cancel_unpaid_order

    payment.status = CardPaymentStatus.EXPIRED
    cancel_unpaid_order(payment.order_id, _("The card payment was not completed in time."))


def _on_authorised(payment: CardPayment, intent, charge) -> None:
    if payment.status != CardPaymentStatus.OPEN:
        return
    order = payment.order
    payment.status = CardPaymentStatus.AUTHORISED
    payment.authorised_cents = _attr(intent, "amount_capturable") or 0
    payment.authorised_at = from_timestamp(_attr(charge, "created") or _attr(intent, "created"))
    if _set_payment_status(order, PaymentStatus.AUTHORISED, format_money(payment.authorised_cents)):
        queue_email(order.buyer.email, _("Card authorised for order %(ref)s", ref=order.reference),
                    _("Your card is authorised for at most %(max)s. You will be charged the final amount "
                      "once the producers have weighed and packed your order.",
                      max=format_money(payment.authorised_cents)))
    if is_final(order) or not _live_parts(order):
        enqueue_after_commit("payments.capture_order", [order.id], dedup_key=f"capture:{order.id}")


def _on_captured(payment: CardPayment, intent, charge) -> None:
    order = payment.order
    captured = _attr(charge, "amount_captured") or _attr(intent, "amount_received") or 0
    payment.authorised_cents = payment.authorised_cents or _attr(intent, "amount") or 0
    payment.status = CardPaymentStatus.CAPTURED
    payment.captured_cents = captured
    payment.captured_at = payment.captured_at or now()
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


def _on_canceled(payment: CardPayment, intent, charge) -> None:
    if payment.status not in (CardPaymentStatus.OPEN, CardPaymentStatus.AUTHORISED):
        return
    order = payment.order
    if _attr(intent, "cancellation_reason") == "automatic" and _live_parts(order):
        # The card network dropped the hold before we captured: nothing was charged, yet the goods are
        # (or will be) with the buyer. Never cancel that silently: the amount is due another way.
        payment.status = CardPaymentStatus.LAPSED
        _set_payment_status(order, PaymentStatus.DUE, _("Card hold lapsed before capture."))
        handed = any(p.status in HANDED_OVER_STATES for p in _live_parts(order))
        _alert_admins(
            _("Order %(ref)s: the card hold lapsed before capture", ref=order.reference),
            (_("The goods were handed over: %(amount)s is due from the buyer, to collect another way.",
               amount=format_money(order.total_due_cents)) if handed else
             _("The order is not delivered yet: %(amount)s is due at pickup or delivery.",
               amount=format_money(order.total_due_cents)))
            + " " + _("Nothing was charged on the card."), key=f"lapsed:{order.id}", order_id=order.id)
        return
    payment.status = CardPaymentStatus.RELEASED
    _set_payment_status(order, PaymentStatus.CANCELLED, _("Card authorisation released."))


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
    order, intent_id = payment.order, payment.payment_intent_id
    if not _live_parts(order) or (not early and card_due_cents(order, order.total_due_cents) == 0):
        _stripe_call(payment, lambda client: client.v1.payment_intents.cancel(
            intent_id, {"cancellation_reason": "abandoned"}, gateway.idem(f"cancel:{order_id}")))
        return "released"
    if not early and not is_final(order):
        db.session.commit()
        return "not-final"
    amount = _decide_capture(payment, early)
    key = f"capture:{order_id}" + (f":attempt-{payment.capture_attempt}" if payment.capture_attempt else "")
    # The commit before the call also releases the row lock: Stripe's webhooks come back to us.
    _stripe_call(payment, lambda client: client.v1.payment_intents.capture(
        intent_id, {"amount_to_capture": amount}, gateway.idem(key)))
    return "captured"


def _decide_capture(payment: CardPayment, early: bool) -> int:
    """The amount to capture, decided once and stored: every retry of the capture sends the same one."""
    if payment.capture_cents is not None:
        return payment.capture_cents
    order = payment.order
    due = card_hold_cents(order) if early else card_due_cents(order, order.total_due_cents)
    if not early and due > payment.authorised_cents and carry_over(order, payment.authorised_cents - due):
        due = payment.authorised_cents  # a few cents above the hold: carried to the buyer's account
    amount = min(due, payment.authorised_cents)
    if due > payment.authorised_cents:
        _alert_admins(_("Order %(ref)s: amount above the card hold", ref=order.reference),
                      _("%(due)s is due but only %(held)s was authorised; %(gap)s must be collected another way.",
                        due=format_money(due), held=format_money(payment.authorised_cents),
                        gap=format_money(due - payment.authorised_cents)), order_id=order.id)
    payment.capture_cents, payment.captured_early = amount, early
    return amount


def _stripe_call(payment: CardPayment, call) -> None:
    """Capture or cancel, then sync; a refusal (saved by Stripe under the key) means a new key next time."""
    payment_id, order_id = payment.id, payment.order_id
    _result, refusal = call_stripe(lambda: call(gateway.client()))
    if refusal is not None:
        payment = db.session.get(CardPayment, payment_id)
        payment.capture_attempt += 1
        payment.capture_cents = None
        db.session.commit()
    # Learn the PaymentIntent's state now rather than from a webhook that may be lost (after a
    # refusal, most often it moved on: captured, cancelled, lapsed).
    sync_payment(order_id)


def capture_expiring_authorisations(at: datetime | None = None) -> list[int]:
    """Capture, before the card network drops them, holds whose capture_before is near."""
    at = at or now()
    fallback = at - (AUTHORISATION_VALIDITY - CAPTURE_SAFETY_MARGIN)
    held = db.session.query(CardPayment).filter(CardPayment.status == CardPaymentStatus.AUTHORISED).all()
    due = sorted(p.order_id for p in held
                 if (p.capture_before is not None and p.capture_before - CAPTURE_SAFETY_MARGIN <= at)
                 or (p.capture_before is None and p.authorised_at is not None and p.authorised_at <= fallback))
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


def _line_refunds(*criteria) -> int:
    """Refunds decided on lines still due (an admin's refund of part of a line). A rejected line (or a
    cancelled part) is already out of the amount due: its refund must not be subtracted again."""
    return int(db.session.query(func.coalesce(func.sum(Credit.amount_cents), 0))
               .join(OrderLine, OrderLine.id == Credit.line_id).join(OrderPart, OrderPart.id == OrderLine.part_id)
               .filter(Credit.kind == CreditKind.DISPUTE, OrderLine.status == LineStatus.ACTIVE,
                       OrderPart.status != PartStatus.CANCELLED, *criteria).scalar())


def _disputed_cents(part_id: int) -> int:
    return _line_refunds(Credit.part_id == part_id)


def plan_part_payout(part: OrderPart) -> Payout | None:
    """Record (once) what a producer is owed for a part: the part in full, less member's fees due."""
    existing = db.session.query(Payout).filter_by(part_id=part.id).first()
    if existing is not None:
        return existing
    gross = part.final_cents - _disputed_cents(part.id)
    if gross <= 0:
        return None
    user_id = part.producer.user_id
    payout = Payout(kind=PayoutKind.PRODUCER, reference=f"transfer:{part.id}", user_id=user_id,
                    order_id=part.order_id, part_id=part.id, gross_cents=gross,
                    withheld_cents=withholding_for(user_id, gross))
    db.session.add(payout)
    db.session.flush()
    record_withholding(payout)
    signals.part_captured.send(part, amount_cents=gross)
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
    refunded = sum(c.amount_cents for c in db.session.query(Credit).filter(
        Credit.order_id == order_id, Credit.kind != CreditKind.CHARGEBACK))
    excess = payment.captured_cents - refunded - amount_due_cents(order)
    credit = None
    if 0 < excess and not has_chargeback(order_id) and carry_over(order, excess):
        excess = 0  # a few cents: kept on the buyer's account rather than refunded on the card
    if excess > 0 and not has_chargeback(order_id):  # the bank settles a charged-back payment itself
        credit = Credit(kind=CreditKind.REBALANCE, order_id=order_id, amount_cents=excess,
                        reason=_("Captured beyond the amount now due"))
        db.session.add(credit)
        db.session.flush()
    db.session.commit()
    if credit is not None:
        enqueue_now_or_outbox("payments.execute_credit", [credit.id])
    return credit


def amount_due_cents(order: Order) -> int:
    """What the card owes for the order now: final amounts (or the hold until final), less line refunds and
    what the member account paid."""
    due = order.total_due_cents if is_final(order) or not _live_parts(order) else hold_cents(order)
    return card_due_cents(order, max(due - _line_refunds(Credit.order_id == order.id), 0))


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
    if has_chargeback(order.id):
        raise Conflict(_("The buyer's bank disputed this payment (chargeback): Stripe refuses refunds on it. "
                         "Follow the chargeback on the payments page."))
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


def has_chargeback(order_id: int) -> bool:
    """The buyer's bank disputed this order's payment (open or lost: refunds are then the bank's business)."""
    return db.session.query(Chargeback.id).filter(Chargeback.order_id == order_id,
                                                  Chargeback.status != "won").first() is not None


# ---------------------------------------------------------------- what members see

def member_statement(user: User) -> dict:
    """A producer's or courier's payouts, withholdings and reversals."""
    payouts = db.session.query(Payout).filter_by(user_id=user.id).order_by(Payout.created_at.desc()).all()
    return {"account": account_of(user.id), "payouts": payouts,
            "withheld_cents": withheld_total_cents(user.id), "withholding_cap_percent": withholding_cap_percent(),
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
    """Everything refunded on a producer's part (its receipt shows it)."""
    return int(db.session.query(func.coalesce(func.sum(Credit.amount_cents), 0)).filter(
        Credit.part_id == part_id, Credit.kind == CreditKind.DISPUTE).scalar())


def processing_fees_between(start: datetime, end: datetime) -> list[tuple[date, int, str]]:
    """Stripe's fees (card, Connect, disputes) and losses the coop bears, in [start, end): its costs."""
    rows = (db.session.query(LedgerEntry.created_at, LedgerEntry.amount_cents, LedgerEntry.stripe_id,
                             LedgerEntry.reference)
            .filter(LedgerEntry.kind.in_([LedgerKind.FEE, LedgerKind.COOP_COST]), LedgerEntry.created_at >= start,
                    LedgerEntry.created_at < end)
            .order_by(LedgerEntry.id).all())
    return [(created.date(), cents, stripe_id or reference) for created, cents, stripe_id, reference in rows]
