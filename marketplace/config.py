"""Configuration from environment variables, with embedded defaults.

With nothing configured the app runs on a SQLite file in the instance folder, Celery on a
SQLite broker (kombu's SQLAlchemy transport) and offers only "pay at pickup".
"""
from __future__ import annotations

import os
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


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
    if redis_url:
        broker_url = redis_url
        result_backend = redis_url
    else:
        broker_url = f"sqla+sqlite:///{instance / 'celery-broker.sqlite'}"
        result_backend = f"db+sqlite:///{instance / 'celery-results.sqlite'}"
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-change-me"),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "CELERY": {
            "broker_url": broker_url,
            "result_backend": result_backend,
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_always_eager": _env_bool("CELERY_ALWAYS_EAGER", False),
            "broker_connection_retry_on_startup": True,
            "timezone": os.environ.get("COOP_TIMEZONE", "Europe/Paris"),
        },
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_CONNECT_WEBHOOK_SECRET": os.environ.get("STRIPE_CONNECT_WEBHOOK_SECRET", ""),
        "STRIPE_API_VERSION": os.environ.get("STRIPE_API_VERSION", "2026-10-28.endive"),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", ""),
        "STRIPE_ACCOUNT_COUNTRY": os.environ.get("STRIPE_ACCOUNT_COUNTRY", "FR"),
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
    }
