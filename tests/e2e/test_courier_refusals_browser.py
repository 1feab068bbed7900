"""On a courier's phone, a refused action says why on the courier's own page (issue 10: it used to be a bare
"Redirecting…" page with a 4xx status)."""
from __future__ import annotations

import pytest

from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import Run, StopKind, StopStatus
from marketplace.extensions import db
from tests.dispatch_fixtures import delivery_scene
from tests.e2e.pages import log_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _phone(browser, base: str, email: str):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    log_in(page, base, email)
    return context, page


def _errors(page) -> list[str]:
    return [text.strip() for text in page.locator(".flash-error").all_inner_texts()]


def test_a_wrong_delivery_code_says_so_and_how_many_tries_are_left(app, live_server, browser):
    _, [courier], [order] = delivery_scene()
    [run_id] = dispatch.plan_for_order(order.id)
    run = db.session.get(Run, run_id)
    dispatch.accept_run(courier, run_id)
    for stop in run.stops:
        if stop.kind == StopKind.PICKUP:
            dispatch.mark_picked_up(courier, stop.id)
    db.session.commit()
    code, email, left = order.delivery_code, courier.email, dispatch.get_rules().max_code_attempts - 1
    wrong = "0000" if code != "0000" else "1111"

    phone, page = _phone(browser, live_server, email)
    page.goto(f"{live_server}/courier/runs/{run_id}")
    page.fill("[data-testid=code]", wrong)
    page.click("[data-testid=delivered]")
    page.wait_for_load_state()
    assert page.url == f"{live_server}/courier/runs/{run_id}"  # the courier's page, not an error page
    assert _errors(page) == [f"Wrong code: {left} attempt(s) left."]
    assert "Redirecting" not in page.content()
    page.fill("[data-testid=code]", code)
    page.click("[data-testid=delivered]")
    page.wait_for_load_state()
    assert _errors(page) == [] and "Delivered. Thank you!" in page.content()
    phone.close()
    db.session.expire_all()
    dropoff = db.session.get(Run, run_id).stops[-1]
    assert dropoff.status == StopStatus.DONE and dropoff.code_attempts == 1


def test_two_couriers_take_the_same_run_and_the_second_is_told_it_was_taken(app, live_server, browser):
    _, couriers, [order] = delivery_scene(n_couriers=2)
    [run_id] = dispatch.plan_for_order(order.id)
    run = db.session.get(Run, run_id)
    by_id = {c.id: c for c in couriers}
    for _turn in couriers:  # both decline their offer: the run is open to any suitable courier
        dispatch.decline_run(by_id[run.offered_to_id], run_id)
    db.session.commit()
    assert run.status.value == "open"
    first, second = (c.email for c in couriers)

    phone_a, page_a = _phone(browser, live_server, first)
    phone_b, page_b = _phone(browser, live_server, second)
    for page in (page_a, page_b):  # both phones show the open run with its button
        page.goto(f"{live_server}/courier")
        assert page.locator("[data-testid=open-run]").count() == 1
    page_a.click("[data-testid=open-run] button")
    page_a.wait_for_url(f"**/courier/runs/{run_id}")
    page_b.click("[data-testid=open-run] button")  # a page loaded before the first courier took it
    page_b.wait_for_load_state()
    assert page_b.url == f"{live_server}/courier"
    assert _errors(page_b) == ["Too late: this run has been taken or the offer has expired."]
    assert page_b.locator("[data-testid=open-run]").count() == 0
    phone_a.close()
    phone_b.close()
    db.session.expire_all()
    assert db.session.get(Run, run_id).courier_id == couriers[0].id
