"""A member's fee statement as a PDF (fpdf2, DejaVu fonts like the other documents)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.billing.services import StatementView, period_label
from marketplace.core.services import get_setting
from marketplace.orders.documents import TextPdf, pdf_money, pdf_text


def category_label(category: str) -> str:
    return {"hosting": _("Hosting"), "software": _("Software"), "accounting": _("Accounting"),
            "insurance": _("Insurance"), "payment_processing": _("Payment processing"),
            "maintenance": _("Paid maintenance work"), "other": _("Other")}.get(category, category)


def college_label(college: str) -> str:
    return {"producer": _("Producers"), "courier": _("Couriers"), "buyer": _("Buyers"),
            "supporter": _("Supporters")}.get(college, college)


def statement_pdf(view: StatementView) -> bytes:
    """The statement: the period's costs by category, the rule, the member's activity, fee and why."""
    s, period, rule = view.statement, view.period, view.rule
    document = TextPdf()
    pdf, family, line = document.pdf, document.family, document.line

    line(get_setting("coop_name"), 9)
    line(_("Fee statement — %(p)s", p=period_label(period)), 15, 9, bold=True)
    line(_("Member: %(name)s", name=view.member_name))
    pdf.ln(2)
    line(_("The period's costs"), 11, 7, bold=True)
    pdf.set_font(family, size=9)
    with pdf.table(col_widths=(120, 50), text_align=("LEFT", "RIGHT"), line_height=6) as table:
        header = table.row()
        header.cell(pdf_text(_("Category"), family))
        header.cell(pdf_text(_("Amount"), family))
        for category, cents in view.costs_by_category:
            row = table.row()
            row.cell(pdf_text(category_label(category), family))
            row.cell(pdf_text(pdf_money(cents), family))
        row = table.row()
        row.cell(pdf_text(_("Total costs"), family))
        row.cell(pdf_text(pdf_money(period.total_cost_cents or 0), family))
        if period.carry_in_cents:
            row = table.row()
            row.cell(pdf_text(_("Carried over from the previous period"), family))
            row.cell(pdf_text(pdf_money(period.carry_in_cents), family))
    for cost in view.adjustments:
        line(_("Includes a late cost of %(a)s dated %(d)s (period already closed), as an adjustment.",
               a=pdf_money(cost.amount_cents), d=cost.incurred_on.isoformat()), 8, 5)
    pdf.ln(2)
    if rule is not None:
        line(_("The rule (version %(v)d)", v=rule.version), 11, 7, bold=True)
        flats, weights = rule.flat_cents(), rule.weights()
        for college in ("producer", "courier", "buyer", "supporter"):
            line(_("%(college)s: flat %(flat)s per member, weight %(w)d on activity",
                   college=college_label(college), flat=pdf_money(flats[college]), w=weights[college]), 9, 5)
        if rule.ga_reference:
            line(_("Adopted by decision of the general assembly: %(ref)s", ref=rule.ga_reference), 8, 5)
        elif rule.votes_for is not None:
            line(_("Adopted by the members' vote: %(f)d for, %(a)d against, %(b)d abstentions out of %(e)d members.",
                   f=rule.votes_for, a=rule.votes_against, b=rule.votes_abstain, e=rule.electorate), 8, 5)
    pdf.ln(2)
    line(_("Your fee"), 11, 7, bold=True)
    line(_("Your activity this period: %(a)s", a=pdf_money(s.activity_cents)), 10)
    line(_("Flat part: %(a)s", a=pdf_money(s.flat_cents)), 10)
    line(_("Proportional part: %(a)s", a=pdf_money(s.proportional_cents)), 10)
    line(_("Total: %(a)s", a=pdf_money(s.total_cents)), 12, 8, bold=True)
    line(_("How it was computed: %(how)s", how=s.explanation), 8, 5)
    line(_("Paid: %(p)s — still due: %(d)s", p=pdf_money(view.paid_cents), d=pdf_money(view.due_cents)), 10)
    pdf.ln(2)
    line(period.summary, 8, 5)
    return bytes(pdf.output())
