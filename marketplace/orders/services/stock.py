"""Quantities and stock: what a buyer may ask for, and stock taken or given back atomically."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import update

from marketplace.catalog.models import Product, ProductStatus
from marketplace.core.errors import Conflict, ServiceError
from marketplace.extensions import db

MAX_QUANTITY = 999


class OutOfStock(Conflict):
    """Not enough stock left for a line: the message names the product and what is left."""


def quantity_refusal(allow_zero: bool = False) -> ServiceError:
    """The one message for a quantity out of bounds; the pages' inputs use the same bounds (min 0 or 1, max)."""
    if allow_zero:
        return ServiceError(_("Enter a whole number of units from 0 (removes the line) to %(max)d.",
                              max=MAX_QUANTITY), "quantity")
    return ServiceError(_("Enter a whole number of units (1 to %(max)d).", max=MAX_QUANTITY), "quantity")


def parse_quantity(raw: object, *, allow_zero: bool = False) -> int:
    """A whole number of units between 1 (0 where it removes a line) and MAX_QUANTITY; anything else is refused."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or len(text) > 6:
        raise quantity_refusal(allow_zero)
    quantity = int(text)
    if not (0 if allow_zero else 1) <= quantity <= MAX_QUANTITY:
        raise quantity_refusal(allow_zero)
    return quantity


def reserve_stock(product_id: int, quantity: int) -> None:
    """Take `quantity` from stock atomically, or raise OutOfStock.

    A single conditional UPDATE: the database re-checks `stock >= quantity` under its row lock,
    so concurrent checkouts can never oversell, on PostgreSQL or SQLite.
    """
    result = db.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.status == ProductStatus.ACTIVE, Product.hidden_reason.is_(None),
               (Product.stock.is_(None)) | (Product.stock >= quantity))
        .values(stock=db.case((Product.stock.is_(None), None), else_=Product.stock - quantity))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        product = db.session.get(Product, product_id)
        if product is not None:
            db.session.refresh(product)  # the stock another checkout just took
        if product is None or not product.is_available:
            raise OutOfStock(_("This product is no longer available."), "quantity")
        raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=product.stock or 0, name=product.name),
                         "quantity")


def release_stock(product_id: int, quantity: int) -> None:
    """Give reserved units back (cancellation, rejected line, smaller quantity)."""
    db.session.execute(
        update(Product).where(Product.id == product_id, Product.stock.is_not(None))
        .values(stock=Product.stock + quantity).execution_options(synchronize_session=False))
