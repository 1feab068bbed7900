"""In Chromium: a producer accepts the billing mandate and opens their invoice register (filter, CSV);
the buyer downloads the Factur-X invoice from the order page."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import facturx
import pytest

from marketplace.extensions import db
from marketplace.invoicing.drafting import local_date
from marketplace.invoicing.models import Invoice
from tests.e2e.pages import log_in
from tests.invoicing_fixtures import collected_order, shop

pytestmark = pytest.mark.browser


def _logout(page):
    page.click("form[action$='/logout'] button")
    page.wait_for_load_state()


def test_producer_accepts_the_mandate_and_reads_the_register_buyer_downloads_the_invoice(app, live_server, browser):
    farm, tomatoes, eggs, buyer = shop(mandate=False)
    order = collected_order(buyer, [(tomatoes, 2), (eggs, 3)], grams={"Tomatoes": 1873})
    order_id, farm_email, buyer_email = order.id, farm.email, buyer.email
    db.session.commit()
    assert db.session.query(Invoice).count() == 0  # waiting for the mandate

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    log_in(page, live_server, farm_email)
    page.click("[data-testid=invoices-link]")
    page.wait_for_load_state()
    assert "1 sale or credit is waiting to be invoiced" in page.inner_text("[data-testid=waiting-count]")
    page.click("text=Read and accept the billing mandate")
    page.wait_for_load_state()
    assert "MANDAT DE FACTURATION" in page.inner_text("[data-testid=mandate-text]")
    page.check("input[name=accept]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "Billing mandate accepted" in page.content()

    db.session.expire_all()
    [invoice] = db.session.query(Invoice).all()
    register = page.locator("[data-testid=register]")
    assert invoice.number_text in register.inner_text() and "21.74" in register.inner_text()
    today = local_date(None)  # the coop's day, as the register reads it (not UTC's: they differ after 23:00)
    page.fill("input[name=start]", (today + timedelta(days=1)).isoformat())
    page.click("[data-testid=period-filter] button")
    page.wait_for_load_state()
    assert invoice.number_text not in page.locator("[data-testid=register]").inner_text()
    page.fill("input[name=start]", (today - timedelta(days=1)).isoformat())
    page.fill("input[name=end]", today.isoformat())
    page.click("[data-testid=period-filter] button")
    page.wait_for_load_state()
    assert invoice.number_text in page.locator("[data-testid=register]").inner_text()
    with page.expect_download() as csv_download:
        page.click("[data-testid=register-csv]")
    exported = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    assert exported.splitlines()[0].startswith("Numéro;Type;") and invoice.number_text in exported
    _logout(page)

    log_in(page, live_server, buyer_email)
    page.goto(f"{live_server}/orders/{order_id}")
    link = page.locator("[data-testid=order-invoice-link]")
    assert invoice.number_text in link.inner_text()
    with page.expect_download() as pdf_download:
        link.click()
    assert pdf_download.value.suggested_filename == f"facture-{invoice.number_text}.pdf"
    pdf = Path(pdf_download.value.path()).read_bytes()
    name, xml = facturx.get_facturx_xml_from_pdf(pdf)
    assert name == "factur-x.xml" and invoice.number_text.encode() in xml
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    context.close()
