"""Fixtures: an app on SQLite for fast tests, one on the real PostgreSQL for integration tests."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from marketplace import create_app
from marketplace.extensions import db
from tests.services import require_postgres


def _base_config(tmp_path, database_url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "MAIL_SERVER": "",
        "STRIPE_SECRET_KEY": "",
        "BABEL_DEFAULT_LOCALE": "en",
        "PASSWORD_HASH_CHEAP": True,
        # Workers started inside the test process must never end it (marketplace.core.liveness).
        "WORKER_BROKER_LOSS_EXIT_S": 0,
        "CELERY": {"task_always_eager": True, "broker_url": "memory://", "result_backend": "cache+memory://"},
    }
    config.update(extra)
    return config


@pytest.fixture
def app_config():
    """Override in a test module to change settings (e.g. turn CSRF on)."""
    return {}


@pytest.fixture
def app(tmp_path, app_config, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    flask_app = create_app(_base_config(tmp_path, f"sqlite:///{tmp_path / 'test.sqlite'}", **app_config))
    with flask_app.app_context():
        db.create_all()
        yield flask_app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def postgres_url():
    url = require_postgres()
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def _pg_schema(postgres_url, tmp_path_factory):
    """Build the schema once per test session on the real PostgreSQL."""
    flask_app = create_app(_base_config(tmp_path_factory.mktemp("pg"), postgres_url))
    with flask_app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
        db.engine.dispose()
    return postgres_url


def truncate_all() -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_app(_pg_schema, tmp_path, app_config, monkeypatch):
    """The app on PostgreSQL; every table is emptied after the test (data is committed for real)."""
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    flask_app = create_app(_base_config(tmp_path, _pg_schema, **app_config))
    with flask_app.app_context():
        truncate_all()
        yield flask_app
        truncate_all()
        db.engine.dispose()


@pytest.fixture
def pg_client(pg_app):
    return pg_app.test_client()
