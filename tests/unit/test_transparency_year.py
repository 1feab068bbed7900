"""The transparency page's 12-month view and legible charts (issue 16 item 9)."""
from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import lxml.html

from marketplace.billing import services
from marketplace.billing.models import BillingPeriod, CostCategory
from marketplace.billing.services import CollegeFigures, PeriodReport, twelve_months
from marketplace.extensions import db
from marketplace.members.models import College
from tests.billing_fixtures import LineSpec, add_cost, adopt_rule, last_month, make_sale, past_distribution
from tests.factories import get_admin, make_member, make_producer


def _report(start: date, costs, due: dict[str, int], paid: int, producers: int, couriers: int) -> PeriodReport:
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    colleges = [CollegeFigures(c, members=1 if c in due else 0, due_cents=due.get(c, 0), collected_cents=due.get(c, 0) // 2)
                for c in ("producer", "courier", "buyer", "supporter")]
    return PeriodReport(period=BillingPeriod(starts_on=start, ends_on=end), costs=costs, colleges=colleges,
                        paid_by_buyers_cents=paid, to_producers_cents=producers, to_couriers_cents=couriers)


def test_twelve_months_adds_up_costs_fees_and_the_buyer_euro_of_the_last_year_only():
    reports = [_report(date(2026, m, 1), [("hosting", 1_000), ("insurance", 500 * m)], {"producer": 300, "buyer": 100},
                       paid=10_000, producers=8_000, couriers=1_000) for m in range(1, 11)]
    reports.append(_report(date(2025, 9, 1), [("hosting", 99_999)], {"producer": 1}, 50_000, 0, 0))   # > 12 months
    year = twelve_months(list(reversed(reports)))
    assert [r.period.starts_on.month for r in year.months] == list(range(1, 11))   # oldest first, Sept 2025 left out
    assert dict(year.costs) == {"hosting": 10_000, "insurance": 500 * 55}
    assert {c.college: c.due_cents for c in year.colleges if c.members} == {"producer": 3_000, "buyer": 1_000}
    assert year.shares == {"producers": Fraction(8, 10), "couriers": Fraction(1, 10), "coop": Fraction(1, 10)}
    assert twelve_months([]) is None


def test_the_page_shows_the_year_in_charts_and_tables(app, client):
    month = last_month()
    earlier = (month - timedelta(days=1)).replace(day=1)
    producer = make_producer("farm@test.coop", "Ferme du Test")
    buyer = make_member("buyer@test.coop", College.BUYER)
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 1, "buyer": 1})
    admin = get_admin()
    for start, cost in ((earlier, 2_000), (month, 4_250)):
        make_sale(buyer, producer, past_distribution(start + timedelta(days=5), [producer]),
                  [LineSpec(price_cents=2_000, quantity=3)])
        add_cost(cost, start + timedelta(days=2), CostCategory.HOSTING)
        db.session.commit()
        services.close_month(admin, start)
        db.session.commit()
    page = client.get("/transparency").get_data(as_text=True)
    doc = lxml.html.fromstring(page)
    [year] = doc.xpath("//*[@data-testid='twelve-months']")
    costs = {row.xpath("th")[0].text_content(): row.xpath("td")[0].text_content()
             for row in year.xpath(".//*[@data-testid='year-costs']//tr")}
    assert costs["Hosting"] == "€62.50" and costs["Total costs"] == "€62.50"
    months = year.xpath(".//*[@data-testid='euro-table']/tbody/tr")
    assert len(months) == 3   # two months and the 12-month total
    # Every chart has an accessible name and is followed by a table; no chart scales its text down (no viewBox).
    charts = doc.xpath("//svg[contains(@class, 'chart')]")
    assert charts and [(c.get("role"), bool(c.get("aria-label")), c.get("viewbox")) for c in charts] == [("img", True, None)] * len(charts)
    assert all(c.xpath("following::table") for c in charts)
