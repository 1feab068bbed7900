"""What a distribution sells: each product's variants, and per distribution the offers or the default.

A producer who has not said what they bring to a distribution (distribution_producers.offers_set_at is
NULL) sells every active variant of their products there, at the variant's price, from the product's own
stock: the behaviour before offers existed. Once they have said it, only their offers are sold there.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Join, Select, and_, bindparam, exists, literal, or_, select
from sqlalchemy.orm import contains_eager

from marketplace.catalog.models import (
    DistributionOffer,
    ProducerProfile,
    Product,
    ProductStatus,
    ProductVariant,
    offer_remaining,
)
from marketplace.distributions.models import distribution_producers as link
from marketplace.extensions import db


@dataclass(frozen=True)
class SaleTerms:
    """One variant as sold at one distribution."""

    variant: ProductVariant
    offer: DistributionOffer | None   # None: the producer's default (the product's own stock)
    unit_price_cents: int
    remaining: int | None             # units still for sale; None = unlimited

    def estimated_line_cents(self, quantity: int) -> int:
        return self.variant.estimated_line_cents(quantity, self.unit_price_cents)


def default_variant(product: Product) -> ProductVariant | None:
    """The product's first active variant (position order), the one sold when none is named."""
    return next((variant for variant in product.variants if variant.active), None)


def variant_display_name(product_name: str, label: str) -> str:
    """ "Tomatoes — 1 kg", or the product's name alone for its unnamed variant."""
    return f"{product_name} — {label}" if label else product_name


def _on_sale():
    # Table columns: usable in the plain-column statements (variant_at) as in the ORM ones.
    v, p = ProductVariant.__table__.c, Product.__table__.c
    return and_(v.active.is_(True), p.status == ProductStatus.ACTIVE, p.hidden_reason.is_(None))


def _sold_at(distribution_id: int):
    """Variants sold at the distribution: offered there, or their producer there without declared offers."""
    offered = exists().where(DistributionOffer.distribution_id == distribution_id,
                             DistributionOffer.variant_id == ProductVariant.id)
    by_default = exists().where(link.c.distribution_id == distribution_id,
                                link.c.producer_id == Product.producer_id, link.c.offers_set_at.is_(None))
    declared = exists().where(link.c.distribution_id == distribution_id,
                              link.c.producer_id == Product.producer_id, link.c.offers_set_at.is_not(None))
    return or_(by_default, and_(declared, offered))


def _terms(variant: ProductVariant, offer: DistributionOffer | None, offers_set_at) -> SaleTerms | None:
    """A variant of a producer taking part, as sold there: by default (no offers declared) or by its offer."""
    if offers_set_at is None:
        return SaleTerms(variant, None, variant.price_cents, variant.product.stock)
    if offer is not None:
        return SaleTerms(variant, offer, offer.unit_price_cents, offer.remaining)
    return None


def _offer_join(distribution_id: int):
    return and_(DistributionOffer.distribution_id == distribution_id, DistributionOffer.variant_id == ProductVariant.id)


def sale_terms(distribution_id: int, variant_ids: Iterable[int]) -> dict[int, SaleTerms]:
    """The variants of `variant_ids` on sale at this distribution (a missing key: not sold there).

    One statement: each variant comes with its product and producer (a product already loaded, e.g.
    locked by checkout, is kept as loaded)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(ProductVariant, DistributionOffer, link.c.offers_set_at)
        .join(ProductVariant.product).join(Product.producer)
        .join(link, and_(link.c.distribution_id == distribution_id, link.c.producer_id == Product.producer_id))
        .outerjoin(DistributionOffer, _offer_join(distribution_id))
        .where(ProductVariant.id.in_(ids), _on_sale())
        .options(contains_eager(ProductVariant.product).contains_eager(Product.producer)))
    terms = {}
    for variant, offer, offers_set_at in rows:
        term = _terms(variant, offer, offers_set_at)
        if term is not None:
            terms[variant.id] = term
    return terms


@dataclass(frozen=True)
class VariantAt:
    """A product's variant on sale, seen from one distribution, as plain values (nothing loaded in the session)."""

    variant_id: int
    product_id: int
    name: str                  # as the buyer reads it (variant_display_name)
    producer_name: str
    taking_part: bool          # its producer takes part in the distribution
    sold: bool                 # sold there: its producer declared no offers there, or offered it
    remaining: int | None      # units left there when sold (None: unlimited)


_V, _P, _PRODUCER, _OFFER = (ProductVariant.__table__, Product.__table__, ProducerProfile.__table__,
                              DistributionOffer.__table__)
# What variant_at reads, in this order (variant_at_row turns them into a VariantAt).
VARIANT_AT_COLUMNS = (_V.c.id, _P.c.id, _P.c.name, _V.c.label, _PRODUCER.c.name, link.c.producer_id,
                      link.c.offers_set_at, _P.c.stock, _OFFER.c.id, _OFFER.c.quantity, _OFFER.c.reserved)


def variant_at_joined(base: FromClause, distribution_id: ColumnElement[int], named: bool) -> Join:
    """`base` LEFT JOIN the variant asked for (bound: product_id, and variant_id when `named`; else the
    product's first active one), its product, its producer, its producer's part in the distribution
    `distribution_id` and its offer there: VARIANT_AT_COLUMNS are NULL when it is not on sale."""
    chosen = (select(_V.c.id).select_from(_V.join(_P, _P.c.id == _V.c.product_id))
              .where(_V.c.product_id == bindparam("product_id"), _on_sale(),
                     *([_V.c.id == bindparam("variant_id")] if named else []))
              .order_by(_V.c.position, _V.c.id).limit(1).correlate(None).scalar_subquery())
    return (base.outerjoin(_V, _V.c.id == chosen).outerjoin(_P, _P.c.id == _V.c.product_id)
            .outerjoin(_PRODUCER, _PRODUCER.c.id == _P.c.producer_id)
            .outerjoin(link, and_(link.c.distribution_id == distribution_id, link.c.producer_id == _P.c.producer_id))
            .outerjoin(_OFFER, and_(_OFFER.c.distribution_id == distribution_id, _OFFER.c.variant_id == _V.c.id)))


def variant_at_row(values: Sequence[Any]) -> VariantAt | None:
    """VARIANT_AT_COLUMNS' values as a VariantAt (None: not on sale)."""
    (found_id, product_id, product_name, label, producer_name, taking_part, offers_set_at, stock, offer_id,
     offer_quantity, offer_reserved) = values
    if found_id is None:
        return None
    by_default = offers_set_at is None
    return VariantAt(found_id, product_id, variant_display_name(product_name, label), producer_name,
                     taking_part is not None, taking_part is not None and (by_default or offer_id is not None),
                     stock if by_default else offer_remaining(offer_quantity, offer_reserved))


def _variant_at_statement(named: bool) -> Select:
    # One row: the FROM starts at a one-row SELECT, and every join after it is a LEFT JOIN on a unique key.
    one = select(literal(1).label("one")).subquery("one")
    return select(*VARIANT_AT_COLUMNS).select_from(variant_at_joined(one, bindparam("distribution_id"), named))


_VARIANT_AT = {named: _variant_at_statement(named) for named in (False, True)}


def variant_at(distribution_id: int, product_id: int, variant_id: int | None = None) -> VariantAt | None:
    """The variant asked for (the product's first active one when none is named) with its product, its
    producer, whether they take part in the distribution and how it is sold there, in one statement of plain
    columns; None when the product or the variant is not on sale."""
    params = {"distribution_id": distribution_id, "product_id": product_id, "variant_id": variant_id}
    return variant_at_row(db.session.execute(_VARIANT_AT[variant_id is not None], params).one())


def product_sale_terms(distribution_id: int | None, products: Iterable[Product]) -> dict[int, list[SaleTerms]]:
    """For a catalogue page: each product's variants as sold at the distribution (None: at their own
    price and stock, wherever they are sold), in the variants' order."""
    products = list(products)
    variant_ids = [variant.id for product in products for variant in product.variants if variant.active]
    if distribution_id is None:
        return {product.id: [SaleTerms(v, None, v.price_cents, product.stock) for v in product.variants if v.active]
                for product in products}
    terms = sale_terms(distribution_id, variant_ids)
    return {product.id: [terms[v.id] for v in product.variants if v.id in terms] for product in products}


def offered_product_ids(distribution_id: int):
    """A SELECT of the products with at least one variant sold at the distribution (catalogue filter)."""
    return (select(ProductVariant.product_id).join(Product, Product.id == ProductVariant.product_id)
            .where(ProductVariant.active.is_(True), _sold_at(distribution_id)))
