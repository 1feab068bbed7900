"""The cart: one per buyer, for one open distribution, lines from several producers."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from marketplace.catalog.models import ProducerProfile, Product, ProductVariant
from marketplace.catalog.variants import SaleTerms, default_variant, sale_terms, variant_display_name
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.distributions.models import Distribution
from marketplace.distributions.services import get_distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member
from marketplace.orders.models import Cart, CartItem
from marketplace.orders.services.stock import MAX_QUANTITY, OutOfStock, quantity_refusal


def get_cart(user: User) -> Cart:
    cart = db.session.query(Cart).filter_by(user_id=user.id).first()
    if cart is None:
        cart = Cart(user_id=user.id)
        db.session.add(cart)
        db.session.flush()
    return cart


def _open_distribution(distribution_id: int | None) -> Distribution:
    if distribution_id is None:
        raise ServiceError(_("Choose the distribution you are ordering for."), "distribution_id")
    distribution = get_distribution(distribution_id)
    if not distribution.is_open():
        raise Conflict(_("Ordering for this distribution is closed."))
    return distribution


def choose_distribution(user: User, distribution_id: int) -> Cart:
    """The buyer orders *for* one open distribution; the cart remembers it."""
    require_active_member(user)
    distribution = _open_distribution(distribution_id)
    cart = get_cart(user)
    cart.distribution_id = distribution.id
    return cart


def _available_variant(product_id: int, variant_id: int | None) -> ProductVariant:
    """The variant asked for (the product's first when none is named), on sale."""
    product = db.session.get(Product, product_id)
    if product is None or not product.is_available:
        raise NotFound(_("This product does not exist or is no longer sold."))
    if variant_id is None:
        variant = default_variant(product)
    else:
        variant = next((v for v in product.variants if v.id == variant_id and v.active), None)
    if variant is None:
        raise NotFound(_("This product does not exist or is no longer sold."))
    return variant


def set_cart_quantity(user: User, product_id: int, quantity: int, variant_id: int | None = None) -> Cart:
    """Put `quantity` of a product's variant (its first by default) in the cart (0 removes it); refuse
    what the cart's distribution does not sell and more than is left there."""
    require_active_member(user)
    if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise quantity_refusal(allow_zero=True)
    cart = get_cart(user)
    if quantity == 0:
        for item in [i for i in cart.items if i.product_id == product_id
                     and (variant_id is None or i.variant_id == variant_id)][:1]:
            cart.items.remove(item)
        return cart
    variant = _available_variant(product_id, variant_id)
    product = variant.product
    item = next((i for i in cart.items if i.variant_id == variant.id), None)
    if cart.distribution_id is None:
        distributions = list(_open_for_producer(product.producer_id))
        if not distributions:
            raise Conflict(_("%(producer)s takes part in no distribution open for orders right now.",
                             producer=product.producer.name))
        cart.distribution_id = distributions[0].id
    distribution = _open_distribution(cart.distribution_id)
    if not _taking_part(distribution.id, {product.producer_id}):
        raise Conflict(_("%(producer)s does not take part in this distribution.", producer=product.producer.name))
    terms = sale_terms(distribution.id, [variant.id]).get(variant.id)
    name = variant_display_name(product.name, variant.label)
    if terms is None:
        raise Conflict(_("%(name)s is not offered at this distribution.", name=name))
    if terms.remaining is not None and quantity > terms.remaining:
        raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=terms.remaining, name=name), "quantity")
    if item is None:
        cart.items.append(CartItem(product_id=product.id, variant_id=variant.id, quantity=quantity))
    else:
        item.quantity = quantity
    db.session.flush()
    return cart


def add_to_cart(user: User, product_id: int, quantity: int, variant_id: int | None = None,
                browsed_distribution_id: int | None = None) -> Cart:
    """Add units to what is already in the cart. Added from a distribution's catalogue, an empty cart
    orders for that distribution (a cart with items keeps its own)."""
    cart = get_cart(user)
    if browsed_distribution_id is not None and (cart.distribution_id is None or not cart.items):
        choose_distribution(user, browsed_distribution_id)
    if variant_id is None:
        product = db.session.get(Product, product_id)
        first = default_variant(product) if product is not None else None
        variant_id = first.id if first is not None else None
    already = next((i.quantity for i in cart.items if i.variant_id == variant_id), 0)
    return set_cart_quantity(user, product_id, already + quantity, variant_id)


def _taking_part(distribution_id: int, producer_ids: set[int]) -> set[int]:
    """Which of these producers take part in the distribution (without loading all its producers)."""
    from marketplace.distributions.models import distribution_producers as link

    rows = db.session.execute(db.select(link.c.producer_id).where(link.c.distribution_id == distribution_id,
                                                                  link.c.producer_id.in_(producer_ids)))
    return {producer_id for (producer_id,) in rows}


def _open_for_producer(producer_id: int) -> list[Distribution]:
    from marketplace.distributions.services import open_distributions

    return [d for d in open_distributions() if any(p.id == producer_id for p in d.producers)]


@dataclass
class CartLine:
    """A cart item as sold at the cart's distribution (`terms` None: not sold there any more)."""

    item: CartItem
    terms: SaleTerms | None

    @property
    def product(self) -> Product:
        return self.item.product

    @property
    def variant(self) -> ProductVariant:
        return self.item.variant

    @property
    def quantity(self) -> int:
        return self.item.quantity

    @property
    def unit_price_cents(self) -> int:
        return self.terms.unit_price_cents if self.terms is not None else self.variant.price_cents

    @property
    def line_cents(self) -> int:
        return self.variant.estimated_line_cents(self.quantity, self.unit_price_cents)


@dataclass
class ProducerGroup:
    producer: ProducerProfile
    items: list[CartLine] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.line_cents for line in self.items)


@dataclass
class CartSummary:
    cart: Cart
    groups: list[ProducerGroup]

    @property
    def goods_cents(self) -> int:
        return sum(g.subtotal_cents for g in self.groups)

    @property
    def has_weight_priced(self) -> bool:
        return any(line.variant.is_weight_priced for g in self.groups for line in g.items)


def cart_lines(cart: Cart) -> list[CartLine]:
    """The cart's items with their terms at the cart's distribution (one query)."""
    terms = sale_terms(cart.distribution_id, [i.variant_id for i in cart.items]) if cart.distribution_id else {}
    return [CartLine(item, terms.get(item.variant_id)) for item in cart.items]


def summarise_cart(cart: Cart) -> CartSummary:
    """Cart lines grouped per producer, with subtotals (estimates for weight-priced lines)."""
    groups: dict[int, ProducerGroup] = {}
    for line in cart_lines(cart):
        producer = line.product.producer
        groups.setdefault(producer.id, ProducerGroup(producer)).items.append(line)
    return CartSummary(cart, sorted(groups.values(), key=lambda g: g.producer.name))
