"""The transparency page's charts are legible on a phone and a desktop (issue 16 item 9)."""
from __future__ import annotations

import pytest

from marketplace.demo import seed_demo
from marketplace.extensions import db
from tests.e2e.test_courier_phone_browser import artifacts_dir

pytestmark = pytest.mark.browser

TEXTS = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const frame = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].map(t => {
    const box = t.getBoundingClientRect();
    return {text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize), height: box.height,
            left: box.left - frame.left, right: box.right - frame.left, top: box.top, width: frame.width,
            value: t.classList.contains('value')};
  });
})"""


@pytest.mark.parametrize("width, height", [(390, 844), (1280, 800)])
def test_chart_text_is_full_size_and_nothing_overlaps(app, live_server, browser, width, height):
    seed_demo()
    db.session.commit()
    page = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB").new_page()
    page.goto(f"{live_server}/transparency")
    assert page.locator("[data-testid=twelve-months]").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width   # nothing scrolls sideways
    charts = page.evaluate(TEXTS)
    assert len(charts) >= 4
    for texts in charts:
        for t in texts:
            assert t["size"] >= 14 and t["height"] >= 12, t                   # as large as the page's small text
            assert t["left"] >= -1 and t["right"] <= t["width"] + 1, t        # inside the chart
        rows: dict[float, list] = {}
        for t in texts:
            rows.setdefault(round(t["top"]), []).append(t)
        for same_line in rows.values():
            same_line.sort(key=lambda t: t["left"])
            for a, b in zip(same_line, same_line[1:]):
                assert a["right"] <= b["left"] + 1, (a, b)                     # a label never runs into its value
    shot = artifacts_dir() / f"transparency-{width}x{height}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
