"""The fake Stripe server, driven by the real ``stripe`` client (separate charges and transfers)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import stripe

from tests.fakes.stripe_server import FakeStripeServer, start_fake_stripe, stripe_fee

SECRET = "whsec_test_secret"


class WebhookReceiver:
    """A tiny HTTP endpoint that records what the fake Stripe POSTs to it."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/stripe/webhook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def events(self, secret: str = SECRET) -> list[stripe.Event]:
        return [stripe.Webhook.construct_event(body, sig, secret) for body, sig in self.received]

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for body, _ in self.received]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:  # surface the 302 instead of following it
        return None


def browser_post(url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    """POST a hosted-page form like a browser would; returns (status, Location)."""
    opener = urllib.request.build_opener(NoRedirect)
    body = urllib.parse.urlencode(data or {}).encode()
    try:
        with opener.open(urllib.request.Request(url, data=body, method="POST")) as resp:
            return resp.status, resp.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def browser_get(url: str) -> tuple[int, str, str]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Location", "")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    yield rec
    rec.close()


@pytest.fixture
def server(receiver: WebhookReceiver) -> Iterator[FakeStripeServer]:
    srv = start_fake_stripe(webhook_url=receiver.url, webhook_secret=SECRET)
    yield srv
    srv.stop()


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_x", base_addresses={"api": server.url, "connect": server.url},
                               max_network_retries=0)


def new_account(client: stripe.StripeClient, email: str = "farm@example.com") -> stripe.Account:
    return client.v1.accounts.create({
        "type": "express", "country": "FR", "email": email,
        "capabilities": {"transfers": {"requested": True}}, "metadata": {"producer_id": "7"}})


def paid_charge(client: stripe.StripeClient, server: FakeStripeServer, amount: int = 5000,
                manual: bool = False) -> stripe.PaymentIntent:
    pid: dict[str, Any] = {"transfer_group": "order_1", "metadata": {"order_id": "1"}}
    if manual:
        pid["capture_method"] = "manual"
    session = client.v1.checkout.sessions.create({
        "mode": "payment", "success_url": "http://shop.test/ok?cs={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cancel",
        "line_items": [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": amount,
                                                      "product_data": {"name": "Basket"}}}],
        "payment_intent_data": pid})
    server.pay_checkout_session(session.id)
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert isinstance(session.payment_intent, str)
    return client.v1.payment_intents.retrieve(session.payment_intent)


# --------------------------------------------------------------------------- auth & errors

def test_requests_need_a_secret_test_key(server: FakeStripeServer) -> None:
    bad = stripe.StripeClient("pk_test_nope", base_addresses={"api": server.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key"):
        bad.v1.accounts.retrieve("acct_x")
    status, body, _ = browser_get(server.url + "/v1/accounts/acct_x")
    assert status == 401 and "did not provide an API key" in json.loads(body)["error"]["message"]


def test_missing_object_and_unknown_parameter(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.transfers.create({"amount": 10, "currency": "eur", "destination": "acct_x",
                                    "colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.param == "colour" and unknown.value.code == "parameter_unknown"


# --------------------------------------------------------------------------- onboarding

def test_onboarding_through_the_hosted_account_link(client: stripe.StripeClient, server: FakeStripeServer,
                                                    receiver: WebhookReceiver) -> None:
    account = new_account(client)
    assert account.id.startswith("acct_") and account.object == "account" and not account.livemode
    assert account.charges_enabled is False and account.payouts_enabled is False
    assert account.requirements and account.requirements.currently_due
    assert account.capabilities and account.capabilities.transfers == "inactive"
    assert account.metadata.to_dict() == {"producer_id": "7"}

    updated = client.v1.accounts.update(account.id, {"metadata": {"coop": "yes", "producer_id": ""}})
    assert updated.metadata.to_dict() == {"coop": "yes"}

    link = client.v1.account_links.create({
        "account": account.id, "type": "account_onboarding",
        "refresh_url": "http://shop.test/refresh", "return_url": "http://shop.test/return"})
    assert link.object == "account_link" and link.url.startswith(server.url)
    status, page, _ = browser_get(link.url)
    assert status == 200 and "Complete onboarding" in page

    assert browser_post(link.url) == (302, "http://shop.test/return")
    ready = client.v1.accounts.retrieve(account.id)
    assert ready.charges_enabled and ready.payouts_enabled and ready.details_submitted
    assert ready.capabilities and ready.capabilities.transfers == "active"
    assert ready.requirements and ready.requirements.currently_due == []

    # A used link is dead: Stripe sends the user to refresh_url to get a new one.
    assert browser_get(link.url)[::2] == (302, "http://shop.test/refresh")

    events = [e for e in receiver.events() if e.type == "account.updated"]
    assert events[-1].account == account.id
    assert events[-1].data.object["charges_enabled"] is True
    assert events[-1].data.previous_attributes["charges_enabled"] is False


# --------------------------------------------------------------------------- checkout & capture

def test_checkout_with_manual_then_partial_capture(client: stripe.StripeClient, server: FakeStripeServer,
                                                   receiver: WebhookReceiver) -> None:
    session = client.v1.checkout.sessions.create({
        "mode": "payment", "success_url": "http://shop.test/ok?cs={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cancel", "client_reference_id": "order-42",
        "customer_email": "eater@example.com", "metadata": {"order_id": "42"},
        "line_items": [
            {"quantity": 2, "price_data": {"currency": "eur", "unit_amount": 1250,
                                           "product_data": {"name": "Eggs"}}},
            {"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 800,
                                           "product_data": {"name": "Bread"}}}],
        "payment_intent_data": {"capture_method": "manual", "transfer_group": "order_42",
                                "metadata": {"order_id": "42"}}})
    assert session.id.startswith("cs_") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", 3300)
    assert session.url

    status, page, _ = browser_get(session.url)
    assert status == 200 and 'id="pay"' in page and "Cancel" in page
    status, location = browser_post(session.url + "/pay", {"email": "eater@example.com"})
    assert (status, location) == (302, f"http://shop.test/ok?cs={session.id}")

    session = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    assert session.status == "complete" and session.payment_status == "unpaid"
    assert session.line_items and [i.quantity for i in session.line_items.data] == [2, 1]
    assert isinstance(session.payment_intent, str)
    intent = client.v1.payment_intents.retrieve(session.payment_intent, {"expand": ["latest_charge"]})
    assert intent.status == "requires_capture" and intent.amount_capturable == 3300
    assert intent.transfer_group == "order_42" and intent.metadata.to_dict() == {"order_id": "42"}
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.captured is False and charge.balance_transaction is None

    captured = client.v1.payment_intents.capture(intent.id, {"amount_to_capture": 3000})
    assert captured.status == "succeeded" and captured.amount_received == 3000
    assert captured.amount_capturable == 0
    charge = client.v1.charges.retrieve(charge.id, {"expand": ["balance_transaction"]})
    assert charge.captured and charge.amount_captured == 3000 and charge.amount_refunded == 0
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.amount, txn.fee, txn.net) == (3000, 70, 2930) == (3000, stripe_fee(3000), 3000 - 70)
    assert txn.fee_details[0].type == "stripe_fee"
    assert client.v1.balance_transactions.retrieve(txn.id).source == charge.id

    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.capture(intent.id)
    assert again.value.code == "payment_intent_unexpected_state" and again.value.http_status == 400

    assert receiver.types() == ["charge.succeeded", "payment_intent.amount_capturable_updated",
                                "checkout.session.completed", "charge.captured",
                                "payment_intent.succeeded"]
    completed = receiver.events()[2]
    assert completed.data.object["client_reference_id"] == "order-42"
    assert completed.data.object["payment_status"] == "unpaid"


def test_capture_limits_and_cancel(client: stripe.StripeClient, server: FakeStripeServer,
                                   receiver: WebhookReceiver) -> None:
    intent = paid_charge(client, server, amount=2000, manual=True)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payment_intents.capture(intent.id, {"amount_to_capture": 2001})
    assert too_much.value.param == "amount_to_capture"

    canceled = client.v1.payment_intents.cancel(intent.id)
    assert canceled.status == "canceled" and canceled.canceled_at
    assert "payment_intent.canceled" in receiver.types()
    with pytest.raises(stripe.InvalidRequestError, match="status of canceled"):
        client.v1.payment_intents.capture(intent.id)


def test_automatic_capture_pays_immediately(client: stripe.StripeClient, server: FakeStripeServer) -> None:
    intent = paid_charge(client, server, amount=5000)
    assert intent.status == "succeeded" and intent.amount_received == 5000
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert charge.captured and charge.balance_transaction


# --------------------------------------------------------------------------- transfers & refunds

def test_transfers_from_a_charge_cannot_exceed_it(client: stripe.StripeClient,
                                                  server: FakeStripeServer) -> None:
    account = new_account(client)
    server.make_account_ready(account.id)
    charge_id = str(paid_charge(client, server, amount=5000).latest_charge)

    first = client.v1.transfers.create({"amount": 3000, "currency": "eur", "destination": account.id,
                                        "source_transaction": charge_id, "transfer_group": "order_1",
                                        "metadata": {"producer_id": "7"}})
    assert first.id.startswith("tr_") and first.object == "transfer" and first.amount_reversed == 0
    with pytest.raises(stripe.InvalidRequestError) as exceeded:
        client.v1.transfers.create({"amount": 2500, "currency": "eur", "destination": account.id,
                                    "source_transaction": charge_id})
    assert exceeded.value.param == "amount"
    second = client.v1.transfers.create({"amount": 2000, "currency": "eur", "destination": account.id,
                                         "source_transaction": charge_id})
    assert client.v1.transfers.retrieve(second.id).source_transaction == charge_id

    reversal = client.v1.transfers.reversals.create(second.id, {"amount": 1500})
    assert reversal.id.startswith("trr_") and reversal.object == "transfer_reversal"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(second.id, {"amount": 600})
    second = client.v1.transfers.retrieve(second.id)
    assert second.amount_reversed == 1500 and second.reversed is False
    assert [r.id for r in second.reversals.data] == [reversal.id]
    # Reversed money can be transferred again from the same charge.
    client.v1.transfers.create({"amount": 1500, "currency": "eur", "destination": account.id,
                                "source_transaction": charge_id})


def test_transfer_needs_a_ready_existing_destination(client: stripe.StripeClient) -> None:
    account = new_account(client)
    with pytest.raises(stripe.InvalidRequestError) as not_ready:
        client.v1.transfers.create({"amount": 100, "currency": "eur", "destination": account.id})
    assert not_ready.value.code == "insufficient_capabilities_for_transfer"
    with pytest.raises(stripe.InvalidRequestError, match="No such destination"):
        client.v1.transfers.create({"amount": 100, "currency": "eur", "destination": "acct_nope"})
    with pytest.raises(stripe.InvalidRequestError) as zero:
        client.v1.transfers.create({"amount": 0, "currency": "eur", "destination": account.id})
    assert zero.value.param == "amount"


def test_refund_updates_the_charge_and_limits_transfers(client: stripe.StripeClient,
                                                       server: FakeStripeServer,
                                                       receiver: WebhookReceiver) -> None:
    account = new_account(client)
    server.make_account_ready(account.id)
    intent = paid_charge(client, server, amount=4000)
    refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000})
    assert refund.id.startswith("re_") and refund.status == "succeeded" and refund.charge
    charge = client.v1.charges.retrieve(refund.charge if isinstance(refund.charge, str) else refund.charge.id)
    assert charge.amount_refunded == 1000 and charge.refunded is False
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"charge": charge.id, "amount": 3001})
    assert too_much.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create({"amount": 3001, "currency": "eur", "destination": account.id,
                                    "source_transaction": charge.id})
    refunded = [e for e in receiver.events() if e.type == "charge.refunded"]
    assert refunded and refunded[0].data.object["amount_refunded"] == 1000


# --------------------------------------------------------------------------- idempotency

def test_idempotent_replay_returns_the_same_object(client: stripe.StripeClient,
                                                   server: FakeStripeServer) -> None:
    params: Any = {"type": "express", "country": "FR", "email": "a@example.com",
                   "capabilities": {"transfers": {"requested": True}}}
    first = client.v1.accounts.create(params, {"idempotency_key": "acct-7"})
    count = len(server.objects)
    again = client.v1.accounts.create(params, {"idempotency_key": "acct-7"})
    assert again.id == first.id and len(server.objects) == count
    assert server.requests[-1].replayed and server.requests[-1].idempotency_key == "acct-7"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.accounts.create({**params, "email": "b@example.com"}, {"idempotency_key": "acct-7"})


# --------------------------------------------------------------------------- webhooks & events

def test_webhooks_are_signed_like_stripe(client: stripe.StripeClient, server: FakeStripeServer,
                                         receiver: WebhookReceiver) -> None:
    account = new_account(client)
    server.make_account_ready(account.id)
    assert len(receiver.received) == 1 and server.delivered_events[-1].ok
    event = receiver.events()[0]
    assert event.id.startswith("evt_") and event.type == "account.updated"
    assert client.v1.events.retrieve(event.id).type == "account.updated"

    body, signature = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_wrong")
    assert stripe.Webhook.construct_event(body, server.sign(body), SECRET).id == event.id

    delivery = server.resend(event.id)  # a replay carries the same event id
    assert delivery.ok and receiver.events()[-1].id == event.id and len(receiver.received) == 2


def test_failed_delivery_is_recorded_not_raised(client: stripe.StripeClient,
                                                server: FakeStripeServer) -> None:
    server.webhook_url = "http://127.0.0.1:9/unreachable"
    account = new_account(client)
    server.make_account_ready(account.id)
    assert server.delivered_events[-1].ok is False and server.delivered_events[-1].error


def test_async_delivery_and_reset(client: stripe.StripeClient, server: FakeStripeServer,
                                  receiver: WebhookReceiver) -> None:
    server.async_webhooks = True
    paid_charge(client, server)
    assert server.wait_for_webhooks(5)
    assert receiver.types() == ["charge.succeeded", "payment_intent.succeeded",
                                "checkout.session.completed"]
    server.reset()
    assert server.objects == {} and server.requests == []


def test_in_process_handler_may_call_back_into_the_api(client: stripe.StripeClient,
                                                       server: FakeStripeServer) -> None:
    seen: list[str] = []

    def handler(payload: bytes, signature: str) -> int:
        # Webhook handlers typically re-fetch the object; this must not deadlock the fake.
        event = stripe.Webhook.construct_event(payload, signature, SECRET)
        seen.append(client.v1.events.retrieve(event.id).type)
        return 200

    server.webhook_handler = handler
    account = new_account(client)
    server.make_account_ready(account.id)
    assert seen == ["account.updated"] and server.delivered_events[-1].url == "<handler>"
