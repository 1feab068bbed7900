"""The coop's own invoices (members' fees, delivery) and self-billed invoices for self-employed couriers."""
from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.billing import services as billing
from marketplace.billing.models import Statement
from marketplace.core.errors import ServiceError
from marketplace.core.services import set_setting
from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import CourierPayable, Run, StopKind
from marketplace.extensions import db
from marketplace.invoicing.facturx import type_code
from marketplace.invoicing.models import BlockedReason, DraftStatus, Invoice, InvoiceDraft, IssuerKind
from marketplace.invoicing.parties import save_courier_identity
from marketplace.invoicing.texts import mandate_mention
from marketplace.members.models import College
from tests.billing_fixtures import LineSpec, add_cost, adopt_rule, last_month, make_sale, past_distribution
from tests.dispatch_fixtures import delivery_scene
from tests.factories import get_admin, make_member, make_producer
from tests.invoicing_fixtures import (
    COOP_SIRET,
    FARM2_SIRET,
    FARM_SIRET,
    FARM_VAT,
    accept_mandate,
    coop_can_invoice,
    seller_identity,
)


def _invoices(**filters) -> list[Invoice]:
    return db.session.query(Invoice).filter_by(**filters).order_by(Invoice.id).all()


def _close_last_month(producer_identity: bool = False):
    month = last_month()
    producer = make_producer("farm@test.coop", "Ferme du Test")
    if producer_identity:
        seller_identity(producer)
    buyer = make_member("buyer@test.coop", College.BUYER, name="Paul Buyer", address="9 quai", postcode="44000",
                        town="Nantes")
    make_member("friend@test.coop", College.SUPPORTER)
    make_sale(buyer, producer, past_distribution(month + timedelta(days=9), [producer]),
              [LineSpec(price_cents=450, quantity=4)])
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 2, "courier": 1, "buyer": 1})
    add_cost(5_000, month + timedelta(days=2))
    period = billing.close_month(get_admin(), month)
    return period, producer, buyer


def test_a_fee_statement_becomes_an_invoice_in_the_coops_series(app):
    coop_can_invoice()
    period, producer, buyer = _close_last_month(producer_identity=True)
    statements = {s.user_id: s for s in db.session.query(Statement).filter(Statement.total_cents > 0)}
    invoices = _invoices(issuer_kind=IssuerKind.COOP)
    assert len(invoices) == len(statements) >= 2
    assert [i.number_text for i in invoices] == [f"C-{n:06d}" for n in range(1, len(invoices) + 1)]
    for invoice in invoices:
        statement = statements[invoice.buyer_user_id]
        # The fee at cost is the amount including VAT; the coop's services rate (20 % by default) is inside it.
        assert invoice.total_ttc_cents == statement.total_cents
        assert [r.vat_rate_bp for r in invoice.vat_totals] == [2000]
        assert invoice.seller_siret == COOP_SIRET and invoice.issuer_name == "" and invoice.mandate_id is None
        assert invoice.sale_date == period.ends_on - timedelta(days=1)
    paul = next(i for i in invoices if i.buyer_user_id == buyer.id)
    assert (paul.buyer_name, paul.buyer_address, paul.buyer_siren) == ("Paul Buyer", "9 quai", "")
    # A producer's fee is billed to their business, with its SIREN and VAT number.
    farm = next(i for i in invoices if i.buyer_user_id == producer.id)
    assert (farm.buyer_name, farm.buyer_siren, farm.buyer_vat_number) == ("EARL Ferme du Test", FARM_SIRET[:9],
                                                                          FARM_VAT)
    assert sum(i.total_ttc_cents for i in invoices) == sum(s.total_cents for s in statements.values())


def test_without_the_coops_siret_fee_invoices_wait_and_the_admin_is_told(app, client):
    from tests.factories import login

    _close_last_month()
    assert _invoices() == []
    drafts = db.session.query(InvoiceDraft).all()
    assert drafts and {d.blocked_reason for d in drafts} == {BlockedReason.COOP_IDENTITY}
    db.session.commit()
    login(client, get_admin())
    page = client.get("/admin/invoicing").get_data(as_text=True)
    assert "the coop&#39;s SIRET" in page or "the coop's SIRET" in page
    refused = client.post("/admin/settings", data={"coop_name": "Coop", "colour_primary": "#112233",
                                                   "colour_accent": "#e8a33d", "share_nominal": "20",
                                                   "weight_margin_percent": "20", "coop_siret": "12345678200011",
                                                   "coop_vat_regime": "franchise", "services_vat_rate_bp": "2000",
                                                   "default_vat_rate_bp": "550", "delivery_seller": "coop"})
    assert "This SIRET number is not valid" in refused.get_data(as_text=True)
    saved = client.post("/admin/settings", data={"coop_name": "Coop", "colour_primary": "#112233",
                                                 "colour_accent": "#e8a33d", "share_nominal": "20",
                                                 "weight_margin_percent": "20", "coop_siret": "123 456 782 00010",
                                                 "coop_vat_regime": "franchise", "services_vat_rate_bp": "2000",
                                                 "default_vat_rate_bp": "550", "delivery_seller": "coop"})
    assert saved.status_code == 302
    client.post("/admin/invoicing/issue-pending")
    db.session.expire_all()
    invoices = _invoices()
    assert len(invoices) == len(drafts) and all(i.seller_siret == COOP_SIRET for i in invoices)
    # The coop now declares the VAT franchise: exempt, with the mention.
    assert all(i.seller_vat_franchise and i.total_vat_cents == 0 for i in invoices)


def _self_employed(courier, franchise=True):
    save_courier_identity(courier, self_employed=True, legal_name="Sam Vélo EI", legal_form="EI",
                          legal_address="4 rue du Guesclin", legal_postcode="44000", legal_town="Nantes",
                          siret=FARM2_SIRET, vat_number="", vat_regime="franchise" if franchise else "subject")
    accept_mandate(courier)


def _deliver(courier, order):
    [run_id] = dispatch.plan_for_order(order.id)
    run = db.session.get(Run, run_id)
    dispatch.accept_run(run.offered_to, run_id)
    for stop in run.stops:
        if stop.kind == StopKind.PICKUP:
            dispatch.mark_picked_up(run.courier, stop.id)
    dispatch.confirm_delivery(run.courier, run.stops[-1].id, order.delivery_code)
    return run


def test_a_self_employed_courier_paid_for_a_run_gets_a_self_billed_invoice(app):
    coop_can_invoice()
    distribution, [courier], [order] = delivery_scene()
    _self_employed(courier)
    run = _deliver(courier, order)
    payable = db.session.query(CourierPayable).one()
    [self_billed] = _invoices(issuer_kind=IssuerKind.COURIER)
    assert self_billed.self_billed and type_code(self_billed) == "389"
    assert self_billed.number_text == f"L{courier.id:04d}-000001" and self_billed.courier_id == courier.id
    assert self_billed.total_ttc_cents == payable.amount_cents and self_billed.total_vat_cents == 0
    assert (self_billed.seller_name, self_billed.seller_siret) == ("Sam Vélo EI", FARM2_SIRET)
    assert (self_billed.buyer_name, self_billed.buyer_siren) == ("La Coop des Champs", COOP_SIRET[:9])
    assert f"n° {run.id}" in self_billed.lines[0].description
    # The delivery fee the buyer paid is the coop's sale (the default setting), in the coop's series.
    [delivery] = _invoices(issuer_kind=IssuerKind.COOP)
    assert delivery.total_ttc_cents == order.delivery_fee_cents == 450 and delivery.buyer_user_id == order.buyer_id


def test_a_courier_riding_as_a_member_gets_no_invoice(app):
    coop_can_invoice()
    distribution, [courier], [order] = delivery_scene()
    _deliver(courier, order)
    assert db.session.query(CourierPayable).count() == 1
    assert _invoices(issuer_kind=IssuerKind.COURIER) == []


def test_when_couriers_sell_delivery_the_fee_is_invoiced_in_their_name_and_only_the_rest_self_billed(app):
    coop_can_invoice()
    set_setting("delivery_seller", "courier")
    distribution, [courier], [order] = delivery_scene()
    _self_employed(courier)
    _deliver(courier, order)
    payable = db.session.query(CourierPayable).one()
    delivery, self_billed = _invoices(issuer_kind=IssuerKind.COURIER)
    assert not delivery.self_billed and delivery.buyer_user_id == order.buyer_id
    assert delivery.total_ttc_cents == order.delivery_fee_cents and delivery.number == 1
    assert "au nom et pour le compte de Sam Vélo EI" in mandate_mention(delivery)
    assert self_billed.self_billed and self_billed.number == 2
    assert self_billed.total_ttc_cents == payable.amount_cents - order.delivery_fee_cents
    assert _invoices(issuer_kind=IssuerKind.COOP) == []


def test_a_courier_register_lists_their_delivery_and_self_billed_invoices_and_exports_them(app, client):
    import csv
    import io

    from marketplace.invoicing.drafting import local_date
    from marketplace.invoicing.registers import seller_register
    from tests.factories import login

    coop_can_invoice()
    set_setting("delivery_seller", "courier")
    distribution, [courier], [order] = delivery_scene()
    _self_employed(courier)
    _deliver(courier, order)
    delivery, self_billed = _invoices(issuer_kind=IssuerKind.COURIER)
    other = make_member("other.courier@test.coop", College.COURIER)  # a courier who sold nothing
    db.session.commit()

    assert seller_register(courier) == [delivery, self_billed]  # the courier branch: their own series only
    assert seller_register(other) == []
    login(client, courier)
    page = client.get("/invoices").get_data(as_text=True)
    assert delivery.number_text in page and self_billed.number_text in page
    today = local_date(None)  # the coop's day, as the registers read it (not UTC's: they differ after 23:00)
    text = client.get(f"/invoices/register.csv?start={today}&end={today}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    assert [(r["Numéro"], r["Type"], r["Client"], r["Commande"]) for r in rows] == [
        (delivery.number_text, "Facture", delivery.buyer_name, order.reference),
        (self_billed.number_text, "Facture", "La Coop des Champs", "")]
    assert rows[0]["Total TTC"] == "4,50" and delivery.buyer_name
    client.post("/logout")
    login(client, order.parts[0].producer.user)  # a producer's register holds none of the courier's
    assert delivery.number_text not in client.get("/invoices/register.csv").get_data(as_text=True)


def test_a_self_employed_courier_must_give_a_complete_identity(app):
    distribution, [courier], _orders = delivery_scene(ready=False)
    with pytest.raises(ServiceError, match="SIRET"):
        save_courier_identity(courier, self_employed=True, legal_name="Sam", legal_form="", legal_address="x",
                              legal_postcode="44000", legal_town="Nantes", siret="", vat_number="",
                              vat_regime="franchise")


def test_a_producer_identity_is_checked_on_the_profile_form(app, client):
    from tests.factories import login

    farm = make_producer("farm@test.coop", "Ferme")
    db.session.commit()
    login(client, farm)
    base = {"name": "Ferme", "legal_name": "EARL Ferme", "legal_address": "1 chemin", "legal_postcode": "44000",
            "legal_town": "Nantes", "vat_regime": "subject"}
    bad_siret = client.post("/producer/profile", data={**base, "siret": "98765432400018"})
    assert bad_siret.status_code == 400 and "This SIRET number is not valid" in bad_siret.get_data(as_text=True)
    no_vat = client.post("/producer/profile", data={**base, "siret": "98765432400019"})
    assert "must give their intra-EU VAT number" in no_vat.get_data(as_text=True)
    wrong_vat = client.post("/producer/profile", data={**base, "siret": "98765432400019",
                                                       "vat_number": "FR11123456782"})
    assert "does not belong to the SIREN" in wrong_vat.get_data(as_text=True)
    saved = client.post("/producer/profile", data={**base, "siret": "987 654 324 00019",
                                                   "vat_number": "fr 14 987654324"})
    assert saved.status_code == 302
    db.session.expire_all()
    profile = farm.producer_profile
    assert (profile.siret, profile.vat_number, profile.vat_regime.value) == ("98765432400019", "FR14987654324",
                                                                             "subject")


def test_pending_drafts_of_one_seller_only_are_issued_on_their_acceptance(app):
    from marketplace.catalog.models import Product, ProductVariant, Unit
    from tests.invoicing_fixtures import collected_order, invoicing_producer, shop

    farm, tomatoes, eggs, buyer = shop(mandate=False)
    other = invoicing_producer("other@test.coop", "Other farm", mandate=False)
    plums = Product(producer_id=other.producer_profile.id, category_id=eggs.category_id, name="Plums",
                    price_cents=500)
    plums.variants.append(ProductVariant(unit=plums.unit or Unit.PIECE, price_cents=500, vat_rate_bp=550))
    db.session.add(plums)
    db.session.flush()
    collected_order(buyer, [(eggs, 1), (plums, 1)])
    assert db.session.query(InvoiceDraft).filter_by(status=DraftStatus.PENDING).count() == 2
    accept_mandate(farm)
    [invoice] = _invoices()
    assert invoice.producer_id == farm.producer_profile.id
    assert db.session.query(InvoiceDraft).filter_by(status=DraftStatus.PENDING).one().producer_id == \
        other.producer_profile.id
