"""Factur-X: the embedded XML validates against the library's official schema; the PDF/A-3 renders."""
from __future__ import annotations

import io

import facturx
import pypdfium2
import pytest
from lxml import etree
from pypdf import PdfReader

from marketplace.disputes import services as disputes
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.invoicing import documents
from marketplace.invoicing.facturx import NS, check_xml, invoice_xml
from marketplace.invoicing.models import Invoice, InvoiceDocument
from marketplace.invoicing.parties import save_buyer_identity
from tests.factories import get_admin
from tests.invoicing_fixtures import BUYER_SIREN, BUYER_VAT, collected_order, shop


def _only(xml: bytes, path: str) -> list[str]:
    return [e.text for e in etree.fromstring(xml).xpath(path, namespaces=NS)]


def _embedded(pdf: bytes) -> bytes:
    filename, xml = facturx.get_facturx_xml_from_pdf(pdf)
    assert filename == "factur-x.xml"
    return xml


def _case(name: str) -> Invoice:
    farm, tomatoes, eggs, buyer = shop(franchise=name == "franchise")
    if name == "b2b":
        save_buyer_identity(buyer, business_name="Restaurant Le Marais", siren=BUYER_SIREN, vat_number=BUYER_VAT)
    order = collected_order(buyer, [(tomatoes, 2), (eggs, 3)], grams={"Tomatoes": 1873})
    if name == "credit_note":
        line = order.parts[0].lines[1]
        dispute = disputes.open_dispute(buyer, line.id, DisputeReason.DAMAGED, "broken")
        disputes.resolve_dispute(get_admin(), dispute.id, DisputeStatus.CREDITED, 350, "One box broken")
    return db.session.query(Invoice).order_by(Invoice.id.desc()).first()


@pytest.mark.parametrize("name", ["b2c", "b2b", "franchise", "credit_note"])
def test_the_embedded_xml_validates_against_the_official_schema(app, name):
    invoice = _case(name)
    pdf = documents.factur_x(invoice)
    xml = _embedded(pdf)
    assert xml == invoice_xml(invoice)
    assert check_xml(xml) is True
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    # What the XML says is what the invoice says.
    grand = _only(xml, "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount")
    assert grand == [f"{invoice.total_ttc_cents / 100:.2f}"]
    assert _only(xml, "//rsm:ExchangedDocument/ram:ID") == [invoice.number_text]
    lines = _only(xml, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")
    assert sum(round(float(v) * 100) for v in lines) == invoice.total_ht_cents
    type_code = _only(xml, "//rsm:ExchangedDocument/ram:TypeCode")
    notes = " ".join(_only(xml, "//ram:IncludedNote/ram:Content"))
    assert "au nom et pour le compte de EARL Green Farm" in notes
    if name == "b2b":
        assert _only(xml, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID") == [BUYER_SIREN]
        assert _only(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == [BUYER_VAT]
        assert "40 €" in notes
    if name == "franchise":
        assert set(_only(xml, "//ram:ApplicableTradeTax/ram:CategoryCode")) == {"E"}
        assert _only(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:ExemptionReason") == [
            "TVA non applicable, art. 293 B du CGI"]
        assert _only(xml, "//ram:TaxTotalAmount") == ["0.00"]
    if name == "credit_note":
        assert type_code == ["381"]
        assert _only(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == [
            invoice.credited_invoice.number_text]
        assert grand == ["3.50"]
    else:
        assert type_code == ["380"]


def test_an_invalid_xml_is_refused_by_the_schema_check(app):
    invoice = _case("b2c")
    broken = invoice_xml(invoice).replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    with pytest.raises(Exception, match="XML Schema"):
        check_xml(broken)


def test_the_pdf_is_a_pdf_a3_that_renders_with_the_legal_mentions(app):
    invoice = _case("b2b")
    pdf = documents.factur_x(invoice)
    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.xmp_metadata.rdf_root.toxml()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "Factur-X PDFA Extension Schema" in xmp
    assert "/OutputIntents" in reader.trailer["/Root"]
    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[0]
        image = page.render(scale=1).to_pil().convert("L")
        text = page.get_textpage().get_text_range()
    finally:
        document.close()
    assert abs(image.size[0] - 595) <= 1 and abs(image.size[1] - 842) <= 1  # A4 at 72 dpi
    dark = sum(image.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 2000  # text and tables were drawn, not a blank page
    for expected in (f"FACTURE N° {invoice.number_text}", "Restaurant Le Marais", f"SIREN : {BUYER_SIREN}",
                     "5,5 %", "21,74 €", "mandat de facturation", "Indemnité forfaitaire"):
        assert expected in text.replace("\r\n", "\n").replace("\n", " "), expected


def test_the_document_is_rendered_once_and_then_served_as_stored(app):
    invoice = _case("b2c")
    first = documents.stored_document(invoice)
    again = documents.stored_document(invoice)
    assert first.pdf == again.pdf and db.session.query(InvoiceDocument).count() == 1
    assert len(first.sha256) == 64
