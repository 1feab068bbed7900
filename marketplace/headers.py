"""Security headers on every response: CSP, framing, sniffing, referrer, HSTS, and no-store on private pages.

One small after_request hook rather than Flask-Talisman: Talisman decides HSTS from a client-sent
X-Forwarded-Proto instead of the configured PUBLIC_URL, rewrites the session cookie settings
(which follow PUBLIC_URL here), redirects to https by default and has no Cache-Control rule; what
is left is a handful of constant headers.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session
from flask_login import current_user

# Files whose cache lifetime their view chooses: the same for every visitor.
PUBLIC_FILES = {"static", "core.uploaded_file", "core.theme_css"}
# The courier's pages run one script of the app's own (static/courier.js: the offline service worker's registration).
# The worker's own response carries the policy it runs under: it fetches pages and keeps the offline one.
SCRIPT_PAGES = {"dispatch.courier_home", "dispatch.courier_run", "dispatch.courier_offline",
                "dispatch.courier_service_worker"}
# Stripe's hosted pages: a form posted here may be redirected there (checkout, onboarding).
STRIPE_HOSTED_PAGES = ("https://checkout.stripe.com", "https://connect.stripe.com")
HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy() -> str:
    """No inline script or style: everything but the app's own CSS, images and manifest is refused; the courier's
    pages alone also run the app's own script and service worker."""
    base = current_app.config.get("STRIPE_API_BASE") or ""
    stripe = [f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"] if base else list(STRIPE_HOSTED_PAGES)
    scripts = ["script-src 'self'", "worker-src 'self'", "connect-src 'self'"] \
        if request.endpoint in SCRIPT_PAGES else []
    return "; ".join([
        "default-src 'none'",
        *scripts,
        "style-src 'self'",
        "manifest-src 'self'",
        "img-src 'self' https:",  # the coop's logo may be an https:// address
        "form-action 'self' " + " ".join(stripe),
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ])


def has_login_cookie(config: Mapping, cookies: Mapping) -> bool:
    """Whether the request carries a session or remember-me cookie (a member, or a visitor's own session)."""
    return config.get("SESSION_COOKIE_NAME", "session") in cookies or \
        config.get("REMEMBER_COOKIE_NAME", "remember_token") in cookies


def is_private(response) -> bool:
    """Whether the response belongs to one visitor (a member's page, a session, an API token): not to be stored."""
    if request.endpoint in PUBLIC_FILES:
        return False
    if session.modified or has_login_cookie(current_app.config, request.cookies) or g.get("api_user") is not None:
        return True
    return current_user.is_authenticated


def set_security_headers(response):
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy()
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"  # reset tokens live in URLs; same-origin keeps CSRF's check
    if current_app.config.get("PUBLIC_URL", "").startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS
    if is_private(response):
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return response


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
