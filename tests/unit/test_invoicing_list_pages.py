"""The invoicing lists (a seller's register, the invoices a member received, the drafts waiting for the admins):
paginated, and as many statements for many rows as for few."""
from __future__ import annotations

import json

from marketplace.extensions import db
from marketplace.invoicing import registers
from marketplace.invoicing.models import BlockedReason, Invoice, InvoiceDraft, InvoiceKind, IssuerKind
from marketplace.invoicing.numbering import number_text, series_key
from marketplace.orders.models import Order, OrderPart
from marketplace.timeutil import utcnow
from tests.factories import login
from tests.unit.test_catalogue_querycount import _orders, _queries
from tests.unit.test_list_querycount import _shop


def _invoice_the_orders(farm) -> None:
    """An invoice of `farm` for each order not invoiced yet, a credit note on every third, and a draft waiting for
    the other farm's part (written directly: issuing needs the orders collected and the billing mandate)."""
    key, now = series_key(IssuerKind.PRODUCER, farm.id), utcnow()
    done = {i.order_id for i in db.session.query(Invoice)}
    number = db.session.query(Invoice).count()
    for order in db.session.query(Order).filter(Order.id.not_in(done)).order_by(Order.id):
        made = []
        for credited in (None, "credit") if order.id % 3 == 0 else (None,):
            number += 1
            invoice = Invoice(kind=InvoiceKind.CREDIT_NOTE if credited else InvoiceKind.INVOICE, series_key=key,
                              number=number, number_text=number_text(key, number), source_key=f"t:{number}",
                              issued_at=now, sale_date=now.date(), issuer_kind=IssuerKind.PRODUCER,
                              producer_id=farm.id, credited_invoice_id=made[0].id if credited else None,
                              order_id=order.id, seller_name=farm.name, buyer_user_id=order.buyer_id,
                              buyer_name=order.buyer.full_name, total_ht_cents=284, total_vat_cents=16,
                              total_ttc_cents=300)
            db.session.add(invoice)
            db.session.flush()
            made.append(invoice)
        part = db.session.query(OrderPart).filter(OrderPart.order_id == order.id,
                                                  OrderPart.producer_id != farm.id).one()
        db.session.add(InvoiceDraft(source_key=f"part:{part.id}", kind=InvoiceKind.INVOICE,
                                    issuer_kind=IssuerKind.PRODUCER, producer_id=part.producer_id,
                                    order_id=order.id, part_id=part.id, blocked_reason=BlockedReason.NO_MANDATE,
                                    payload_json=json.dumps({"lines": [{"ttc_cents": 400}]})))
    db.session.commit()


def test_the_seller_register_is_paginated_in_a_fixed_number_of_statements(app, client, monkeypatch):
    _admin, farms, products = _shop()
    _orders(farms[0], products, 3, 0)
    _invoice_the_orders(farms[0].producer_profile)
    login(client, farms[0])
    few = _queries(client, "/invoices")
    _orders(farms[0], products, 17, 3)
    _invoice_the_orders(farms[0].producer_profile)
    many = _queries(client, "/invoices")
    page = client.get("/invoices").get_data(as_text=True)
    credit_notes = db.session.query(Invoice).filter(Invoice.kind == InvoiceKind.CREDIT_NOTE).all()
    assert page.count('data-testid="invoice-pdf"') == 20 + len(credit_notes) and len(credit_notes) >= 6
    assert all(f"on {c.credited_invoice.number_text}" in page for c in credit_notes)
    assert many == few, f"{few} statements for 3 orders' invoices, {many} for 20"
    monkeypatch.setattr(registers, "INVOICES_PER_PAGE", 10)
    third = client.get("/invoices?page=3").get_data(as_text=True)
    assert third.count('data-testid="invoice-pdf"') == 20 + len(credit_notes) - 20 and "Page 3 of 3" in third


def test_the_invoice_pages_are_paginated_each_table_on_its_own(app, client, monkeypatch):
    _admin, farms, products = _shop()
    _orders(farms[0], products, 4, 0)
    _invoice_the_orders(farms[0].producer_profile)  # 4 invoices and 1 credit note
    monkeypatch.setattr(registers, "INVOICES_PER_PAGE", 3)
    login(client, farms[0])
    first = client.get("/invoices?start=2000-01-01").get_data(as_text=True)
    second = client.get("/invoices?start=2000-01-01&page=2").get_data(as_text=True)
    assert first.count('data-testid="invoice-pdf"') == 3 and "Page 1 of 2" in first
    assert "/invoices?page=2&amp;start=2000-01-01" in first
    assert second.count('data-testid="invoice-pdf"') == 2 and "Page 2 of 2" in second
    assert _queries(client, "/invoices?page=2") == _queries(client, "/invoices")


def test_the_drafts_waiting_statement_count_does_not_follow_the_drafts_and_they_are_paginated(app, client,
                                                                                             monkeypatch):
    admin, farms, products = _shop()
    _orders(farms[0], products, 3, 0)
    _invoice_the_orders(farms[0].producer_profile)
    login(client, admin)
    few = _queries(client, "/admin/invoicing")
    _orders(farms[0], products, 17, 3)
    _invoice_the_orders(farms[0].producer_profile)
    many = _queries(client, "/admin/invoicing")
    page = client.get("/admin/invoicing").get_data(as_text=True)
    orders = db.session.query(Order).all()
    assert page.count('<a href="/orders/') == 20 and all(f">{o.reference}</a>" in page for o in orders)
    assert page.count("Ferme 1") == 20 and page.count("billing mandate not accepted") == 20
    assert many == few, f"{few} statements for 3 drafts, {many} for 20"
    monkeypatch.setattr(registers, "INVOICES_PER_PAGE", 15)
    second = client.get("/admin/invoicing?page=2").get_data(as_text=True)
    assert second.count('<a href="/orders/') == 5 and "Page 2 of 2" in second
