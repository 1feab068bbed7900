"""In Chromium: a member subscribes to a vegetable-basket contract, declares an absence, and the producer's
desk and packing list show it."""
from __future__ import annotations

import pytest

from marketplace.contracts import tasks
from marketplace.contracts.models import Subscription
from marketplace.extensions import db
from marketplace.orders.models import Order
from tests.admin_fixtures import coop  # noqa: F401
from tests.contracts_fixtures import make_contract, make_season
from tests.e2e.pages import log_in

pytestmark = pytest.mark.browser


def _page(browser):
    return browser.new_context(locale="en-GB").new_page()


def test_a_member_subscribes_declares_an_absence_and_the_packing_list_shows_it(app, coop, live_server, browser):
    season = make_season([coop["ferme"]], weeks=3)
    contract = make_contract(coop["ferme"], season, [(coop["leeks"].variants[0].id, 2)], price_cents=1500)
    db.session.commit()
    first = season[0]

    page = _page(browser)
    log_in(page, live_server, "marie@test.coop")
    page.goto(f"{live_server}/contracts")
    page.click(f"text={contract.title}")
    assert "The member commits to one basket a week" in page.inner_text("main")
    page.check("input[name=accept]")
    page.click("main form button:has-text('Subscribe')")
    assert "You are subscribed" in page.inner_text("main")
    assert "text version 1" in page.inner_text("main")
    subscription = db.session.query(Subscription).filter_by(member_id=coop["buyer"].id).one()
    pdf = page.request.get(f"{live_server}/subscriptions/{subscription.id}/contract.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")

    assert tasks.create_due_orders() == 1  # the window of the first week is open: the basket is ordered
    page.reload()
    page.locator(f"[data-testid=delivery-{first.id}] button:has-text('Declare an absence')").click()
    assert "Absence noted" in page.inner_text("main")
    assert "absent" in page.inner_text(f"[data-testid=delivery-{first.id}]")
    db.session.expire_all()
    order = db.session.query(Order).filter_by(buyer_id=coop["buyer"].id, distribution_id=first.id).one()
    assert order.status == "cancelled"

    producer = _page(browser)
    log_in(producer, live_server, "ferme@test.coop")
    producer.goto(f"{live_server}/producer/orders")
    assert "Marie Curie: absent" in producer.inner_text(f"[data-testid=absences-{first.id}]")
    csv = producer.request.get(f"{live_server}/producer/distributions/{first.id}/packing-list.csv").text()
    assert "Absent: no basket to prepare" in csv and "Marie Curie" in csv
