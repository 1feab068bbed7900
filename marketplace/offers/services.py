"""What a producer brings to each distribution (offers), their products' variants, and what to harvest.

Until a producer saves offers for a distribution, every active variant of theirs is sold there from the
product's own stock (catalog.variants). Saving offers switches that distribution to "only what I bring":
the units already ordered there move onto the new offers, so an offer's `reserved` always counts the
active lines taken from it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update

from marketplace.catalog.models import DistributionOffer, ProducerProfile, Product, ProductVariant, Unit
from marketplace.catalog.services import MAX_PIECE_WEIGHT_G, MAX_STOCK, VAT_RATES_BP, own_product, producer_of
from marketplace.catalog.variants import variant_display_name
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.distributions.models import Distribution, DistributionPhase
from marketplace.distributions.models import distribution_producers as link
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import MAX_CENTS
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.services import HarvestLine, harvest_totals
from marketplace.orders.services.stock import release_stock
from marketplace.orders.states import LineStatus, PartStatus
from marketplace.timeutil import utcnow

LABEL_MAX = 60


@dataclass(frozen=True)
class OfferInput:
    variant_id: int
    quantity: int | None          # None = unlimited
    price_cents: int | None = None  # None = the variant's price


@dataclass(frozen=True)
class VariantInput:
    label: str
    unit: Unit
    price_cents: int
    vat_rate_bp: int = 550
    is_weight_priced: bool = False
    estimated_weight_g: int | None = None


@dataclass(frozen=True)
class OfferRow:
    variant: ProductVariant
    offer: DistributionOffer | None

    @property
    def name(self) -> str:
        return variant_display_name(self.variant.product.name, self.variant.label)


@dataclass(frozen=True)
class OfferSheet:
    distribution: Distribution
    producer: ProducerProfile
    rows: list[OfferRow]
    offers_set: bool                  # False: every variant is sold there from the product's stock
    previous: Distribution | None     # where "copy last week's offers" copies from


# ---------------------------------------------------------------- who may set what

def _offers_set_at(distribution_id: int, producer_id: int):
    return db.session.execute(select(link.c.offers_set_at).where(
        link.c.distribution_id == distribution_id, link.c.producer_id == producer_id)).first()


def producer_distribution(user: User, distribution_id: int) -> tuple[ProducerProfile, Distribution]:
    """The acting producer and one distribution they take part in (another's is 'not found' to them)."""
    profile = producer_of(user)
    distribution = db.session.get(Distribution, distribution_id)
    if distribution is None or _offers_set_at(distribution_id, profile.id) is None:
        raise NotFound(_("No such distribution among yours."))
    return profile, distribution


def _editable(user: User, distribution_id: int) -> tuple[ProducerProfile, Distribution]:
    profile, distribution = producer_distribution(user, distribution_id)
    if distribution.phase() not in (DistributionPhase.UPCOMING, DistributionPhase.OPEN):
        raise Conflict(_("Ordering for this distribution is over: its offers can no longer change."))
    return profile, distribution


def producer_distributions(user: User) -> list[Distribution]:
    """The distributions the producer takes part in whose ordering has not closed, soonest first."""
    profile = producer_of(user)
    now = utcnow()
    return list(db.session.scalars(
        select(Distribution).join(link, link.c.distribution_id == Distribution.id)
        .where(link.c.producer_id == profile.id, Distribution.cutoff_at > now, Distribution.cancelled_at.is_(None),
               Distribution.closed_at.is_(None))
        .order_by(Distribution.starts_at)))


def _producer_variants(producer_id: int) -> list[ProductVariant]:
    return list(db.session.scalars(
        select(ProductVariant).join(Product).where(Product.producer_id == producer_id,
                                                   ProductVariant.active.is_(True), Product.hidden_reason.is_(None))
        .order_by(Product.name, ProductVariant.position, ProductVariant.id)))


# ---------------------------------------------------------------- reading and setting offers

def previous_distribution(producer_id: int, distribution_id: int) -> Distribution | None:
    """Where this producer's "last week" is: the latest earlier distribution of the same series where they
    said what they brought, else their latest earlier one with offers."""
    distribution = db.session.get(Distribution, distribution_id)
    if distribution is None:
        return None
    earlier = (select(Distribution).join(link, link.c.distribution_id == Distribution.id)
               .where(link.c.producer_id == producer_id, link.c.offers_set_at.is_not(None),
                      Distribution.starts_at < distribution.starts_at, Distribution.id != distribution.id)
               .order_by(Distribution.starts_at.desc()).limit(1))
    if distribution.series_key:
        same_series = db.session.scalars(earlier.where(Distribution.series_key == distribution.series_key)).first()
        if same_series is not None:
            return same_series
    return db.session.scalars(earlier).first()


def producer_offer_sheet(user: User, distribution_id: int) -> OfferSheet:
    """Every active variant of the producer with its offer at this distribution, for the offers page."""
    profile, distribution = producer_distribution(user, distribution_id)
    offers = {offer.variant_id: offer for offer in db.session.scalars(
        select(DistributionOffer).join(ProductVariant).join(Product)
        .where(DistributionOffer.distribution_id == distribution.id, Product.producer_id == profile.id))}
    rows = [OfferRow(variant, offers.get(variant.id)) for variant in _producer_variants(profile.id)]
    offers_set = _offers_set_at(distribution.id, profile.id)[0] is not None
    return OfferSheet(distribution, profile, rows, offers_set, previous_distribution(profile.id, distribution.id))


def _check_offer(item: OfferInput, variants: dict[int, ProductVariant]) -> None:
    if item.variant_id not in variants:
        raise NotFound(_("No such product in your catalogue."))
    name = variant_display_name(variants[item.variant_id].product.name, variants[item.variant_id].label)
    if item.quantity is not None and not 0 <= item.quantity <= MAX_STOCK:
        raise ServiceError(_("%(name)s: the quantity must be between 0 and %(max)d (blank: unlimited).",
                             name=name, max=MAX_STOCK), f"quantity-{item.variant_id}")
    if item.price_cents is not None and not 0 < item.price_cents <= MAX_CENTS:
        raise ServiceError(_("%(name)s: the price must be greater than zero (blank: the usual price).", name=name),
                           f"price-{item.variant_id}")


def _lock_offers(distribution_id: int, producer_id: int) -> dict[int, DistributionOffer]:
    """The producer's offers at this distribution, read fresh under a row lock (checkouts wait)."""
    rows = db.session.scalars(
        select(DistributionOffer).join(ProductVariant).join(Product)
        .where(DistributionOffer.distribution_id == distribution_id, Product.producer_id == producer_id)
        .order_by(DistributionOffer.id).with_for_update(of=DistributionOffer)
        .execution_options(populate_existing=True))
    return {offer.variant_id: offer for offer in rows}


def _lines_from_stock(distribution_id: int, producer_id: int) -> dict[int, list[OrderLine]]:
    """Active lines of this distribution still holding units of the products' own stock, per variant."""
    lines = db.session.scalars(
        select(OrderLine).join(OrderPart).join(Order)
        .where(Order.distribution_id == distribution_id, OrderPart.producer_id == producer_id,
               OrderPart.status != PartStatus.CANCELLED, OrderLine.status == LineStatus.ACTIVE,
               OrderLine.offer_id.is_(None)))
    grouped: dict[int, list[OrderLine]] = defaultdict(list)
    for line in lines:
        grouped[line.variant_id].append(line)
    return grouped


def _switch_to_offers(distribution_id: int, profile: ProducerProfile) -> dict[int, list[OrderLine]]:
    """First offers at this distribution: from now on only offers are sold there. Returns the lines
    already ordered from the products' stock, which move onto the offers."""
    # Checkouts lock the products they sell before reading how they are sold: locking the producer's
    # products here makes the switch and a checkout happen one after the other, never interleaved.
    db.session.execute(select(Product.id).where(Product.producer_id == profile.id).order_by(Product.id)
                       .with_for_update())
    db.session.execute(update(link).where(link.c.distribution_id == distribution_id,
                                          link.c.producer_id == profile.id).values(offers_set_at=utcnow())
                       .execution_options(catalog_producers=[profile.id]))  # their products' pages change
    return _lines_from_stock(distribution_id, profile.id)


def set_offers(user: User, distribution_id: int, offers: list[OfferInput]) -> list[DistributionOffer]:
    """The producer's whole offer for this distribution: the variants listed, how many (None: unlimited),
    at what price. A variant not listed is withdrawn (what is already ordered stays ordered). A quantity
    below what buyers already ordered is refused."""
    profile, distribution = _editable(user, distribution_id)
    variants = {variant.id: variant for variant in _producer_variants(profile.id)}
    for item in offers:
        _check_offer(item, variants)
    if len({item.variant_id for item in offers}) != len(offers):
        raise ServiceError(_("Each product appears once in an offer."))
    adopted: dict[int, list[OrderLine]] = {}
    if _offers_set_at(distribution.id, profile.id)[0] is None:
        adopted = _switch_to_offers(distribution.id, profile)
    existing = _lock_offers(distribution.id, profile.id)
    kept = []
    for item in offers:
        offer = existing.pop(item.variant_id, None)
        if offer is None:
            offer = DistributionOffer(distribution_id=distribution.id, variant_id=item.variant_id, reserved=0)
            db.session.add(offer)
        taken = offer.reserved + sum(line.quantity for line in adopted.get(item.variant_id, []))
        if item.quantity is not None and item.quantity < taken:
            raise Conflict(_("%(name)s: %(n)d already ordered, the quantity cannot be lower.",
                             name=variant_display_name(variants[item.variant_id].product.name,
                                                       variants[item.variant_id].label), n=taken))
        offer.quantity, offer.price_cents, offer.reserved = item.quantity, item.price_cents, taken
        kept.append(offer)
    db.session.flush()
    for offer in kept:
        for line in adopted.get(offer.variant_id, []):
            line.offer_id = offer.id
            release_stock(line.product_id, line.quantity)
    for offer in existing.values():  # withdrawn
        if offer.reserved:
            offer.quantity = offer.reserved  # nothing more is sold; what is ordered stays
        else:
            db.session.delete(offer)
    db.session.flush()
    return kept


def set_offer(user: User, distribution_id: int, item: OfferInput) -> DistributionOffer:
    """One variant's offer at this distribution (the API): the producer's other offers stay as they are."""
    profile, _distribution = _editable(user, distribution_id)
    on_sale = {variant.id for variant in _producer_variants(profile.id)}
    current = [OfferInput(offer.variant_id, offer.quantity, offer.price_cents)
               for offer in _lock_offers(distribution_id, profile.id).values()
               if offer.variant_id != item.variant_id and offer.variant_id in on_sale]
    kept = set_offers(user, distribution_id, [*current, item])
    return next(offer for offer in kept if offer.variant_id == item.variant_id)


def copy_previous_offers(user: User, distribution_id: int) -> list[DistributionOffer]:
    """"Same as last week": the offers of the producer's previous distribution (same series first), for the
    variants still on sale, become this distribution's offers."""
    profile, _distribution = _editable(user, distribution_id)
    previous = previous_distribution(profile.id, distribution_id)
    if previous is None:
        raise Conflict(_("There is no earlier distribution with your offers to copy."))
    active = {variant.id for variant in _producer_variants(profile.id)}
    source = db.session.scalars(
        select(DistributionOffer).join(ProductVariant).join(Product)
        .where(DistributionOffer.distribution_id == previous.id, Product.producer_id == profile.id)
        .order_by(DistributionOffer.id))
    items = [OfferInput(offer.variant_id, offer.quantity, offer.price_cents) for offer in source
             if offer.variant_id in active]
    return set_offers(user, distribution_id, items)


# ---------------------------------------------------------------- harvest

def producer_harvest(user: User, distribution_id: int) -> list[HarvestLine]:
    """What the acting producer harvests for this distribution: units per variant over every order."""
    profile, distribution = producer_distribution(user, distribution_id)
    return harvest_totals(distribution.id, profile.id)


# ---------------------------------------------------------------- variants

def _check_variant(data: VariantInput) -> None:
    if len(data.label.strip()) > LABEL_MAX:
        raise ServiceError(_("The variant's name is too long (%(n)d characters at most).", n=LABEL_MAX), "label")
    if not isinstance(data.price_cents, int) or not 0 < data.price_cents <= MAX_CENTS:
        raise ServiceError(_("The price must be greater than zero."), "price")
    if data.vat_rate_bp not in VAT_RATES_BP:
        raise ServiceError(_("Choose one of the VAT rates."), "vat_rate_bp")
    if data.is_weight_priced:
        if data.unit != Unit.KG:
            raise ServiceError(_("A product priced by weight is priced per kg."), "unit")
        if not data.estimated_weight_g or not 0 < data.estimated_weight_g <= MAX_PIECE_WEIGHT_G:
            raise ServiceError(_("Give the estimated weight of one piece in grams."), "estimated_weight_g")


def _apply_variant(variant: ProductVariant, data: VariantInput) -> None:
    variant.label = data.label.strip()
    variant.unit = data.unit
    variant.price_cents = data.price_cents
    variant.vat_rate_bp = data.vat_rate_bp
    variant.is_weight_priced = data.is_weight_priced
    variant.estimated_weight_g = data.estimated_weight_g if data.is_weight_priced else None
    if variant.position == 0:  # the product's own columns mirror its first variant
        product = variant.product
        product.unit, product.price_cents, product.vat_rate_bp = data.unit, data.price_cents, data.vat_rate_bp
        product.is_weight_priced, product.estimated_weight_g = data.is_weight_priced, variant.estimated_weight_g


def add_variant(user: User, product_id: int, data: VariantInput) -> ProductVariant:
    """Another way to sell one of the producer's products (500 g beside 1 kg, a case of 6)."""
    product = own_product(user, product_id)
    _check_variant(data)
    position = max((v.position for v in product.variants), default=-1) + 1
    variant = ProductVariant(position=position)
    product.variants.append(variant)
    _apply_variant(variant, data)
    db.session.flush()
    return variant


def own_variant(user: User, variant_id: int) -> ProductVariant:
    variant = db.session.get(ProductVariant, variant_id)
    if variant is None:
        raise NotFound(_("No such product in your catalogue."))
    own_product(user, variant.product_id)
    return variant


def update_variant(user: User, variant_id: int, data: VariantInput) -> ProductVariant:
    """Change a variant; lines already ordered keep what the buyer agreed to (their snapshots)."""
    variant = own_variant(user, variant_id)
    _check_variant(data)
    _apply_variant(variant, data)
    db.session.flush()
    return variant


def set_variant_active(user: User, variant_id: int, active: bool) -> ProductVariant:
    """Stop (or resume) selling a variant; a product keeps at least one variant on sale."""
    variant = own_variant(user, variant_id)
    if not active and not any(v.active for v in variant.product.variants if v.id != variant.id):
        raise Conflict(_("A product keeps at least one variant: archive the product instead."))
    variant.active = active
    db.session.flush()
    return variant
