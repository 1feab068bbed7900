"""Real services the integration tests need: PostgreSQL and Redis on loopback.

Outside CI a missing service skips the tests that need it; with CI=true it is an error.
"""
from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/coop_test")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n 2 tests/unit`: one database per worker
    POSTGRES_URL = f"{POSTGRES_URL}_{os.environ['PYTEST_XDIST_WORKER']}"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _missing(what: str, error: Exception):
    message = f"{what} is not reachable ({error}); start it or unset CI to skip"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_postgres() -> str:
    """Make sure the test database exists and answers; return its URL."""
    import psycopg

    admin_url = POSTGRES_URL.rsplit("/", 1)[0] + "/postgres"
    name = POSTGRES_URL.rsplit("/", 1)[1]
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _missing("PostgreSQL", exc)
    return POSTGRES_URL


def require_redis() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.exceptions.ConnectionError as exc:
        _missing("Redis", exc)
    return REDIS_URL
