"""The member's contract as a PDF: the terms, the basket, the schedule, the text they accepted (version, date)."""
from __future__ import annotations

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from marketplace.contracts.models import ContractTextVersion, Subscription
from marketplace.contracts.services import schedule
from marketplace.core.services import get_setting
from marketplace.extensions import db
from marketplace.orders.documents import TextPdf, pdf_money, pdf_text


def accepted_text(subscription: Subscription) -> str:
    """The text of the version the member accepted (kept even after the contract's text was revised)."""
    row = (db.session.query(ContractTextVersion)
           .filter_by(contract_id=subscription.contract_id, version=subscription.accepted_version).first())
    return row.text if row is not None else ""


def contract_pdf(subscription: Subscription) -> bytes:
    contract = subscription.contract
    document = TextPdf()
    pdf, family, line = document.pdf, document.family, document.line

    line(get_setting("coop_name"), 9)
    line(_("Contract — %(title)s", title=contract.title), 15, 9, bold=True)
    line(_("Member: %(name)s", name=subscription.member.full_name))
    if contract.producer is not None:
        line(_("Producer: %(name)s", name=contract.producer.name))
    line(_("Accepted on %(date)s (text version %(v)d)", date=format_datetime(subscription.accepted_at),
           v=subscription.accepted_version))
    pdf.ln(2)
    line(_("The basket"), 11, 7, bold=True)
    if contract.content:
        line(contract.content, 9, 5)
    for item in contract.items:
        label = item.variant.product.name + (f" — {item.variant.label}" if item.variant.label else "")
        line(f"{item.quantity * subscription.share} × {label}", 9, 5)
    plan = schedule.delivery_plan(subscription)
    line(_("Price per basket: %(price)s; baskets per delivery: %(share)d; deliveries: %(n)d; absences allowed: %(a)d.",
           price=pdf_money(contract.price_per_delivery_cents), share=subscription.share, n=len(plan),
           a=contract.allowed_absences), 10)
    pdf.ln(2)
    line(_("Payment schedule"), 11, 7, bold=True)
    pdf.set_font(family, size=9)
    with pdf.table(col_widths=(20, 50, 50, 50), text_align=("LEFT", "LEFT", "RIGHT", "LEFT"),
                   line_height=6) as table:
        header = table.row()
        for title in (_("No."), _("Due on"), _("Amount"), _("Paid")):
            header.cell(pdf_text(title, family))
        for row in sorted(subscription.instalment_rows, key=lambda r: r.number):
            cells = table.row()
            cells.cell(str(row.number))
            cells.cell(pdf_text(format_date(row.due_on), family))
            cells.cell(pdf_text(pdf_money(row.amount_cents), family))
            cells.cell(pdf_text(format_date(row.paid_at) if row.paid_at else "", family))
    pdf.ln(2)
    line(_("The contract's text"), 11, 7, bold=True)
    line(accepted_text(subscription), 9, 5)
    return bytes(pdf.output())
