"""Invoicing reacts to other domains' events; none of them imports invoicing.

Each receiver runs in a savepoint of the caller's transaction: a failure here is logged and
reported to the admins, never allowed to undo the payment, collection or decision it follows.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l

from marketplace.billing import signals as billing_signals
from marketplace.core.mail import send_email
from marketplace.dispatch import signals as dispatch_signals
from marketplace.disputes import signals as dispute_signals
from marketplace.extensions import db
from marketplace.invoicing import emails, services
from marketplace.invoicing.drafting import delivering_courier
from marketplace.members.models import User
from marketplace.orders import signals as order_signals
from marketplace.orders.events import reason_text
from marketplace.orders.states import PaymentMethod
from marketplace.payments import signals as payment_signals


def _safely(what: LazyString, fn, *args) -> None:
    try:
        with db.session.begin_nested():
            fn(*args)
    except Exception as exc:
        current_app.logger.exception("invoicing: %s failed", what)
        for admin in db.session.query(User).filter_by(is_admin=True, login_disabled=False):
            send_email(admin, emails.invoicing_failed, what=what, error=str(exc)[:500])


@payment_signals.order_settled.connect
def invoice_card_order(order, **_kwargs) -> None:
    _safely(_l("order %(ref)s", ref=order.reference), services.invoice_order, order)


@order_signals.order_completed.connect
def invoice_completed_order(order, **_kwargs) -> None:
    courier_id = delivering_courier(order)
    if order.payment_method == PaymentMethod.PAY_AT_PICKUP:
        _safely(_l("order %(ref)s", ref=order.reference), services.invoice_order, order, courier_id)
    else:
        _safely(_l("delivery of order %(ref)s", ref=order.reference), services.invoice_delivery, order, courier_id)


@order_signals.line_rejected.connect
def credit_rejected_line(line, **_kwargs) -> None:
    _safely(_l("rejected line %(id)s", id=line.id), services.credit_rejected_line, line)


@order_signals.part_cancelled.connect
def credit_cancelled_part(part, reason: str = "", reason_code: str = "", **_kwargs) -> None:
    """Most cancellations come before any invoice (the buyer cancels only parts not yet accepted; no admin action
    cancels a part): then there is nothing to credit. One comes after: a producer packed a card order before the
    cut-off (final, so captured, settled and invoiced) and the cut-off cancels it for their minimum order."""
    with force_locale("fr"):  # a credit note is a legal document: in French, whoever cancelled
        reason = reason_text(reason_code) if reason_code else reason
    _safely(_l("cancelled part %(id)s", id=part.id), services.credit_cancelled_part, part, reason)


@payment_signals.refund_decided.connect
def credit_card_refund(credit, **_kwargs) -> None:
    _safely(_l("refund %(id)s", id=credit.id), services.credit_card_refund, credit)


@dispute_signals.dispute_resolved.connect
def credit_dispute(dispute, **_kwargs) -> None:
    _safely(_l("dispute %(id)s", id=dispute.id), services.credit_dispute, dispute)


@billing_signals.statements_issued.connect
def invoice_fee_statements(period, **_kwargs) -> None:
    _safely(_l("fee period %(month)s", month=period.starts_on.strftime("%m/%Y")), services.invoice_fee_statements,
            period)


@dispatch_signals.courier_payable_recorded.connect
def self_bill_courier_pay(payable, **_kwargs) -> None:
    _safely(_l("courier run %(id)s", id=payable.run_id), services.self_bill_courier_pay, payable)
