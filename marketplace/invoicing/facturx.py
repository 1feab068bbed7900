"""Factur-X: the invoice as EN 16931 CII XML (profile EN16931), embedded in its PDF/A-3 by `factur-x`.

The XML is checked against the official schema shipped with the `factur-x` library when it is
embedded (and by the tests); legal notes are in French, as on the printed invoice.
"""
from __future__ import annotations

from decimal import Decimal

import facturx
from lxml import etree

from marketplace.invoicing.amounts import FRANCHISE_EXEMPTION_CODE, FRANCHISE_MENTION
from marketplace.invoicing.drafting import local_date
from marketplace.invoicing.models import Invoice
from marketplace.invoicing.texts import legal_notes

GUIDELINE = "urn:cen.eu:en16931:2017"
NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
      "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
      "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"}
# UNTDID 1001: invoice, credit note, self-billed invoice, self-billed credit note.
TYPE_CODES = {(False, False): "380", (True, False): "381", (False, True): "389", (True, True): "261"}


def type_code(invoice: Invoice) -> str:
    return TYPE_CODES[(invoice.is_credit_note, invoice.self_billed)]


def _el(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", **attrs)
    if text is not None:
        element.text = text
    return element


def _amount(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _percent(bp: int) -> str:
    return format((Decimal(bp) / 100).normalize(), "f")


def _date(parent, tag: str, day) -> None:
    _el(_el(parent, tag), "udt:DateTimeString", f"{day:%Y%m%d}", format="102")


def _party(parent, tag: str, *, name: str, siren: str, address: str, postcode: str, town: str, vat: str,
           description: str = "") -> None:
    party = _el(parent, tag)
    _el(party, "ram:Name", name or "—")
    if description:
        _el(party, "ram:Description", description)
    if siren:
        _el(_el(party, "ram:SpecifiedLegalOrganization"), "ram:ID", siren, schemeID="0002")
    if address or postcode or town:
        place = _el(party, "ram:PostalTradeAddress")
        if postcode:
            _el(place, "ram:PostcodeCode", postcode)
        if address:
            _el(place, "ram:LineOne", address)
        if town:
            _el(place, "ram:CityName", town)
        _el(place, "ram:CountryID", "FR")
    if vat:
        _el(_el(party, "ram:SpecifiedTaxRegistration"), "ram:ID", vat, schemeID="VA")


def _tax(parent, category: str, rate_bp: int, *, basis: int | None = None, vat: int | None = None) -> None:
    tax = _el(parent, "ram:ApplicableTradeTax")
    if vat is not None:
        _el(tax, "ram:CalculatedAmount", _amount(vat))
    _el(tax, "ram:TypeCode", "VAT")
    if category == "E" and basis is not None:
        _el(tax, "ram:ExemptionReason", FRANCHISE_MENTION)
    if basis is not None:
        _el(tax, "ram:BasisAmount", _amount(basis))
    _el(tax, "ram:CategoryCode", category)
    if category == "E" and basis is not None:
        _el(tax, "ram:ExemptionReasonCode", FRANCHISE_EXEMPTION_CODE)
    _el(tax, "ram:RateApplicablePercent", _percent(rate_bp))


def _lines(transaction, invoice: Invoice) -> None:
    for line in invoice.lines:
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(line.position))
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
        price = _el(_el(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
        _el(price, "ram:ChargeAmount", f"{Decimal(line.unit_price_ht_e4) / 10000:.4f}")
        _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity",
            f"{Decimal(line.quantity_milli) / 1000:.3f}", unitCode=line.unit_code)
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        _tax(settlement, line.vat_category, line.vat_rate_bp)
        _el(_el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
            _amount(line.ht_cents))


def _settlement(transaction, invoice: Invoice) -> None:
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    for rate in invoice.vat_totals:
        _tax(settlement, rate.vat_category, rate.vat_rate_bp, basis=rate.ht_cents, vat=rate.vat_cents)
    if invoice.payment_note:
        _el(_el(settlement, "ram:SpecifiedTradePaymentTerms"), "ram:Description", invoice.payment_note)
    paid = invoice.order_id is not None and not invoice.is_credit_note
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(totals, "ram:LineTotalAmount", _amount(invoice.total_ht_cents))
    _el(totals, "ram:TaxBasisTotalAmount", _amount(invoice.total_ht_cents))
    _el(totals, "ram:TaxTotalAmount", _amount(invoice.total_vat_cents), currencyID=invoice.currency)
    _el(totals, "ram:GrandTotalAmount", _amount(invoice.total_ttc_cents))
    _el(totals, "ram:TotalPrepaidAmount", _amount(invoice.total_ttc_cents if paid else 0))
    _el(totals, "ram:DuePayableAmount", _amount(0 if paid else invoice.total_ttc_cents))
    if invoice.credited_invoice is not None:
        reference = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", invoice.credited_invoice.number_text)
        _el(_el(reference, "ram:FormattedIssueDateTime"), "qdt:DateTimeString",
            f"{local_date(invoice.credited_invoice.issued_at):%Y%m%d}", format="102")


def invoice_xml(invoice: Invoice) -> bytes:
    """The invoice as Factur-X XML (CII, EN 16931 profile)."""
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number_text)
    _el(document, "ram:TypeCode", type_code(invoice))
    _date(document, "ram:IssueDateTime", local_date(invoice.issued_at))
    for subject, text in legal_notes(invoice):
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", text)
        _el(note, "ram:SubjectCode", subject)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    _lines(transaction, invoice)
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    seller_info = " — ".join(p for p in (invoice.seller_legal_form, invoice.seller_registration,
                                         f"SIRET {invoice.seller_siret}" if invoice.seller_siret else "") if p)
    _party(agreement, "ram:SellerTradeParty", name=invoice.seller_name, siren=invoice.seller_siret[:9],
           address=invoice.seller_address, postcode=invoice.seller_postcode, town=invoice.seller_town,
           vat=invoice.seller_vat_number, description=seller_info)
    _party(agreement, "ram:BuyerTradeParty", name=invoice.buyer_name, siren=invoice.buyer_siren,
           address=invoice.buyer_address, postcode=invoice.buyer_postcode, town=invoice.buyer_town,
           vat=invoice.buyer_vat_number)
    delivery = _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    _date(_el(delivery, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", invoice.sale_date)
    _settlement(transaction, invoice)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_xml(xml: bytes) -> bool:
    """Validate against the official Factur-X EN16931 schema shipped with the library (raises if invalid)."""
    return facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")


def embed(pdf: bytes, xml: bytes, invoice: Invoice) -> bytes:
    """A PDF/A-3 with the XML attached as factur-x.xml: the Factur-X file (the XML is checked first)."""
    metadata = {"author": invoice.issuer_name or invoice.seller_name, "keywords": "Factur-X",
                "title": f"{'Avoir' if invoice.is_credit_note else 'Facture'} {invoice.number_text}",
                "subject": f"{invoice.seller_name} — {invoice.number_text}"}
    return facturx.generate_from_binary(pdf, xml, flavor="factur-x", level="en16931", check_xsd=True,
                                        pdf_metadata=metadata, lang="fr-FR")
