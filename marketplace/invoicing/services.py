"""The use cases: each event that makes an amount final or changes it, drafted then issued at once if possible."""
from __future__ import annotations

from marketplace.billing.models import BillingPeriod, Statement
from marketplace.core.services import get_setting
from marketplace.dispatch.models import CourierPayable
from marketplace.disputes.models import Dispute
from marketplace.extensions import db
from marketplace.invoicing import credit_notes, drafting
from marketplace.invoicing.issuing import issue_draft
from marketplace.invoicing.models import Invoice, InvoiceDraft
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.payments.models import Credit


def _issue_all(drafts: list[InvoiceDraft | None]) -> list[Invoice]:
    issued = [issue_draft(draft) for draft in drafts if draft is not None]
    return [invoice for invoice in issued if invoice is not None]


def invoice_order(order: Order, courier_id: int | None = None) -> list[Invoice]:
    """An order paid at its final amount: one invoice per producer part, and the delivery fee's."""
    known = drafting.drafted_keys(order.id)
    drafts = [drafting.draft_part(part) for part in order.parts if f"part:{part.id}" not in known]
    if f"delivery:{order.id}" not in known:
        drafts.append(drafting.draft_delivery(order, courier_id))
    return _issue_all(drafts)


def invoice_delivery(order: Order, courier_id: int | None) -> list[Invoice]:
    """A delivered order whose delivery the courier sells: their invoice, once they are known."""
    if get_setting("delivery_seller") != "courier":
        return []
    return _issue_all([drafting.draft_delivery(order, courier_id)])


def credit_rejected_line(line: OrderLine) -> list[Invoice]:
    """A line rejected after its part was invoiced: a credit note (and the delivery's, if nothing is left)."""
    return _issue_all(credit_notes.draft_line_rejection(line))


def credit_cancelled_part(part: OrderPart, reason: str) -> list[Invoice]:
    """A part cancelled after its invoice: a credit note for what is left (and the delivery if nothing is)."""
    return _issue_all(credit_notes.draft_part_cancellation(part, reason))


def credit_card_refund(credit: Credit) -> list[Invoice]:
    """A refund decided on a paid line: a credit note (issued after the invoice if that is still waiting)."""
    return _issue_all([credit_notes.draft_card_refund(credit)])


def credit_dispute(dispute: Dispute) -> list[Invoice]:
    """A dispute settled with a credit: a credit note."""
    return _issue_all([credit_notes.draft_dispute_credit(dispute)])


def invoice_fee_statements(period: BillingPeriod) -> list[Invoice]:
    """A closed fee period: one coop invoice per member's fee above zero."""
    statements = (db.session.query(Statement).filter(Statement.period_id == period.id, Statement.total_cents > 0)
                  .order_by(Statement.id).all())
    return _issue_all([drafting.draft_statement(statement, period) for statement in statements])


def self_bill_courier_pay(payable: CourierPayable) -> list[Invoice]:
    """A self-employed courier's pay for a run: a self-billed invoice in their series."""
    return _issue_all([drafting.draft_courier_pay(payable)])
