"""The cart: one per buyer, for one open distribution, lines from several producers."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from marketplace.catalog.models import ProducerProfile, Product
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


def _available_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None or not product.is_available:
        raise NotFound(_("This product does not exist or is no longer sold."))
    return product


def set_cart_quantity(user: User, product_id: int, quantity: int) -> Cart:
    """Put `quantity` of a product in the cart (0 removes it); refuse more than the stock."""
    require_active_member(user)
    if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise quantity_refusal(allow_zero=True)
    cart = get_cart(user)
    item = next((i for i in cart.items if i.product_id == product_id), None)
    if quantity == 0:
        if item is not None:
            cart.items.remove(item)
        return cart
    product = _available_product(product_id)
    if cart.distribution_id is None:
        distributions = list(_open_for_producer(product.producer_id))
        if not distributions:
            raise Conflict(_("%(producer)s takes part in no distribution open for orders right now.",
                             producer=product.producer.name))
        cart.distribution_id = distributions[0].id
    distribution = _open_distribution(cart.distribution_id)
    if not _taking_part(distribution.id, {product.producer_id}):
        raise Conflict(_("%(producer)s does not take part in this distribution.", producer=product.producer.name))
    if product.stock is not None and quantity > product.stock:
        raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=product.stock, name=product.name),
                         "quantity")
    if item is None:
        cart.items.append(CartItem(product_id=product.id, quantity=quantity))
    else:
        item.quantity = quantity
    db.session.flush()
    return cart


def add_to_cart(user: User, product_id: int, quantity: int) -> Cart:
    """Add units to what is already in the cart."""
    cart = get_cart(user)
    already = next((i.quantity for i in cart.items if i.product_id == product_id), 0)
    return set_cart_quantity(user, product_id, already + quantity)


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
class ProducerGroup:
    producer: ProducerProfile
    items: list[CartItem] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(i.product.estimated_line_cents(i.quantity) for i in self.items)


@dataclass
class CartSummary:
    cart: Cart
    groups: list[ProducerGroup]

    @property
    def goods_cents(self) -> int:
        return sum(g.subtotal_cents for g in self.groups)

    @property
    def has_weight_priced(self) -> bool:
        return any(i.product.is_weight_priced for g in self.groups for i in g.items)


def summarise_cart(cart: Cart) -> CartSummary:
    """Cart lines grouped per producer, with subtotals (estimates for weight-priced lines)."""
    groups: dict[int, ProducerGroup] = {}
    for item in cart.items:
        producer = item.product.producer
        groups.setdefault(producer.id, ProducerGroup(producer)).items.append(item)
    return CartSummary(cart, sorted(groups.values(), key=lambda g: g.producer.name))
