"""Quantities and stock: what a buyer may ask for, and stock taken or given back atomically."""
from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import case, select, update

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


def lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """These products read fresh with their rows locked, in id order, in one statement.

    The fixed order means two checkouts sharing products never deadlock on PostgreSQL (SQLite
    has no row locks: its writes are serialised anyway).
    """
    ids = sorted(set(product_ids))
    rows = db.session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id).with_for_update()
                              .execution_options(populate_existing=True))
    return {product.id: product for product in rows}


def reserve_stock_lines(quantities: dict[int, int]) -> None:
    """Take each product's quantity from stock, all in one conditional UPDATE, or raise OutOfStock.

    The database re-checks `stock >= quantity` for every row under its row lock, so concurrent
    checkouts can never oversell, on PostgreSQL or SQLite. When a line cannot be served nothing
    must be kept: OutOfStock is raised and the caller rolls back the lines that were taken.
    """
    if not quantities:
        return
    wanted = case(quantities, value=Product.id)
    result = db.session.execute(
        update(Product)
        .where(Product.id.in_(list(quantities)), Product.status == ProductStatus.ACTIVE,
               Product.hidden_reason.is_(None), (Product.stock.is_(None)) | (Product.stock >= wanted))
        .values(stock=case((Product.stock.is_(None), None), else_=Product.stock - wanted))
        .execution_options(synchronize_session=False))
    if result.rowcount != len(quantities):
        _refuse(quantities)


def _refuse(quantities: dict[int, int]) -> None:
    """Name the first line that could not be served (the stock another checkout just took)."""
    for product_id in sorted(quantities):
        product = db.session.get(Product, product_id)
        if product is not None:
            db.session.refresh(product)
        if product is None or not product.is_available:
            raise OutOfStock(_("This product is no longer available."), "quantity")
        if product.stock is not None and product.stock < quantities[product_id]:
            raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=product.stock or 0,
                               name=product.name), "quantity")
    raise OutOfStock(_("This product is no longer available."), "quantity")


def reserve_stock(product_id: int, quantity: int) -> None:
    """Take `quantity` from one product's stock atomically, or raise OutOfStock."""
    reserve_stock_lines({product_id: quantity})


def release_stock(product_id: int, quantity: int) -> None:
    """Give reserved units back (cancellation, rejected line, smaller quantity)."""
    db.session.execute(
        update(Product).where(Product.id == product_id, Product.stock.is_not(None))
        .values(stock=Product.stock + quantity).execution_options(synchronize_session=False))
