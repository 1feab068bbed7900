"""`flask db upgrade` builds the whole schema from zero, and the models and migrations agree."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from marketplace import create_app
from marketplace.extensions import db
from tests.services import require_postgres


def _pending_diff() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def _app(tmp_path, url):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "UPLOAD_FOLDER": str(tmp_path / "u"),
                       "CELERY": {"task_always_eager": True, "broker_url": "memory://"}})


def _app_on_empty_postgres(tmp_path):
    """The app on a PostgreSQL database created empty for this test."""
    import psycopg

    url = require_postgres().rsplit("/", 1)[0] + "/coop_test_migrations"
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS coop_test_migrations WITH (FORCE)")
        conn.execute("CREATE DATABASE coop_test_migrations")
    return _app(tmp_path, url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_sqlite_upgrade_from_zero_matches_models(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "memberships", "products", "distributions", "orders", "order_parts"} <= tables
        assert _pending_diff() == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


@pytest.mark.integration
def test_postgresql_upgrade_from_zero_matches_models(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app_on_empty_postgres(tmp_path)
    with app.app_context():
        upgrade()
        assert _pending_diff() == []
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version
        db.session.remove()
        db.engine.dispose()


@pytest.mark.integration
def test_postgresql_migration_makes_the_audit_log_append_only(tmp_path, monkeypatch):
    import sqlalchemy.exc

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app_on_empty_postgres(tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_log (created_at, action, subject_type, subject_id, before_json,"
                              " after_json, note) VALUES (now(), 'x', 't', '1', '{}', '{}', '')"))
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE audit_log SET action = 'rewritten'"))
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_log"))
        db.engine.dispose()
