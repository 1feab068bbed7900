"""3f8a6d2c9e14 (variants and offers) on a database holding today's orders: every old order's lines,
amounts and documents are unchanged, and every product becomes a single-variant product.

The data is made by the real services (orders placed, weighed, collected, invoiced; a rejected line;
a cart), then the schema is taken back to the previous head (8d1f4b6a2c37, today's schema) and upgraded
again, on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from marketplace.extensions import db
from tests.integration.test_migrations import _app, _app_on_empty_postgres

PREVIOUS_HEAD = "8d1f4b6a2c37"
NEW_COLUMNS = {"variant_id", "offer_id", "variant_label"}
KEPT_TABLES = ("orders", "order_parts", "order_lines", "order_events", "invoices", "invoice_lines",
               "invoice_vat_totals", "invoice_documents", "payment_ledger", "products")


def _rows(table: str) -> list[dict]:
    key = "invoice_id" if table == "invoice_documents" else "id"
    rows = db.session.execute(text(f"SELECT * FROM {table} ORDER BY {key}")).mappings().all()
    return [{k: v for k, v in row.items() if k not in NEW_COLUMNS} for row in rows]


def _documents() -> dict:
    """What the shop prints and owes, computed by today's code from the stored rows."""
    from marketplace.orders import documents
    from marketplace.orders.models import Order, OrderPart

    db.session.expire_all()
    result = {}
    for order in db.session.query(Order).order_by(Order.id):
        result[order.reference] = (order.goods_estimated_cents, order.goods_final_cents, order.total_due_cents,
                                   [(line.display_name, line.quantity, line.estimated_cents, line.final_cents)
                                    for part in order.parts for line in part.lines])
    for distribution_id, producer_id in db.session.query(Order.distribution_id, OrderPart.producer_id).join(
            OrderPart).distinct():
        result[f"packing {distribution_id}/{producer_id}"] = \
            documents.packing_list(distribution_id, producer_id).to_csv()
        result[f"pickup {distribution_id}"] = documents.pickup_sheet(distribution_id).to_csv()
    return result


def _shop_with_history():
    from marketplace.orders import services as orders
    from tests.factories import make_member
    from tests.invoicing_fixtures import collected_order, placed_order, shop

    farm, tomatoes, eggs, buyer = shop()
    collected_order(buyer, [(tomatoes, 2), (eggs, 3)], grams={"Tomatoes": 2150})
    rejected = placed_order(make_member("paul@test.coop", name="Paul Vendredi"), [(eggs, 2), (tomatoes, 1)])
    egg_line = next(line for part in rejected.parts for line in part.lines if line.product_name == "Eggs")
    orders.reject_line(farm, egg_line.id, "Hens on strike")
    shopper = make_member("cart@test.coop")
    orders.choose_distribution(shopper, rejected.distribution_id)
    orders.add_to_cart(shopper, eggs.id, 4)
    db.session.commit()


def _upgrade_keeps_history():
    upgrade()
    with db.session.no_autoflush:
        _shop_with_history()
    before = {table: _rows(table) for table in KEPT_TABLES}
    printed = _documents()
    assert before["invoices"] and before["invoice_lines"]  # the history holds issued invoices
    db.session.remove()

    downgrade(revision=PREVIOUS_HEAD)
    schema = inspect(db.engine)
    assert "product_variants" not in schema.get_table_names()
    assert not NEW_COLUMNS & {c["name"] for c in schema.get_columns("order_lines")}
    upgrade()
    db.session.remove()

    assert {table: _rows(table) for table in KEPT_TABLES} == before
    assert _documents() == printed
    variants = db.session.execute(text(
        "SELECT v.product_id, v.label, v.unit, v.price_cents, v.vat_rate_bp, v.is_weight_priced, "
        "v.estimated_weight_g, v.position, p.unit, p.price_cents, p.vat_rate_bp, p.is_weight_priced, "
        "p.estimated_weight_g FROM product_variants v JOIN products p ON p.id = v.product_id")).all()
    assert len(variants) == len(before["products"])
    for row in variants:
        assert row[1] == "" and row[7] == 0 and tuple(row[2:7]) == tuple(row[8:13])
    unlinked = db.session.execute(text(
        "SELECT count(*) FROM order_lines l JOIN product_variants v ON v.id = l.variant_id "
        "WHERE v.product_id <> l.product_id OR l.variant_label <> '' OR l.offer_id IS NOT NULL")).scalar()
    assert unlinked == 0
    assert db.session.execute(text("SELECT count(*) FROM cart_items c JOIN product_variants v "
                                   "ON v.id = c.variant_id AND v.product_id = c.product_id")).scalar() == 1
    assert db.session.execute(text("SELECT count(*) FROM distribution_offers")).scalar() == 0


def test_sqlite_upgrade_keeps_every_old_order_line_amount_and_document(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'history.sqlite'}")
    with app.app_context(), app.test_request_context():
        _upgrade_keeps_history()
        db.session.remove()


@pytest.mark.integration
def test_postgresql_upgrade_keeps_every_old_order_line_amount_and_document(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = _app_on_empty_postgres(tmp_path)
    with app.app_context(), app.test_request_context():
        _upgrade_keeps_history()
        db.session.remove()
        db.engine.dispose()
