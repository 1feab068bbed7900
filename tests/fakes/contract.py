"""What the installed stripe-python declares about Stripe's objects and parameters, as checks.

The fake Stripe server must not drift from the client library the app runs with:

* ``object_problems(obj)``: every field the library types as *always present* (its annotation is not
  ``Optional``) is there, with a value of the declared type, recursively into nested objects;
* ``param_problems(method, path, params)``: every parameter sent on a call is one the library's
  ``*Params`` TypedDict for that call declares, recursively into nested parameters.
"""
from __future__ import annotations

import importlib
import re
import typing
from typing import Any, ForwardRef, Literal, Union

from typing_extensions import is_typeddict

import stripe
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject

JSON = dict[str, Any]
_NONE = type(None)


def class_for(object_name: str) -> type | None:
    entry = OBJECT_CLASSES.get(object_name)
    if entry is None:
        return None
    return getattr(importlib.import_module(entry[0]), entry[1])


def _resolve(tp: Any) -> Any:
    if isinstance(tp, ForwardRef):
        name = tp.__forward_arg__
        return getattr(stripe, name, None) or getattr(stripe.checkout, name, None) or Any
    if isinstance(tp, str):
        return _resolve(ForwardRef(tp))
    return tp


def _is_optional(tp: Any) -> bool:
    return _NONE in typing.get_args(tp)


def _type_problems(value: Any, tp: Any, where: str) -> list[str]:
    """Does `value` (JSON) fit the annotation `tp`? Returns the problems found."""
    tp = _resolve(tp)
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return []
    if origin is Union:
        options = [a for a in typing.get_args(tp) if a is not _NONE]
        if value is None and _is_optional(tp):
            return []
        found = [_type_problems(value, option, where) for option in options]
        return [] if any(not f for f in found) else found[0]
    if origin is Literal:
        return [] if value in typing.get_args(tp) else [f"{where}: {value!r} not in {typing.get_args(tp)}"]
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a bool"]
    if tp is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where}: {value!r} is not an int"]
    if tp is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{where}: not a number"]
    if tp is str:
        return [] if isinstance(value, str) else [f"{where}: {value!r} is not a string"]
    if origin in (list, typing.List):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        (item,) = typing.get_args(tp) or (Any,)
        return [p for i, v in enumerate(value) for p in _type_problems(v, item, f"{where}[{i}]")]
    if origin in (dict, typing.Dict):
        return [] if isinstance(value, dict) else [f"{where}: not an object"]
    if isinstance(tp, type) and issubclass(tp, StripeObject) or origin is not None:
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        cls = origin or tp
        if getattr(cls, "OBJECT_NAME", None) == "list" or cls.__name__ == "ListObject":
            return [] if value.get("object") == "list" and isinstance(value.get("data"), list) else \
                [f"{where}: not a list object"]
        return object_problems(value, cls, where)
    return []


def object_problems(obj: JSON, cls: type | None = None, where: str = "") -> list[str]:
    """Fields the library declares always present that `obj` lacks or types wrongly."""
    if cls is None:
        cls = class_for(obj.get("object", ""))
        if cls is None:
            return [f"{where or obj.get('id')}: unknown object type {obj.get('object')!r}"]
    where = where or f"{obj.get('object')} {obj.get('id', '')}".strip()
    problems = []
    for name, tp in getattr(cls, "__annotations__", {}).items():
        if name.startswith("_") or name == "OBJECT_NAME":
            continue
        if name not in obj:
            if not _is_optional(tp):
                problems.append(f"{where}.{name}: missing")
            continue
        problems += _type_problems(obj[name], tp, f"{where}.{name}")
    return problems


# ---------------------------------------------------------------- request parameters

# (method, path pattern, the library's parameters class) for every call the fake serves.
_ROUTE_PARAMS = [
    ("POST", r"/v1/accounts", "AccountCreateParams"),
    ("GET", r"/v1/accounts/[^/]+", "AccountRetrieveParams"),
    ("POST", r"/v1/accounts/[^/]+", "AccountUpdateParams"),
    ("POST", r"/v1/accounts/[^/]+/login_links", "AccountLoginLinkCreateParams"),
    ("POST", r"/v1/account_links", "AccountLinkCreateParams"),
    ("POST", r"/v1/checkout/sessions", "checkout.SessionCreateParams"),
    ("GET", r"/v1/checkout/sessions/[^/]+", "checkout.SessionRetrieveParams"),
    ("POST", r"/v1/checkout/sessions/[^/]+/expire", "checkout.SessionExpireParams"),
    ("GET", r"/v1/payment_intents/[^/]+", "PaymentIntentRetrieveParams"),
    ("POST", r"/v1/payment_intents/[^/]+/capture", "PaymentIntentCaptureParams"),
    ("POST", r"/v1/payment_intents/[^/]+/cancel", "PaymentIntentCancelParams"),
    ("GET", r"/v1/charges/[^/]+", "ChargeRetrieveParams"),
    ("GET", r"/v1/balance", "BalanceRetrieveParams"),
    ("GET", r"/v1/balance_transactions", "BalanceTransactionListParams"),
    ("GET", r"/v1/balance_transactions/[^/]+", "BalanceTransactionRetrieveParams"),
    ("POST", r"/v1/transfers", "TransferCreateParams"),
    ("GET", r"/v1/transfers", "TransferListParams"),
    ("GET", r"/v1/transfers/[^/]+", "TransferRetrieveParams"),
    ("POST", r"/v1/transfers/[^/]+/reversals", "TransferReversalCreateParams"),
    ("GET", r"/v1/transfers/[^/]+/reversals", "TransferReversalListParams"),
    ("POST", r"/v1/refunds", "RefundCreateParams"),
    ("GET", r"/v1/refunds", "RefundListParams"),
    ("GET", r"/v1/refunds/[^/]+", "RefundRetrieveParams"),
    ("GET", r"/v1/disputes", "DisputeListParams"),
    ("GET", r"/v1/disputes/[^/]+", "DisputeRetrieveParams"),
    ("POST", r"/v1/disputes/[^/]+", "DisputeUpdateParams"),
    ("POST", r"/v1/disputes/[^/]+/close", "DisputeCloseParams"),
    ("GET", r"/v1/events", "EventListParams"),
    ("GET", r"/v1/events/[^/]+", "EventRetrieveParams"),
]


def params_class(method: str, path: str) -> type | None:
    for route_method, pattern, name in _ROUTE_PARAMS:
        if route_method == method and re.fullmatch(pattern, path):
            module, _, cls = name.rpartition(".")
            return getattr(getattr(stripe.params, module) if module else stripe.params, cls)
    return None


def _typed_dict_of(tp: Any, module: str) -> type | None:
    """The TypedDict inside an annotation such as NotRequired[List['XParamsItem']], if any."""
    if isinstance(tp, type) and is_typeddict(tp):
        return tp
    if isinstance(tp, (ForwardRef, str)):
        text = tp.__forward_arg__ if isinstance(tp, ForwardRef) else tp
        namespace = vars(importlib.import_module(module))
        for name in re.findall(r"[A-Za-z_]\w*", text):
            found = namespace.get(name)
            if isinstance(found, type) and is_typeddict(found):
                return found
        return None
    for arg in typing.get_args(tp):
        found = _typed_dict_of(arg, module)
        if found is not None:
            return found
    return None


def _hints(td: type) -> dict[str, Any]:
    """The parameters a TypedDict declares (request options such as api_key are not parameters)."""
    options = set(getattr(stripe, "RequestOptions").__annotations__)
    return {k: v for k, v in td.__annotations__.items() if k not in options}


def param_problems(method: str, path: str, params: JSON) -> list[str]:
    """Parameters of a request that the library does not know for that call."""
    cls = params_class(method, path)
    if cls is None:
        return [f"{method} {path}: a call the library's parameter classes do not map"]
    return _unknown_params(params, cls, "")


def _unknown_params(value: Any, td: type, where: str) -> list[str]:
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unknown_params(v, td, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return []
    hints = _hints(td)
    problems = []
    for key, sub in value.items():
        name = f"{where}[{key}]" if where else key
        if key not in hints:
            problems.append(f"{name}: unknown to stripe-python's {td.__name__}")
            continue
        if key == "metadata":
            continue
        nested = _typed_dict_of(hints[key], td.__module__)
        if nested is not None:
            problems += _unknown_params(sub, nested, name)
    return problems
