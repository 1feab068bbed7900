"""Limits on log-ins, password-reset requests and API-token failures, per account and per client address.

The counters live in Flask-Limiter's storage (Redis when REDIS_URL is set, so that every gunicorn worker
sees the same counts; memory otherwise); every refused attempt is also recorded in `auth_failures`.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator

from flask import current_app
from flask_babel import gettext as _
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from marketplace.core.errors import ServiceError
from marketplace.extensions import db, limiter
from marketplace.members.models import AttemptKind, AuthFailure

# kind -> (setting of the per-account limit, setting of the per-address limit)
LIMIT_SETTINGS: dict[AttemptKind, tuple[str | None, str]] = {
    AttemptKind.LOGIN: ("LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_PER_ADDRESS"),
    AttemptKind.PASSWORD_RESET: ("RESET_LIMIT_PER_ACCOUNT", "RESET_LIMIT_PER_ADDRESS"),
    AttemptKind.API_TOKEN: (None, "API_TOKEN_FAILURE_LIMIT"),
}


class TooManyAttempts(ServiceError):
    """The account or the client address used up its attempts; `retry_after_s` says for how long."""

    status_code = 429

    def __init__(self, message: str, retry_after_s: int, field: str | None = None):
        super().__init__(message, field)
        self.retry_after_s = retry_after_s


def _buckets(kind: AttemptKind, account: str | None, address: str) -> Iterator[tuple[RateLimitItem, tuple[str, ...]]]:
    per_account, per_address = LIMIT_SETTINGS[kind]
    if per_account and account:
        # A digest: the storage never holds the e-mail addresses people typed.
        digest = hashlib.sha256(account.strip().lower().encode("utf-8")).hexdigest()[:32]
        yield parse(current_app.config[per_account]), ("auth", kind.value, "account", digest)
    if address:
        yield parse(current_app.config[per_address]), ("auth", kind.value, "address", address)


# While the shared storage (Redis) does not answer, each process counts on its own for this long.
STORAGE_PAUSE_S = 30.0
_fallback: dict[str, object] = {}


def _strategy():
    if not (limiter.enabled and limiter.initialized):
        return None
    if time.monotonic() < _fallback.get("until", 0.0):
        return _memory_strategy()
    return limiter.limiter


def _memory_strategy():
    if "strategy" not in _fallback:
        _fallback["strategy"] = MovingWindowRateLimiter(MemoryStorage())
    return _fallback["strategy"]


def _counted(operation):
    """Run `operation(strategy)` on the shared storage; if it fails, on this process's memory for a while."""
    strategy = _strategy()
    if strategy is None:
        return None
    try:
        return operation(strategy)
    except Exception:  # Redis down or hanging: a log-in must still answer, limited per process
        current_app.logger.warning("log-in limits: shared storage unreachable, counting in memory for %ss",
                                   STORAGE_PAUSE_S)
        _fallback["until"] = time.monotonic() + STORAGE_PAUSE_S
        return operation(_memory_strategy())


def seconds_until_allowed(kind: AttemptKind, account: str | None, address: str) -> int:
    """0 if another attempt may be made now, else how many seconds until one may."""
    buckets = list(_buckets(kind, account, address))

    def wait_on(strategy) -> int:
        wait = 0
        for item, key in buckets:
            if not strategy.test(item, *key):
                reset_at = strategy.get_window_stats(item, *key).reset_time
                wait = max(wait, math.ceil(reset_at - time.time()), 1)
        return wait

    return _counted(wait_on) or 0


def _refusal(kind: AttemptKind, wait_s: int) -> TooManyAttempts:
    minutes = max(1, math.ceil(wait_s / 60))
    if kind == AttemptKind.LOGIN:
        message = _("Too many failed log-ins for this account or from your connection. For your safety, try "
                    "again in %(n)d minute(s), or choose a new password with \"Forgot your password?\".", n=minutes)
    elif kind == AttemptKind.PASSWORD_RESET:
        message = _("Too many password-reset requests for this address or from your connection. "
                    "Try again in %(n)d minute(s).", n=minutes)
    else:
        message = _("Too many requests with a wrong API token from your address. Try again in %(n)d minute(s).",
                    n=minutes)
    return TooManyAttempts(message, wait_s, "password" if kind == AttemptKind.LOGIN else "email")


def require_allowed(kind: AttemptKind, account: str | None, address: str, user_id: int | None = None) -> None:
    """Refuse (and record the refusal) while the account or the address has no attempt left."""
    wait = seconds_until_allowed(kind, account, address)
    if wait:
        db.session.add(AuthFailure(kind=kind, user_id=user_id, client_address=address[:64], throttled=True))
        raise _refusal(kind, wait)


def use_attempt(kind: AttemptKind, account: str | None, address: str) -> None:
    """Count one attempt against the account's and the address's allowance."""
    buckets = list(_buckets(kind, account, address))

    def hit(strategy) -> None:
        for item, key in buckets:
            strategy.hit(item, *key)

    _counted(hit)


def record_failure(kind: AttemptKind, account: str | None, address: str, user_id: int | None) -> None:
    """A wrong password or token: it uses up an attempt and is kept in the failures table."""
    use_attempt(kind, account, address)
    db.session.add(AuthFailure(kind=kind, user_id=user_id, client_address=address[:64]))
