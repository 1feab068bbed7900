"""The courier's pages on a 390×844 phone (issue 16 item 8): next stop first, big targets, call and map links,
an installable manifest and an offline page. A screenshot is kept as a test artifact."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import Run
from marketplace.extensions import db
from tests.dispatch_fixtures import delivery_scene
from tests.e2e.pages import log_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def artifacts_dir() -> Path:
    """tmp/artifacts (or $TEST_ARTIFACTS) at the repository's root: screenshots kept after the run."""
    root = Path(os.environ.get("TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "tmp" / "artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root


def test_courier_works_a_run_on_a_phone_and_gets_the_offline_page(app, live_server, browser):
    _, [courier], [order] = delivery_scene()
    order.buyer.phone = "06 12 34 56 78"
    [run_id] = dispatch.plan_for_order(order.id)
    dispatch.accept_run(db.session.get(Run, run_id).offered_to, run_id)
    db.session.commit()
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                locale="en-GB")
    page = phone.new_page()
    log_in(page, live_server, courier.email)

    page.goto(f"{live_server}/courier")
    # The next stop comes before anything else on "My runs".
    first_card = page.locator("main .card").first
    assert first_card.get_attribute("data-testid") == "next-stop"
    assert "Pick up at Ferme" in first_card.inner_text()
    page.click("[data-testid=next-stop] a:has-text('Open the run')")
    page.wait_for_url(f"**/courier/runs/{run_id}")

    stops = page.locator("[data-testid=stop]")
    assert stops.first.locator("[data-testid=next-stop]").count() == 1
    page.locator("[data-testid=picked-up]").first.click()
    page.wait_for_load_state()
    page.locator("[data-testid=picked-up]").first.click()
    page.wait_for_load_state()
    # Both pickups done: the delivery is now the next stop, first on the page, with call and map links.
    next_stop = page.locator("[data-testid=stop]").first
    assert next_stop.get_attribute("data-kind") == "dropoff" and next_stop.locator("[data-testid=next-stop]").count() == 1
    assert next_stop.locator("[data-testid=call]").get_attribute("href") == "tel:0612345678"
    assert next_stop.locator("[data-testid=map]").get_attribute("href").startswith("https://www.openstreetmap.org/")
    # One thumb: every button and link of a stop is at least 44 px high, and nothing scrolls sideways.
    for target in next_stop.locator("a.button, button, summary").all():
        if target.is_visible():
            assert target.bounding_box()["height"] >= 44, target.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot = artifacts_dir() / "courier-run-390x844.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000

    # Installable: a manifest starting on "My runs", and a service worker that shows the offline page.
    manifest = page.evaluate("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
    assert manifest["start_url"] == "/courier" and manifest["display"] == "standalone"
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()   # controlled by the worker from now on
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    phone.set_offline(True)
    page.goto(f"{live_server}/courier")
    assert "No network" in page.inner_text("[data-testid=offline]")
    offline_shot = artifacts_dir() / "courier-offline-390x844.png"
    page.screenshot(path=str(offline_shot))
    print(f"screenshot: {offline_shot}")
    phone.close()
