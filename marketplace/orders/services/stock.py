"""Quantities and stock: what a buyer may ask for, and stock taken or given back atomically."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from flask_babel import gettext as _
from sqlalchemy import Integer, Update, bindparam, case, select, update

from marketplace.catalog import product_stamps
from marketplace.catalog.models import DistributionOffer, Product, ProductStatus
from marketplace.catalog.variants import SaleTerms, sale_terms, variant_display_name
from marketplace.core.errors import Conflict, ServiceError
from marketplace.extensions import db
from marketplace.orders.models import OrderLine

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


_LOCK_PRODUCTS = (select(Product.__table__.c.id).where(Product.__table__.c.id.in_(bindparam("ids", expanding=True)))
                  .order_by(Product.__table__.c.id).with_for_update())


def lock_product_rows(product_ids: Iterable[int]) -> None:
    """These products' rows locked in id order, in one statement, as `lock_products` does, without reading
    them: checkout's terms, read next, load them fresh (any this session had loaded is expired first)."""
    ids = sorted(set(product_ids))
    db.session.connection().execute(_LOCK_PRODUCTS, {"ids": ids})
    for product_id in ids:
        product = db.session.identity_map.get((Product, (product_id,), None))
        if product is not None:
            db.session.expire(product)


def reserve_stock_lines(quantities: dict[int, int]) -> None:
    """Take each product's quantity from stock, all in one conditional UPDATE, or raise OutOfStock.

    The database re-checks `stock >= quantity` for every row under its row lock, so concurrent
    checkouts can never oversell, on PostgreSQL or SQLite. When a line cannot be served nothing
    must be kept: OutOfStock is raised and the caller rolls back the lines that were taken.
    """
    if not quantities:
        return
    product_stamps.note_products(db.session, quantities)  # their pages show the stock left
    params: dict[str, int] = {}
    for n, (product_id, quantity) in enumerate(quantities.items()):
        params[f"id_{n}"], params[f"quantity_{n}"] = product_id, quantity
    result = db.session.connection().execute(_stock_update(len(quantities)), params)
    if result.rowcount != len(quantities):
        _refuse(quantities)


@lru_cache(maxsize=128)
def _stock_update(size: int) -> Update:
    """reserve_stock_lines's UPDATE for `size` products, built once per size (ids and quantities are its
    parameters): a plain Core statement on the products' table, nothing for the session to synchronise."""
    products = Product.__table__
    ids = [bindparam(f"id_{n}", type_=Integer) for n in range(size)]
    wanted = case(*((ids[n], bindparam(f"quantity_{n}", type_=Integer)) for n in range(size)), value=products.c.id)
    return (update(products)
            .where(products.c.id.in_(ids), products.c.status == ProductStatus.ACTIVE,
                   products.c.hidden_reason.is_(None), products.c.stock.is_(None) | (products.c.stock >= wanted))
            .values(stock=case((products.c.stock.is_(None), None), else_=products.c.stock - wanted)))


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
    product_stamps.note_products(db.session, [product_id])
    db.session.execute(
        update(Product).where(Product.id == product_id, Product.stock.is_not(None))
        .values(stock=Product.stock + quantity).execution_options(synchronize_session=False, catalog_noted=True))


# ---------------------------------------------------------------- per distribution: offers or product stock

@dataclass(frozen=True)
class Reservation:
    """Where a line's units were taken: this offer, or (None) the product's own stock."""

    offer_id: int | None


def _take_from_offers(wanted: dict[int, int]) -> int:
    """Raise each offer's `reserved` by its quantity where enough is left, in one UPDATE; rows changed."""
    if not wanted:
        return 0
    if len(wanted) > 1:
        # Rows locked in variant order first (as a basket reserved line by line in variant order): two
        # transactions taking several offers never deadlock.
        db.session.execute(select(DistributionOffer.id).where(DistributionOffer.id.in_(list(wanted)))
                           .order_by(DistributionOffer.variant_id, DistributionOffer.id).with_for_update())
    amount = case(wanted, value=DistributionOffer.id)
    result = db.session.execute(
        update(DistributionOffer)
        .where(DistributionOffer.id.in_(list(wanted)),
               DistributionOffer.quantity.is_(None)
               | (DistributionOffer.quantity - DistributionOffer.reserved >= amount))
        .values(reserved=DistributionOffer.reserved + amount)
        .execution_options(synchronize_session=False, catalog_noted=True))
    for offer_id in wanted:  # the loaded rows no longer say how much is reserved
        offer = db.session.identity_map.get((DistributionOffer, (offer_id,), None))
        if offer is not None:
            db.session.expire(offer, ["reserved"])
    return result.rowcount


def _split(distribution_id: int, quantities: dict[int, int], terms: dict[int, SaleTerms] | None = None
           ) -> tuple[dict[int, SaleTerms], dict[int, int], dict[int, int]]:
    """The terms of each variant, the units to take per offer and per product (default mode)."""
    if terms is None:
        terms = sale_terms(distribution_id, quantities)
    by_offer: dict[int, int] = {}
    by_product: dict[int, int] = {}
    for variant_id, quantity in quantities.items():
        term = terms.get(variant_id)
        if term is None:
            continue
        if term.offer is not None:
            by_offer[term.offer.id] = by_offer.get(term.offer.id, 0) + quantity
        else:
            product_id = term.variant.product_id
            by_product[product_id] = by_product.get(product_id, 0) + quantity
    return terms, by_offer, by_product


def reserve_variants(distribution_id: int, quantities: dict[int, int],
                     terms: dict[int, SaleTerms] | None = None) -> dict[int, int | None]:
    """Take `quantities` ({variant_id: units}) for this distribution, or raise OutOfStock (the caller
    rolls back). Returns {variant_id: offer_id, or None when taken from the product's stock}.

    One conditional UPDATE on the offers and one on the products whatever the number of lines: the
    database re-checks what is left under its row lock, so concurrent checkouts never oversell.
    """
    if not quantities:
        return {}
    # `terms`: the caller's sale_terms for these variants, read after it locked their products.
    terms, by_offer, by_product = _split(distribution_id, quantities, terms)
    missing = sorted(set(quantities) - set(terms))
    if missing:
        raise OutOfStock(_("This product is not sold at this distribution."), "quantity")
    product_stamps.note_products(db.session, {terms[v].variant.product_id for v in quantities})  # units left shown
    if _take_from_offers(by_offer) != len(by_offer):
        _refuse_offers(terms, quantities)
    reserve_stock_lines(by_product)
    return {variant_id: (terms[variant_id].offer.id if terms[variant_id].offer is not None else None)
            for variant_id in quantities}


def _refuse_offers(terms: dict[int, SaleTerms], quantities: dict[int, int]) -> None:
    for variant_id in sorted(quantities):
        offer = terms[variant_id].offer
        if offer is None:
            continue
        db.session.refresh(offer)
        if offer.remaining is not None and offer.remaining < quantities[variant_id]:
            variant = terms[variant_id].variant
            raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=offer.remaining,
                               name=variant_display_name(variant.product.name, variant.label)), "quantity")
    raise OutOfStock(_("This product is no longer available."), "quantity")


def try_reserve_variant(distribution_id: int, variant_id: int, quantity: int) -> Reservation | None:
    """One line, one conditional UPDATE: the reservation, or None when it cannot be served (nothing taken)."""
    terms = sale_terms(distribution_id, [variant_id])
    term = terms.get(variant_id)
    if term is None:
        return None
    product_id = term.variant.product_id
    product_stamps.note_products(db.session, [product_id])
    if term.offer is not None:
        return Reservation(term.offer.id) if _take_from_offers({term.offer.id: quantity}) == 1 else None
    result = db.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.status == ProductStatus.ACTIVE, Product.hidden_reason.is_(None),
               Product.stock.is_(None) | (Product.stock >= quantity))
        .values(stock=case((Product.stock.is_(None), None), else_=Product.stock - quantity))
        .execution_options(synchronize_session=False, catalog_noted=True))
    return Reservation(None) if result.rowcount == 1 else None


def reserve_more_for_line(line: OrderLine, quantity: int) -> None:
    """Take `quantity` more units for a placed line, from where its units came, or raise OutOfStock."""
    if line.offer_id is None:
        reserve_stock(line.product_id, quantity)
        return
    product_stamps.note_products(db.session, [line.product_id])
    if _take_from_offers({line.offer_id: quantity}) != 1:
        offer = db.session.get(DistributionOffer, line.offer_id)
        left = offer.remaining if offer is not None else 0
        raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=left or 0,
                           name=variant_display_name(line.product_name, line.variant_label)), "quantity")


def release_line_stock(line: OrderLine, quantity: int | None = None) -> None:
    """Give back `quantity` (default: all) of a line's units to where they were taken."""
    units = line.quantity if quantity is None else quantity
    if line.offer_id is None:
        release_stock(line.product_id, units)
        return
    product_stamps.note_products(db.session, [line.product_id])
    db.session.execute(
        update(DistributionOffer).where(DistributionOffer.id == line.offer_id)
        .values(reserved=case((DistributionOffer.reserved >= units, DistributionOffer.reserved - units), else_=0))
        .execution_options(synchronize_session=False, catalog_noted=True))
    offer = db.session.identity_map.get((DistributionOffer, (line.offer_id,), None))
    if offer is not None:
        db.session.expire(offer, ["reserved"])
