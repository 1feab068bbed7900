"""A small, stateful fake of the Stripe API for the test suite, as strict as Stripe documents.

Stripe cannot be reached from the test environment and no emulator speaks Stripe Connect, so this
module serves the subset of the v1 API that a marketplace using *separate charges and transfers*
calls: Express accounts, onboarding and login links, Checkout Sessions (with manual capture),
PaymentIntents, Charges, balances and balance transactions, transfers and reversals, refunds,
disputes and events. It is never kinder than Stripe:

* a partial capture releases the rest, reported in ``charge.amount_refunded``;
* the platform and each connected account have pending and available balances; a transfer without
  ``source_transaction`` needs available funds, a reversal needs the connected account's balance
  (``balance_insufficient``); Stripe's fees (card, dispute, Connect payout and active-account fees)
  are balance transactions of the platform;
* time is a clock the tests move (``advance``): authorisations lapse at ``capture_before`` (7 days),
  Checkout Sessions expire at ``expires_at`` (30 minutes to 24 hours after creation), funds become
  available after ``funds_delay``;
* a request that failed while executing is replayed with the same error for 24 hours under the same
  idempotency key; the same key with other parameters is an ``idempotency_error``;
* refunds may stay ``pending`` and then succeed or fail (``settle_refund``); disputes are opened and
  closed by test helpers (``open_dispute``, ``close_dispute``);
* events about a connected account (those with ``account``) go only to the Connect endpoint, signed
  with its own secret.

The real ``stripe`` client talks to it over loopback HTTP::

    server = start_fake_stripe(webhook_url="http://127.0.0.1:5000/stripe/webhook",
                               connect_webhook_url="http://127.0.0.1:5000/stripe/connect-webhook")
    client = stripe.StripeClient("sk_test_x",
                                 base_addresses={"api": server.url, "connect": server.url})

Run it alone for the demo: ``python -m tests.fakes.stripe_server --port 12111 --app http://127.0.0.1:5000``.
Everything is in memory and guarded by one lock, so the server is safe to hit from a threaded app
plus the test thread.
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import itertools
import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qsl

import stripe
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.stripe_common import (API_VERSION, IDEMPOTENCY_TTL, JSON, ZERO_DECIMAL, StripeError,  # noqa: F401
                                       check_known, decode_form, get_int, invalid, missing, new_id, opt_str,
                                       payout_fee, stripe_fee)
from tests.fakes.stripe_money import MoneyMixin
from tests.fakes.stripe_payments import PaymentsMixin


@dataclass
class RequestRecord:
    """One API call as the server saw it (for assertions in tests)."""
    method: str
    path: str
    params: JSON
    idempotency_key: Optional[str]
    stripe_account: Optional[str]
    status: int = 0
    replayed: bool = False
    stripe_version: Optional[str] = None


@dataclass
class Delivery:
    """One webhook delivery attempt; failures are recorded, never raised."""
    event_id: str
    type: str
    url: str
    status_code: Optional[int]
    error: Optional[str]
    payload: str
    signature: str
    endpoint: str = "platform"  # or "connect"
    ok: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ok = self.status_code is not None and 200 <= self.status_code < 300


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # keep pytest output clean
        pass


# --------------------------------------------------------------------------- the server

class FakeStripeServer(PaymentsMixin, MoneyMixin):
    """In-memory Stripe on a loopback port. See the module docstring for usage."""

    def __init__(self, webhook_url: Optional[str] = None, webhook_secret: Optional[str] = "whsec_test",
                 host: str = "127.0.0.1", port: int = 0, connect_webhook_url: Optional[str] = None,
                 connect_webhook_secret: Optional[str] = "whsec_connect_test",
                 start_time: Optional[int] = None) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        # The Connect endpoint: events about connected accounts go there only, signed with its secret.
        self.connect_webhook_url = connect_webhook_url
        self.connect_webhook_secret = connect_webhook_secret
        # Alternatives to the URLs for in-process receivers (e.g. a Flask test client):
        # called with (payload_bytes, signature_header) and return an HTTP status code.
        self.webhook_handler: Optional[Callable[[bytes, str], int]] = None
        self.connect_webhook_handler: Optional[Callable[[bytes, str], int]] = None
        # False (default): webhooks are POSTed before the triggering API call returns, which makes
        # tests deterministic. True: a background worker delivers them, like real Stripe; use it
        # when the app calls Stripe inside a DB transaction that its webhook handler would wait on.
        self.async_webhooks = False
        self.funds_delay = 2 * 86400   # card funds become available this long after capture
        self.refunds_pending = False   # True: refunds start pending; settle_refund() decides
        self.host, self._port = host, port
        self._start_time = start_time
        self._lock = threading.RLock()
        self._cv = threading.Condition()
        self._queue: "queue.Queue[Optional[JSON]]" = queue.Queue()
        self._queued = 0
        self._worker: Optional[threading.Thread] = None
        self._httpd: Optional[BaseWSGIServer] = None
        self._thread: Optional[threading.Thread] = None
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, event, request, idempotency key and delivery; the clock restarts."""
        with self._lock:
            self.objects: dict[str, JSON] = {}
            self.events: list[JSON] = []
            self.requests: list[RequestRecord] = []
            self.delivered_events: list[Delivery] = []
            # scoped key -> (fingerprint, status, body, saved at)
            self._idempotency: dict[str, tuple[str, int, str, int]] = {}
            self._links: dict[str, JSON] = {}  # onboarding token -> account link state
            self._line_items: dict[str, list[JSON]] = {}
            self._intent_data: dict[str, JSON] = {}  # checkout session id -> payment_intent_data
            self._outbox: list[JSON] = []
            self._api_version = API_VERSION
            self._request_meta: dict[str, Optional[str]] = {"id": None, "idempotency_key": None}
            self._request_account: Optional[str] = None
            self._clock = int(self._start_time if self._start_time is not None else time.time())
            self._sequence = itertools.count(1)
            self._order: dict[str, int] = {}
            self._owner: dict[str, Optional[str]] = {}      # balance transaction/payout -> account
            self._released: dict[str, int] = {}             # charge -> uncaptured remainder released
            self._active_accounts: set[str] = set()         # paid out since the last Connect bill

    def start(self) -> "FakeStripeServer":
        if self._httpd is None:
            self._httpd = make_server(self.host, self._port, self._wsgi, threaded=True,
                                      request_handler=_QuietHandler)
            self._port = self._httpd.server_port
            # A short poll interval keeps stop() (i.e. fixture teardown) fast.
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                            name="fake-stripe", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd, self._thread = None, None
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=5)
        self._worker = None

    def __enter__(self) -> "FakeStripeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    # ---- the clock -------------------------------------------------------------------------

    def now(self) -> int:
        """Stripe's time (Unix seconds): starts at the real time, moves only with advance()."""
        return self._clock

    def advance(self, seconds: int) -> None:
        """Move Stripe's clock: sessions expire, authorisations lapse, pending funds become available."""
        with self._lock:
            self._clock += int(seconds)
            self._expire_due_sessions()
            self._lapse_due_authorisations()
            self._release_due_funds()
        self._flush()

    # ---- test helpers ------------------------------------------------------------------

    def make_account_ready(self, account_id: str) -> JSON:
        """What finishing the hosted onboarding does: enable charges/payouts/transfers."""
        with self._lock:
            account = self._complete_onboarding(account_id)
        self._flush()
        return copy.deepcopy(account)

    def pay_checkout_session(self, session_id: str, email: Optional[str] = None) -> JSON:
        """What the hosted Pay button does, without a browser. Returns the completed session."""
        with self._lock:
            self._pay(session_id, email)
            session = copy.deepcopy(self.objects[session_id])
        self._flush()
        return session

    def sign(self, payload: str | bytes, timestamp: Optional[int] = None,
             secret: Optional[str] = None) -> str:
        """A ``Stripe-Signature`` header for ``payload``, as Stripe computes it (at the real time)."""
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        key = secret or self.webhook_secret
        if not key:
            raise ValueError("no webhook secret configured")
        return stripe.WebhookSignature.generate_signature_header(text, key, timestamp)

    def resend(self, event_id: str) -> Delivery:
        """Deliver a stored event again, freshly signed (Stripe retries the same event id)."""
        with self._lock:
            event = self.objects.get(event_id)
            if event is None or event.get("object") != "event":
                raise KeyError(event_id)
        return self._deliver(event)

    def events_of_type(self, type_: str) -> list[JSON]:
        with self._lock:
            return [e for e in self.events if e["type"] == type_]

    def objects_of(self, object_type: str) -> list[JSON]:
        """Copies of every stored object of a type, oldest first."""
        with self._lock:
            return copy.deepcopy(self._objects_of(object_type))

    # ---- WSGI plumbing -------------------------------------------------------------------

    _ROUTES: list[tuple[str, re.Pattern[str], str]] = [
        (m, re.compile("^" + p + "$"), h) for m, p, h in [
            ("POST", r"/v1/accounts", "create_account"),
            ("GET", r"/v1/accounts/(acct_\w+)", "get_account"),
            ("POST", r"/v1/accounts/(acct_\w+)", "update_account"),
            ("POST", r"/v1/accounts/(acct_\w+)/login_links", "create_login_link"),
            ("POST", r"/v1/account_links", "create_account_link"),
            ("POST", r"/v1/checkout/sessions", "create_session"),
            ("GET", r"/v1/checkout/sessions/([^/]+)", "get_session"),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", "expire_session"),
            ("GET", r"/v1/payment_intents/([^/]+)", "get_payment_intent"),
            ("POST", r"/v1/payment_intents/([^/]+)/capture", "capture_payment_intent"),
            ("POST", r"/v1/payment_intents/([^/]+)/cancel", "cancel_payment_intent"),
            ("GET", r"/v1/charges/([^/]+)", "get_charge"),
            ("GET", r"/v1/balance", "get_balance"),
            ("GET", r"/v1/balance_transactions", "list_balance_transactions"),
            ("GET", r"/v1/balance_transactions/([^/]+)", "get_balance_transaction"),
            ("POST", r"/v1/transfers", "create_transfer"),
            ("GET", r"/v1/transfers", "list_transfers"),
            ("GET", r"/v1/transfers/([^/]+)", "get_transfer"),
            ("POST", r"/v1/transfers/([^/]+)/reversals", "create_reversal"),
            ("GET", r"/v1/transfers/([^/]+)/reversals", "list_reversals"),
            ("POST", r"/v1/refunds", "create_refund"),
            ("GET", r"/v1/refunds", "list_refunds"),
            ("GET", r"/v1/refunds/([^/]+)", "get_refund"),
            ("GET", r"/v1/disputes", "list_disputes"),
            ("GET", r"/v1/disputes/([^/]+)", "get_dispute"),
            ("POST", r"/v1/disputes/([^/]+)", "update_dispute"),
            ("POST", r"/v1/disputes/([^/]+)/close", "close_dispute"),
            ("GET", r"/v1/events", "list_events"),
            ("GET", r"/v1/events/([^/]+)", "get_event"),
        ]
    ]

    def _wsgi(self, environ: JSON, start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            if request.path.startswith("/_fake/"):
                response = self._hosted_page(request)
            else:
                response = self._api(request)
        finally:
            # Webhooks go out after the state lock is released, so a receiver that
            # calls back into this server (common in webhook handlers) cannot deadlock.
            self._flush()
        return response(environ, start_response)

    def _api(self, request: Request) -> Response:
        method, path = request.method, request.path
        try:
            pairs = parse_qsl(request.query_string.decode(), keep_blank_values=True)
            if method == "POST":
                pairs += parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
            params = decode_form(pairs)
        except StripeError as exc:
            return self._json(exc.status, exc.body())
        idem = request.headers.get("Idempotency-Key")
        account = request.headers.get("Stripe-Account")
        record = RequestRecord(method, path, params, idem, account,
                               stripe_version=request.headers.get("Stripe-Version"))
        with self._lock:
            self.requests.append(record)
            auth_error = self._check_auth(request.headers.get("Authorization", ""))
            if auth_error is not None:
                record.status = 401
                return self._json(401, auth_error)
            scope = f"{account or ''}:{idem}"
            fingerprint = f"{method} {path} {json.dumps(sorted(pairs))}"
            if method == "POST" and idem:
                replay = self._replay(scope, fingerprint, record)
                if replay is not None:
                    return replay
            # Events emitted while handling this request record it, like Stripe's event.request.
            self._api_version = request.headers.get("Stripe-Version") or API_VERSION
            self._request_meta = {"id": new_id("req"), "idempotency_key": idem}
            self._request_account = account
            try:
                status, body, saved = self._dispatch(method, path, params)
            finally:
                self._request_meta = {"id": None, "idempotency_key": None}
                self._request_account = None
            record.status = status
            # Stripe saves the result of every request that started executing, errors included;
            # a refusal of the parameters themselves is not saved (the same key may be retried).
            if method == "POST" and idem and saved:
                self._idempotency[scope] = (fingerprint, status, json.dumps(body), self.now())
            return self._json(status, body)

    def _replay(self, scope: str, fingerprint: str, record: RequestRecord) -> Optional[Response]:
        saved = self._idempotency.get(scope)
        if saved is not None and self.now() - saved[3] >= IDEMPOTENCY_TTL:
            del self._idempotency[scope]  # keys are pruned once 24 hours old
            saved = None
        if saved is None:
            return None
        seen_fp, status, body, _at = saved
        if seen_fp != fingerprint:
            record.status = 400
            key = scope.split(":", 1)[1]
            return self._json(400, StripeError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.", type="idempotency_error").body())
        record.status, record.replayed = status, True
        response = self._json(status, json.loads(body))
        response.headers["Idempotent-Replayed"] = "true"
        return response

    def _check_auth(self, header: str) -> Optional[JSON]:
        key = ""
        if header.startswith("Bearer "):
            key = header[7:].strip()
        elif header.startswith("Basic "):  # curl -u sk_test_...:
            try:
                key = base64.b64decode(header[6:]).decode(errors="replace").split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            return {"error": {"type": "invalid_request_error", "message":
                              "You did not provide an API key. You need to provide your API key in the "
                              "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                              "YOUR_SECRET_KEY')."}}
        if not key.startswith(("sk_test_", "rk_test_")):
            shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
            return {"error": {"type": "invalid_request_error",
                              "message": f"Invalid API Key provided: {shown}"}}
        return None

    def _dispatch(self, method: str, path: str, params: JSON) -> tuple[int, JSON, bool]:
        """(status, body, whether an idempotency key saves this result)."""
        for route_method, pattern, handler in self._ROUTES:
            match = pattern.match(path)
            if not match or route_method != method:
                continue
            try:
                result = getattr(self, "_h_" + handler)(params, *match.groups())
                return 200, self._expand(result, params.get("expand")), True
            except StripeError as exc:
                return exc.status, exc.body(), not exc.validation
        message = (f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                   "or we can help at https://support.stripe.com/.")
        return 404, {"error": {"type": "invalid_request_error", "message": message}}, False

    @staticmethod
    def _json(status: int, body: JSON) -> Response:
        response = Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
        response.headers["Request-Id"] = new_id("req")
        return response

    def _expand(self, obj: JSON, expand: Any) -> JSON:
        """Apply ``expand[]`` paths (``latest_charge``, ``latest_charge.balance_transaction``)."""
        result = copy.deepcopy(obj)
        paths = expand if isinstance(expand, list) else ([expand] if isinstance(expand, str) else [])
        for dotted in paths:
            node: Any = result
            for part in dotted.split("."):
                if not isinstance(node, dict):
                    break
                if part == "line_items" and node.get("object") == "checkout.session":
                    items = self._line_items.get(node["id"], [])
                    node[part] = {"object": "list", "data": copy.deepcopy(items), "has_more": False,
                                  "url": f"/v1/checkout/sessions/{node['id']}/line_items"}
                value = node.get(part)
                if isinstance(value, str) and value in self.objects:
                    node[part] = copy.deepcopy(self.objects[value])
                elif part not in node:
                    raise invalid(f"This property cannot be expanded ({dotted}).", "expand")
                node = node[part]
        return result

    # ---- object store --------------------------------------------------------------------------

    def _get(self, obj_id: str, object_type: str, noun: str, param: str = "id") -> JSON:
        obj = self.objects.get(obj_id)
        if obj is None or obj.get("object") != object_type:
            raise missing(noun, obj_id, param)
        return obj

    def _new(self, prefix: str, object_type: str, **fields: Any) -> JSON:
        obj: JSON = {"id": new_id(prefix), "object": object_type, "created": self.now(),
                     "livemode": False}
        obj.update(fields)
        self.objects[obj["id"]] = obj
        self._order[obj["id"]] = next(self._sequence)
        return obj

    def _objects_of(self, object_type: str) -> list[JSON]:
        return [o for o in self.objects.values() if o.get("object") == object_type]

    def _list(self, rows: list[JSON], p: JSON, url: str) -> JSON:
        """Stripe's list: newest first, ``limit`` 1-100 (10 by default), cursors and ``created`` filters."""
        limit = get_int(p, "limit", minimum=1, maximum=100) or 10
        rows = _created_filter(rows, p.get("created"))
        rows = sorted(rows, key=lambda r: (r["created"], self._order.get(r["id"], 0)), reverse=True)
        ids = [r["id"] for r in rows]
        after, before = opt_str(p, "starting_after"), opt_str(p, "ending_before")
        for cursor, param in ((after, "starting_after"), (before, "ending_before")):
            if cursor is not None and cursor not in ids:
                raise missing("object", cursor, param)
        if after is not None:
            rest = rows[ids.index(after) + 1:]
            page, has_more = rest[:limit], len(rest) > limit
        elif before is not None:
            rest = rows[:ids.index(before)]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = rows[:limit], len(rows) > limit
        return {"object": "list", "data": page, "has_more": has_more, "url": url}

    # ---- events & webhooks ----------------------------------------------------------------

    def _emit(self, type_: str, obj: JSON, previous: Optional[JSON] = None,
              account: Optional[str] = None) -> JSON:
        data: JSON = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = self._new("evt", "event", type=type_, data=data, pending_webhooks=1,
                          api_version=self._api_version, request=dict(self._request_meta))
        if account:  # Connect events (about a connected account) carry its id
            event["account"] = account
        self.events.append(event)
        self._outbox.append(event)
        return event

    def _flush(self) -> None:
        with self._lock:
            pending, self._outbox = self._outbox, []
        if not pending:
            return
        if not self.async_webhooks:
            # Inline, in the calling request's thread: nested deliveries (a webhook handler that
            # calls back and triggers more events) then happen on that nested request's thread.
            for event in pending:
                self._deliver(event)
            return
        with self._cv:
            self._queued += len(pending)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="fake-stripe-webhooks",
                                                daemon=True)
                self._worker.start()
        for event in pending:
            self._queue.put(event)

    def _work(self) -> None:
        # One worker keeps events in emission order, as Stripe mostly does.
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._deliver(event)
            finally:
                with self._cv:
                    self._queued -= 1
                    self._cv.notify_all()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until queued deliveries are done (async mode); True when nothing is pending."""
        with self._cv:
            return self._cv.wait_for(lambda: self._queued == 0, timeout)

    def _endpoint(self, event: JSON) -> tuple[str, Optional[Callable[[bytes, str], int]], Optional[str], str]:
        """(name, handler, url, secret) of the endpoint an event goes to: Connect ones apart."""
        if event.get("account"):
            return ("connect", self.connect_webhook_handler, self.connect_webhook_url,
                    self.connect_webhook_secret or "")
        return "platform", self.webhook_handler, self.webhook_url, self.webhook_secret or ""

    def _deliver(self, event: JSON) -> Delivery:
        payload = json.dumps(event, indent=2)
        endpoint, handler, url, secret = self._endpoint(event)
        signature = self.sign(payload, secret=secret) if secret else ""
        target = "<handler>" if handler is not None else (url or "")
        status: Optional[int] = None
        error: Optional[str] = None
        if handler is not None:
            try:
                status = int(handler(payload.encode(), signature))
            except Exception as exc:  # recorded, never raised: Stripe just sees a failure
                error = repr(exc)
        elif url:
            status, error = _post(url, payload, signature)
        else:
            error = f"no {endpoint} webhook endpoint configured"
        delivery = Delivery(event["id"], event["type"], target, status, error, payload, signature, endpoint)
        with self._lock:
            self.delivered_events.append(delivery)
        return delivery

    # ---- retrieval of events ---------------------------------------------------------------------

    def _h_get_event(self, p: JSON, evt_id: str) -> JSON:
        return self._get(evt_id, "event", "event")

    def _h_list_events(self, p: JSON) -> JSON:
        check_known(p, {"type", "types", "limit", "created", "starting_after", "ending_before",
                        "delivery_success"})
        types = p.get("types") or ([p["type"]] if p.get("type") else None)
        rows = [e for e in self.events if types is None or e["type"] in types]
        return self._list(rows, p, "/v1/events")

    # ---- hosted pages (onboarding, checkout, Express dashboard) -----------------------------------

    def _hosted_page(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")  # _fake/<kind>/<id>[/<action>]
        kind, ident = (parts[1], parts[2]) if len(parts) >= 3 else ("", "")
        action = parts[3] if len(parts) > 3 else ""
        with self._lock:
            if kind == "onboarding":
                return self._onboarding_page(request, ident)
            if kind == "checkout":
                return self._checkout_page(request, ident, action)
            if kind == "express" and ident in self.objects:
                return _page("Stripe Express Dashboard (fake)",
                             f"<p>Account <code>{html.escape(ident)}</code>: balance and payouts.</p>")
        return _page("Not found", "<p>Unknown page.</p>", 404)

    def _onboarding_page(self, request: Request, token: str) -> Response:
        link = self._links.get(token)
        if link is None:
            return _page("Link invalid", "<p>This onboarding link does not exist.</p>", 404)
        if link["used"] or link["expires_at"] < self.now():
            # Like Stripe: an expired or already-visited link sends the user to refresh_url.
            return _redirect(link["refresh_url"]) if link["refresh_url"] else \
                _page("Link expired", "<p>This link has expired.</p>", 410)
        if request.method == "POST":
            link["used"] = True
            self._complete_onboarding(link["account"])
            return _redirect(link["return_url"]) if link["return_url"] else \
                _page("Done", "<p>Onboarding complete.</p>")
        account = self.objects[link["account"]]
        body = (f"<p>Account <code>{html.escape(account['id'])}</code> "
                f"({html.escape(account.get('email') or '')})</p>"
                f'<form method="post"><button id="complete" type="submit">Complete onboarding</button></form>')
        return _page("Stripe Express onboarding (fake)", body)

    def _checkout_page(self, request: Request, cs_id: str, action: str) -> Response:
        session = self.objects.get(cs_id)
        if session is None or session.get("object") != "checkout.session":
            return _page("Not found", "<p>No such Checkout Session.</p>", 404)
        if request.method == "POST" and action == "pay":
            try:
                return _redirect(self._pay(cs_id, request.form.get("email") or None))
            except StripeError as exc:
                return _page("Cannot pay", f"<p>{html.escape(exc.message)}</p>", 400)
        if session["status"] != "open":
            return _page("Checkout", f"<p>This Checkout Session is {html.escape(session['status'])}.</p>")
        rows = "".join(f"<li>{html.escape(i['description'])} × {i['quantity']}: "
                       f"{_money(i['amount_total'], i['currency'])}</li>" for i in self._line_items[cs_id])
        email = html.escape(session["customer_email"] or "")
        cancel = (f'<a id="cancel" href="{html.escape(session["cancel_url"])}">Cancel</a>'
                  if session["cancel_url"] else "")
        body = (f"<ul>{rows}</ul><p>Total: <strong id=\"total\">"
                f"{_money(session['amount_total'], session['currency'])}</strong></p>"
                f'<form method="post" action="/_fake/checkout/{html.escape(cs_id)}/pay">'
                f'<label>Email <input name="email" type="email" value="{email}"></label>'
                f'<p>Card <input name="card" value="4242 4242 4242 4242" readonly></p>'
                f'<button id="pay" type="submit">Pay</button></form>{cancel}')
        return _page("Stripe Checkout (fake)", body)


def _post(url: str, payload: str, signature: str) -> tuple[Optional[int], Optional[str]]:
    req = urllib.request.Request(url, data=payload.encode(), method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            resp.read()  # as Stripe does: the whole answer is read before the connection closes
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:500]
    except Exception as exc:
        return None, repr(exc)


def _created_filter(rows: list[JSON], created: Any) -> list[JSON]:
    if created is None:
        return rows
    if not isinstance(created, dict):
        value = get_int({"created": created}, "created")
        return [r for r in rows if r["created"] == value]
    ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    for op, value in created.items():
        if op not in ops:
            raise invalid(f"Received unknown parameter: created[{op}]", f"created[{op}]", "parameter_unknown")
        bound = get_int(created, op, param=f"created[{op}]")
        rows = [r for r in rows if ops[op](r["created"], bound)]
    return rows


def _money(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:.2f} {currency.upper()}"


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
           f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(doc, status=status, mimetype="text/html")


def _redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location})


def start_fake_stripe(webhook_url: Optional[str] = None, webhook_secret: str = "whsec_test",
                      connect_webhook_url: Optional[str] = None,
                      connect_webhook_secret: str = "whsec_connect_test") -> FakeStripeServer:
    """Start a fake Stripe on 127.0.0.1 with a free port; call ``.stop()`` when done."""
    return FakeStripeServer(webhook_url=webhook_url, webhook_secret=webhook_secret,
                            connect_webhook_url=connect_webhook_url,
                            connect_webhook_secret=connect_webhook_secret).start()


def main() -> None:
    """Serve the fake Stripe for the demo, its webhooks to a running shop (see the README)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--app", default="http://127.0.0.1:5000", help="the shop's address")
    parser.add_argument("--webhook-secret", default="whsec_demo")
    parser.add_argument("--connect-webhook-secret", default="whsec_demo_connect")
    args = parser.parse_args()
    server = FakeStripeServer(webhook_url=args.app + "/stripe/webhook", webhook_secret=args.webhook_secret,
                              connect_webhook_url=args.app + "/stripe/connect-webhook",
                              connect_webhook_secret=args.connect_webhook_secret, port=args.port)
    server.async_webhooks = True
    server.start()
    print(f"Fake Stripe on {server.url} (webhooks to {args.app})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
