"""Card payments with Stripe Connect (separate charges and transfers): the rules, in one place.

The coop never keeps members' money: the buyer's card is authorised at checkout, captured for the
final amount once every producer has weighed, and each producer part is transferred in full from
that charge. Refunds, reversals, withholdings and Stripe's fees are all written to the ledger.

Services that call Stripe are run by Celery tasks; they commit their own intent rows *before* the
call, so the row id makes the idempotency key and a retried task can never pay twice. What a
request sends is decided and stored before its first call (the Checkout Session's parameters, the
capture amount), so a retry sends exactly the same request. Connected accounts (accounts.py), what a
card order may cost (amounts.py), the hosted checkout (checkout.py) and the capture (capture.py), payouts
(payouts.py), refunds (refunds.py), chargebacks (chargebacks.py), the platform balance (balances.py), webhooks
(webhooks.py) and reconciliation (reconciliation.py) live beside this module.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func

from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.money import format_money
from marketplace.orders.models import Order, OrderEvent, OrderLine, OrderPart
from marketplace.orders.services.account_payment import card_due_cents, carry_over
from marketplace.orders.states import LineStatus, PartStatus, PaymentStatus
from marketplace.payments import signals
from marketplace.payments.accounts import (
    account_of,
    dashboard_link,
    producer_can_take_cards,
    start_onboarding,
    sync_account,
)
from marketplace.payments.amounts import (
    PAYMENT_TRANSITIONS,
    SETTLED_PART_STATES,
    card_hold_cents,
    checkout_line_items,
    hold_cents,
    is_final,
    line_hold_cents,
    live_parts,
    set_payment_status,
)
from marketplace.payments.capture import capture_expiring_authorisations, capture_order, locked_payment, sync_payment
from marketplace.payments.checkout import MIN_CARD_CENTS, abandon_checkout, check_card_order, start_checkout
from marketplace.payments.common import commit_step
from marketplace.payments.models import (
    CardPaymentStatus,
    Chargeback,
    Credit,
    CreditKind,
    LedgerEntry,
    LedgerKind,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from marketplace.payments.withholding import (
    record_withholding,
    withheld_total_cents,
    withholding_cap_percent,
    withholding_for,
)
from marketplace.tasking import enqueue_after_commit

# The public names of payments' services, wherever they live (accounts, amounts, checkout, capture).
__all__ = [
    "MIN_CARD_CENTS", "PAYMENT_TRANSITIONS", "SETTLED_PART_STATES", "abandon_checkout", "account_of",
    "amount_due_cents", "capture_expiring_authorisations", "card_hold_cents", "capture_order", "check_card_order",
    "checkout_line_items", "dashboard_link", "disputed_cents", "disputed_cents_by_part", "enqueue_now_or_outbox",
    "has_chargeback", "hold_cents", "is_final", "line_hold_cents", "live_parts", "locked_payment", "member_statement",
    "part_receipt", "part_refunded_cents", "plan_part_payout", "processing_fees_between", "producer_can_take_cards",
    "rebalance_order", "resolve_dispute", "set_payment_status", "settle_order", "start_checkout", "start_onboarding",
    "sync_account", "sync_payment",
]


# ---------------------------------------------------------------- settlement: transfers and rebalancing

def settle_order(order_id: int) -> list[int]:
    """After capture: give back anything captured beyond what is due, and pay each ready part."""
    rebalance_order(order_id)
    order = db.session.get(Order, order_id)
    payment = order.card_payment if order else None
    if payment is None or payment.status != CardPaymentStatus.CAPTURED or not is_final(order):
        commit_step()
        return []
    locked_payment(order_id)  # one settlement at a time per order
    payout_ids = []
    for part in live_parts(order):
        payout = plan_part_payout(part)
        if payout is not None and payout.status == PayoutStatus.PENDING:
            payout_ids.append(payout.id)
            enqueue_after_commit("payments.execute_payout", [payout.id], dedup_key=f"payout:{payout.id}")
    signals.order_settled.send(order)
    commit_step()
    return payout_ids


def _line_refunds(key, ids: Collection[int]) -> dict[int, int]:
    """Refunds decided on lines still due (an admin's refund of part of a line), summed by `key` (the credits'
    order or part) for these ids, in one statement: {id: cents}, 0 where none. A rejected line (or a
    cancelled part) is already out of the amount due: its refund must not be subtracted again."""
    wanted = set(ids)
    sums = dict(db.session.query(key, func.sum(Credit.amount_cents))
                .join(OrderLine, OrderLine.id == Credit.line_id).join(OrderPart, OrderPart.id == OrderLine.part_id)
                .filter(Credit.kind == CreditKind.DISPUTE, OrderLine.status == LineStatus.ACTIVE,
                        OrderPart.status != PartStatus.CANCELLED, key.in_(wanted))
                .group_by(key).all()) if wanted else {}
    return {id_: int(sums.get(id_) or 0) for id_ in wanted}


def disputed_cents(part_id: int) -> int:
    return disputed_cents_by_part([part_id])[part_id]


def disputed_cents_by_part(part_ids: Collection[int]) -> dict[int, int]:
    """`disputed_cents` of several parts in one statement whatever their number: {part id: cents}."""
    return _line_refunds(Credit.part_id, part_ids)


def plan_part_payout(part: OrderPart) -> Payout | None:
    """Record (once) what a producer is owed for a part: the part in full, less member's fees due."""
    existing = db.session.query(Payout).filter_by(part_id=part.id).first()
    if existing is not None:
        return existing
    gross = part.final_cents - disputed_cents(part.id)
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
    payment = locked_payment(order_id)
    if payment is None:
        commit_step()
        return None
    order = payment.order
    if payment.status == CardPaymentStatus.AUTHORISED and not live_parts(order):
        commit_step()
        enqueue_now_or_outbox("payments.capture_order", [order_id])
        return None
    if payment.status != CardPaymentStatus.CAPTURED:
        commit_step()
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
    commit_step()
    if credit is not None:
        enqueue_now_or_outbox("payments.execute_credit", [credit.id])
    return credit


def amount_due_cents(order: Order) -> int:
    """What the card owes for the order now: final amounts (or the hold until final), less line refunds and
    what the member account paid."""
    due = order.total_due_cents if is_final(order) or not live_parts(order) else hold_cents(order)
    return card_due_cents(order, max(due - _line_refunds(Credit.order_id, [order.id])[order.id], 0))


def enqueue_now_or_outbox(task_name: str, args: list) -> None:
    """Enqueue after the current (already committed) work; outbox keeps it if the broker is down."""
    enqueue_after_commit(task_name, args)
    commit_step()


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
    order.events.append(OrderEvent(kind="refund", part=line.part, actor_id=admin.id, amount_cents=amount_cents,
                                   detail=f"{line.product_name}: {reason}"))
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

