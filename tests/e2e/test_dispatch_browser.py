"""In Chromium: a courier accepts a run, picks up, delivers with the buyer's code; the buyer sees "delivered"."""
from __future__ import annotations


import pytest

from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import Run
from marketplace.extensions import db
from tests.dispatch_fixtures import delivery_scene
from tests.e2e.pages import log_in

pytestmark = pytest.mark.browser


def test_courier_delivers_and_buyer_sees_delivered(app, live_server, browser):
    _, [courier], [order] = delivery_scene()
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    code, order_id, buyer_email = order.delivery_code, order.id, order.buyer.email

    phone = browser.new_context(viewport={"width": 390, "height": 844})  # the courier's phone
    page = phone.new_page()
    log_in(page, live_server, courier.email)
    page.goto(f"{live_server}/courier")
    assert "per km" in page.inner_text("[data-testid=offer]")
    page.click("[data-testid=offer] [data-testid=accept]")
    page.wait_for_url(f"**/courier/runs/{run_id}")
    while page.locator("[data-testid=picked-up]").count():
        page.locator("[data-testid=picked-up]").first.click()
        page.wait_for_load_state()
    page.fill("[data-testid=code]", code)
    page.click("[data-testid=delivered]")
    page.wait_for_load_state()
    assert "Delivered" in page.content()
    assert page.locator("[data-testid=stop-status]").all_inner_texts() == ["done", "done", "done"]
    phone.close()

    desk = browser.new_context()
    buyer_page = desk.new_page()
    log_in(buyer_page, live_server, buyer_email)
    buyer_page.goto(f"{live_server}/orders/{order_id}")
    assert buyer_page.inner_text("[data-testid=order-status]").strip() == "delivered"
    desk.close()
    db.session.expire_all()
    assert db.session.get(Run, run_id).status.value == "done"
