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

from tests.fakes.contract import object_problems, param_problems
from tests.fakes.stripe_common import ACTIVE_ACCOUNT_FEE, DAY, DISPUTE_FEE, payout_fee
from tests.fakes.stripe_server import FakeStripeServer, start_fake_stripe, stripe_fee

SECRET = "whsec_test_secret"
CONNECT_SECRET = "whsec_test_connect"


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
def connect_receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver()
    yield rec
    rec.close()


@pytest.fixture
def server(receiver: WebhookReceiver, connect_receiver: WebhookReceiver) -> Iterator[FakeStripeServer]:
    srv = start_fake_stripe(webhook_url=receiver.url, webhook_secret=SECRET,
                            connect_webhook_url=connect_receiver.url, connect_webhook_secret=CONNECT_SECRET)
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
                                                    connect_receiver: WebhookReceiver) -> None:
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

    events = [e for e in connect_receiver.events(CONNECT_SECRET) if e.type == "account.updated"]
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
    # "Any additional amount will be automatically refunded": the 300 not captured is released.
    assert charge.captured and charge.amount_captured == 3000 and charge.amount_refunded == 300
    assert charge.refunded is False
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
    paid_charge(client, server)
    assert len(receiver.received) == 3 and server.delivered_events[-1].ok
    event = receiver.events()[0]
    assert event.id.startswith("evt_") and event.type == "charge.succeeded"
    assert client.v1.events.retrieve(event.id).type == "charge.succeeded"

    body, signature = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_wrong")
    assert stripe.Webhook.construct_event(body, server.sign(body), SECRET).id == event.id

    delivery = server.resend(event.id)  # a replay carries the same event id
    assert delivery.ok and receiver.events()[-1].id == event.id and len(receiver.received) == 4


def test_connect_events_go_only_to_the_connect_endpoint_with_its_own_secret(
        client: stripe.StripeClient, server: FakeStripeServer, receiver: WebhookReceiver,
        connect_receiver: WebhookReceiver) -> None:
    account = new_account(client)
    server.make_account_ready(account.id)
    paid_charge(client, server)
    assert "account.updated" not in receiver.types() and receiver.types()[0] == "charge.succeeded"
    assert connect_receiver.types() == ["account.updated"]
    body, signature = connect_receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, SECRET)  # not the platform endpoint's secret
    event = stripe.Webhook.construct_event(body, signature, CONNECT_SECRET)
    assert event.account == account.id
    assert [d.endpoint for d in server.delivered_events if d.type == "account.updated"] == ["connect"]

    server.connect_webhook_url = None  # no Connect endpoint: the event is not sent to the platform one
    client.v1.accounts.update(account.id, {"metadata": {"farm": "yes"}})
    assert server.delivered_events[-1].ok is False and "connect" in (server.delivered_events[-1].error or "")
    assert "account.updated" not in receiver.types()


def test_failed_delivery_is_recorded_not_raised(client: stripe.StripeClient,
                                                server: FakeStripeServer) -> None:
    server.webhook_url = "http://127.0.0.1:9/unreachable"
    paid_charge(client, server)
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
        event = stripe.Webhook.construct_event(payload, signature, CONNECT_SECRET)
        seen.append(client.v1.events.retrieve(event.id).type)
        return 200

    server.connect_webhook_handler = handler
    account = new_account(client)
    server.make_account_ready(account.id)
    assert seen == ["account.updated"] and server.delivered_events[-1].url == "<handler>"


# --------------------------------------------------------------------------- strict like Stripe: captures

def test_a_partial_capture_releases_the_rest_which_cannot_be_refunded_again(
        client: stripe.StripeClient, server: FakeStripeServer) -> None:
    intent = paid_charge(client, server, amount=3300, manual=True)
    client.v1.payment_intents.capture(intent.id, {"amount_to_capture": 3000})
    charge_id = str(intent.latest_charge)
    released = client.v1.refunds.list({"charge": charge_id})
    assert [(r.amount, r.balance_transaction) for r in released.data] == [(300, None)]
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"charge": charge_id, "amount": 3001})
    assert too_much.value.code == "amount_too_large"
    client.v1.refunds.create({"charge": charge_id, "amount": 3000})
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (3300, True)


# --------------------------------------------------------------------------- balances and fees

def test_card_funds_are_pending_until_the_delay_then_available(
        client: stripe.StripeClient, server: FakeStripeServer, receiver: WebhookReceiver) -> None:
    server.funds_delay = 3 * DAY
    paid_charge(client, server, amount=5000)
    net = 5000 - stripe_fee(5000)
    balance = client.v1.balance.retrieve()
    assert [(b.currency, b.amount) for b in balance.pending] == [("eur", net)]
    assert [b.amount for b in balance.available] == [0]
    server.advance(3 * DAY - 1)
    assert server.balance() == (0, net) and "balance.available" not in receiver.types()
    server.advance(1)
    assert server.balance() == (net, 0)
    assert receiver.types()[-1] == "balance.available"
    txns = client.v1.balance_transactions.list({"type": "charge"})
    assert [(t.status, t.fee, t.net) for t in txns.data] == [("available", stripe_fee(5000), net)]


def test_a_transfer_without_source_transaction_needs_available_funds(
        client: stripe.StripeClient, server: FakeStripeServer) -> None:
    account = new_account(client)
    server.make_account_ready(account.id)
    intent = paid_charge(client, server, amount=5000)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.create({"amount": 1000, "currency": "eur", "destination": account.id})
    assert refused.value.code == "balance_insufficient" and refused.value.http_status == 400
    # From the charge itself it may go at once: its funds stay pending on the connected account.
    client.v1.transfers.create({"amount": 1000, "currency": "eur", "destination": account.id,
                                "source_transaction": str(intent.latest_charge)})
    assert server.balance(account.id) == (0, 1000)
    server.top_up(800)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create({"amount": 801, "currency": "eur", "destination": account.id})
    client.v1.transfers.create({"amount": 800, "currency": "eur", "destination": account.id})
    assert server.balance() == (0, 5000 - stripe_fee(5000) - 1000)
    assert server.balance(account.id) == (800, 1000)
    connected = client.v1.balance.retrieve(options={"stripe_account": account.id})
    assert [b.amount for b in connected.available] == [800]


def test_a_reversal_needs_the_connected_accounts_balance_and_payouts_cost_connect_fees(
        client: stripe.StripeClient, server: FakeStripeServer, connect_receiver: WebhookReceiver) -> None:
    server.funds_delay = 0
    account = new_account(client)
    server.make_account_ready(account.id)
    charge_id = str(paid_charge(client, server, amount=5000).latest_charge)
    transfer = client.v1.transfers.create({"amount": 3000, "currency": "eur", "destination": account.id,
                                           "source_transaction": charge_id})
    client.v1.transfers.reversals.create(transfer.id, {"amount": 500})
    payout = server.pay_out(account.id)
    assert payout is not None and payout["amount"] == 2500 and server.balance(account.id) == (0, 0)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.reversals.create(transfer.id, {"amount": 100})
    assert refused.value.code == "balance_insufficient"
    assert connect_receiver.types()[-2:] == ["payout.created", "payout.paid"]

    [bill] = server.bill_active_accounts()
    assert server.bill_active_accounts() == []  # billed once per period
    fees = client.v1.balance_transactions.list({"type": "stripe_fee"}).data
    assert sorted(-t.amount for t in fees) == sorted([payout_fee(2500), ACTIVE_ACCOUNT_FEE])
    assert all(t.fee == 0 and t.net == t.amount for t in fees) and bill["id"] in {t.id for t in fees}
    expected = 5000 - stripe_fee(5000) - 3000 + 500 - payout_fee(2500) - ACTIVE_ACCOUNT_FEE
    assert server.balance() == (expected, 0)


def test_lists_page_with_has_more_and_cursors(client: stripe.StripeClient, server: FakeStripeServer) -> None:
    for _ in range(3):
        paid_charge(client, server, amount=1000)
    first = client.v1.balance_transactions.list({"limit": 2})
    assert len(first.data) == 2 and first.has_more
    rest = client.v1.balance_transactions.list({"limit": 2, "starting_after": first.data[-1].id})
    assert len(rest.data) == 1 and not rest.has_more
    assert len({t.id for t in first.data + rest.data}) == 3
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.balance_transactions.list({"limit": 101})


# --------------------------------------------------------------------------- time

def test_an_uncaptured_authorisation_lapses_at_capture_before(
        client: stripe.StripeClient, server: FakeStripeServer, receiver: WebhookReceiver) -> None:
    intent = paid_charge(client, server, amount=2000, manual=True)
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    card = charge.payment_method_details.card  # type: ignore[union-attr]
    assert card.capture_before == charge.created + 7 * DAY
    server.advance(7 * DAY - 1)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    server.advance(1)
    lapsed = client.v1.payment_intents.retrieve(intent.id)
    assert (lapsed.status, lapsed.cancellation_reason) == ("canceled", "automatic")
    assert receiver.types()[-2:] == ["charge.expired", "payment_intent.canceled"]
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.payment_intents.capture(intent.id)
    assert late.value.code == "payment_intent_unexpected_state"


def _session_params(**extra: Any) -> Any:
    return {"mode": "payment", "success_url": "http://shop.test/ok", **extra,
            "line_items": [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 900,
                                                          "product_data": {"name": "Cheese"}}}]}


def test_a_checkout_session_expires_at_expires_at_within_stripes_range(
        client: stripe.StripeClient, server: FakeStripeServer, receiver: WebhookReceiver) -> None:
    now = server.now()
    for bad in (now + 29 * 60, now + DAY + 1):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.checkout.sessions.create(_session_params(expires_at=bad))
        assert refused.value.param == "expires_at"
    session = client.v1.checkout.sessions.create(_session_params(expires_at=now + 3600))
    assert client.v1.checkout.sessions.create(_session_params()).expires_at == now + DAY
    server.advance(3599)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    server.advance(1)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert receiver.types() == ["checkout.session.expired"]
    status, _location = browser_post(f"{server.url}/_fake/checkout/{session.id}/pay")
    assert status == 400 and not server.events_of_type("charge.succeeded")


# --------------------------------------------------------------------------- disputes

def test_a_dispute_takes_the_amount_and_a_fee_then_a_win_returns_the_amount_only(
        client: stripe.StripeClient, server: FakeStripeServer, receiver: WebhookReceiver) -> None:
    server.funds_delay = 0
    charge_id = str(paid_charge(client, server, amount=4000).latest_charge)
    before = server.balance()[0]
    dispute = server.open_dispute(charge_id)
    assert dispute["status"] == "needs_response" and dispute["amount"] == 4000
    assert dispute["evidence_details"]["due_by"] == dispute["created"] + 8 * DAY
    assert receiver.types()[-2:] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    assert server.balance()[0] == before - 4000 - DISPUTE_FEE
    [withdrawal] = client.v1.balance_transactions.list({"type": "adjustment"}).data
    assert (withdrawal.amount, withdrawal.fee, withdrawal.reporting_category) == (-4000, DISPUTE_FEE, "dispute")
    assert client.v1.charges.retrieve(charge_id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as refund:
        client.v1.refunds.create({"charge": charge_id, "amount": 100})
    assert refund.value.code == "charge_disputed"

    server.close_dispute(dispute["id"], won=True)
    assert receiver.types()[-2:] == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]
    assert client.v1.disputes.retrieve(dispute["id"]).status == "won"
    assert server.balance()[0] == before - DISPUTE_FEE  # the fee stays with Stripe
    assert client.v1.refunds.create({"charge": charge_id, "amount": 100}).status == "succeeded"  # won: refundable


def test_accepting_a_dispute_loses_it(client: stripe.StripeClient, server: FakeStripeServer,
                                      receiver: WebhookReceiver) -> None:
    charge_id = str(paid_charge(client, server, amount=2500).latest_charge)
    dispute = server.open_dispute(charge_id, amount=1000)
    updated = client.v1.disputes.update(dispute["id"], {"evidence": {"uncategorized_text": "Delivered."}})
    assert updated.evidence_details.has_evidence
    closed = client.v1.disputes.close(dispute["id"])
    assert closed.status == "lost" and receiver.types()[-1] == "charge.dispute.closed"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.close(dispute["id"])
    # Charged back: the charge cannot be refunded any more (the bank settled it).
    with pytest.raises(stripe.InvalidRequestError) as refund:
        client.v1.refunds.create({"charge": charge_id, "amount": 1500})
    assert refund.value.code == "charge_disputed"


# --------------------------------------------------------------------------- refunds

def test_a_refund_may_stay_pending_then_succeed_or_fail(
        client: stripe.StripeClient, server: FakeStripeServer, receiver: WebhookReceiver) -> None:
    server.refunds_pending = True
    charge_id = str(paid_charge(client, server, amount=3000).latest_charge)
    first = client.v1.refunds.create({"charge": charge_id, "amount": 1000})
    second = client.v1.refunds.create({"charge": charge_id, "amount": 500})
    assert (first.status, second.status) == ("pending", "pending")
    server.settle_refund(first.id, succeeded=True)
    assert receiver.types()[-2:] == ["charge.refund.updated", "refund.updated"]
    assert client.v1.refunds.retrieve(first.id).status == "succeeded"
    server.settle_refund(second.id, succeeded=False)
    assert receiver.types()[-1] == "refund.failed"
    failed = client.v1.refunds.retrieve(second.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert client.v1.charges.retrieve(charge_id).amount_refunded == 1000  # the failed 500 came back
    back = client.v1.balance_transactions.retrieve(str(failed.failure_balance_transaction))
    assert (back.type, back.amount) == ("refund_failure", 500)


# --------------------------------------------------------------------------- idempotency

def test_a_request_that_failed_while_executing_is_replayed_for_24_hours(
        client: stripe.StripeClient, server: FakeStripeServer) -> None:
    account = new_account(client)
    server.make_account_ready(account.id)
    params: Any = {"amount": 700, "currency": "eur", "destination": account.id}
    options: Any = {"idempotency_key": "coop-pay:1"}
    with pytest.raises(stripe.InvalidRequestError) as first:
        client.v1.transfers.create(params, options)
    assert first.value.code == "balance_insufficient"
    server.top_up(1000)
    with pytest.raises(stripe.InvalidRequestError) as replayed:
        client.v1.transfers.create(params, options)
    assert replayed.value.code == "balance_insufficient" and server.requests[-1].replayed
    server.advance(DAY)  # the key is forgotten after 24 hours
    assert client.v1.transfers.create(params, options).amount == 700
    with pytest.raises(stripe.IdempotencyError):
        client.v1.transfers.create({**params, "amount": 701}, options)


def test_a_refused_parameter_is_not_saved_under_the_key(client: stripe.StripeClient,
                                                        server: FakeStripeServer) -> None:
    params: Any = {"type": "express", "country": "FR", "capabilities": {"transfers": {"requested": True}}}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.create({**params, "colour": "red"}, {"idempotency_key": "acct-9"})
    assert client.v1.accounts.create(params, {"idempotency_key": "acct-9"}).id.startswith("acct_")


# --------------------------------------------------------------------------- login links

def test_a_login_link_needs_an_onboarded_express_account(client: stripe.StripeClient,
                                                        server: FakeStripeServer) -> None:
    account = new_account(client)
    with pytest.raises(stripe.InvalidRequestError, match="not completed onboarding"):
        client.v1.accounts.login_links.create(account.id)
    server.make_account_ready(account.id)
    link = client.v1.accounts.login_links.create(account.id)
    assert link.object == "login_link" and browser_get(link.url)[0] == 200


# --------------------------------------------------------------------------- contract with stripe-python

def _every_kind_of_object(client: stripe.StripeClient, server: FakeStripeServer) -> None:
    server.funds_delay = 0
    account = new_account(client)
    server.make_account_ready(account.id)
    client.v1.account_links.create({"account": account.id, "type": "account_onboarding",
                                    "refresh_url": "http://shop.test/r", "return_url": "http://shop.test/x"})
    intent = paid_charge(client, server, amount=4000, manual=True)
    client.v1.payment_intents.capture(intent.id, {"amount_to_capture": 3500})
    charge_id = str(intent.latest_charge)
    transfer = client.v1.transfers.create({"amount": 2000, "currency": "eur", "destination": account.id,
                                           "source_transaction": charge_id})
    client.v1.transfers.reversals.create(transfer.id, {"amount": 300})
    client.v1.refunds.create({"charge": charge_id, "amount": 200})
    server.pay_out(account.id)
    server.open_dispute(charge_id)
    server.advance(DAY)
    client.v1.checkout.sessions.create(_session_params())


def test_every_object_fits_the_installed_stripe_python_models(client: stripe.StripeClient,
                                                             server: FakeStripeServer) -> None:
    _every_kind_of_object(client, server)
    kinds = {o["object"] for o in server.objects.values()}
    assert {"account", "checkout.session", "payment_intent", "charge", "balance_transaction", "transfer",
            "transfer_reversal", "refund", "dispute", "payout", "event"} <= kinds
    problems = [p for o in server.objects.values() for p in object_problems(o)]
    problems += object_problems(client.v1.balance.retrieve().to_dict())
    problems += object_problems(client.v1.accounts.login_links.create(
        next(o["id"] for o in server.objects.values() if o["object"] == "account")).to_dict())
    assert problems == []


def test_every_parameter_sent_to_the_fake_is_known_to_stripe_python(client: stripe.StripeClient,
                                                                   server: FakeStripeServer) -> None:
    _every_kind_of_object(client, server)
    problems = [p for r in server.requests for p in param_problems(r.method, r.path, r.params)]
    assert problems == []


def test_the_contract_catches_a_drifted_object_or_parameter(client: stripe.StripeClient,
                                                           server: FakeStripeServer) -> None:
    intent = paid_charge(client, server, amount=1000)
    charge = dict(server.objects[str(intent.latest_charge)])
    del charge["amount_captured"]
    charge["captured"] = "yes"
    assert sorted(object_problems(charge)) == [f"charge {charge['id']}.amount_captured: missing",
                                               f"charge {charge['id']}.captured: 'yes' is not a bool"]
    assert param_problems("POST", "/v1/transfers", {"amount": "1", "currency": "eur", "destination": "a",
                                                     "source_charge": "ch_1"}) == \
        ["source_charge: unknown to stripe-python's TransferCreateParams"]
