"""A live server on the test app and Debian's Chromium driven by Playwright (no downloaded browser)."""
from __future__ import annotations

import shutil

import pytest

from tests.live import serve

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def live_server(app):
    with serve(app) as url:
        yield url


@pytest.fixture
def browser():
    import os

    if not shutil.which(CHROMIUM):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)", pytrace=False)
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        yield chromium
        chromium.close()
