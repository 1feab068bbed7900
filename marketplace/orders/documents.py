"""Distribution-day documents: packing lists and pickup sheets, as CSV and printable PDF."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from flask_babel import format_datetime
from flask_babel import gettext as _
from fpdf import FPDF
from sqlalchemy.orm import selectinload

from marketplace.catalog.models import ProducerProfile
from marketplace.core.errors import NotFound
from marketplace.csvexport import csv_text
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.money import format_money, money_formatter
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.states import LineStatus, PartStatus
from marketplace.web import enum_words, known_word

if TYPE_CHECKING:
    from marketplace.orders.services.account_payment import Handover, Payable

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass
class Document:
    title: str
    subtitle: str
    headers: list[str]
    rows: list[list[str]]
    filename: str
    widths: list[float] = field(default_factory=list)

    def to_csv(self) -> bytes:
        return csv_text(self.headers, self.rows).encode("utf-8")

    def to_pdf(self) -> bytes:
        pdf = FPDF(orientation="L" if len(self.headers) > 4 else "P", format="A4")
        family = pdf_font(pdf)
        pdf.set_auto_page_break(True, margin=12)
        pdf.add_page()
        pdf.set_font(family, size=15)
        pdf.cell(0, 9, pdf_text(self.title, family), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=10)
        pdf.cell(0, 6, pdf_text(self.subtitle, family), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font(family, size=9)
        widths = self.widths or None
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=6) as table:
            header = table.row()
            for h in self.headers:
                header.cell(pdf_text(h, family))
            for values in self.rows:
                row = table.row()
                for value in values:
                    row.cell(pdf_text(value, family))
        return bytes(pdf.output())


def pdf_font(pdf: FPDF) -> str:
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return "DejaVu"
    return "Helvetica"


def pdf_text(value: str, family: str) -> str:
    if family == "Helvetica":  # core fonts are Latin-1 only
        return value.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")
    return value


class TextPdf:
    """An A4 document written line by line in the documents' font (fee statements, contracts)."""

    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.family = pdf_font(self.pdf)
        self.pdf.set_auto_page_break(True, margin=14)
        self.pdf.add_page()

    def line(self, text: str, size: int = 10, height: float = 6, bold: bool = False) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size=size)
        self.pdf.multi_cell(0, height, pdf_text(text, self.family), new_x="LMARGIN", new_y="NEXT")


def pdf_money(cents: int) -> str:
    return format_money(cents)  # in the reader's language, as the whole document


def _distribution(distribution_id: int) -> Distribution:
    distribution = db.session.get(Distribution, distribution_id)
    if distribution is None:
        raise NotFound(_("No such distribution."))
    return distribution


def _when(distribution: Distribution) -> str:
    return f"{distribution.pickup_place.name} — {format_datetime(distribution.starts_at, 'EEEE d MMMM y, HH:mm')}"


def packing_list(distribution_id: int, producer_id: int) -> Document:
    """One producer's packing list: each product, each buyer, how much."""
    distribution = _distribution(distribution_id)
    producer = db.session.get(ProducerProfile, producer_id)
    lines = (db.session.query(OrderLine).join(OrderPart).join(Order)
             .filter(Order.distribution_id == distribution_id, OrderPart.producer_id == producer_id,
                     OrderPart.status != PartStatus.CANCELLED, OrderLine.status == LineStatus.ACTIVE)
             .order_by(OrderLine.product_name, OrderLine.variant_label, Order.reference).all())
    rows = []
    for line in lines:
        order = line.part.order
        weight = ""
        if line.is_weight_priced:
            weight = f"{line.weighed_grams} g" if line.weighed_grams else f"~{line.estimated_weight_total_g} g"
        unit = known_word(line.unit, enum_words())
        rows.append([line.display_name, str(line.quantity), unit, weight, order.buyer.full_name, order.reference,
                     _("delivery") if order.fulfilment.value == "delivery" else _("pickup")])
    rows.extend(_absence_rows(distribution_id, producer_id))
    return Document(
        title=_("Packing list — %(producer)s", producer=producer.name if producer else ""),
        subtitle=_when(distribution),
        headers=[_("Product"), _("Qty"), _("Unit"), _("Weight"), _("Buyer"), _("Order"), _("Fulfilment")],
        rows=rows, filename=f"packing-list-{distribution_id}-{producer_id}")


def packing_notes(distribution_id: int, producer_id: int | None = None) -> list[tuple[int, str, str]]:
    """(member id, name, who collects or "" when absent) as the higher domains answer it (contracts)."""
    from marketplace.orders.signals import packing_notes as question

    notes = [note for _receiver, answer in question.send(distribution_id, producer_id=producer_id)
             for note in (answer or [])]
    return sorted(notes, key=lambda note: (note[1].lower(), note[0]))


def packing_notes_by_distribution(distribution_ids: list[int], producer_id: int | None = None,
                                  ) -> dict[int, list[tuple[int, str, str]]]:
    """`packing_notes` of several distributions in as many statements as for one: {distribution id: notes}."""
    from marketplace.orders.signals import packing_notes_by_distribution as question

    notes: dict[int, list[tuple[int, str, str]]] = {}
    for _receiver, answer in question.send(tuple(distribution_ids), producer_id=producer_id):
        for distribution_id, theirs in (answer or {}).items():
            notes.setdefault(distribution_id, []).extend(theirs)
    return {distribution_id: sorted(these, key=lambda note: (note[1].lower(), note[0]))
            for distribution_id, these in notes.items()}


def _absence_rows(distribution_id: int, producer_id: int) -> list[list[str]]:
    rows = []
    for _member_id, member, collector in packing_notes(distribution_id, producer_id):
        what = _("Collected by %(name)s", name=collector) if collector else _("Absent: no basket to prepare")
        rows.append([what, "", "", "", member, "", ""])
    return rows


def pickup_sheet(distribution_id: int) -> Document:
    """The pickup sheet: each buyer, their items, the amount due, and a column to sign."""
    distribution = _distribution(distribution_id)
    orders = (db.session.query(Order).filter(Order.distribution_id == distribution_id)
              .options(selectinload(Order.buyer), selectinload(Order.parts).selectinload(OrderPart.lines))
              .order_by(Order.id).all())
    live = [order for order in orders if order.status != "cancelled"]
    handovers = handover_texts(live)
    collectors = {member_id: collector for member_id, _name, collector in packing_notes(distribution_id) if collector}
    rows = []
    for order in sorted(live, key=lambda o: (o.buyer.full_name.lower(), o.id)):
        buyer = order.buyer.full_name
        if order.buyer_id in collectors:
            buyer = _("%(buyer)s (collected by %(name)s)", buyer=buyer, name=collectors[order.buyer_id])
        items = ", ".join(
            f"{line.quantity} × {line.display_name}" + (f" ({line.weighed_grams} g)" if line.weighed_grams else "")
            for part in order.parts if part.status != PartStatus.CANCELLED
            for line in part.lines if line.status == LineStatus.ACTIVE)
        rows.append([buyer, order.reference, items, handovers[order.id], ""])
    return Document(title=_("Pickup sheet"), subtitle=_when(distribution),
                    headers=[_("Buyer"), _("Order"), _("Items"), _("To pay / to hand back"), _("Signature")],
                    rows=rows, filename=f"pickup-sheet-{distribution_id}", widths=[45, 28, 105, 55, 40])


def handover_texts(orders: Sequence[Payable], final_cents: dict[int, int] | None = None) -> dict[int, str]:
    """`handover_text` of several orders in as many statements as for one (`handovers_due`): {order id: text}."""
    from marketplace.orders.services.account_payment import handovers_due

    dues, money, words = handovers_due(orders, final_cents), money_formatter(), _translated_once()
    return {order.id: handover_text(order, dues[order.id], money, words) for order in orders}


def _translated_once() -> Callable[..., str]:
    """`gettext` translating each message once (then only filled in): a column worded on every row of a list."""
    translated: dict[str, str] = {}

    def gettext_once(string: str, **variables: object) -> str:
        if string not in translated:
            translated[string] = _(string)
        return translated[string] % variables if variables else translated[string]

    return gettext_once


def handover_text(order: Payable, due: Handover | None = None, money: Callable[[int], str] = pdf_money,
                  _: Callable[..., str] = _) -> str:
    """The pickup sheet's column: what to collect, account included, or what the account keeps for the buyer."""
    from marketplace.orders.services.account_payment import handover_due

    due = due or handover_due(cast(Order, order))
    if order.payment_method.value == "card":
        paid = _("paid by card")
    elif order.payment_status.value == "paid":
        paid = _("already paid")
    else:
        paid = _("order %(amount)s", amount=money(due.order_rest_cents))
    account = ""
    if due.balance_cents:
        account = _(", account %(balance)s", balance=money(due.balance_cents))
    if due.to_collect_cents:
        return _("To pay: %(amount)s (%(detail)s%(account)s)", amount=money(due.to_collect_cents), detail=paid,
                 account=account)
    if due.balance_after_cents > 0 and due.payback_requested:
        return _("Nothing to pay (%(detail)s%(account)s). To hand back, asked: %(amount)s", detail=paid,
                 account=account, amount=money(due.balance_after_cents))
    if due.balance_after_cents > 0:
        return _("Nothing to pay (%(detail)s%(account)s). The account keeps %(amount)s", detail=paid,
                 account=account, amount=money(due.balance_after_cents))
    return _("Nothing to pay (%(detail)s%(account)s)", detail=paid, account=account)
