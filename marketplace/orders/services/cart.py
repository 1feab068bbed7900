"""The cart: one per buyer, for one open distribution, lines from several producers."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, delete, insert, inspect, select, update
from sqlalchemy.orm import joinedload

from marketplace.catalog.models import ProducerProfile, Product, ProductVariant
from marketplace.catalog.variants import (
    VARIANT_AT_COLUMNS,
    SaleTerms,
    VariantAt,
    sale_terms,
    variant_at,
    variant_at_joined,
    variant_at_row,
)
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.distributions.models import Distribution, DistributionPhase, distribution_phase
from marketplace.distributions.services import get_distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member
from marketplace.orders.models import Cart, CartItem
from marketplace.orders.services.stock import MAX_QUANTITY, OutOfStock, quantity_refusal


def _loaded_cart(user_id: int) -> Cart | None:
    """The member's cart if this session already loaded it (and it is not expired): no statement."""
    for obj in db.session.identity_map.values():
        if type(obj) is Cart and inspect(obj).dict.get("user_id") == user_id:
            return obj
    return None


def get_cart(user: User) -> Cart:
    """The member's cart with its items and distribution, in one statement (none if this request has it)."""
    cart = _loaded_cart(user.id)
    if cart is not None:
        return cart
    cart = db.session.execute(
        select(Cart).where(Cart.user_id == user.id)
        .options(joinedload(Cart.items), joinedload(Cart.distribution))).unique().scalar_one_or_none()
    if cart is None:
        cart = Cart(user_id=user.id)
        db.session.add(cart)
        db.session.flush()
    return cart


def _closed() -> Conflict:
    return Conflict(_("Ordering for this distribution is closed."))


def _open_distribution(distribution_id: int | None) -> Distribution:
    if distribution_id is None:
        raise ServiceError(_("Choose the distribution you are ordering for."), "distribution_id")
    distribution = get_distribution(distribution_id)
    if not distribution.is_open():
        raise _closed()
    return distribution


def choose_distribution(user: User, distribution_id: int) -> Cart:
    """The buyer orders *for* one open distribution; the cart remembers it."""
    require_active_member(user)
    distribution = _open_distribution(distribution_id)
    cart = get_cart(user)
    cart.distribution_id = distribution.id
    return cart


def _not_sold() -> NotFound:
    return NotFound(_("This product does not exist or is no longer sold."))


# ---------------------------------------------------------------- adding and changing quantities
# A buyer's add is the shop's busiest POST: the cart is read and written with plain-column statements, and
# nothing is loaded into the session (no unit of work to flush for one row). A cart this session already
# holds as an object (a caller that read it first) is read from that object, and expired after the write.

@dataclass(frozen=True)
class _Line:
    id: int
    product_id: int
    quantity: int


@dataclass(frozen=True)
class _CartState:
    """The member's cart as plain values: its distribution, whether ordering is open there, its lines by variant,
    and the variant asked for as sold there when it was read with them."""

    id: int
    distribution_id: int | None
    distribution_open: bool | None      # None: no such distribution
    lines: dict[int, _Line]             # by variant id, in the items' order
    variant: VariantAt | None = None
    read_for: tuple[int, int, int | None] | None = None   # (distribution, product, variant asked) of `variant`


def _cart_statement(named: bool | None) -> Select:
    """The cart, its distribution's window and its lines; unless `named` is None, with the variant asked for
    (catalog.variants.variant_at_joined: named or the product's first) as sold at the cart's distribution."""
    cart, item, distribution = Cart.__table__, CartItem.__table__, Distribution.__table__
    joined = cart.outerjoin(distribution, distribution.c.id == cart.c.distribution_id)
    columns = [cart.c.id, cart.c.distribution_id, distribution.c.opens_at, distribution.c.cutoff_at,
               distribution.c.closed_at, distribution.c.cancelled_at, distribution.c.id]
    if named is not None:
        joined = variant_at_joined(joined, cart.c.distribution_id, named)
        columns += VARIANT_AT_COLUMNS
    return (select(*columns, item.c.id, item.c.product_id, item.c.variant_id, item.c.quantity)
            .select_from(joined.outerjoin(item, item.c.cart_id == cart.c.id))
            .where(cart.c.user_id == bindparam("user_id")).order_by(item.c.id))


_CART = {named: _cart_statement(named) for named in (None, False, True)}
_NEW_LINE = insert(CartItem.__table__)
_LINE_QUANTITY = (update(CartItem.__table__).where(CartItem.__table__.c.id == bindparam("line_id"))
                  .values(quantity=bindparam("new_quantity")))
_LINE_GONE = delete(CartItem.__table__).where(CartItem.__table__.c.id == bindparam("line_id"))


def _state_of(cart: Cart) -> _CartState:
    distribution = db.session.get(Distribution, cart.distribution_id) if cart.distribution_id else None
    return _CartState(cart.id, cart.distribution_id, distribution.is_open() if distribution else None,
                      {i.variant_id: _Line(i.id, i.product_id, i.quantity) for i in cart.items})


def _cart_state(user: User, product_id: int | None = None, variant_id: int | None = None) -> _CartState:
    """The member's cart (made if they have none), with the variant of `product_id` asked for as sold at its
    distribution, in one statement; none for the cart if this session holds it."""
    loaded = _loaded_cart(user.id)
    if loaded is not None:
        return _state_of(loaded)
    db.session.flush()  # what this transaction changed, read by the statement below (no autoflush for it)
    named = None if product_id is None else variant_id is not None
    params = {"user_id": user.id, "product_id": product_id, "variant_id": variant_id}
    rows = db.session.execute(_CART[named], params).all()
    if not rows:
        return _state_of(get_cart(user))
    first = rows[0]
    cart_id, distribution_id, opens_at, cutoff_at, closed_at, cancelled_at, found = first[:7]
    is_open = distribution_phase(opens_at, cutoff_at, closed_at, cancelled_at) == DistributionPhase.OPEN \
        if found is not None else None
    lines = {variant: _Line(line_id, line_product_id, quantity)
             for line_id, line_product_id, variant, quantity in (row[-4:] for row in rows) if line_id is not None}
    if product_id is None or distribution_id is None:
        return _CartState(cart_id, distribution_id, is_open, lines)
    return _CartState(cart_id, distribution_id, is_open, lines, variant_at_row(first[7:-4]),
                      (distribution_id, product_id, variant_id))


def _require_open(cart: _CartState) -> None:
    """As _open_distribution, on the values read with the cart."""
    if cart.distribution_id is None:
        raise ServiceError(_("Choose the distribution you are ordering for."), "distribution_id")
    if cart.distribution_open is None:
        raise NotFound(_("No such distribution."))
    if not cart.distribution_open:
        raise _closed()


def _written(user: User) -> None:
    """After a plain statement changed the cart's items: a cart this session holds reads them again."""
    loaded = _loaded_cart(user.id)
    if loaded is not None:
        held: list[CartItem] = inspect(loaded).dict.get("items", [])
        for item in held:
            db.session.expire(item)
        db.session.expire(loaded, ["items"])


def _order_for_producer(user: User, product_id: int) -> _CartState:
    """A cart ordering for no distribution yet orders for the first open one the product's producer is in."""
    product = db.session.get(Product, product_id)
    if product is None or not product.is_available:
        raise _not_sold()
    distributions = list(_open_for_producer(product.producer_id))
    if not distributions:
        raise Conflict(_("%(producer)s takes part in no distribution open for orders right now.",
                         producer=product.producer.name))
    cart = get_cart(user)
    cart.distribution_id = distributions[0].id
    return _state_of(cart)


def _put(user: User, cart: _CartState, product_id: int, variant_id: int | None, quantity: int, *,
         adding: bool) -> None:
    """Set (or with `adding`, raise by) `quantity` units of the variant (the product's first by default) in
    the cart; refuse what the cart's distribution does not sell and more than is left there.

    The variant, its product, its producer's part in the distribution and how it is sold there come with the
    cart (or in one statement of their own, catalog.variants.variant_at, when the cart changed distribution
    first); the line is written with one INSERT or UPDATE."""
    if cart.distribution_id is None:
        cart = _order_for_producer(user, product_id)
    found = cart.variant if cart.read_for == (cart.distribution_id, product_id, variant_id) \
        else variant_at(cart.distribution_id, product_id, variant_id)
    if found is None:
        raise _not_sold()
    line = cart.lines.get(found.variant_id)
    if adding:
        quantity += line.quantity if line is not None else 0
        if quantity > MAX_QUANTITY:
            raise quantity_refusal(allow_zero=True)
    _require_open(cart)
    if not found.taking_part:
        raise Conflict(_("%(producer)s does not take part in this distribution.", producer=found.producer_name))
    if not found.sold:
        raise Conflict(_("%(name)s is not offered at this distribution.", name=found.name))
    if found.remaining is not None and quantity > found.remaining:
        raise OutOfStock(_("Out of stock: only %(n)d left of %(name)s.", n=found.remaining, name=found.name),
                         "quantity")
    if line is None:
        db.session.execute(_NEW_LINE, {"cart_id": cart.id, "product_id": found.product_id,
                                       "variant_id": found.variant_id, "quantity": quantity})
    else:
        db.session.execute(_LINE_QUANTITY, {"line_id": line.id, "new_quantity": quantity})
    _written(user)


def set_cart_quantity(user: User, product_id: int, quantity: int, variant_id: int | None = None) -> None:
    """Put `quantity` of a product's variant (its first by default) in the cart (0 removes it); refuse
    what the cart's distribution does not sell and more than is left there."""
    require_active_member(user)
    if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise quantity_refusal(allow_zero=True)
    cart = _cart_state(user) if quantity == 0 else _cart_state(user, product_id, variant_id)
    if quantity == 0:
        for line in [line for line_variant, line in cart.lines.items() if line.product_id == product_id
                     and (variant_id is None or line_variant == variant_id)][:1]:
            db.session.execute(_LINE_GONE, {"line_id": line.id})
            _written(user)
        return
    _put(user, cart, product_id, variant_id, quantity, adding=False)


def add_to_cart(user: User, product_id: int, quantity: int, variant_id: int | None = None,
                browsed_distribution_id: int | None = None) -> None:
    """Add units to what is already in the cart. Added from a distribution's catalogue, an empty cart
    orders for that distribution (a cart with items keeps its own)."""
    require_active_member(user)
    if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise quantity_refusal(allow_zero=True)
    cart = _cart_state(user) if quantity == 0 else _cart_state(user, product_id, variant_id)
    if browsed_distribution_id is not None and (cart.distribution_id is None or not cart.lines):
        if browsed_distribution_id == cart.distribution_id:
            _require_open(cart)  # all that choosing it again would do
        else:
            cart = _state_of(choose_distribution(user, browsed_distribution_id))
    if quantity == 0:
        return
    _put(user, cart, product_id, variant_id, quantity, adding=True)


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
