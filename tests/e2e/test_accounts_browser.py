"""In Chromium: a buyer with a credit checks out and sees it used; an admin records a cash top-up."""
from __future__ import annotations

import pytest

from marketplace.accounts import services as accounts
from marketplace.accounts.models import Means, MovementKind
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from tests.admin_fixtures import coop  # noqa: F401
from tests.e2e.pages import log_in
from tests.factories import make_distribution

pytestmark = pytest.mark.browser


def _page(browser):
    return browser.new_context(locale="en-GB").new_page()


def test_a_buyer_with_a_credit_checks_out_and_sees_it_used(app, coop, live_server, browser):
    buyer_id = coop["buyer"].id
    accounts.post_movement(buyer_id, MovementKind.DISPUTE_CREDIT, 560, reason="Mouldy carrots",
                           order_id=coop["done_order"].id)
    distribution = make_distribution([coop["ferme"]])
    orders.choose_distribution(coop["buyer"], distribution.id)
    orders.add_to_cart(coop["buyer"], coop["leeks"].id, 4)  # 4 x 2.50 = 10.00
    db.session.commit()

    page = _page(browser)
    log_in(page, live_server, "marie@test.coop")
    page.goto(f"{live_server}/checkout")
    offer = page.inner_text("[data-testid=account-use]")
    assert "€5.60" in offer and "€4.40" in offer  # the credit pays 5.60; 4.40 is left for the pickup
    assert not page.is_checked("input[name=skip_account]")
    page.click("main form button[type=submit]")
    assert "Your order is placed" in page.inner_text("main")
    order = db.session.query(Order).filter_by(buyer_id=buyer_id, distribution_id=distribution.id).one()
    assert accounts.order_share_cents(order.id) == 560

    page.goto(f"{live_server}/account/")
    assert "€0.00" in page.inner_text("[data-testid=balance]")
    rows = page.inner_text("[data-testid=movements]")
    assert "Order paid from the account" in rows and order.reference in rows and "Mouldy carrots" in rows


def test_an_admin_records_a_cash_top_up(app, coop, live_server, browser):
    buyer_id = coop["other_buyer"].id
    page = _page(browser)
    log_in(page, live_server, "admin@test.coop")
    page.goto(f"{live_server}/account/admin/{buyer_id}")
    form = page.locator("[data-testid=top-up-form]")
    form.locator("select[name=means]").select_option("cash")
    form.locator("input[name=amount]").fill("25")
    form.locator("input[name=note]").fill("Envelope handed at the pickup")
    form.locator("button[type=submit]").click()
    assert "Top-up recorded" in page.inner_text("main")
    assert "€25.00" in page.inner_text("[data-testid=balance]")
    assert "Envelope handed at the pickup" in page.inner_text("[data-testid=movements]")
    [movement] = accounts.movements_of(buyer_id)
    assert (movement.kind, movement.means, movement.amount_cents) == (MovementKind.TOP_UP, Means.CASH, 2500)
    page.goto(f"{live_server}/account/admin")
    assert "€25.00" in page.inner_text("[data-testid=liability]")
    assert "The balances and the ledger agree." in page.inner_text("main")
