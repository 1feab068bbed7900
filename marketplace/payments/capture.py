"""The payment's state as Stripe knows it (sync) and the capture of the final amount."""
from __future__ import annotations

from datetime import datetime, timedelta

from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.orders.models import Order
from marketplace.orders.services.account_payment import card_due_cents, carry_over
from marketplace.orders.states import PartStatus, PaymentStatus
from marketplace.payments import emails
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.amounts import card_hold_cents, is_final, live_parts, set_payment_status
from marketplace.payments.common import (
    attr,
    call_stripe,
    commit_step,
    from_timestamp,
    id_of,
    now,
    raise_alert,
    write_ledger,
)
from marketplace.payments.models import CardPayment, CardPaymentStatus, LedgerKind
from marketplace.tasking import enqueue_after_commit

# Card networks keep an authorisation about 7 days (Stripe says when: the charge's capture_before);
# capture a day before that (beat runs hourly).
AUTHORISATION_VALIDITY = timedelta(days=7)
CAPTURE_SAFETY_MARGIN = timedelta(days=1)
# Parts whose goods have left the producer: a lapsed hold there is money the buyer still owes.
HANDED_OVER_STATES = {PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED}


def locked_payment(order_id: int) -> CardPayment | None:
    return db.session.query(CardPayment).filter_by(order_id=order_id).with_for_update().first()


def sync_payment(order_id: int) -> CardPayment | None:
    """Bring our records in line with Stripe's PaymentIntent; only this makes an order authorised or paid."""
    payment = locked_payment(order_id)
    if payment is None:
        return None
    client = gateway.client()
    if payment.payment_intent_id is None and payment.session_id:
        session = client.v1.checkout.sessions.retrieve(payment.session_id)
        if attr(session, "status") == "expired":
            _on_session_expired(payment)
            commit_step()
            return payment
        payment.payment_intent_id = id_of(attr(session, "payment_intent"))
    payment.synced_at = now()
    if payment.payment_intent_id is None:
        commit_step()
        return payment
    intent = client.v1.payment_intents.retrieve(payment.payment_intent_id,
                                                {"expand": ["latest_charge.balance_transaction"]})
    charge = attr(intent, "latest_charge")
    if charge is not None and not isinstance(charge, str):
        payment.charge_id = charge.id
        card = attr(attr(charge, "payment_method_details"), "card")
        payment.capture_before = from_timestamp(attr(card, "capture_before")) or payment.capture_before
    react = {"requires_capture": _on_authorised, "succeeded": _on_captured, "canceled": _on_canceled}
    if attr(intent, "status") in react:
        react[attr(intent, "status")](payment, intent, charge)
    commit_step()
    return payment


def _on_session_expired(payment: CardPayment) -> None:
    from marketplace.orders.services import cancel_unpaid_order

    payment.status = CardPaymentStatus.EXPIRED
    cancel_unpaid_order(payment.order_id, "card_expired")


def _on_authorised(payment: CardPayment, intent, charge) -> None:
    if payment.status != CardPaymentStatus.OPEN:
        return
    order = payment.order
    payment.status = CardPaymentStatus.AUTHORISED
    payment.authorised_cents = attr(intent, "amount_capturable") or 0
    payment.authorised_at = from_timestamp(attr(charge, "created") or attr(intent, "created"))
    if set_payment_status(order, PaymentStatus.AUTHORISED, payment.authorised_cents):
        send_email(order.buyer, emails.card_authorised, ref=order.reference, max_cents=payment.authorised_cents)
    if is_final(order) or not live_parts(order):
        enqueue_after_commit("payments.capture_order", [order.id], dedup_key=f"capture:{order.id}")


def _on_captured(payment: CardPayment, intent, charge) -> None:
    order = payment.order
    captured = attr(charge, "amount_captured") or attr(intent, "amount_received") or 0
    payment.authorised_cents = payment.authorised_cents or attr(intent, "amount") or 0
    payment.status = CardPaymentStatus.CAPTURED
    payment.captured_cents = captured
    payment.captured_at = payment.captured_at or now()
    write_ledger(LedgerKind.CHARGE, captured, order_id=order.id, stripe_id=charge.id)
    txn = attr(charge, "balance_transaction")
    if txn is not None and not isinstance(txn, str):
        write_ledger(LedgerKind.FEE, attr(txn, "fee") or 0, order_id=order.id, stripe_id=txn.id)
    if set_payment_status(order, PaymentStatus.PAID, captured):
        send_email(order.buyer, emails.card_charged, ref=order.reference, amount_cents=captured)
    enqueue_after_commit("payments.settle_order", [order.id])


def _on_canceled(payment: CardPayment, intent, charge) -> None:
    if payment.status not in (CardPaymentStatus.OPEN, CardPaymentStatus.AUTHORISED):
        return
    order = payment.order
    if attr(intent, "cancellation_reason") == "automatic" and live_parts(order):
        # The card network dropped the hold before we captured: nothing was charged, yet the goods are
        # (or will be) with the buyer. Never cancel that silently: the amount is due another way.
        payment.status = CardPaymentStatus.LAPSED
        set_payment_status(order, PaymentStatus.DUE)
        handed = any(p.status in HANDED_OVER_STATES for p in live_parts(order))
        raise_alert(emails.hold_lapsed, key=f"lapsed:{order.id}", order_id=order.id, ref=order.reference,
                    amount_cents=order.total_due_cents, handed=handed)
        return
    payment.status = CardPaymentStatus.RELEASED
    set_payment_status(order, PaymentStatus.CANCELLED)


def capture_order(order_id: int, *, early: bool = False) -> str:
    """Capture the final amount (or release the hold if nothing is left); early=True before expiry."""
    payment = locked_payment(order_id)
    if payment is not None and payment.status == CardPaymentStatus.CAPTURED and is_final(payment.order):
        # Captured early (before an expiring hold lapsed): now that the amounts are final,
        # settle: refund the surplus and pay the producers.
        enqueue_after_commit("payments.settle_order", [order_id], dedup_key=f"settle-final:{order_id}")
        commit_step()
        return "settle"
    if payment is None or payment.status != CardPaymentStatus.AUTHORISED or payment.payment_intent_id is None:
        commit_step()
        return "nothing-to-do"
    order, intent_id = payment.order, payment.payment_intent_id
    if not live_parts(order) or (not early and card_due_cents(order, order.total_due_cents) == 0):
        _stripe_call(payment, lambda client: client.v1.payment_intents.cancel(
            intent_id, {"cancellation_reason": "abandoned"}, gateway.idem(f"cancel:{order_id}")))
        return "released"
    if not early and not is_final(order):
        commit_step()
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
        raise_alert(emails.above_hold, order_id=order.id, ref=order.reference, due_cents=due,
                    held_cents=payment.authorised_cents)
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
        commit_step()
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

