"""Every route of the authorization matrix, as every role: security headers and cookie flags on each response."""
from __future__ import annotations

import pytest

from marketplace.headers import SCRIPT_PAGES  # the only pages that run a script (the app's own)
from tests.unit.test_authorization_matrix import EXPECTED, ROLES, observe

PUBLIC_URL = "https://shop.coop.example"
# Files that are the same for every visitor: their view chooses how long they may be cached.
PUBLIC_FILES = {"static", "core.uploaded_file", "core.theme_css"}


class HttpsClient:
    """The test client, speaking to the shop at its https PUBLIC_URL (so Secure cookies go back and forth)."""

    def __init__(self, client):
        self._client = client

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", PUBLIC_URL)
        return self._client.open(*args, **kwargs)

    def get(self, *args, **kwargs):
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args, **kwargs):
        return self.open(*args, method="POST", **kwargs)


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture(scope="module")
def crawl():
    return {}


def _csp(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in policy.split(";")) if part}


def header_problems(endpoint: str, role: str, response) -> list[str]:
    problems = []
    csp = _csp(response)
    if csp.get("default-src") != "'none'" or csp.get("frame-ancestors") != "'none'" \
            or csp.get("style-src") != "'self'" or "unsafe" in str(csp) \
            or csp.get("script-src", "'self'") != "'self'" or ("script-src" in csp) != (endpoint in SCRIPT_PAGES):
        problems.append(f"CSP {response.headers.get('Content-Security-Policy')!r}")
    expected = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
                "Strict-Transport-Security": "max-age=31536000; includeSubDomains"}
    problems += [f"{name}: {response.headers.get(name)!r}" for name, value in expected.items()
                 if response.headers.get(name) != value]
    if role != "anonymous" and endpoint not in PUBLIC_FILES and response.headers.get("Cache-Control") != "no-store":
        problems.append(f"Cache-Control {response.headers.get('Cache-Control')!r} for a member's page")
    return problems


def cookie_problems(response) -> list[str]:
    problems = []
    for cookie in response.headers.getlist("Set-Cookie"):
        name = cookie.split("=", 1)[0]
        flags = {flag.strip().split("=")[0].lower(): flag.strip() for flag in cookie.split(";")[1:]}
        if "httponly" not in flags:
            problems.append(f"{name} without HttpOnly")
        if "secure" not in flags:
            problems.append(f"{name} without Secure although PUBLIC_URL is https")
        if flags.get("samesite", "").lower() != "samesite=lax":
            problems.append(f"{name} without SameSite=Lax")
    return problems


def _crawl(app, client, crawl) -> dict:
    if not crawl:
        headers, cookies, names = {}, {}, set()

        def inspect(role, rule, method, response):
            names.update(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))
            found = header_problems(rule.endpoint, role, response)
            if found:
                headers[f"{method} {rule.endpoint} as {role}"] = found
            found = cookie_problems(response)
            if found:
                cookies[f"{method} {rule.endpoint} as {role}"] = found

        crawl["seen"] = observe(app, HttpsClient(client), inspect)
        crawl["headers"], crawl["cookies"], crawl["cookie_names"] = headers, cookies, names
    return crawl


def test_every_response_of_every_route_carries_the_security_headers(app, client, crawl):
    result = _crawl(app, client, crawl)
    assert set(result["seen"]) == set(EXPECTED) and all(set(r) == set(ROLES) for r in result["seen"].values())
    assert not result["headers"], "\n".join(f"{k}: {v}" for k, v in sorted(result["headers"].items()))


def test_every_cookie_set_by_any_route_is_httponly_secure_and_samesite_lax(app, client, crawl):
    result = _crawl(app, client, crawl)
    assert "session" in result["cookie_names"]
    assert not result["cookies"], "\n".join(f"{k}: {v}" for k, v in sorted(result["cookies"].items()))


def test_secrets_and_personal_data_are_never_stored_by_a_cache(app, client):
    from marketplace.extensions import db
    from tests.factories import get_admin, login, make_producer

    farm = make_producer("farm@test.coop", "Farm")
    db.session.commit()
    https = HttpsClient(client)
    assert "no-store" not in (https.get("/products").headers.get("Cache-Control") or "")  # the same for everybody
    login(https, farm)
    token_page = https.post("/account/api-tokens", data={"name": "tractor"})
    assert 'data-testid="new-token"' in token_page.get_data(as_text=True)
    export = https.get("/me/data/export.zip")
    assert export.headers["Content-Type"] == "application/zip"
    for response in (token_page, export, https.get("/me"), https.get("/me/account")):
        assert response.headers["Cache-Control"] == "no-store"
    https.post("/logout")
    login(https, get_admin())
    assert https.get("/admin/members").headers["Cache-Control"] == "no-store"


class TestPlainHttp:
    @pytest.fixture
    def app_config(self):
        return {"PUBLIC_URL": "http://127.0.0.1:5000"}

    def test_no_hsts_when_the_shop_is_not_served_over_https(self, client):
        response = client.get("/products")
        assert "Strict-Transport-Security" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_coops_colours_come_from_a_stylesheet_and_forms_may_go_to_stripe_only(app, client):
    from marketplace.core.services import set_setting
    from marketplace.extensions import db

    set_setting("colour_primary", "#123456")
    set_setting("colour_accent", "red;}body{display:none")  # not #RRGGBB (set around the admin form)
    db.session.commit()
    page = client.get("/").get_data(as_text=True)
    theme = client.get("/theme.css?v=whatever")
    assert theme.headers["Content-Type"].startswith("text/css")
    assert theme.get_data(as_text=True) == ":root { --primary: #123456; --accent: #e8a33d; }\n"
    assert "/theme.css?v=" in page and "<style" not in page
    csp = _csp(client.get("/"))
    assert csp["form-action"] == "'self' https://checkout.stripe.com https://connect.stripe.com"
    assert csp["base-uri"] == "'none'" and csp["img-src"] == "'self' https:"
