"""Erasing a buyer who has invoices: issued ones stay as issued; those still to be issued forget a private buyer."""
from __future__ import annotations

from marketplace.extensions import db
from marketplace.invoicing.models import DraftStatus, Invoice, InvoiceDraft
from marketplace.invoicing.parties import save_buyer_identity
from marketplace.privacy.services import erase_account
from tests.factories import PASSWORD, make_product
from tests.invoicing_fixtures import BUYER_SIREN, BUYER_VAT, accept_mandate, collected_order, invoicing_producer, shop

HERS = ("Marie Buyer", "Kervégan", "buyer@test.coop", "44000", "Nantes")


def _two_sales(buyer_business: bool = False):
    """A collected order from a producer under mandate (invoiced) and one who has not accepted it (a draft)."""
    farm, _tomatoes, eggs, buyer = shop()
    if buyer_business:
        save_buyer_identity(buyer, business_name="Marie Buyer EI", siren=BUYER_SIREN, vat_number=BUYER_VAT)
    baker = invoicing_producer("baker@test.coop", "Bakery", mandate=False)
    bread = make_product(baker, "Bread", price_cents=420)
    collected_order(buyer, [(eggs, 2), (bread, 1)])
    [issued] = db.session.query(Invoice).all()
    [draft] = db.session.query(InvoiceDraft).filter_by(status=DraftStatus.PENDING).all()
    assert draft.producer_id == baker.producer_profile.id and draft.payload["buyer"]["name"] == (
        "Marie Buyer EI" if buyer_business else "Marie Buyer")
    return baker, buyer, issued.id, draft.id


def test_erasing_a_private_buyer_keeps_issued_invoices_and_empties_the_drafts_of_her_identity(app):
    baker, buyer, issued_id, draft_id = _two_sales()
    erase_account(buyer, PASSWORD, "ERASE")
    db.session.expire_all()

    issued = db.session.get(Invoice, issued_id)  # a legal document: kept as issued, ten years
    assert (issued.buyer_name, issued.buyer_address, issued.buyer_postcode, issued.buyer_town) == (
        "Marie Buyer", "3 rue Kervégan", "44000", "Nantes")
    draft = db.session.get(InvoiceDraft, draft_id)  # not one yet: nothing of her stays, not even "[…]"
    assert not [value for value in HERS if value in draft.payload_json]
    assert {k: v for k, v in draft.payload["buyer"].items() if v} == {"user_id": buyer.id}
    assert "[…]" not in draft.payload_json and draft.payload["lines"][0]["ttc_cents"] == 420

    accept_mandate(baker)  # issued later, the invoice names no private buyer
    db.session.expire_all()
    invoice = db.session.get(InvoiceDraft, draft_id).invoice
    assert (invoice.buyer_name, invoice.buyer_address, invoice.buyer_postcode, invoice.buyer_town) == ("—", "", "", "")
    assert invoice.total_ttc_cents == 420 and invoice.buyer_user_id == buyer.id


def test_erasing_a_business_buyer_keeps_what_the_law_requires_on_the_invoice_still_to_be_issued(app):
    baker, buyer, issued_id, draft_id = _two_sales(buyer_business=True)
    erase_account(buyer, PASSWORD, "ERASE")
    db.session.expire_all()

    assert db.session.get(Invoice, issued_id).buyer_name == "Marie Buyer EI"
    kept = db.session.get(InvoiceDraft, draft_id).payload["buyer"]
    assert (kept["name"], kept["siren"], kept["vat_number"], kept["address"]) == (
        "Marie Buyer EI", BUYER_SIREN, BUYER_VAT, "3 rue Kervégan")

    accept_mandate(baker)
    db.session.expire_all()
    invoice = db.session.get(InvoiceDraft, draft_id).invoice
    assert (invoice.buyer_name, invoice.buyer_siren, invoice.buyer_vat_number, invoice.buyer_address) == (
        "Marie Buyer EI", BUYER_SIREN, BUYER_VAT, "3 rue Kervégan")
