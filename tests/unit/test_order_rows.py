"""Rows written by orders.services.rows get the values the unit of work would have given them."""
from __future__ import annotations

from marketplace.orders.models import OrderLine
from marketplace.orders.services import rows


def test_a_column_set_to_none_gets_its_default_as_a_flush_would_give_it(app):
    line = OrderLine(product_id=1, variant_id=1, product_name="Carrots", variant_label=None, quantity=2,
                     unit_price_cents=280)
    row = rows._row(line)
    assert row["variant_label"] == "" and line.variant_label == ""  # NOT NULL with a default: the default
    assert row["offer_id"] is None  # no default: None stays
