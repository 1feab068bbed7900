"""A small, stateful fake of the Stripe API for the test suite.

Stripe cannot be reached from the test environment and no emulator speaks
Stripe Connect, so this module serves the subset of the v1 API that a
marketplace using *separate charges and transfers* calls: Express accounts and
onboarding links, Checkout Sessions (with manual capture), PaymentIntents,
Charges, balance transactions, transfers and reversals, refunds and events.

The real ``stripe`` client talks to it over loopback HTTP::

    server = start_fake_stripe(webhook_url="http://127.0.0.1:5000/stripe/webhook")
    client = stripe.StripeClient("sk_test_x",
                                 base_addresses={"api": server.url, "connect": server.url})

It is never imported by the application. Request parameter names, object
shapes and error bodies follow Stripe's API reference, but only the fields a
marketplace reads are modelled; everything is in memory and guarded by one
lock, so the server is safe to hit from a threaded app plus the test thread.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import queue
import re
import secrets
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

JSON = dict[str, Any]

API_VERSION = "2026-10-28.endive"  # reported when a request carries no Stripe-Version
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg",
                "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
DEFAULT_CURRENCY = {"FR": "eur", "DE": "eur", "BE": "eur", "ES": "eur", "IT": "eur",
                    "NL": "eur", "US": "usd", "GB": "gbp", "CH": "chf", "CA": "cad"}
# What Stripe asks an Express account for before it can receive transfers.
ONBOARDING_REQUIREMENTS = ["business_type", "external_account", "individual.dob.day",
                           "individual.first_name", "individual.last_name",
                           "tos_acceptance.date", "tos_acceptance.ip"]


class StripeError(Exception):
    """An API error rendered as Stripe's ``{"error": {...}}`` body."""

    def __init__(self, message: str, *, status: int = 400, param: Optional[str] = None,
                 code: Optional[str] = None, type: str = "invalid_request_error",
                 extra: Optional[JSON] = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.extra = extra or {}

    def body(self) -> JSON:
        err: JSON = {"type": self.type, "message": self.message}
        if self.param is not None:
            err["param"] = self.param
        if self.code is not None:
            err["code"] = self.code
            err["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        err.update(self.extra)
        return {"error": err}


def missing(noun: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(f"No such {noun}: '{obj_id}'", status=404, param=param, code="resource_missing")


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
    ok: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ok = self.status_code is not None and 200 <= self.status_code < 300


# --------------------------------------------------------------------------- form decoding

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(pairs: Iterable[tuple[str, str]]) -> JSON:
    """Turn Stripe's bracketed form keys (``a[b][0][c]=v``, ``expand[]=x``) into nested data.

    Index-keyed dicts become lists, except under ``metadata`` whose keys are free text.
    """
    root: JSON = {}
    for raw_key, value in pairs:
        m = _KEY_RE.match(raw_key)
        if not m:
            raise StripeError(f"Invalid parameter name: {raw_key}", param=raw_key)
        parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `expand[]=` style append
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(f"Invalid object for parameter {raw_key}", param=raw_key)
                node = child
    return _listify(root, parent="")


def _listify(node: Any, parent: str) -> Any:
    if not isinstance(node, dict):
        return node
    if parent != "metadata" and node and all(k.isdigit() for k in node):
        return [_listify(node[k], "") for k in sorted(node, key=int)]
    return {k: _listify(v, k) for k, v in node.items()}


# --------------------------------------------------------------------------- parameter helpers

def check_known(params: JSON, allowed: set[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise StripeError(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def req_str(params: JSON, name: str, param: Optional[str] = None) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise StripeError(f"Missing required param: {param or name}.", param=param or name,
                          code="parameter_missing")
    if not isinstance(value, str):
        raise StripeError(f"Invalid string: {value!r}", param=param or name)
    return value


def opt_str(params: JSON, name: str) -> Optional[str]:
    value = params.get(name)
    return None if value in (None, "") else str(value)


def get_int(params: JSON, name: str, *, required: bool = False, minimum: Optional[int] = None,
            param: Optional[str] = None) -> Optional[int]:
    param = param or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise StripeError(f"Missing required param: {param}.", param=param, code="parameter_missing")
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise StripeError(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise StripeError(f"This value must be greater than or equal to {minimum}.", param=param,
                          code="parameter_invalid_integer")
    return number


def get_enum(params: JSON, name: str, choices: list[str], default: Optional[str] = None,
             param: Optional[str] = None) -> Optional[str]:
    value = params.get(name)
    if value in (None, ""):
        return default
    if value not in choices:
        raise StripeError(f"Invalid {param or name}: must be one of {', '.join(choices)}",
                          param=param or name)
    return str(value)


def merge_metadata(current: dict[str, str], update: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe semantics: keys are merged, an empty value deletes a key, ``metadata=`` clears all."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError("Invalid object", param=param)
    result = dict(current)
    for key, value in update.items():
        if not isinstance(value, str):
            raise StripeError("Invalid string", param=f"{param}[{key}]")
        if len(key) > 40 or len(value) > 500:
            raise StripeError("Metadata keys are limited to 40 characters and values to 500 characters.",
                              param=f"{param}[{key}]")
        if value == "":
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > 50:
        raise StripeError("Metadata is limited to 50 keys.", param=param)
    return result


def stripe_fee(amount: int) -> int:
    """1.5 % + 25 cents, rounded half up (integer arithmetic avoids float surprises)."""
    return (amount * 15 + 500) // 1000 + 25


def new_id(prefix: str) -> str:
    return f"{prefix}_{'1Fk' + secrets.token_hex(10)}"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # keep pytest output clean
        pass


# --------------------------------------------------------------------------- the server

class FakeStripeServer:
    """In-memory Stripe on a loopback port. See the module docstring for usage."""

    def __init__(self, webhook_url: Optional[str] = None, webhook_secret: Optional[str] = "whsec_test",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        # Alternative to webhook_url for in-process receivers (e.g. a Flask test client):
        # called with (payload_bytes, signature_header) and returns an HTTP status code.
        self.webhook_handler: Optional[Callable[[bytes, str], int]] = None
        # False (default): webhooks are POSTed before the triggering API call returns, which makes
        # tests deterministic. True: a background worker delivers them, like real Stripe; use it
        # when the app calls Stripe inside a DB transaction that its webhook handler would wait on.
        self.async_webhooks = False
        self.host, self._port = host, port
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
        """Forget every object, event, request, idempotency key and delivery."""
        with self._lock:
            self.objects: dict[str, JSON] = {}
            self.events: list[JSON] = []
            self.requests: list[RequestRecord] = []
            self.delivered_events: list[Delivery] = []
            self._idempotency: dict[str, tuple[str, int, str]] = {}  # key -> (fingerprint, status, body)
            self._links: dict[str, JSON] = {}  # onboarding token -> account link state
            self._line_items: dict[str, list[JSON]] = {}
            self._intent_data: dict[str, JSON] = {}  # checkout session id -> payment_intent_data
            self._outbox: list[JSON] = []
            self._api_version = API_VERSION
            self._request_meta: dict[str, Optional[str]] = {"id": None, "idempotency_key": None}

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
        """A ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
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

    # ---- WSGI plumbing -------------------------------------------------------------------

    _ROUTES: list[tuple[str, re.Pattern[str], str]] = [
        (m, re.compile("^" + p + "$"), h) for m, p, h in [
            ("POST", r"/v1/accounts", "create_account"),
            ("GET", r"/v1/accounts/(acct_\w+)", "get_account"),
            ("POST", r"/v1/accounts/(acct_\w+)", "update_account"),
            ("POST", r"/v1/account_links", "create_account_link"),
            ("POST", r"/v1/checkout/sessions", "create_session"),
            ("GET", r"/v1/checkout/sessions/([^/]+)", "get_session"),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", "expire_session"),
            ("GET", r"/v1/payment_intents/([^/]+)", "get_payment_intent"),
            ("POST", r"/v1/payment_intents/([^/]+)/capture", "capture_payment_intent"),
            ("POST", r"/v1/payment_intents/([^/]+)/cancel", "cancel_payment_intent"),
            ("GET", r"/v1/charges/([^/]+)", "get_charge"),
            ("GET", r"/v1/balance_transactions/([^/]+)", "get_balance_transaction"),
            ("POST", r"/v1/transfers", "create_transfer"),
            ("GET", r"/v1/transfers", "list_transfers"),
            ("GET", r"/v1/transfers/([^/]+)", "get_transfer"),
            ("POST", r"/v1/transfers/([^/]+)/reversals", "create_reversal"),
            ("GET", r"/v1/transfers/([^/]+)/reversals", "list_reversals"),
            ("POST", r"/v1/refunds", "create_refund"),
            ("GET", r"/v1/refunds/([^/]+)", "get_refund"),
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
        record = RequestRecord(method, path, params, idem, request.headers.get("Stripe-Account"))
        with self._lock:
            self.requests.append(record)
            auth_error = self._check_auth(request.headers.get("Authorization", ""))
            if auth_error is not None:
                record.status = 401
                return self._json(401, auth_error)
            fingerprint = f"{method} {path} {json.dumps(sorted(pairs))}"
            if method == "POST" and idem and idem in self._idempotency:
                seen_fp, status, body = self._idempotency[idem]
                if seen_fp != fingerprint:
                    record.status = 400
                    return self._json(400, StripeError(
                        "Keys for idempotent requests can only be used with the same parameters they "
                        f"were first used with. Try using a key other than '{idem}' if you meant to "
                        "execute a different request.", type="idempotency_error").body())
                record.status, record.replayed = status, True
                response = self._json(status, json.loads(body))
                response.headers["Idempotent-Replayed"] = "true"
                return response
            # Events emitted while handling this request record it, like Stripe's event.request.
            self._api_version = request.headers.get("Stripe-Version") or API_VERSION
            self._request_meta = {"id": new_id("req"), "idempotency_key": idem}
            try:
                status, body = self._dispatch(method, path, params)
            finally:
                self._request_meta = {"id": None, "idempotency_key": None}
            record.status = status
            # Only successes are remembered: a failed validation may legitimately be retried
            # with the same key once the state changed (Stripe also skips failed validations).
            if method == "POST" and idem and 200 <= status < 300:
                self._idempotency[idem] = (fingerprint, status, json.dumps(body))
            return self._json(status, body)

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

    def _dispatch(self, method: str, path: str, params: JSON) -> tuple[int, JSON]:
        for route_method, pattern, handler in self._ROUTES:
            match = pattern.match(path)
            if not match or route_method != method:
                continue
            try:
                result = getattr(self, "_h_" + handler)(params, *match.groups())
                return 200, self._expand(result, params.get("expand"))
            except StripeError as exc:
                return exc.status, exc.body()
        message = (f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                   "or we can help at https://support.stripe.com/.")
        return 404, {"error": {"type": "invalid_request_error", "message": message}}

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
                    raise StripeError(f"This property cannot be expanded ({dotted}).", param="expand")
                node = node[part]
        return result

    def _get(self, obj_id: str, object_type: str, noun: str, param: str = "id") -> JSON:
        obj = self.objects.get(obj_id)
        if obj is None or obj.get("object") != object_type:
            raise missing(noun, obj_id, param)
        return obj

    def _new(self, prefix: str, object_type: str, **fields: Any) -> JSON:
        obj: JSON = {"id": new_id(prefix), "object": object_type, "created": int(time.time()),
                     "livemode": False}
        obj.update(fields)
        self.objects[obj["id"]] = obj
        return obj

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

    def _deliver(self, event: JSON) -> Delivery:
        payload = json.dumps(event, indent=2)
        secret = self.webhook_secret or ""
        signature = self.sign(payload, secret=secret) if secret else ""
        target = "<handler>" if self.webhook_handler is not None else (self.webhook_url or "")
        status: Optional[int] = None
        error: Optional[str] = None
        if self.webhook_handler is not None:
            try:
                status = int(self.webhook_handler(payload.encode(), signature))
            except Exception as exc:  # recorded, never raised: Stripe just sees a failure
                error = repr(exc)
        elif self.webhook_url:
            req = urllib.request.Request(self.webhook_url, data=payload.encode(), method="POST", headers={
                "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
            try:
                with urllib.request.urlopen(req, timeout=15) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status, error = exc.code, exc.read().decode(errors="replace")[:500]
            except Exception as exc:
                error = repr(exc)
        else:
            error = "no webhook_url configured"
        delivery = Delivery(event["id"], event["type"], target, status, error, payload, signature)
        with self._lock:
            self.delivered_events.append(delivery)
        return delivery

    # ---- accounts ---------------------------------------------------------------------------

    def _h_create_account(self, p: JSON) -> JSON:
        check_known(p, {"type", "country", "email", "capabilities", "metadata", "business_type",
                        "business_profile", "controller", "default_currency", "settings", "tos_acceptance"})
        acct_type = get_enum(p, "type", ["express", "standard", "custom"], default="express")
        country = (opt_str(p, "country") or "US").upper()
        caps = p.get("capabilities") or {}
        if not isinstance(caps, dict):
            raise StripeError("Invalid object", param="capabilities")
        capabilities = {name: "inactive" for name, spec in caps.items()
                        if isinstance(spec, dict) and spec.get("requested") == "true"}
        if acct_type == "express" and not capabilities:
            raise StripeError("Express accounts must request at least the `transfers` or "
                              "`card_payments` capability.", param="capabilities")
        return self._new(
            "acct", "account", type=acct_type, country=country, email=opt_str(p, "email"),
            business_type=opt_str(p, "business_type"), business_profile=p.get("business_profile") or {},
            capabilities=capabilities, charges_enabled=False, payouts_enabled=False,
            details_submitted=False, default_currency=DEFAULT_CURRENCY.get(country, "usd"),
            external_accounts={"object": "list", "data": [], "has_more": False, "total_count": 0},
            metadata=merge_metadata({}, p.get("metadata")), tos_acceptance={"date": None},
            requirements={"alternatives": [], "current_deadline": None,
                          "currently_due": list(ONBOARDING_REQUIREMENTS), "disabled_reason":
                          "requirements.past_due", "errors": [], "eventually_due":
                          list(ONBOARDING_REQUIREMENTS), "past_due": list(ONBOARDING_REQUIREMENTS),
                          "pending_verification": []})

    def _h_get_account(self, p: JSON, acct_id: str) -> JSON:
        return self._get(acct_id, "account", "account")

    def _h_update_account(self, p: JSON, acct_id: str) -> JSON:
        check_known(p, {"email", "metadata", "business_profile", "business_type", "settings",
                        "capabilities", "default_currency"})
        account = self._get(acct_id, "account", "account")
        previous: JSON = {}
        if "metadata" in p:
            previous["metadata"] = account["metadata"]
            account["metadata"] = merge_metadata(account["metadata"], p["metadata"])
        if opt_str(p, "email"):
            previous["email"], account["email"] = account["email"], p["email"]
        if isinstance(p.get("business_profile"), dict):
            previous["business_profile"] = copy.deepcopy(account["business_profile"])
            account["business_profile"].update(p["business_profile"])
        for name, spec in (p.get("capabilities") or {}).items():
            if isinstance(spec, dict) and spec.get("requested") == "true":
                account["capabilities"].setdefault(name, "active" if account["charges_enabled"]
                                                   else "inactive")
        if previous:
            self._emit("account.updated", account, previous, account=acct_id)
        return account

    def _h_create_account_link(self, p: JSON) -> JSON:
        check_known(p, {"account", "refresh_url", "return_url", "type", "collect", "collection_options"})
        acct_id = req_str(p, "account")
        self._get(acct_id, "account", "account", param="account")
        req_str(p, "type")
        get_enum(p, "type", ["account_onboarding", "account_update"])
        token = secrets.token_urlsafe(16)
        created = int(time.time())
        self._links[token] = {"account": acct_id, "refresh_url": opt_str(p, "refresh_url"),
                              "return_url": opt_str(p, "return_url"), "expires_at": created + 300,
                              "used": False}
        # Account links have no id in Stripe; they are not stored in `objects`.
        return {"object": "account_link", "created": created, "expires_at": created + 300,
                "url": f"{self.url}/_fake/onboarding/{token}"}

    def _complete_onboarding(self, acct_id: str) -> JSON:
        account = self._get(acct_id, "account", "account")
        previous = {"charges_enabled": account["charges_enabled"],
                    "payouts_enabled": account["payouts_enabled"],
                    "details_submitted": account["details_submitted"],
                    "capabilities": dict(account["capabilities"]),
                    "requirements": copy.deepcopy(account["requirements"])}
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                       tos_acceptance={"date": int(time.time())})
        account["capabilities"] = {name: "active" for name in account["capabilities"]} or \
            {"transfers": "active"}
        account["requirements"].update(currently_due=[], eventually_due=[], past_due=[],
                                       disabled_reason=None)
        self._emit("account.updated", account, previous, account=acct_id)
        return account

    # ---- checkout ---------------------------------------------------------------------------

    def _h_create_session(self, p: JSON) -> JSON:
        check_known(p, {"mode", "line_items", "success_url", "cancel_url", "client_reference_id",
                        "customer_email", "customer", "metadata", "payment_intent_data", "currency",
                        "expires_at", "locale", "payment_method_types", "ui_mode", "submit_type"})
        mode = get_enum(p, "mode", ["payment", "setup", "subscription"], param="mode")
        if mode is None:
            raise StripeError("Missing required param: mode.", param="mode", code="parameter_missing")
        if mode != "payment":
            raise StripeError("The fake Stripe server only supports mode=payment.", param="mode")
        success_url = req_str(p, "success_url")
        items_in = p.get("line_items")
        if not isinstance(items_in, list) or not items_in:
            raise StripeError("Missing required param: line_items.", param="line_items",
                              code="parameter_missing")
        items, currency, total = [], None, 0
        for i, item in enumerate(items_in):
            base = f"line_items[{i}]"
            if not isinstance(item, dict):
                raise StripeError("Invalid object", param=base)
            if "price" in item:
                raise StripeError(f"No such price: '{item['price']}'", status=404,
                                  param=f"{base}[price]", code="resource_missing")
            pd = item.get("price_data")
            if not isinstance(pd, dict):
                raise StripeError("You must specify either `price` or `price_data` for each line item.",
                                  param=f"{base}[price_data]", code="parameter_missing")
            cur = req_str(pd, "currency", f"{base}[price_data][currency]").lower()
            unit = get_int(pd, "unit_amount", required=True, minimum=0,
                           param=f"{base}[price_data][unit_amount]")
            product = pd.get("product_data")
            name = req_str(product if isinstance(product, dict) else {}, "name",
                           f"{base}[price_data][product_data][name]")
            qty = get_int(item, "quantity", required=True, minimum=1, param=f"{base}[quantity]")
            assert unit is not None and qty is not None
            if currency is not None and cur != currency:
                raise StripeError("All line items must have the same currency.", param=f"{base}[price_data][currency]")
            currency = cur
            total += unit * qty
            items.append({"id": new_id("li"), "object": "item", "amount_subtotal": unit * qty,
                          "amount_total": unit * qty, "currency": cur, "description": name,
                          "quantity": qty, "price": {"object": "price", "unit_amount": unit,
                                                     "currency": cur, "product_data": {"name": name}}})
        assert currency is not None
        if currency not in ZERO_DECIMAL and total < 50:
            raise StripeError(f"The Checkout Session's total amount due must add up to at least "
                              f"0.50 {currency}", param="line_items", code="amount_too_small")
        pid = p.get("payment_intent_data") or {}
        if not isinstance(pid, dict):
            raise StripeError("Invalid object", param="payment_intent_data")
        check_known({f"payment_intent_data[{k}]": v for k, v in pid.items()}, {
            f"payment_intent_data[{k}]" for k in ("capture_method", "transfer_group", "metadata",
                                                  "description", "on_behalf_of", "transfer_data",
                                                  "application_fee_amount", "statement_descriptor",
                                                  "receipt_email", "setup_future_usage")})
        capture = get_enum(pid, "capture_method", ["automatic", "automatic_async", "manual"],
                           default="automatic_async", param="payment_intent_data[capture_method]")
        created = int(time.time())
        session = self._new(
            "cs_test", "checkout.session", mode="payment", status="open", payment_status="unpaid",
            amount_subtotal=total, amount_total=total, currency=currency, success_url=success_url,
            cancel_url=opt_str(p, "cancel_url"), client_reference_id=opt_str(p, "client_reference_id"),
            customer=opt_str(p, "customer"), customer_email=opt_str(p, "customer_email"),
            customer_details=None, metadata=merge_metadata({}, p.get("metadata")), payment_intent=None,
            payment_method_types=["card"], expires_at=get_int(p, "expires_at") or created + 86400,
            locale=opt_str(p, "locale"), url=None)
        session["url"] = f"{self.url}/_fake/checkout/{session['id']}"
        self._line_items[session["id"]] = items
        # Not part of Stripe's session object; kept aside for creating the PaymentIntent on Pay.
        self._intent_data[session["id"]] = {
            "capture_method": capture, "transfer_group": opt_str(pid, "transfer_group"),
            "description": opt_str(pid, "description"),
            "metadata": merge_metadata({}, pid.get("metadata"), "payment_intent_data[metadata]")}
        return session

    def _h_get_session(self, p: JSON, cs_id: str) -> JSON:
        return self._get(cs_id, "checkout.session", "checkout.session")

    def _h_expire_session(self, p: JSON, cs_id: str) -> JSON:
        session = self._get(cs_id, "checkout.session", "checkout.session")
        if session["status"] != "open":
            raise StripeError('Only Checkout Sessions with a status in ["open"] can be expired.')
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)
        return session

    def _pay(self, cs_id: str, email: Optional[str]) -> str:
        """Authorize (and maybe capture) a card payment for an open session; returns the redirect."""
        session = self._get(cs_id, "checkout.session", "checkout.session")
        if session["status"] != "open":
            raise StripeError(f"This Checkout Session is {session['status']}; it can no longer be paid.")
        pid = self._intent_data[cs_id]
        manual = pid["capture_method"] == "manual"
        amount, currency = session["amount_total"], session["currency"]
        pm_id = new_id("pm")
        intent = self._new(
            "pi", "payment_intent", amount=amount, currency=currency, capture_method=pid["capture_method"],
            amount_capturable=amount if manual else 0, amount_received=0 if manual else amount,
            status="requires_capture" if manual else "succeeded", canceled_at=None,
            cancellation_reason=None, client_secret=None, customer=session["customer"],
            description=pid["description"], latest_charge=None, metadata=dict(pid["metadata"]),
            payment_method=pm_id, payment_method_types=["card"], transfer_group=pid["transfer_group"],
            on_behalf_of=None, transfer_data=None, application_fee_amount=None)
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        charge = self._new(
            "ch", "charge", amount=amount, amount_captured=0 if manual else amount, amount_refunded=0,
            balance_transaction=None, captured=not manual, currency=currency, paid=True,
            status="succeeded", refunded=False, disputed=False, payment_intent=intent["id"],
            payment_method=pm_id, metadata=dict(pid["metadata"]), transfer_group=pid["transfer_group"],
            description=pid["description"], customer=session["customer"],
            billing_details={"email": email or session["customer_email"], "name": None},
            payment_method_details={"type": "card", "card": {"brand": "visa", "last4": "4242",
                                                             "exp_month": 12, "exp_year": 2034,
                                                             "country": "US"}},
            outcome={"network_status": "approved_by_network", "type": "authorized",
                     "seller_message": "Payment complete.", "risk_level": "normal"},
            receipt_url=None)
        intent["latest_charge"] = charge["id"]
        if not manual:
            charge["balance_transaction"] = self._charge_balance_transaction(charge, amount)["id"]
        session.update(status="complete", payment_intent=intent["id"], url=None,
                       # Checkout reports "unpaid" while funds are only authorized (manual capture).
                       payment_status="unpaid" if manual else "paid",
                       customer_details={"email": email or session["customer_email"]
                                         or "buyer@example.com", "name": None, "address": None})
        self._emit("charge.succeeded", charge)
        if manual:
            self._emit("payment_intent.amount_capturable_updated", intent)
        else:
            self._emit("payment_intent.succeeded", intent)
        self._emit("checkout.session.completed", session)
        return session["success_url"].replace("{CHECKOUT_SESSION_ID}", cs_id)

    def _charge_balance_transaction(self, charge: JSON, amount: int) -> JSON:
        fee = stripe_fee(amount)
        created = int(time.time())
        return self._new("txn", "balance_transaction", amount=amount, fee=fee, net=amount - fee,
                         currency=charge["currency"], type="charge", reporting_category="charge",
                         source=charge["id"], status="pending", available_on=created + 2 * 86400,
                         description=charge.get("description"), exchange_rate=None,
                         fee_details=[{"amount": fee, "application": None, "currency": charge["currency"],
                                       "description": "Stripe processing fees", "type": "stripe_fee"}])

    def _movement_transaction(self, type_: str, amount: int, currency: str, source: str) -> JSON:
        """A platform balance movement without fee (transfer, reversal, refund)."""
        return self._new("txn", "balance_transaction", amount=amount, fee=0, net=amount,
                         currency=currency, type=type_, reporting_category=type_, source=source,
                         status="available", available_on=int(time.time()), description=None,
                         exchange_rate=None, fee_details=[])

    # ---- payment intents, charges, balance transactions ----------------------------------------

    def _h_get_payment_intent(self, p: JSON, pi_id: str) -> JSON:
        return self._get(pi_id, "payment_intent", "payment_intent")

    def _h_capture_payment_intent(self, p: JSON, pi_id: str) -> JSON:
        check_known(p, {"amount_to_capture", "metadata", "application_fee_amount", "statement_descriptor",
                        "statement_descriptor_suffix", "final_capture", "transfer_data"})
        intent = self._get(pi_id, "payment_intent", "payment_intent")
        if intent["status"] != "requires_capture":
            raise StripeError(
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}. "
                "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                code="payment_intent_unexpected_state", extra={"payment_intent": copy.deepcopy(intent)})
        amount = get_int(p, "amount_to_capture", minimum=1)
        amount = intent["amount_capturable"] if amount is None else amount
        if amount > intent["amount_capturable"]:
            raise StripeError(f"The amount_to_capture ({amount}) must be less than or equal to the "
                              f"PaymentIntent's amount_capturable ({intent['amount_capturable']}).",
                              param="amount_to_capture", code="amount_too_large")
        charge = self.objects[intent["latest_charge"]]
        intent["metadata"] = merge_metadata(intent["metadata"], p.get("metadata"))
        # The uncaptured remainder is released, not refunded: amount_refunded stays 0.
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        charge.update(captured=True, amount_captured=amount,
                      balance_transaction=self._charge_balance_transaction(charge, amount)["id"])
        self._emit("charge.captured", charge)
        self._emit("payment_intent.succeeded", intent)
        return intent

    def _h_cancel_payment_intent(self, p: JSON, pi_id: str) -> JSON:
        check_known(p, {"cancellation_reason"})
        intent = self._get(pi_id, "payment_intent", "payment_intent")
        cancelable = ["requires_payment_method", "requires_capture", "requires_confirmation",
                      "requires_action", "processing"]
        if intent["status"] not in cancelable:
            raise StripeError(
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. "
                f"Only a PaymentIntent with one of the following statuses may be canceled: "
                f"{', '.join(cancelable)}.", code="payment_intent_unexpected_state",
                extra={"payment_intent": copy.deepcopy(intent)})
        reason = get_enum(p, "cancellation_reason", ["duplicate", "fraudulent", "requested_by_customer",
                                                     "abandoned"])
        intent.update(status="canceled", canceled_at=int(time.time()), cancellation_reason=reason,
                      amount_capturable=0)
        if intent["latest_charge"]:
            # Stripe shows a released authorization as a fully "refunded", uncaptured charge.
            charge = self.objects[intent["latest_charge"]]
            charge.update(refunded=True, amount_refunded=charge["amount"])
        self._emit("payment_intent.canceled", intent)
        return intent

    def _h_get_charge(self, p: JSON, ch_id: str) -> JSON:
        return self._get(ch_id, "charge", "charge")

    def _h_get_balance_transaction(self, p: JSON, txn_id: str) -> JSON:
        return self._get(txn_id, "balance_transaction", "balance transaction")

    # ---- transfers --------------------------------------------------------------------------

    def _h_create_transfer(self, p: JSON) -> JSON:
        check_known(p, {"amount", "currency", "destination", "source_transaction", "transfer_group",
                        "metadata", "description", "source_type"})
        amount = get_int(p, "amount", required=True, minimum=1)
        assert amount is not None
        currency = req_str(p, "currency").lower()
        dest_id = req_str(p, "destination")
        dest = self.objects.get(dest_id)
        if dest is None or dest.get("object") != "account":
            raise StripeError(f"No such destination: '{dest_id}'", status=400, param="destination",
                              code="resource_missing")
        if dest["capabilities"].get("transfers") != "active":
            raise StripeError(
                "Your destination account needs to have at least one of the following capabilities "
                "enabled: transfers, crypto_transfers, legacy_payments", param="destination",
                code="insufficient_capabilities_for_transfer")
        source_id = opt_str(p, "source_transaction")
        if source_id is not None:
            charge = self.objects.get(source_id)
            if charge is None or charge.get("object") != "charge":
                raise missing("charge", source_id, "source_transaction")
            if charge["currency"] != currency:
                raise StripeError(f"The currency of source_transaction's balance transaction "
                                  f"({charge['currency']}) must be the same as the transfer currency "
                                  f"({currency}).", param="currency")
            already = sum(t["amount"] - t["amount_reversed"] for t in self.objects.values()
                          if t.get("object") == "transfer" and t["source_transaction"] == source_id)
            available = charge["amount_captured"] - charge["amount_refunded"] - already
            if amount > available:
                raise StripeError(
                    f"Insufficient funds in source transaction {source_id}: requested {amount} but only "
                    f"{max(available, 0)} {currency} remain to be transferred.", param="amount",
                    code="balance_insufficient")
        transfer = self._new(
            "tr", "transfer", amount=amount, amount_reversed=0, currency=currency, destination=dest_id,
            destination_payment=new_id("py"), description=opt_str(p, "description"),
            metadata=merge_metadata({}, p.get("metadata")), reversed=False,
            source_transaction=source_id, source_type="card",
            transfer_group=opt_str(p, "transfer_group"), balance_transaction=None,
            reversals={"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""})
        transfer["reversals"]["url"] = f"/v1/transfers/{transfer['id']}/reversals"
        transfer["balance_transaction"] = self._movement_transaction(
            "transfer", -amount, currency, transfer["id"])["id"]
        self._emit("transfer.created", transfer)
        return transfer

    def _h_get_transfer(self, p: JSON, tr_id: str) -> JSON:
        return self._get(tr_id, "transfer", "transfer")

    def _h_list_transfers(self, p: JSON) -> JSON:
        check_known(p, {"destination", "transfer_group", "limit", "created", "starting_after",
                        "ending_before"})
        rows = [t for t in self.objects.values() if t.get("object") == "transfer"
                and p.get("destination") in (None, t["destination"])
                and p.get("transfer_group") in (None, t["transfer_group"])]
        return self._list(rows, p, "/v1/transfers")

    def _list(self, rows: list[JSON], p: JSON, url: str) -> JSON:
        rows = sorted(rows, key=lambda r: r["created"], reverse=True)  # newest first, like Stripe
        limit = get_int(p, "limit", minimum=1) or 10
        return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}

    def _h_create_reversal(self, p: JSON, tr_id: str) -> JSON:
        check_known(p, {"amount", "description", "metadata", "refund_application_fee"})
        transfer = self._get(tr_id, "transfer", "transfer")
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining == 0:
            raise StripeError(f"Transfer {tr_id} has already been fully reversed.", param="amount")
        amount = get_int(p, "amount", minimum=1)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise StripeError(f"Amount ({amount}) is greater than unreversed amount on transfer "
                              f"({remaining}).", param="amount", code="amount_too_large")
        reversal = self._new(
            "trr", "transfer_reversal", amount=amount, currency=transfer["currency"], transfer=tr_id,
            destination_payment_refund=new_id("pyr"), metadata=merge_metadata({}, p.get("metadata")),
            source_refund=None, balance_transaction=None)
        reversal["balance_transaction"] = self._movement_transaction(
            "transfer_refund", amount, transfer["currency"], reversal["id"])["id"]
        previous = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        transfer["reversals"]["total_count"] += 1
        self._emit("transfer.reversed", transfer, previous)
        return reversal

    def _h_list_reversals(self, p: JSON, tr_id: str) -> JSON:
        transfer = self._get(tr_id, "transfer", "transfer")
        return self._list(list(transfer["reversals"]["data"]), p, f"/v1/transfers/{tr_id}/reversals")

    # ---- refunds & events -----------------------------------------------------------------------

    def _h_create_refund(self, p: JSON) -> JSON:
        check_known(p, {"charge", "payment_intent", "amount", "reason", "metadata",
                        "refund_application_fee", "reverse_transfer", "instructions_email"})
        ch_id, pi_id = opt_str(p, "charge"), opt_str(p, "payment_intent")
        if ch_id and pi_id:
            raise StripeError("You cannot specify both charge and payment_intent.", param="payment_intent")
        if pi_id:
            intent = self._get(pi_id, "payment_intent", "payment_intent", param="payment_intent")
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeError(
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    param="payment_intent", code="payment_intent_unexpected_state")
            ch_id = intent["latest_charge"]
        if not ch_id:
            raise StripeError("Missing required param: charge.", param="charge", code="parameter_missing")
        charge = self._get(ch_id, "charge", "charge", param="charge")
        if not charge["captured"]:
            raise StripeError(f"Charge {ch_id} has not been captured; cancel its PaymentIntent to "
                              "release the authorization.", param="charge")
        refundable = charge["amount_captured"] - charge["amount_refunded"]
        if refundable == 0:
            raise StripeError(f"Charge {ch_id} has already been refunded.", param="charge",
                              code="charge_already_refunded")
        amount = get_int(p, "amount", minimum=1)
        amount = refundable if amount is None else amount
        if amount > refundable:
            raise StripeError(f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                              f"({refundable})", param="amount", code="amount_too_large")
        reason = get_enum(p, "reason", ["duplicate", "fraudulent", "requested_by_customer"])
        refund = self._new(
            "re", "refund", amount=amount, charge=ch_id, currency=charge["currency"],
            payment_intent=charge["payment_intent"], reason=reason, status="succeeded",
            metadata=merge_metadata({}, p.get("metadata")), balance_transaction=None,
            destination_details={"type": "card", "card": {"type": "refund"}})
        refund["balance_transaction"] = self._movement_transaction(
            "refund", -amount, charge["currency"], refund["id"])["id"]
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("charge.refunded", charge, previous)
        self._emit("refund.created", refund)
        return refund

    def _h_get_refund(self, p: JSON, re_id: str) -> JSON:
        return self._get(re_id, "refund", "refund")

    def _h_get_event(self, p: JSON, evt_id: str) -> JSON:
        return self._get(evt_id, "event", "event")

    def _h_list_events(self, p: JSON) -> JSON:
        check_known(p, {"type", "types", "limit", "created", "starting_after", "ending_before",
                        "delivery_success"})
        types = p.get("types") or ([p["type"]] if p.get("type") else None)
        rows = [e for e in self.events if types is None or e["type"] in types]
        return self._list(rows, p, "/v1/events")

    # ---- hosted pages (onboarding, checkout) ------------------------------------------------------

    def _hosted_page(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")  # _fake/<kind>/<id>[/<action>]
        kind, ident = (parts[1], parts[2]) if len(parts) >= 3 else ("", "")
        action = parts[3] if len(parts) > 3 else ""
        with self._lock:
            if kind == "onboarding":
                return self._onboarding_page(request, ident)
            if kind == "checkout":
                return self._checkout_page(request, ident, action)
        return _page("Not found", "<p>Unknown page.</p>", 404)

    def _onboarding_page(self, request: Request, token: str) -> Response:
        link = self._links.get(token)
        if link is None:
            return _page("Link invalid", "<p>This onboarding link does not exist.</p>", 404)
        if link["used"] or link["expires_at"] < time.time():
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


def start_fake_stripe(webhook_url: Optional[str] = None,
                      webhook_secret: str = "whsec_test") -> FakeStripeServer:
    """Start a fake Stripe on 127.0.0.1 with a free port; call ``.stop()`` when done."""
    return FakeStripeServer(webhook_url=webhook_url, webhook_secret=webhook_secret).start()
