"""Fixtures: an app on SQLite for fast tests, one on the real PostgreSQL for integration tests."""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

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


@event.listens_for(Engine, "connect")
def _fast_sqlite(dbapi_connection, _record):
    # Test databases are thrown away: no fsync (SQLite's DDL and commits wait on the disk otherwise).
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


PER_TEST_SETTINGS = frozenset({"STRIPE_API_BASE"})


class _AppCache:
    """One app per distinct test configuration, built once per session (URL maps take ~0.4 s to build).

    Each app has its own SQLite file, restored from a schema template before every test, so a test
    sees an empty database and may commit as production code does.
    """

    def __init__(self, root: Path):
        self.root = root
        self.template = root / "template.sqlite"
        self.apps: dict[str, Flask] = {}

    def build_template(self) -> None:
        flask_app = create_app(_base_config(self.root, f"sqlite:///{self.template}"))
        with flask_app.app_context():
            db.create_all()
            db.engine.dispose()

    def get(self, app_config: dict) -> Flask:
        # Settings read at each use (the fake Stripe's address: a new port per test) are set by the `app`
        # fixture for its test; they do not make another app (building one takes a fifth of a second).
        key = repr(sorted((item for item in app_config.items() if item[0] not in PER_TEST_SETTINGS),
                          key=lambda item: item[0]))
        if key not in self.apps:
            folder = self.root / f"app{len(self.apps)}"
            folder.mkdir()
            os.environ["INSTANCE_PATH"] = str(folder / "instance")
            flask_app = create_app(_base_config(folder, f"sqlite:///{folder / 'test.sqlite'}", **app_config))
            flask_app.config["_TEST_SQLITE"] = str(folder / "test.sqlite")
            self.apps[key] = flask_app
        return self.apps[key]


@pytest.fixture(scope="session")
def _app_cache(tmp_path_factory):
    saved = os.environ.get("INSTANCE_PATH")
    cache = _AppCache(tmp_path_factory.mktemp("apps"))
    os.environ["INSTANCE_PATH"] = str(cache.root / "instance")
    cache.build_template()
    yield cache
    if saved is None:
        os.environ.pop("INSTANCE_PATH", None)
    else:
        os.environ["INSTANCE_PATH"] = saved


def _reset_app_state(flask_app: Flask) -> None:
    """Forget what an earlier test left in the shared app: rate-limit counters, cached pages."""
    for limiter in flask_app.extensions.get("limiter", ()):
        limiter.reset()
    flask_app.extensions.pop("catalog_page_cache", None)
    flask_app.extensions.pop("payments_stripe_client", None)  # bound to the previous test's fake Stripe
    # Pages and settings kept per version: without Redis the versions live in the app, and a new database
    # starts them again (catalog.member_pages, web._coop_settings).
    flask_app.extensions.pop("member_pages", None)
    flask_app.extensions.pop("coop_settings", None)
    flask_app.extensions["celery"].conf.update(flask_app.config["CELERY"])
    flask_app.extensions["celery"].set_current()
    flask_app.extensions["celery"].set_default()


@pytest.fixture
def app(tmp_path, app_config, _app_cache):
    flask_app = _app_cache.get(app_config)
    saved_config = copy.deepcopy(dict(flask_app.config))
    flask_app.config.update({name: value for name, value in app_config.items() if name in PER_TEST_SETTINGS})
    shutil.copyfile(_app_cache.template, flask_app.config["_TEST_SQLITE"])
    flask_app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    Path(flask_app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    _reset_app_state(flask_app)
    with flask_app.app_context():
        yield flask_app
        db.session.remove()
        db.engine.dispose()
    flask_app.config.clear()
    flask_app.config.update(saved_config)


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


@pytest.fixture(params=["app", "pg_app"])
def any_app(request):
    """The test run once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def pg_client(pg_app):
    return pg_app.test_client()
