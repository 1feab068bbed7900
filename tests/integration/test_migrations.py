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

    base, name = require_postgres().rsplit("/", 1)
    name = f"{name}_migrations"  # beside the test database: parallel runs on other databases do not collide
    url = f"{base}/{name}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
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


_INVOICE_ROW = ("INSERT INTO invoices (kind, series_key, number, number_text, source_key, issued_at, sale_date, "
                "issuer_kind, self_billed, reason, seller_name, seller_legal_form, seller_address, seller_postcode, "
                "seller_town, seller_siret, seller_vat_number, seller_registration, seller_vat_franchise, issuer_name, "
                "issuer_address, buyer_name, buyer_address, buyer_postcode, buyer_town, buyer_siren, buyer_vat_number, "
                "total_ht_cents, total_vat_cents, total_ttc_cents, currency, payment_note) VALUES ('invoice', 'coop', "
                "1, 'C-000001', 'statement:1', '2026-01-31 10:00:00', '2026-01-31', 'coop', false, '', 'Coop', '', "
                "'', '', '', '', '', '', false, '', '', 'Buyer', '', '', '', '', '', 1000, 0, 1000, 'EUR', '')")


def _assert_invoices_immutable(match: str) -> None:
    import sqlalchemy.exc

    with db.engine.begin() as conn:
        conn.execute(text(_INVOICE_ROW))
    with pytest.raises(sqlalchemy.exc.DBAPIError, match=match):
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE invoices SET total_ttc_cents = 1, total_ht_cents = 1"))
    with pytest.raises(sqlalchemy.exc.DBAPIError, match=match):
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM invoices"))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT total_ttc_cents FROM invoices")).scalar() == 1000


def test_sqlite_migration_makes_issued_invoices_immutable(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    with app.app_context():
        upgrade()
        _assert_invoices_immutable("immutable")


@pytest.mark.integration
def test_postgresql_migration_makes_issued_invoices_immutable(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app_on_empty_postgres(tmp_path)
    with app.app_context():
        upgrade()
        _assert_invoices_immutable("immutable")
        db.engine.dispose()


def test_history_sentences_written_before_become_codes_and_cents(tmp_path, monkeypatch):
    """7c3e1a9d5f20: amounts formatted in someone's language and the shop's own sentences, stored as data
    in either language, become cents and codes (a person's reason stays as typed)."""
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'history.sqlite'}")
    with app.app_context():
        upgrade(revision="5b7d2c41a9f3")
        rows = [(1, "paid_at_pickup", "32,75\u00a0€"), (2, "payment_paid", "€12.40"),
                (3, "payment_due", "L'autorisation de la carte a expiré avant l'encaissement."),
                (4, "cancelled", "Vidée par l'acheteur."), (5, "cancelled", "Gel sur les fraises"),
                (6, "cancelled", "Le minimum de commande de Ferme du Marais pour cette distribution (50,00 €) "
                                 "n'a pas été atteint (18,50 €).")]
        with db.engine.begin() as conn:
            for id_, kind, detail in rows:
                conn.execute(text("INSERT INTO order_events (id, order_id, kind, detail, created_at) "
                                  "VALUES (:id, 1, :kind, :detail, '2026-11-01')"),
                             {"id": id_, "kind": kind, "detail": detail})
            conn.execute(text("INSERT INTO payment_ledger (id, kind, amount_cents, note, created_at) VALUES "
                              "(1, 'charge', 1240, 'Paiement par carte de la commande C-1', '2026-11-01'), "
                              "(2, 'fee', 40, 'Frais Stripe (frais de la coopérative)', '2026-11-01'), "
                              "(3, 'coop_cost', 500, 'Reprise supportée par la coopérative : colis perdu', "
                              "'2026-11-01')"))
        upgrade()
        events = dict((row[0], row[1:]) for row in db.session.execute(
            text("SELECT id, detail, amount_cents FROM order_events")))
        assert events == {1: ("", 3275), 2: ("", 1240), 3: ("", None), 4: ("emptied_by_buyer", None),
                          5: ("Gel sur les fraises", None), 6: ("minimum_not_reached", None)}
        notes = dict(db.session.execute(text("SELECT id, note FROM payment_ledger")).all())
        assert notes == {1: "", 2: "", 3: "colis perdu"}
        db.session.remove()
