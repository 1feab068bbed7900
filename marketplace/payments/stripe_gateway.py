"""The only module that talks to Stripe: a configured client and the idempotency keys we use."""
from __future__ import annotations

import stripe
from flask import current_app

# Errors worth retrying: the request may or may not have reached Stripe; the idempotency key makes
# a retry safe either way.
TRANSIENT_ERRORS = (stripe.APIConnectionError, stripe.RateLimitError)


def is_configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    """A StripeClient for the app's key (and the fake server's URL in tests)."""
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        from flask_babel import gettext as _

        from marketplace.core.errors import Unavailable

        raise Unavailable(_("Card payments are not set up in this coop (no Stripe key configured)."))
    cached = current_app.extensions.get("payments_stripe_client")
    if cached is not None and cached[0] == key:
        return cached[1]
    # The API version is pinned: objects keep the shape the code (and its fake) was written against.
    kwargs: dict = {"max_network_retries": 2, "stripe_version": api_version()}
    base = current_app.config.get("STRIPE_API_BASE")
    if base:
        kwargs["base_addresses"] = {"api": base, "connect": base}
    new_client = stripe.StripeClient(key, **kwargs)
    current_app.extensions["payments_stripe_client"] = (key, new_client)
    return new_client


def api_version() -> str:
    """The pinned Stripe API version (STRIPE_API_VERSION; by default the installed stripe-python's)."""
    return current_app.config.get("STRIPE_API_VERSION") or stripe.api_version


def idem(key: str) -> dict:
    """Request options carrying an idempotency key derived from our own ids."""
    return {"idempotency_key": key}


def currency() -> str:
    return current_app.config.get("COOP_CURRENCY", "EUR").lower()


def construct_event(payload: bytes, signature: str, connect: bool = False) -> stripe.Event:
    """Verify a webhook's signature (and its age) with its endpoint's secret (the Connect one apart).

    Raises ValueError or SignatureVerificationError.
    """
    secret = current_app.config.get("STRIPE_CONNECT_WEBHOOK_SECRET" if connect else "STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise stripe.SignatureVerificationError("No webhook secret configured", signature)
    return stripe.Webhook.construct_event(payload, signature, secret)
