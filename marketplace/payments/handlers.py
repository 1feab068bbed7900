"""Payments' reactions to order events. They run inside the orders transaction: they may refuse the
change (raise a ServiceError) or enqueue work after commit, never call Stripe themselves."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.errors import Conflict
from marketplace.money import format_money
from marketplace.orders import signals
from marketplace.orders.states import PaymentMethod, PaymentStatus
from marketplace.tasking import enqueue_after_commit


def _card_payment(order):
    if order.payment_method != PaymentMethod.CARD:
        return None
    return getattr(order, "card_payment", None)


@signals.order_placed.connect
def refuse_unpayable_card_order(order, **_kwargs) -> None:
    from marketplace.payments.services import check_card_order

    check_card_order(order)


@signals.order_changed.connect
def keep_within_the_card_hold(order, **_kwargs) -> None:
    from marketplace.payments.models import CardPaymentStatus
    from marketplace.payments.services import card_hold_cents

    if order.payment_method != PaymentMethod.CARD:
        return
    payment = _card_payment(order)
    if order.payment_status == PaymentStatus.AWAITING:
        raise Conflict(_("Finish paying by card (or cancel the payment) before changing this order."))
    if payment is not None and payment.status == CardPaymentStatus.AUTHORISED \
            and card_hold_cents(order) > payment.authorised_cents:
        raise Conflict(_("Your card was authorised for %(max)s: this change would go beyond it. Place a new "
                         "order for the extra products.", max=format_money(payment.authorised_cents)))
    if payment is not None:
        enqueue_after_commit("payments.rebalance_order", [order.id])


@signals.part_cancelled.connect
def release_or_refund_cancelled_part(part, **_kwargs) -> None:
    if _card_payment(part.order) is not None:
        enqueue_after_commit("payments.rebalance_order", [part.order_id])


@signals.line_rejected.connect
def refund_rejected_line(line, **_kwargs) -> None:
    from sqlalchemy import func

    from marketplace.extensions import db
    from marketplace.payments.models import Credit, CreditKind, Payout

    order = line.part.order
    if _card_payment(order) is None:
        return
    payout = db.session.query(Payout).filter_by(part_id=line.part_id).first()
    already = db.session.query(func.coalesce(func.sum(Credit.amount_cents), 0)).filter(
        Credit.line_id == line.id).scalar()
    amount = line.credited_cents - int(already)
    if payout is not None and amount > 0:
        # The producer's payout already counts this line (paid, or on its way): refund the buyer and take
        # the same amount back from the producer (less what an earlier refund of the line gave back).
        credit = Credit(kind=CreditKind.DISPUTE, order_id=order.id, part_id=line.part_id, line_id=line.id,
                        amount_cents=amount, reason=line.rejection_reason)
        db.session.add(credit)
        db.session.flush()
        enqueue_after_commit("payments.execute_credit", [credit.id], dedup_key=f"credit:{credit.id}")
    elif payout is None:
        # Not captured yet: simply not charged. Captured early: the excess is refunded.
        enqueue_after_commit("payments.rebalance_order", [order.id])


@signals.order_ready.connect
def capture_when_final(order, **_kwargs) -> None:
    if _card_payment(order) is not None:
        # Its own key: a capture queued earlier (at authorisation) must not swallow this final one.
        enqueue_after_commit("payments.capture_order", [order.id], dedup_key=f"capture-final:{order.id}")
