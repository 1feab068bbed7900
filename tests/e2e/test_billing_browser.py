"""In Chromium: an admin records costs and closes the month; a producer opens the statement and its PDF;
the public transparency page shows the same totals."""
from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.billing.models import BillingPeriod, Statement
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.money import format_money
from tests.billing_fixtures import LineSpec, adopt_rule, last_month, make_sale, past_distribution
from tests.e2e.pages import log_in
from tests.factories import get_admin, make_member, make_producer

pytestmark = pytest.mark.browser


def _logout(page):
    page.click("form[action$='/logout'] button")
    page.wait_for_load_state()


def test_admin_closes_producer_reads_public_checks(app, live_server, browser) -> None:
    month = last_month()
    producer = make_producer("farm@test.coop", "Ferme du Coteau")
    buyer = make_member("buyer@test.coop", College.BUYER)
    make_sale(buyer, producer, past_distribution(month + timedelta(days=6), [producer]),
              [LineSpec(price_cents=1_500, quantity=4)])
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 2, "buyer": 1})
    admin_email = get_admin().email
    db.session.commit()

    page = browser.new_context().new_page()
    log_in(page, live_server, admin_email)
    for category, amount, day in (("hosting", "29.90", 2), ("accounting", "120.00", 20)):
        page.goto(f"{live_server}/admin/billing")
        form = page.locator("[data-testid=cost-form]")
        form.locator("select[name=category]").select_option(category)
        form.locator("input[name=amount]").fill(amount)
        form.locator("input[name=supplier]").fill("Supplier " + category)
        form.locator("input[name=incurred_on]").fill((month + timedelta(days=day)).isoformat())
        form.locator("button").click()
        page.wait_for_load_state()
        assert "Cost recorded" in page.content()
    page.click(f"[data-testid=close-{month.isoformat()}]")
    page.wait_for_load_state()
    summary = page.inner_text("[data-testid=period-summary]")
    assert "149.90" in summary  # 29.90 + 120.00
    _logout(page)

    db.session.expire_all()
    period = db.session.query(BillingPeriod).filter_by(starts_on=month).one()
    statement = db.session.query(Statement).filter_by(period_id=period.id, user_id=producer.id).one()
    fee_text = format_money(statement.total_cents, locale="en")

    log_in(page, live_server, "farm@test.coop")
    page.goto(f"{live_server}/billing")
    page.click("[data-testid=statement-link]")
    page.wait_for_load_state()
    assert page.inner_text("[data-testid=fee-total]") == fee_text
    assert page.inner_text("[data-testid=activity]") == format_money(6_000, locale="en")
    pdf = page.request.get(live_server + page.locator("[data-testid=statement-pdf]").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    _logout(page)

    page.goto(f"{live_server}/transparency")
    section = page.locator(f"[data-testid=period-{month.isoformat()}]")
    assert section.locator("[data-testid=total-costs]").inner_text() == format_money(14_990, locale="en")
    assert section.locator("[data-testid=fees-billed]").inner_text() == format_money(14_990, locale="en")
    assert section.locator("[data-testid=fees-due]").inner_text() == format_money(14_990, locale="en")
    assert section.locator("[data-testid=balance]").inner_text() == format_money(0, locale="en")
    assert section.locator("svg.chart").count() >= 2
