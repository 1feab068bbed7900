"""What a distribution sells: each product's variants, and per distribution the offers or the default.

A producer who has not said what they bring to a distribution (distribution_producers.offers_set_at is
NULL) sells every active variant of their products there, at the variant's price, from the product's own
stock: the behaviour before offers existed. Once they have said it, only their offers are sold there.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import selectinload

from marketplace.catalog.models import DistributionOffer, Product, ProductStatus, ProductVariant
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
    return and_(ProductVariant.active.is_(True), Product.status == ProductStatus.ACTIVE,
                Product.hidden_reason.is_(None))


def _sold_at(distribution_id: int):
    """Variants sold at the distribution: offered there, or their producer there without declared offers."""
    offered = exists().where(DistributionOffer.distribution_id == distribution_id,
                             DistributionOffer.variant_id == ProductVariant.id)
    by_default = exists().where(link.c.distribution_id == distribution_id,
                                link.c.producer_id == Product.producer_id, link.c.offers_set_at.is_(None))
    declared = exists().where(link.c.distribution_id == distribution_id,
                              link.c.producer_id == Product.producer_id, link.c.offers_set_at.is_not(None))
    return or_(by_default, and_(declared, offered))


def sale_terms(distribution_id: int, variant_ids: Iterable[int]) -> dict[int, SaleTerms]:
    """The variants of `variant_ids` on sale at this distribution (a missing key: not sold there)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(ProductVariant, DistributionOffer, link.c.offers_set_at)
        .join(Product, Product.id == ProductVariant.product_id)
        .join(link, and_(link.c.distribution_id == distribution_id, link.c.producer_id == Product.producer_id))
        .outerjoin(DistributionOffer, and_(DistributionOffer.distribution_id == distribution_id,
                                           DistributionOffer.variant_id == ProductVariant.id))
        .where(ProductVariant.id.in_(ids), _on_sale())
        .options(selectinload(ProductVariant.product).selectinload(Product.producer)))
    terms = {}
    for variant, offer, offers_set_at in rows:
        if offers_set_at is None:
            terms[variant.id] = SaleTerms(variant, None, variant.price_cents, variant.product.stock)
        elif offer is not None:
            terms[variant.id] = SaleTerms(variant, offer, offer.unit_price_cents, offer.remaining)
    return terms


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
