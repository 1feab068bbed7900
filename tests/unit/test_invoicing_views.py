"""What people see: the buyer's download from the order page, the seller's register and the admins' journal."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import facturx

from marketplace.extensions import db
from marketplace.invoicing.drafting import local_date
from marketplace.invoicing.models import Invoice, InvoiceKind
from marketplace.invoicing.registers import register_csv
from tests.factories import get_admin, login, make_member, make_product
from tests.invoicing_fixtures import collected_order, invoicing_producer, shop


def _rows(text: str) -> list[dict]:
    assert text.startswith("\ufeff")  # a BOM: a spreadsheet opens the UTF-8 as such
    return list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))


def _scene():
    farm, tomatoes, eggs, buyer = shop()
    baker = invoicing_producer("baker@test.coop", "Bakery")
    bread = make_product(baker, "=HYPERLINK(\"http://evil\")", price_cents=420)
    bread.vat_rate_bp = 1000
    order = collected_order(buyer, [(tomatoes, 2), (eggs, 3), (bread, 1)], grams={"Tomatoes": 1873})
    db.session.commit()
    return farm, baker, buyer, order


def test_the_buyer_downloads_each_invoice_from_the_order_page_and_others_cannot(app, client):
    farm, baker, buyer, order = _scene()
    login(client, buyer)
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    invoices = db.session.query(Invoice).order_by(Invoice.id).all()
    for invoice in invoices:
        assert f"/invoices/{invoice.id}.pdf" in page and invoice.number_text in page
    response = client.get(f"/invoices/{invoices[0].id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f"facture-{invoices[0].number_text}.pdf" in response.headers["Content-Disposition"]
    assert facturx.get_facturx_xml_from_pdf(response.data)[0] == "factur-x.xml"
    client.post("/logout")
    # Another producer sees only their own invoice; a stranger sees none.
    login(client, baker)
    farm_invoice = next(i for i in invoices if i.producer_id == farm.producer_profile.id)
    bakery_invoice = next(i for i in invoices if i.producer_id == baker.producer_profile.id)
    assert client.get(f"/invoices/{farm_invoice.id}.pdf").status_code == 404
    assert client.get(f"/invoices/{bakery_invoice.id}.pdf").status_code == 200
    client.post("/logout")
    stranger = make_member("stranger@test.coop")
    db.session.commit()
    login(client, stranger)
    assert client.get(f"/invoices/{farm_invoice.id}.pdf").status_code == 404
    assert client.get(f"/invoices/{farm_invoice.id}.xml").status_code == 404


def test_the_producer_register_filters_by_period_and_exports_csv(app, client):
    farm, baker, buyer, order = _scene()
    eggs_line = next(l for p in order.parts for l in p.lines if l.product_name == "Eggs")
    from marketplace.disputes import services as disputes
    from marketplace.disputes.models import DisputeReason, DisputeStatus

    dispute = disputes.open_dispute(buyer, eggs_line.id, DisputeReason.DAMAGED, "broken")
    disputes.resolve_dispute(get_admin(), dispute.id, DisputeStatus.CREDITED, 350, "One box broken")
    db.session.commit()
    login(client, farm)
    page = client.get("/invoices").get_data(as_text=True)
    mine = db.session.query(Invoice).filter_by(producer_id=farm.producer_profile.id).order_by(Invoice.id).all()
    assert [i.kind for i in mine] == [InvoiceKind.INVOICE, InvoiceKind.CREDIT_NOTE]
    bakery = db.session.query(Invoice).filter_by(producer_id=baker.producer_profile.id).one()
    assert all(i.number_text in page for i in mine) and bakery.number_text not in page
    today = local_date(None)  # the coop's day, as the registers read it (not UTC's: they differ after 23:00)
    rows = _rows(client.get(f"/invoices/register.csv?start={today - timedelta(days=1)}&end={today + timedelta(days=1)}")
                 .get_data(as_text=True))
    assert [(r["Numéro"], r["Type"], r["Total TTC"]) for r in rows] == [
        (mine[0].number_text, "Facture", "21,74"), (mine[1].number_text, "Avoir", "3,50")]
    assert rows[1]["Facture d'origine"] == mine[0].number_text
    later = _rows(client.get(f"/invoices/register.csv?start={today + timedelta(days=2)}").get_data(as_text=True))
    assert later == []
    assert client.get("/invoices?start=2026-13-01").status_code == 400
    # The buyer has no register (not a seller) but sees the invoices addressed to them.
    client.post("/logout")
    login(client, buyer)
    assert client.get("/invoices/register.csv").status_code == 403
    received = client.get("/invoices").get_data(as_text=True)
    assert all(i.number_text in received for i in mine)


def test_the_admin_journal_has_one_line_per_invoice_and_vat_rate(app, client):
    farm, baker, buyer, order = _scene()
    login(client, get_admin())
    today = local_date(None)  # the coop's day, as the registers read it (not UTC's: they differ after 23:00)
    text = client.get(f"/admin/invoicing/journal.csv?start={today - timedelta(days=1)}&end={today}").get_data(
        as_text=True)
    rows = _rows(text)
    invoices = db.session.query(Invoice).order_by(Invoice.id).all()
    assert len(rows) == sum(len(i.vat_totals) for i in invoices) == 2
    assert {(r["Numéro"], r["Taux de TVA"], r["Base HT"], r["TVA"], r["Total TTC"]) for r in rows} == {
        (invoices[0].number_text, "5,50", "20,61", "1,13", "21,74"),
        (invoices[1].number_text, "10,00", "3,82", "0,38", "4,20")}
    assert all(r["Émise par la coopérative"] == "mandat" for r in rows)
    empty = client.get(f"/admin/invoicing/journal.csv?start={today + timedelta(days=1)}").get_data(as_text=True)
    assert _rows(empty) == []
    client.post("/logout")
    login(client, farm)
    assert client.get("/admin/invoicing/journal.csv").status_code == 403


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(app):
    from marketplace.csvexport import csv_text
    from marketplace.invoicing.parties import save_buyer_identity

    text = csv_text(["a", "b", "c", "d", "e", "f", "g"], [["=1+1", "+33 6", "-2", "@SUM(A1)", "\tx", "plain", 12]])
    assert text.splitlines()[1] == "'=1+1;'+33 6;-2;'@SUM(A1);'\tx;plain;12"  # -2 is a number, not a formula
    farm, tomatoes, eggs, buyer = shop()
    save_buyer_identity(buyer, business_name='=HYPERLINK("http://evil.example","x")', siren="", vat_number="")
    collected_order(buyer, [(eggs, 1)])
    [row] = _rows(register_csv(db.session.query(Invoice).all()))
    assert row["Client"] == '\'=HYPERLINK("http://evil.example","x")'


def test_a_pending_invoice_is_announced_on_the_order_page(app, client):
    farm, tomatoes, eggs, buyer = shop(mandate=False)
    order = collected_order(buyer, [(eggs, 1)])
    db.session.commit()
    login(client, buyer)
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Some invoices are not issued yet" in page


def test_a_new_product_gets_the_coops_default_vat_rate(app, client):
    from marketplace.core.services import set_setting
    from tests.factories import make_producer

    farm = make_producer("farm@test.coop")
    set_setting("default_vat_rate_bp", "2000")
    db.session.commit()
    login(client, farm)
    page = client.get("/producer/products/new").get_data(as_text=True)
    assert '<option selected value="2000">' in page or '<option value="2000" selected>' in page
