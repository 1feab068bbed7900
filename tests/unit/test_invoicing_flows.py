"""Sales invoices: issued once the amount is final, in the producer's name, numbered per producer; then credit notes."""
from __future__ import annotations

import pytest
from flask import current_app

from marketplace.audit.models import AuditEntry
from marketplace.core.models import OutboundEmail
from marketplace.disputes import services as disputes
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.invoicing import services as invoicing
from marketplace.invoicing.models import (BlockedReason, DraftStatus, Invoice, InvoiceDraft, InvoiceKind,
                                          IssuedInvoiceImmutable)
from marketplace.orders import services as orders
from marketplace.payments import services as payments
from marketplace.payments.models import CardPayment
from tests.factories import get_admin, make_member, make_product
from tests.invoicing_fixtures import (FARM_SIRET, FARM_VAT, collected_order, invoicing_producer, placed_order, prepare,
                                      shop)
from tests.payments_fixtures import connect_ready_account, fake_stripe, stripe_config  # noqa: F401


@pytest.fixture
def app_config(request):
    if "fake_stripe" in request.fixturenames:
        return stripe_config(request.getfixturevalue("fake_stripe"))
    return {}


def _invoices(**filters) -> list[Invoice]:
    return db.session.query(Invoice).filter_by(**filters).order_by(Invoice.id).all()


def test_a_collected_pay_at_pickup_order_gets_one_invoice_per_producer_in_their_name(app):
    farm, tomatoes, eggs, buyer = shop()
    baker = invoicing_producer("baker@test.coop", "Bakery")
    bread = make_product(baker, "Bread", price_cents=420)
    bread.vat_rate_bp = 1000
    order = collected_order(buyer, [(tomatoes, 2), (eggs, 3), (bread, 1)], grams={"Tomatoes": 1873})

    farm_part = next(p for p in order.parts if p.producer_id == farm.producer_profile.id)
    [farm_invoice] = _invoices(producer_id=farm.producer_profile.id)
    [bakery_invoice] = _invoices(producer_id=baker.producer_profile.id)
    # Each producer has its own series, starting at 1.
    assert (farm_invoice.number_text, bakery_invoice.number_text) == (
        f"P{farm.producer_profile.id:04d}-000001", f"P{baker.producer_profile.id:04d}-000001")
    # 1.873 kg x 6.00 = 11.24 and 3 x 3.50 = 10.50 at 5.5 %: VAT from the rate's total, HT = TTC - VAT.
    assert farm_invoice.total_ttc_cents == farm_part.final_cents == 2174
    assert (farm_invoice.total_vat_cents, farm_invoice.total_ht_cents) == (113, 2061)
    assert [(l.description, l.quantity_milli, l.unit_code, l.ttc_cents) for l in farm_invoice.lines] == [
        ("Tomatoes", 1873, "KGM", 1124), ("Eggs", 3000, "H87", 1050)]
    assert sum(l.ht_cents for l in farm_invoice.lines) == farm_invoice.total_ht_cents
    assert [(r.vat_rate_bp, r.ttc_cents) for r in bakery_invoice.vat_totals] == [(1000, 420)]
    assert sum(i.total_ttc_cents for i in _invoices()) == order.total_due_cents
    # In the producer's name, issued by the coop under the mandate; the buyer as at the sale.
    assert farm_invoice.seller_name == "EARL Green Farm" and farm_invoice.seller_siret == FARM_SIRET
    assert farm_invoice.seller_vat_number == FARM_VAT and farm_invoice.issuer_name == "La Coop des Champs"
    assert farm_invoice.mandate.user_id == farm.id and farm_invoice.mandate.accepted_ip == "203.0.113.7"
    assert (farm_invoice.buyer_name, farm_invoice.buyer_address, farm_invoice.buyer_user_id) == (
        "Marie Buyer", "3 rue Kervégan", buyer.id)
    assert "Payée au retrait" in farm_invoice.payment_note


def test_without_the_mandate_sales_wait_flagged_and_are_invoiced_once_it_is_accepted(app, client):
    farm, tomatoes, eggs, buyer = shop(mandate=False)
    order = collected_order(buyer, [(eggs, 2)])
    assert _invoices() == []
    [draft] = db.session.query(InvoiceDraft).all()
    assert draft.status == DraftStatus.PENDING and draft.blocked_reason == BlockedReason.NO_MANDATE
    asked = db.session.query(OutboundEmail).filter_by(recipient=farm.email).all()
    assert [e.subject for e in asked].count("Your sales are waiting for their invoices") == 1
    db.session.commit()
    from tests.factories import login

    login(client, get_admin())
    page = client.get("/admin/invoicing").get_data(as_text=True)
    assert order.reference in page and "billing mandate not accepted" in page
    client.post("/logout")

    login(client, farm)
    assert "cannot be invoiced until you accept" in client.get("/invoices").get_data(as_text=True)
    accepted = client.post("/invoices/mandate", data={"version": "1", "accept": "y"},
                           environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert accepted.status_code == 302
    db.session.expire_all()
    [invoice] = _invoices()
    assert invoice.number == 1 and invoice.total_ttc_cents == 700 and invoice.mandate.accepted_ip == "198.51.100.4"
    assert invoice.mandate.accepted_by_id == farm.id and "MANDAT DE FACTURATION" in invoice.mandate.text
    assert db.session.get(InvoiceDraft, draft.id).status == DraftStatus.ISSUED


def test_an_incomplete_seller_identity_is_flagged_not_invoiced(app):
    farm, tomatoes, eggs, buyer = shop()
    farm.producer_profile.siret = ""
    collected_order(buyer, [(eggs, 1)])
    [draft] = db.session.query(InvoiceDraft).all()
    assert draft.blocked_reason == BlockedReason.SELLER_IDENTITY and "SIRET" in draft.blocked_detail
    assert _invoices() == []
    farm.producer_profile.siret = FARM_SIRET
    from marketplace.invoicing.tasks import issue_pending

    assert issue_pending.run() == 1
    assert len(_invoices()) == 1


def test_numbers_follow_each_other_without_gaps_and_an_event_seen_twice_issues_once(app):
    farm, tomatoes, eggs, buyer = shop()
    first = collected_order(buyer, [(eggs, 1)])
    second = collected_order(buyer, [(eggs, 2)])
    assert invoicing.invoice_order(first) == []  # the same order again: nothing new
    numbers = [i.number for i in _invoices(producer_id=farm.producer_profile.id)]
    assert numbers == [1, 2] and second.id


def test_an_issued_invoice_cannot_be_changed_or_deleted(app):
    farm, tomatoes, eggs, buyer = shop()
    collected_order(buyer, [(eggs, 1)])
    db.session.commit()
    [invoice] = _invoices()
    invoice.total_ttc_cents = 1
    with pytest.raises(IssuedInvoiceImmutable):
        db.session.flush()
    db.session.rollback()
    import sqlalchemy.exc

    # Not even SQL written by hand: the database's triggers refuse it.
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="immutable"):
        db.session.execute(db.text("UPDATE invoices SET reason = 'rewritten'"))
    db.session.rollback()
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="immutable"):
        db.session.execute(db.text("DELETE FROM invoice_lines"))
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).total_ttc_cents == 350 and len(invoice.lines) == 1


def test_an_invoicing_failure_never_undoes_the_collection(app, monkeypatch):
    farm, tomatoes, eggs, buyer = shop()
    from marketplace.invoicing import drafting

    def broken(part):
        raise RuntimeError("printer on fire")

    monkeypatch.setattr(drafting, "draft_part", broken)
    order = collected_order(buyer, [(eggs, 1)])
    db.session.commit()
    assert order.payment_status.value == "paid" and _invoices() == []
    # Nor its audit entries, noted before the invoicing's savepoint was rolled back.
    [paid] = db.session.query(AuditEntry).filter_by(subject_type="orders", subject_id=str(order.id),
                                                    action="order.updated").all()
    assert paid.after == {"payment_status": "paid"}
    alert = db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "admin@test.coop",
                                                   OutboundEmail.subject.contains("Invoicing failed")).one()
    assert "printer on fire" in alert.body


def test_a_dispute_credit_on_a_pay_at_pickup_order_issues_a_credit_note(app):
    farm, tomatoes, eggs, buyer = shop()
    order = collected_order(buyer, [(eggs, 4)])
    line = order.parts[0].lines[0]
    dispute = disputes.open_dispute(buyer, line.id, DisputeReason.DAMAGED, "Two eggs were broken")
    disputes.resolve_dispute(get_admin(), dispute.id, DisputeStatus.CREDITED, 700, "Two broken eggs")
    original, credit = _invoices()
    assert credit.kind == InvoiceKind.CREDIT_NOTE and credit.credited_invoice_id == original.id
    assert credit.number == original.number + 1 and credit.series_key == original.series_key
    assert [(l.ttc_cents, l.vat_rate_bp, l.credits_line_id) for l in credit.lines] == [(700, 550, original.lines[0].id)]
    assert (credit.total_vat_cents, credit.total_ht_cents) == (36, 664)
    assert "Two broken eggs" in credit.reason and original.total_ttc_cents == 1400  # the original is unchanged


# ---------------------------------------------------------------- card orders (fake Stripe, tasks driven by hand)

def _card_order_settled(fake, farm, buyer, items, delivery=False):
    connect_ready_account(fake, farm)
    order = placed_order(buyer, items, card=True, delivery=delivery)
    db.session.commit()
    with current_app.test_request_context():
        payments.start_checkout(buyer, order.id)
    db.session.commit()
    fake.pay_checkout_session(db.session.query(CardPayment).filter_by(order_id=order.id).one().session_id)
    payments.sync_payment(order.id)
    prepare(db.session.get(orders.Order, order.id), grams={"Tomatoes": 2100})
    db.session.commit()
    assert payments.capture_order(order.id) == "captured"
    payments.sync_payment(order.id)
    assert _invoices() == []  # captured: the invoice follows the settlement
    payments.settle_order(order.id)
    return db.session.get(orders.Order, order.id)


def test_a_card_order_captured_is_invoiced_and_a_line_rejected_afterwards_is_credited(app, fake_stripe):
    farm, tomatoes, eggs, buyer = shop()
    order = _card_order_settled(fake_stripe, farm, buyer, [(tomatoes, 2), (eggs, 2)])
    [invoice] = _invoices()
    assert invoice.total_ttc_cents == order.card_payment.captured_cents == 1260 + 700
    assert "Payée par carte bancaire" in invoice.payment_note
    payments.settle_order(order.id)  # a second settlement run issues nothing more
    assert len(_invoices()) == 1

    eggs_line = next(l for l in order.parts[0].lines if l.product_name == "Eggs")
    orders.reject_line(farm, eggs_line.id, "The hens were on strike")
    original, credit = _invoices()
    assert original.id == invoice.id and original.total_ttc_cents == 1960
    assert credit.is_credit_note and credit.credited_invoice_id == invoice.id and credit.number == 2
    assert [(l.description, l.quantity_milli, l.ttc_cents) for l in credit.lines] == [("Eggs", 2000, 700)]
    assert "The hens were on strike" in credit.reason and "remboursé sur la carte" in credit.payment_note


def test_a_dispute_refund_on_a_card_order_issues_a_credit_note(app, fake_stripe):
    farm, tomatoes, eggs, buyer = shop()
    order = _card_order_settled(fake_stripe, farm, buyer, [(eggs, 3)])
    line = order.parts[0].lines[0]
    dispute = disputes.open_dispute(buyer, line.id, DisputeReason.DAMAGED, "cracked")
    disputes.resolve_dispute(get_admin(), dispute.id, DisputeStatus.REFUNDED, 350, "One box cracked")
    original, credit = _invoices()
    assert credit.credited_invoice_id == original.id and credit.total_ttc_cents == 350
    assert [(l.description, l.quantity_milli, l.unit_code) for l in credit.lines] == [
        ("Remboursement partiel — Eggs", 1000, "C62")]
    # A second refund cannot credit more than the line was invoiced for.
    payments.resolve_dispute(get_admin(), line.id, 700, "The rest too")
    third = _invoices()[-1]
    assert third.total_ttc_cents == 700
    assert sum(i.total_ttc_cents for i in _invoices(kind=InvoiceKind.CREDIT_NOTE)) == original.total_ttc_cents


def test_a_buyer_for_a_business_gets_its_siren_vat_number_and_the_late_payment_mentions(app):
    from marketplace.invoicing.parties import save_buyer_identity
    from marketplace.invoicing.texts import legal_notes
    from tests.invoicing_fixtures import BUYER_SIREN, BUYER_VAT

    farm, tomatoes, eggs, buyer = shop()
    save_buyer_identity(buyer, business_name="Restaurant Le Marais", siren=BUYER_SIREN, vat_number=BUYER_VAT)
    collected_order(buyer, [(eggs, 1)])
    [invoice] = _invoices()
    assert (invoice.buyer_name, invoice.buyer_siren, invoice.buyer_vat_number) == (
        "Restaurant Le Marais", BUYER_SIREN, BUYER_VAT)
    texts = " ".join(text for _code, text in legal_notes(invoice))
    assert "40 €" in texts and "pénalités" in texts and "escompte" in texts


def test_a_buyer_business_identity_is_checked(app):
    from marketplace.core.errors import ServiceError
    from marketplace.invoicing.parties import save_buyer_identity

    buyer = make_member("pro@test.coop")
    with pytest.raises(ServiceError, match="SIREN"):
        save_buyer_identity(buyer, business_name="X", siren="123456789", vat_number="")
    with pytest.raises(ServiceError, match="does not belong"):
        save_buyer_identity(buyer, business_name="X", siren="350000022", vat_number="FR11123456782")
    with pytest.raises(ServiceError, match="name of the business"):
        save_buyer_identity(buyer, business_name="", siren="350000022", vat_number="")


def test_when_every_line_is_rejected_after_invoicing_the_delivery_is_credited_too(app, fake_stripe):
    farm, tomatoes, eggs, buyer = shop()
    order = _card_order_settled(fake_stripe, farm, buyer, [(eggs, 2)], delivery=True)
    goods, delivery = _invoices()
    assert (goods.issuer_kind.value, delivery.issuer_kind.value) == ("producer", "coop")
    assert delivery.total_ttc_cents == order.delivery_fee_cents == 450 and delivery.number_text == "C-000001"
    assert goods.total_ttc_cents + delivery.total_ttc_cents == order.card_payment.captured_cents
    orders.reject_line(farm, order.parts[0].lines[0].id, "Fox in the henhouse")
    credits = _invoices(kind=InvoiceKind.CREDIT_NOTE)
    assert sorted((c.credited_invoice_id, c.total_ttc_cents) for c in credits) == sorted(
        [(goods.id, 700), (delivery.id, 450)])
    assert next(c for c in credits if c.credited_invoice_id == delivery.id).number_text == "C-000002"


def test_a_packed_card_order_cancelled_at_the_cut_off_after_its_invoice_is_credited_and_refunded(app, fake_stripe):
    """The one way a part is cancelled after its invoice (no admin action cancels a part; the buyer only cancels
    parts not yet accepted): the producer packed a card order before the cut-off, so it was final, captured,
    settled and invoiced; then the cut-off finds the producer's minimum order not reached and cancels the part."""
    from datetime import timedelta

    from marketplace.orders.states import PartStatus
    from marketplace.payments import refunds
    from marketplace.timeutil import utcnow

    farm, tomatoes, eggs, buyer = shop()
    order = _card_order_settled(fake_stripe, farm, buyer, [(eggs, 2)], delivery=True)
    goods, delivery = _invoices()
    assert (goods.total_ttc_cents, delivery.total_ttc_cents) == (700, 450)
    farm.producer_profile.min_order_cents = 5000
    assert orders.close_distribution(order.distribution_id, now=utcnow() + timedelta(hours=25))
    db.session.commit()

    db.session.expire_all()
    part = db.session.get(orders.Order, order.id).parts[0]
    assert part.status == PartStatus.CANCELLED
    credits = _invoices(kind=InvoiceKind.CREDIT_NOTE)
    assert sorted((c.credited_invoice_id, c.total_ttc_cents) for c in credits) == sorted(
        [(goods.id, 700), (delivery.id, 450)])
    goods_credit = next(c for c in credits if c.credited_invoice_id == goods.id)
    assert goods_credit.reason.startswith("Annulation : ") and "minimum de commande" in goods_credit.reason
    assert goods_credit.series_key == goods.series_key and goods_credit.number == goods.number + 1
    assert "remboursé sur la carte" in goods_credit.payment_note
    # The money follows (tasks driven by hand here): the whole capture goes back to the card.
    credit = payments.rebalance_order(order.id)
    assert credit.amount_cents == 1150
    refunds.execute_credit(credit.id)
    assert sum(r["amount"] for r in fake_stripe.objects_of("refund")) == order.card_payment.captured_cents == 1150


def test_erasing_a_buyer_forgets_their_business_details_but_issued_invoices_stay_as_issued(app):
    from marketplace.invoicing.models import BuyerIdentity
    from marketplace.invoicing.parties import save_buyer_identity
    from marketplace.privacy.services import erase_account
    from tests.factories import PASSWORD
    from tests.invoicing_fixtures import BUYER_SIREN

    farm, tomatoes, eggs, buyer = shop()
    save_buyer_identity(buyer, business_name="Marie Buyer EI", siren=BUYER_SIREN, vat_number="")
    collected_order(buyer, [(eggs, 1)])
    erase_account(buyer, PASSWORD, "ERASE")
    assert db.session.get(BuyerIdentity, buyer.id) is None
    [invoice] = _invoices()
    assert (invoice.buyer_name, invoice.buyer_siren) == ("Marie Buyer EI", BUYER_SIREN)
