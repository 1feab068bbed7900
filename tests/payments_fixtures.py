"""Fixtures for the payments tests: the fake Stripe, a live app server, a real Celery worker, helpers."""
from __future__ import annotations


import pytest

from marketplace.extensions import db
from marketplace.payments.models import ConnectedAccount
from tests.live import serve as live_server  # noqa: F401
from tests.worker_fixtures import celery_config, celery_worker, flush_broker, wait_for  # noqa: F401
from tests.fakes.stripe_server import FakeStripeServer, start_fake_stripe

WEBHOOK_SECRET = "whsec_payments_test"
CONNECT_WEBHOOK_SECRET = "whsec_payments_connect_test"
STRIPE_KEY = "sk_test_payments"


@pytest.fixture
def fake_stripe():
    server = start_fake_stripe(webhook_secret=WEBHOOK_SECRET, connect_webhook_secret=CONNECT_WEBHOOK_SECRET)
    yield server
    server.stop()


def stripe_config(fake: FakeStripeServer) -> dict:
    return {"STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET, "STRIPE_API_BASE": fake.url}


def point_webhooks(fake: FakeStripeServer, app_url: str) -> None:
    """Stripe's two endpoints for the shop at app_url: the platform's and the Connect one."""
    fake.webhook_url = app_url + "/stripe/webhook"
    fake.connect_webhook_url = app_url + "/stripe/connect-webhook"


def refunds_made(fake: FakeStripeServer) -> list[dict]:
    """Refunds of captured money (not the remainder a partial capture released, which moves no money)."""
    return [r for r in fake.objects_of("refund") if r["balance_transaction"] is not None]


def connect_ready_account(fake: FakeStripeServer, user) -> ConnectedAccount:
    """Give a member a Stripe Express account that finished onboarding (as the hosted page would)."""
    from marketplace.payments import stripe_gateway
    from marketplace.payments.services import sync_account

    account = stripe_gateway.client().v1.accounts.create(
        {"type": "express", "country": "FR", "email": user.email, "capabilities": {"transfers": {"requested": True}}})
    row = ConnectedAccount(user_id=user.id, stripe_account_id=account.id)
    db.session.add(row)
    db.session.flush()
    fake.make_account_ready(account.id)
    sync_account(account.id)
    db.session.flush()
    return row
