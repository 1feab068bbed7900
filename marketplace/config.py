"""Configuration from environment variables, with embedded defaults.

With nothing configured the app runs on a SQLite file in the instance folder, Celery on a
SQLite broker (kombu's SQLAlchemy transport) and offers only "pay at pickup".
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

# The key the code once shipped with: public, so it must never sign a real shop's sessions.
PUBLIC_DEFAULT_SECRET_KEYS = frozenset({"", "dev-only-change-me"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


# Every task's hard time limit (the slow ones, planning and billing, fit in it), and the Redis
# visibility timeout: more than twice the limit, so a message a busy worker prefetched is not handed
# to a second worker while the first still runs it.
TASK_TIME_LIMIT_S = 300
VISIBILITY_TIMEOUT_S = 900


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name, "")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return items or None


def _normalise_db_url(url: str) -> str:
    # SQLAlchemy 2 wants an explicit driver; deployers write plain postgresql:// URLs.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def build_config(instance_path: str) -> dict:
    """Settings read from the environment; every one has a working default."""
    instance = Path(instance_path)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'marketplace.sqlite'}"
    redis_url = os.environ.get("REDIS_URL", "")
    broker_url = redis_url or f"sqla+sqlite:///{instance / 'celery-broker.sqlite'}"
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "DEMO": _env_bool("COOP_DEMO", False),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "CELERY": _celery(broker_url, redis_url),
        **_background(),
        **_stripe(),
        **_web(instance),
        **_rate_limits(redis_url),
    }


def _celery(broker_url: str, redis_url: str) -> dict:
    """Celery's settings: JSON only, late acknowledgement, no result store, bounded task time."""
    return {
        "broker_url": broker_url,
        # No result store: nobody reads task results, and a result store that is down must not
        # stall a publish (20 reconnections, ~19 s) nor kill a worker that cancels a task.
        "result_backend": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_always_eager": _env_bool("CELERY_ALWAYS_EAGER", False),
        "broker_connection_retry_on_startup": True,
        "timezone": os.environ.get("COOP_TIMEZONE", "Europe/Paris"),
        "task_ignore_result": True,  # and nobody waits on a result store to publish
        # A message taken by a worker that dies comes back after the visibility timeout (Redis
        # transport). It must exceed every task's hard time limit and every retry countdown;
        # the beat sweeps redo lost work long before it (SWEEP_INTERVAL_S).
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S} if redis_url else {},
        "task_soft_time_limit": TASK_TIME_LIMIT_S - 30,
        "task_time_limit": TASK_TIME_LIMIT_S,
        "beat_scheduler": "marketplace.core.liveness:HeartbeatScheduler",
    }


def _background() -> dict:
    """The outbox, the beat sweeps and the worker's liveness."""
    return {
        "OUTBOX_PUBLISH_TIMEOUT_S": _env_float("OUTBOX_PUBLISH_TIMEOUT_S", 2.0),
        "OUTBOX_DRAIN_INTERVAL_S": _env_float("OUTBOX_DRAIN_INTERVAL_S", 10.0),
        "OUTBOX_MAX_ATTEMPTS": _env_int("OUTBOX_MAX_ATTEMPTS", 8),
        "OUTBOX_RETRY_BASE_S": _env_int("OUTBOX_RETRY_BASE_S", 30),
        "OUTBOX_RETRY_MAX_S": _env_int("OUTBOX_RETRY_MAX_S", 3600),
        "OUTBOX_RETENTION_DAYS": _env_int("OUTBOX_RETENTION_DAYS", 14),
        "SWEEP_INTERVAL_S": _env_float("SWEEP_INTERVAL_S", 60.0),
        # A worker whose broker has not answered for this long exits; the restart policy starts it afresh.
        "WORKER_BROKER_LOSS_EXIT_S": _env_float("WORKER_BROKER_LOSS_EXIT_S", 300.0),
        "HEARTBEAT_STALE_S": _env_float("HEARTBEAT_STALE_S", 90.0),
    }


def _stripe() -> dict:
    """Stripe's keys, API version and base URL (the fake Stripe in the tests)."""
    return {
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_CONNECT_WEBHOOK_SECRET": os.environ.get("STRIPE_CONNECT_WEBHOOK_SECRET", ""),
        "STRIPE_API_VERSION": os.environ.get("STRIPE_API_VERSION", "2026-10-28.endive"),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", ""),
        "STRIPE_ACCOUNT_COUNTRY": os.environ.get("STRIPE_ACCOUNT_COUNTRY", "FR"),
    }


def _web(instance: Path) -> dict:
    """Public URL, mail, uploads, languages, cookies and the hosts and proxies trusted."""
    return {
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000"),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _env_int("MAIL_PORT", 25),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "shop@coop.example"),
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER", str(instance / "uploads")),
        "MAX_CONTENT_LENGTH": _env_int("MAX_UPLOAD_BYTES", 5 * 1024 * 1024) + 64 * 1024,
        "MAX_PHOTO_BYTES": _env_int("MAX_UPLOAD_BYTES", 5 * 1024 * 1024),
        "BABEL_DEFAULT_LOCALE": os.environ.get("COOP_DEFAULT_LOCALE", "fr"),
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("COOP_TIMEZONE", "Europe/Paris"),
        "LANGUAGES": ["fr", "en"],
        "COOP_CURRENCY": os.environ.get("COOP_CURRENCY", "EUR"),
        "REMEMBER_COOKIE_DURATION": 60 * 60 * 24 * 30,
        "WTF_CSRF_TIME_LIMIT": None,
        "PRODUCTS_PER_PAGE": _env_int("PRODUCTS_PER_PAGE", 24),
        # Logged-in members' catalogue pages kept by each worker (catalog/member_pages.py), at most this many bytes.
        "MEMBER_PAGE_CACHE_BYTES": _env_int("MEMBER_PAGE_CACHE_BYTES", 32 * 1024 * 1024),
        # The catalogue's shared parts (grids, product details) kept by each worker (catalog/cache.py), in bytes.
        "CATALOG_CACHE_BYTES": _env_int("CATALOG_CACHE_BYTES", 32 * 1024 * 1024),
        # A product page's shared part lives until the product changes (catalog/product_stamps.py), at most this
        # long; the worker renders the missing ones, and those about to expire, every PRERENDER_INTERVAL_S.
        "PRODUCT_PAGE_TTL_S": _env_int("PRODUCT_PAGE_TTL_S", 3600),
        "PRERENDER_INTERVAL_S": _env_float("PRERENDER_INTERVAL_S", 120.0),
        "TRUSTED_HOSTS": _env_list("TRUSTED_HOSTS"),
        # How many reverse proxies (X-Forwarded-For/-Proto/-Host) stand before the app: 0 trusts none.
        "TRUSTED_PROXIES": _env_int("TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
    }


def _rate_limits(redis_url: str) -> dict:
    """Flask-Limiter: shared in Redis when there is one, per process otherwise; the limits themselves."""
    return {
        # Rate limits share Redis between gunicorn workers when it is configured; per process otherwise.
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # A Redis that does not answer must not hold a log-in: short timeouts, then this process's own counts.
        "RATELIMIT_STORAGE_OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5} if redis_url else {},
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        # Explicit: Flask-Limiter otherwise inherits "enabled" from the last app it was bound to.
        "RATELIMIT_ENABLED": True,
        # A moving window: a burst across a minute boundary cannot double the allowance.
        "RATELIMIT_STRATEGY": "moving-window",
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "300/minute"),
        "LOGIN_LIMIT_PER_ACCOUNT": os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"),
        "LOGIN_LIMIT_PER_ADDRESS": os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "30 per 15 minutes"),
        "RESET_LIMIT_PER_ACCOUNT": os.environ.get("RESET_LIMIT_PER_ACCOUNT", "3 per hour"),
        "RESET_LIMIT_PER_ADDRESS": os.environ.get("RESET_LIMIT_PER_ADDRESS", "10 per hour"),
        "API_TOKEN_FAILURE_LIMIT": os.environ.get("API_TOKEN_FAILURE_LIMIT", "20 per 15 minutes"),
    }

class InsecureConfiguration(RuntimeError):
    """The settings would let anyone forge a session: the app refuses to start."""


def finish_config(config: dict, *, debug: bool) -> None:
    """Settings that follow from others (PUBLIC_URL, debug/demo/tests), then refuse unsafe ones."""
    relaxed = debug or bool(config.get("TESTING")) or bool(config.get("DEMO"))
    public = urlsplit(config["PUBLIC_URL"])
    if not config.get("TRUSTED_HOSTS"):
        hosts = [public.hostname] if public.hostname else []
        config["TRUSTED_HOSTS"] = hosts + [h for h in LOOPBACK_HOSTS if relaxed and h not in hosts]
    secure = public.scheme == "https"
    config["SESSION_COOKIE_SECURE"] = config["REMEMBER_COOKIE_SECURE"] = secure
    if config.get("SECRET_KEY") in PUBLIC_DEFAULT_SECRET_KEYS and not relaxed:
        raise InsecureConfiguration(
            "SECRET_KEY is not set (or is the public example value): anyone could forge a log-in cookie. "
            "Set the SECRET_KEY environment variable to a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, and keep it secret. "
            "(Only debug mode, the demo and the tests run without one.)")
    if relaxed and config.get("SECRET_KEY") in PUBLIC_DEFAULT_SECRET_KEYS:
        config["SECRET_KEY"] = "dev-only-change-me"
