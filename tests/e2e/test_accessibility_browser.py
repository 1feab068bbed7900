"""WCAG 2.1 AA with axe-core (issue 16 item 7): every page each role reaches, in English and French.

Each role logs in to the demo coop and follows every link of the site (one page per URL shape: /orders/12
and /orders/13 are the same page), and axe-core runs on each. No serious or critical violation may remain.
"""
from __future__ import annotations

import re
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest

from marketplace.demo import DEMO_PASSWORD, seed_demo
from marketplace.extensions import db
from tests.e2e.pages import log_in

pytestmark = pytest.mark.browser

SKIPPED = re.compile(r"\.(pdf|csv|zip|json|xml|png|jpe?g|webp|svg|ics|txt)$|/uploads/|/static/|/api/|/logout|"
                     r"/export|/pickup-sheet|/packing-list|/_fake/")
PER_ROLE = 60            # pages (URL shapes) per role and language, a bound on the crawl's time
SERIOUS = {"serious", "critical"}


def shape(path: str) -> str:
    """/orders/12?tab=3 and /orders/13?tab=4 are one page to check."""
    return re.sub(r"\d+", "N", path)


def crawl(page, base: str, axe) -> tuple[list[str], list[str]]:
    """Visit every same-site link reachable from the home page; axe each page once per URL shape."""
    seen, visited, problems = set(), [], []
    queue = deque(["/"])
    while queue and len(visited) < PER_ROLE:
        path = queue.popleft()
        response = page.goto(base + path)
        if response is None or response.status >= 400 or not page.url.startswith(base) \
                or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        visited.append(path)
        result = axe.run(page, options={"runOnly": {"type": "tag",
                                                    "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
        for violation in result.response["violations"]:
            if violation["impact"] in SERIOUS:
                targets = [" ".join(map(str, n["target"])) for n in violation["nodes"][:3]]
                problems.append(f"{path}: {violation['id']} ({violation['impact']}) {targets}")
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            url, _fragment = urldefrag(href)
            if not url.startswith(base):
                continue
            parts = urlsplit(url)
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if SKIPPED.search(parts.path) or shape(local) in seen:
                continue
            seen.add(shape(local))
            queue.append(local)
    return visited, problems


@pytest.fixture
def demo(app):
    logins = seed_demo()
    db.session.commit()
    roles = {}
    for role, email in logins["accounts"]:
        roles.setdefault(role, email)
    # Something in the buyer's cart, so that the crawl reaches the checkout page too.
    from marketplace.catalog.models import Product
    from marketplace.members.models import User
    from marketplace.orders import services as orders

    buyer = db.session.query(User).filter_by(email=roles["buyer"]).one()
    product = db.session.query(Product).filter(Product.stock.is_(None) | (Product.stock > 0)).order_by(Product.id).first()
    orders.add_to_cart(buyer, product.id, 1)
    db.session.commit()
    return roles


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("role", ["anonymous", "buyer", "producer", "courier", "admin"])
def test_no_serious_accessibility_violation_on_any_page(app, demo, live_server, browser, role, language):
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_context(locale="en-GB" if language == "en" else "fr-FR").new_page()
    if role != "anonymous":
        log_in(page, live_server, demo[role], DEMO_PASSWORD)
    page.goto(live_server + "/")
    page.click(f"[data-testid=lang-{language}]")
    assert page.locator("html").get_attribute("lang") == language
    visited, problems = crawl(page, live_server, Axe())
    print(f"{role}/{language}: {len(visited)} pages checked")
    assert len(visited) >= 3
    if role == "buyer":
        assert "/checkout" in visited
    assert not problems, "\n".join(problems)


def test_keyboard_users_get_a_skip_link_and_a_visible_focus(app, demo, live_server, browser):
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(live_server + "/")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to the content"
    box = skip.bounding_box()
    assert box and box["y"] >= 0 and box["height"] > 10   # on screen once focused
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main") and page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")   # the next stop is inside the content, past the header's links
    assert page.evaluate("document.activeElement.closest('header') === null")
