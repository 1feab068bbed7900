"""Shared pieces of the fake Stripe: errors, form decoding, parameter checks, ids and fee schedules."""
from __future__ import annotations

import re
import secrets
from typing import Any, Iterable, Optional

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
DAY = 86400
# Card networks hold an uncaptured authorisation 7 days; Stripe then cancels the PaymentIntent.
AUTHORISATION_LIFETIME = 7 * DAY
# Checkout Sessions: expires_at may be 30 minutes to 24 hours after creation (default 24 hours).
SESSION_MIN_LIFETIME, SESSION_MAX_LIFETIME = 30 * 60, DAY
# Idempotency keys are kept (and their results replayed) for 24 hours.
IDEMPOTENCY_TTL = DAY
DISPUTE_FEE = 1500          # debited from the platform with the disputed amount, kept even if won
DISPUTE_RESPONSE_DAYS = 8   # evidence_details.due_by
ACTIVE_ACCOUNT_FEE = 200    # Connect: per account that received a payout in the month


class StripeError(Exception):
    """An API error rendered as Stripe's ``{"error": {...}}`` body.

    ``validation=True`` marks a refusal of the parameters themselves: Stripe saves no idempotent
    result for those (the endpoint never started executing); every other error is replayed.
    """

    def __init__(self, message: str, *, status: int = 400, param: Optional[str] = None,
                 code: Optional[str] = None, type: str = "invalid_request_error",
                 extra: Optional[JSON] = None, validation: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.extra = extra or {}
        self.validation = validation

    def body(self) -> JSON:
        err: JSON = {"type": self.type, "message": self.message}
        if self.param is not None:
            err["param"] = self.param
        if self.code is not None:
            err["code"] = self.code
            err["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        err.update(self.extra)
        return {"error": err}


def invalid(message: str, param: Optional[str] = None, code: Optional[str] = None) -> StripeError:
    """A parameter refused before anything executed (not saved under an idempotency key)."""
    return StripeError(message, param=param, code=code, validation=True)


def missing(noun: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(f"No such {noun}: '{obj_id}'", status=404, param=param, code="resource_missing")


def insufficient(message: str, param: str = "amount") -> StripeError:
    return StripeError(message, param=param, code="balance_insufficient")


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
            raise invalid(f"Invalid parameter name: {raw_key}", raw_key)
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
                    raise invalid(f"Invalid object for parameter {raw_key}", raw_key)
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
            raise invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def req_str(params: JSON, name: str, param: Optional[str] = None) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise invalid(f"Missing required param: {param or name}.", param or name, "parameter_missing")
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param or name)
    return value


def opt_str(params: JSON, name: str) -> Optional[str]:
    value = params.get(name)
    return None if value in (None, "") else str(value)


def get_int(params: JSON, name: str, *, required: bool = False, minimum: Optional[int] = None,
            maximum: Optional[int] = None, param: Optional[str] = None) -> Optional[int]:
    param = param or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {param}.", param, "parameter_missing")
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(f"Invalid integer: {value}", param, "parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param,
                      "parameter_invalid_integer")
    if maximum is not None and number > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", param,
                      "parameter_invalid_integer")
    return number


def get_enum(params: JSON, name: str, choices: list[str], default: Optional[str] = None,
             param: Optional[str] = None) -> Optional[str]:
    value = params.get(name)
    if value in (None, ""):
        return default
    if value not in choices:
        raise invalid(f"Invalid {param or name}: must be one of {', '.join(choices)}", param or name)
    return str(value)


def merge_metadata(current: dict[str, str], update: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe semantics: keys are merged, an empty value deletes a key, ``metadata=`` clears all."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid("Invalid object", param)
    result = dict(current)
    for key, value in update.items():
        if not isinstance(value, str):
            raise invalid("Invalid string", f"{param}[{key}]")
        if len(key) > 40 or len(value) > 500:
            raise invalid("Metadata keys are limited to 40 characters and values to 500 characters.",
                          f"{param}[{key}]")
        if value == "":
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > 50:
        raise invalid("Metadata is limited to 50 keys.", param)
    return result


# --------------------------------------------------------------------------- ids and fees

def stripe_fee(amount: int) -> int:
    """Card processing: 1.5 % + 25 cents, rounded half up (integer arithmetic avoids float surprises)."""
    return (amount * 15 + 500) // 1000 + 25


def payout_fee(amount: int) -> int:
    """Connect, per payout to a connected account: 0.25 % + 10 cents, billed to the platform."""
    return (amount * 25 + 5000) // 10000 + 10


def new_id(prefix: str) -> str:
    return f"{prefix}_{'1Fk' + secrets.token_hex(10)}"


def empty_list(url: str) -> JSON:
    return {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": url}
