"""Reports, CSV exports and the admin console's product, order, shares and fee-rule pages."""
from __future__ import annotations

from datetime import date, timedelta

from marketplace.audit.models import AuditEntry
from marketplace.catalog.models import Product
from marketplace.core.models import OutboundEmail
from marketplace.core.services import get_setting
from marketplace.extensions import db
from marketplace.members.models import Membership
from marketplace.reports import services
from marketplace.csvexport import cents_cell, csv_text
from marketplace.timeutil import utcnow
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import login
from tests.refusals import refused


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    return [line.split(";") for line in text[1:].split("\r\n") if line]


def test_csv_is_french_excel_friendly():
    text = csv_text(["Nom", "Montant"], [["Chèvrerie; Bio", cents_cell(123456)], ["=HYPERLINK()", cents_cell(-5)]])
    assert text == '\ufeffNom;Montant\r\n"Chèvrerie; Bio";1234,56\r\n\'=HYPERLINK();-0,05\r\n'


def test_sales_by_producer_page_and_csv(coop, client):
    login(client, coop["admin"])
    page = client.get("/reports/sales")
    assert page.status_code == 200 and b"<svg" in page.data and b"Ferme du Marais" in page.data
    rows = _csv(client.get("/reports/sales.csv"))
    assert rows[0][0] == "Producer"
    assert ["Ferme du Marais", "1", "5,60", "0,29"] in rows   # 2 x 2.80, 5.5 % VAT inside
    assert ["Chèvrerie", "1", "3,50", "0,18"] in rows
    # The open order (not collected yet) is not a sale.
    assert all("Leeks" not in ";".join(r) for r in rows)
    last_year = date.today().year - 1
    assert len(_csv(client.get(f"/reports/sales.csv?from={last_year}-01-01&to={last_year}-12-31"))) == 1


def test_orders_by_pickup_point_and_member_register(coop, client):
    login(client, coop["admin"])
    rows = _csv(client.get("/reports/pickup-points.csv"))
    place = coop["distribution"].pickup_place.name
    assert [place, "2", "9,10"] in rows
    assert client.get("/reports/pickup-points").status_code == 200
    register = _csv(client.get("/reports/members.csv"))
    marie = next(r for r in register if r[1] == "Marie Curie")
    assert marie[3:5] == ["buyer", "active"] and marie[6:] == ["1", "20,00", "20,00"]
    assert any(r[4] == "pending" and r[0] == "" for r in register[1:])
    assert client.get("/reports/members").status_code == 200


def test_courier_report_reads_dispatch_payables(coop, client):
    from marketplace.dispatch.models import CourierPayable, Run, RunStatus

    now = utcnow()
    run = Run(status=RunStatus.DONE, plan_key="distribution:1", distribution_id=coop["distribution"].id,
              courier_id=coop["courier"].id, starts_at=now, ends_at=now + timedelta(hours=1))
    db.session.add(run)
    db.session.flush()
    db.session.add(CourierPayable(run_id=run.id, courier_id=coop["courier"].id, amount_cents=1250, distance_m=8400,
                                  stops=5, rule="5 € + 0.50 €/km"))
    db.session.commit()
    login(client, coop["admin"])
    assert ["Cora Courier", "1", "5", "8,4", "12,50"] in _csv(client.get("/reports/couriers.csv"))
    assert b"Cora Courier" in client.get("/reports/couriers").data


def test_cost_ledger_reads_billing(coop, client):
    from marketplace.billing.models import CostCategory, CostEntry
    from marketplace.billing.services import get_or_create_period

    today = date.today()
    period = get_or_create_period(today)
    db.session.add(CostEntry(period_id=period.id, category=CostCategory.HOSTING, amount_cents=2400, vat_cents=400,
                             supplier="Hébergeur SCIC", incurred_on=today))
    db.session.commit()
    login(client, coop["admin"])
    rows = _csv(client.get("/reports/costs.csv"))
    assert [today.strftime("%d/%m/%Y"), "hosting", "Hébergeur SCIC", "24,00", "4,00", ""] in rows
    assert "Hébergeur SCIC" in client.get("/reports/costs").get_data(as_text=True)


def test_reports_are_for_admins_only(coop, client):
    login(client, coop["buyer"])
    for url in ("/reports/", "/reports/sales.csv", "/admin/products", f"/admin/orders/{coop['done_order'].id}"):
        assert client.get(url).status_code == 403, url


def test_hiding_a_product_takes_it_off_the_shop_and_tells_the_producer(coop, client):
    carrots_id = coop["carrots"].id
    login(client, coop["admin"])
    assert b"Carrots" in client.get("/admin/products?q=carr").data
    back, errors = refused(client, f"/admin/products/{carrots_id}/hide",
                           {"reason": "", "next": "/admin/products?q=carr"})
    assert back == "/admin/products?q=carr"
    assert errors == ["Tell the producer which part of the charter the product breaks."]
    assert db.session.get(Product, carrots_id).hidden_reason in (None, "")
    response = client.post(f"/admin/products/{carrots_id}/hide", data={"reason": "Grown with glyphosate"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Product, carrots_id).hidden_reason == "Grown with glyphosate"
    mail = db.session.query(OutboundEmail).filter_by(recipient="ferme@test.coop").order_by(OutboundEmail.id.desc()).first()
    assert "hidden" in mail.subject and "glyphosate" in mail.body
    assert db.session.query(AuditEntry).filter_by(action="product.hidden", subject_id=str(carrots_id)).count() == 1
    assert b"Carrots" not in client.get("/products").data
    assert client.post(f"/admin/products/{carrots_id}/unhide").status_code == 302
    assert b"Carrots" in client.get("/products").data


def test_order_detail_shares_and_fee_rule(coop, client):
    login(client, coop["admin"])
    page = client.get(f"/admin/orders/{coop['done_order'].id}")
    assert page.status_code == 200 and coop["done_order"].reference.encode() in page.data and b"Goat cheese" in page.data
    assert client.get("/admin/orders/999999").status_code == 404
    membership_id = coop["buyer"].membership.id
    assert client.post(f"/admin/members/{membership_id}/shares",
                       data={"shares_count": "3", "reason": "Form of 2 March"}).status_code == 302
    assert db.session.get(Membership, membership_id).shares_count == 3
    entry = db.session.query(AuditEntry).filter_by(action="membership.shares_changed").one()
    assert entry.before == {"shares_count": 1} and entry.after == {"shares_count": 3}
    back, errors = refused(client, f"/admin/members/{membership_id}/shares", {"shares_count": "0", "reason": "x"})
    assert back == "/reports/members" and errors == ["Give a number of shares between 1 and 1000 and a reason."]
    db.session.expire_all()
    assert db.session.get(Membership, membership_id).shares_count == 3
    assert client.post("/admin/delivery-fee-rule", data={"text": "4.50 € per delivery, at cost."}).status_code == 302
    assert get_setting("delivery_fee_rule_text") == "4.50 € per delivery, at cost."
    assert db.session.query(AuditEntry).filter_by(subject_type="settings", subject_id="delivery_fee_rule_text").count() == 1


def test_period_parsing_defaults_and_swaps():
    today = date(2025, 6, 1)
    assert services.parse_period(None, None, today) == services.Period(date(2025, 1, 1), date(2025, 12, 31))
    assert services.parse_period("2025-05-01", "2025-04-01", today) == services.Period(date(2025, 4, 1), date(2025, 5, 1))
    assert services.parse_period("garbage", "", today).start == date(2025, 1, 1)
