"""The invoice as a document: a PDF/A-3 (fpdf2, DejaVu fonts) carrying its Factur-X XML, rendered once and kept.

Everything printed is legal text: French whatever the interface language.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal

from fpdf import FPDF
from sqlalchemy.exc import IntegrityError

from marketplace.extensions import db
from marketplace.invoicing import facturx
from marketplace.invoicing.amounts import FRANCHISE_MENTION
from marketplace.invoicing.drafting import local_date
from marketplace.invoicing.models import Invoice, InvoiceDocument
from marketplace.invoicing.texts import document_title, legal_notes
from marketplace.money import cents_to_decimal
from marketplace.orders.documents import pdf_font

UNIT_LABELS = {"KGM": "kg", "LTR": "l", "H87": "pièce", "C62": "unité"}


def _quantity(milli: int, unit: str) -> str:
    value = Decimal(milli) / 1000
    if unit in ("KGM", "LTR"):
        return f"{value:.3f}".replace(".", ",") + f" {UNIT_LABELS[unit]}"
    label = UNIT_LABELS.get(unit, unit)
    return f"{format(value.normalize(), 'f')} {label}{'s' if value > 1 and unit in ('H87', 'C62') else ''}"


def _rate(bp: int) -> str:
    return format((Decimal(bp) / 100).normalize(), "f").replace(".", ",") + " %"


def _unit_price(e4: int) -> str:
    return f"{Decimal(e4) / 10000:.4f} €".replace(".", ",")


def pdf_money(cents: int) -> str:
    """Invoices are legal documents in French, whoever reads them: '21,74 €'."""
    return f"{cents_to_decimal(cents)} €".replace(".", ",")


def _party_lines(name: str, legal_form: str, address: str, postcode: str, town: str, siret: str = "",
                 siren: str = "", vat: str = "", registration: str = "") -> list[str]:
    lines = [name, legal_form, address, f"{postcode} {town}".strip()]
    if siret:
        lines.append(f"SIRET : {siret}")
    elif siren:
        lines.append(f"SIREN : {siren}")
    if registration:
        lines.append(registration)
    if vat:
        lines.append(f"N° TVA intracommunautaire : {vat}")
    return [line for line in lines if line]


class _InvoicePDF(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family_name, size=7)
        self.cell(0, 5, f"{self.invoice_label} — page {self.page_no()}/{{nb}}", align="C")


def _header(pdf: _InvoicePDF, invoice: Invoice) -> None:
    family = pdf.family_name
    pdf.set_font(family, "B", 16)
    pdf.cell(0, 9, f"{document_title(invoice)} N° {invoice.number_text}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    dates = [f"Date d'émission : {local_date(invoice.issued_at):%d/%m/%Y}",
             f"Date de la vente ou de la prestation{' corrigée' if invoice.is_credit_note else ''} : "
             f"{invoice.sale_date:%d/%m/%Y}"]
    if invoice.order is not None:
        dates.append(f"Commande : {invoice.order.reference}")
    pdf.multi_cell(0, 5, "\n".join(dates), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    top = pdf.get_y()
    seller = _party_lines(invoice.seller_name, invoice.seller_legal_form, invoice.seller_address,
                          invoice.seller_postcode, invoice.seller_town, invoice.seller_siret,
                          vat=invoice.seller_vat_number, registration=invoice.seller_registration)
    buyer = _party_lines(invoice.buyer_name, "", invoice.buyer_address, invoice.buyer_postcode, invoice.buyer_town,
                         siren=invoice.buyer_siren, vat=invoice.buyer_vat_number)
    for x, title, lines in ((pdf.l_margin, "Vendeur" if not invoice.self_billed else "Prestataire", seller),
                            (110, "Client", buyer)):
        pdf.set_xy(x, top)
        pdf.set_font(family, "B", 10)
        pdf.cell(85, 6, title, new_x="LEFT", new_y="NEXT")
        pdf.set_font(family, size=9)
        pdf.multi_cell(85, 5, "\n".join(lines), new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 40))
    pdf.ln(2)


def _tables(pdf: _InvoicePDF, invoice: Invoice) -> None:
    family = pdf.family_name
    pdf.set_font(family, size=8)
    with pdf.table(col_widths=(70, 22, 22, 16, 22, 22), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT",
                                                                     "RIGHT"), line_height=5) as table:
        table.row(["Désignation", "Quantité", "PU HT", "TVA", "Total HT", "Total TTC"])
        for line in invoice.lines:
            rate = "exonéré" if line.vat_category == "E" else _rate(line.vat_rate_bp)
            table.row([line.description, _quantity(line.quantity_milli, line.unit_code),
                       _unit_price(line.unit_price_ht_e4), rate, pdf_money(line.ht_cents), pdf_money(line.ttc_cents)])
    pdf.ln(3)
    with pdf.table(col_widths=(40, 35, 35, 35), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), line_height=5,
                   width=145, align="RIGHT") as table:
        table.row(["Taux de TVA", "Base HT", "TVA", "Total TTC"])
        for rate in invoice.vat_totals:
            label = "exonéré" if rate.vat_category == "E" else _rate(rate.vat_rate_bp)
            table.row([label, pdf_money(rate.ht_cents), pdf_money(rate.vat_cents), pdf_money(rate.ttc_cents)])
        table.row(["Total", pdf_money(invoice.total_ht_cents), pdf_money(invoice.total_vat_cents),
                   pdf_money(invoice.total_ttc_cents)])
    pdf.ln(2)
    pdf.set_font(family, "B", 11)
    label = "Montant de l'avoir TTC" if invoice.is_credit_note else "Total TTC"
    pdf.cell(0, 7, f"{label} : {pdf_money(invoice.total_ttc_cents)}", align="R", new_x="LMARGIN", new_y="NEXT")


def _mentions(pdf: _InvoicePDF, invoice: Invoice) -> None:
    pdf.set_font(pdf.family_name, size=8)
    texts = [invoice.payment_note] if invoice.payment_note else []
    texts += [text for _subject, text in legal_notes(invoice)]
    if invoice.seller_vat_franchise and FRANCHISE_MENTION not in texts:
        texts.append(FRANCHISE_MENTION)
    for text in texts:
        pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)


def render_pdf(invoice: Invoice) -> bytes:
    """The printable invoice (PDF/A-3b, fonts embedded), before its XML is attached."""
    pdf = _InvoicePDF(format="A4", enforce_compliance="PDF/A-3B")
    pdf.family_name = pdf_font(pdf)
    pdf.invoice_label = f"{document_title(invoice).capitalize()} {invoice.number_text} — {invoice.seller_name}"
    pdf.set_title(f"{document_title(invoice)} {invoice.number_text}")
    pdf.set_lang("fr-FR")
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    _header(pdf, invoice)
    _tables(pdf, invoice)
    pdf.ln(2)
    _mentions(pdf, invoice)
    return bytes(pdf.output())


def factur_x(invoice: Invoice) -> bytes:
    """The Factur-X file: the PDF with its EN 16931 XML attached."""
    return facturx.embed(render_pdf(invoice), facturx.invoice_xml(invoice), invoice)


def stored_document(invoice: Invoice) -> InvoiceDocument:
    """The invoice's Factur-X, rendered the first time it is needed and then always served as stored."""
    document = db.session.get(InvoiceDocument, invoice.id)
    if document is not None:
        return document
    pdf = factur_x(invoice)
    document = InvoiceDocument(invoice_id=invoice.id, pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest())
    try:
        with db.session.begin_nested():
            db.session.add(document)
    except IntegrityError:  # rendered concurrently: the first one stored is the document
        document = db.session.get(InvoiceDocument, invoice.id)
    return document


def filename(invoice: Invoice) -> str:
    return f"{'avoir' if invoice.is_credit_note else 'facture'}-{invoice.number_text}.pdf"
