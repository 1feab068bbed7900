"""Cart, checkout and the order lifecycle: the shop's rules, in one place."""
from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import update

from marketplace.catalog.models import ProducerProfile, Product, ProductStatus
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.services import get_int_setting, queue_email
from marketplace.distributions.models import Distribution
from marketplace.distributions.services import delivery_fee_cents, get_distribution, zone_for_postcode
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member
from marketplace.money import format_money
from marketplace.orders import signals
from marketplace.orders.models import Cart, CartItem, Order, OrderEvent, OrderLine, OrderPart
from marketplace.orders.slots import reserve_slot_place
from marketplace.orders.states import (BUYER_EDITABLE, Fulfilment, InvalidTransition, LineStatus, PartStatus,
                                       PaymentMethod, PaymentStatus, check_transition)
from marketplace.timeutil import utcnow

MAX_QUANTITY = 999


class OutOfStock(Conflict):
    """Not enough stock left for a line: the message names the product and what is left."""


# ---------------------------------------------------------------- quantities and stock

def parse_quantity(raw: object) -> int:
    """A whole number of units between 1 and MAX_QUANTITY; anything else is refused."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit():
        raise ServiceError(_("Enter a whole number of units (1 to %(max)d).", max=MAX_QUANTITY), "quantity")
    quantity = int(text)
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ServiceError(_("Enter a whole number of units (1 to %(max)d).", max=MAX_QUANTITY), "quantity")
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


# ---------------------------------------------------------------- cart

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
        raise ServiceError(_("Enter a whole number of units (1 to %(max)d).", max=MAX_QUANTITY), "quantity")
    cart = get_cart(user)
    item = next((i for i in cart.items if i.product_id == product_id), None)
    if quantity == 0:
        if item is not None:
            cart.items.remove(item)
        return cart
    product = _available_product(product_id)
    if cart.distribution_id is None:
        distributions = [d for d in _open_for_producer(product.producer_id)]
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


# ---------------------------------------------------------------- checkout

def available_payment_methods() -> list[PaymentMethod]:
    """Pay at pickup always; card only when the coop has configured Stripe."""
    from flask import current_app

    methods = [PaymentMethod.PAY_AT_PICKUP]
    if current_app.config.get("STRIPE_SECRET_KEY"):
        methods.append(PaymentMethod.CARD)
    return methods


@dataclass(frozen=True)
class CheckoutInput:
    fulfilment: Fulfilment = Fulfilment.PICKUP
    payment_method: PaymentMethod = PaymentMethod.PAY_AT_PICKUP
    delivery_address: str = ""
    delivery_postcode: str = ""
    delivery_town: str = ""
    delivery_slot_id: int | None = None
    note: str = ""


def _new_reference() -> str:
    """A short public order reference; 40 random bits make a clash negligible, and it is checked."""
    while True:
        reference = "C" + utcnow().strftime("%y%m") + "-" + secrets.token_hex(5).upper()
        if not db.session.query(Order.id).filter_by(reference=reference).first():
            return reference


def _record(order: Order, kind: str, detail: str = "", part: OrderPart | None = None,
            actor: User | None = None) -> None:
    order.events.append(OrderEvent(kind=kind, detail=detail, part=part, actor_id=actor.id if actor else None))


def checkout(user: User, data: CheckoutInput) -> Order:
    """Turn the cart into one order with one part per producer, reserving stock atomically.

    Everything happens in the caller's transaction: on any error the caller rolls back and
    nothing (stock, order, cart) has changed.
    """
    require_active_member(user)
    cart = get_cart(user)
    if not cart.items:
        raise ServiceError(_("Your cart is empty."))
    distribution = _open_distribution(cart.distribution_id)
    if data.payment_method not in available_payment_methods():
        raise ServiceError(_("This payment method is not available."), "payment_method")

    order = Order(reference=_new_reference(), buyer_id=user.id, distribution_id=distribution.id,
                  fulfilment=data.fulfilment, payment_method=data.payment_method,
                  payment_status=PaymentStatus.DUE if data.payment_method == PaymentMethod.PAY_AT_PICKUP
                  else PaymentStatus.AWAITING,
                  delivery_code=f"{secrets.randbelow(10000):04d}", note=data.note.strip()[:1000])
    if data.fulfilment == Fulfilment.DELIVERY:
        _apply_delivery(order, distribution, data)

    participating = _taking_part(distribution.id, {item.product.producer_id for item in cart.items})
    parts: dict[int, OrderPart] = {}
    # Lock rows in a fixed order so two checkouts never deadlock on PostgreSQL.
    for item in sorted(cart.items, key=lambda i: i.product_id):
        product = item.product
        if not product.is_available:
            raise NotFound(_("%(name)s is no longer sold: remove it from your cart.", name=product.name))
        if product.producer_id not in participating:
            raise Conflict(_("%(producer)s does not take part in this distribution.", producer=product.producer.name))
        reserve_stock(product.id, item.quantity)
        part = parts.get(product.producer_id)
        if part is None:
            part = parts[product.producer_id] = OrderPart(producer_id=product.producer_id)
            order.parts.append(part)
        part.lines.append(OrderLine(
            product_id=product.id, product_name=product.name, unit=product.unit.value,
            unit_price_cents=product.price_cents, vat_rate_bp=product.vat_rate_bp, quantity=item.quantity,
            is_weight_priced=product.is_weight_priced, estimated_weight_g=product.estimated_weight_g))
    db.session.add(order)
    _record(order, "placed", actor=user)
    cart.items.clear()
    db.session.flush()
    signals.order_placed.send(order)
    queue_email(user.email, _("Order %(ref)s confirmed", ref=order.reference),
                _("Thank you! Your order %(ref)s for %(when)s is placed. Estimated total: %(total)s. "
                  "You can change it until the cut-off.", ref=order.reference,
                  when=distribution.pickup_place.name, total=format_money(order.goods_estimated_cents
                                                                          + order.delivery_fee_cents)))
    return order


def _apply_delivery(order: Order, distribution: Distribution, data: CheckoutInput) -> None:
    if not distribution.home_delivery:
        raise ServiceError(_("This distribution offers no home delivery."), "fulfilment")
    if not data.delivery_address.strip():
        raise ServiceError(_("Enter the delivery address."), "delivery_address")
    zone = zone_for_postcode(data.delivery_postcode)
    if zone is None:
        raise ServiceError(_("Sorry, the coop's couriers do not deliver to this postcode yet."), "delivery_postcode")
    if distribution.slots:
        order.delivery_slot_id = reserve_slot_place(distribution, data.delivery_slot_id).id
    order.delivery_address = data.delivery_address.strip()
    order.delivery_postcode = data.delivery_postcode.strip()
    order.delivery_town = data.delivery_town.strip()
    order.delivery_zone_id = zone.id
    order.delivery_fee_cents = delivery_fee_cents(zone)


# ---------------------------------------------------------------- buyer changes before cut-off

def buyer_order(user: User, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != user.id:
        raise NotFound(_("No such order."))
    return order


def _require_editable(order: Order) -> None:
    if not order.distribution.is_open():
        raise Conflict(_("The cut-off has passed: this order can no longer be changed."))


def change_line_quantity(user: User, order_id: int, line_id: int, quantity: int) -> Order:
    """The buyer changes a quantity before cut-off (0 removes the line); stock follows."""
    order = buyer_order(user, order_id)
    _require_editable(order)
    line = next((l for p in order.parts for l in p.lines if l.id == line_id), None)
    if line is None:
        raise NotFound(_("No such order line."))
    if line.part.status not in BUYER_EDITABLE or line.status != LineStatus.ACTIVE:
        raise Conflict(_("The producer has already accepted this part: it can no longer be changed."))
    if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise ServiceError(_("Enter a whole number of units (1 to %(max)d).", max=MAX_QUANTITY), "quantity")
    before_cents = order.goods_estimated_cents
    delta = quantity - line.quantity
    if delta > 0:
        reserve_stock(line.product_id, delta)
    elif delta < 0:
        release_stock(line.product_id, -delta)
    part = line.part
    if quantity == 0:
        part.lines.remove(line)
        db.session.delete(line)
        if not part.lines:
            _set_part_status(part, PartStatus.CANCELLED, user, _("Emptied by the buyer."))
    else:
        line.quantity = quantity
    _record(order, "changed", f"{line.product_name}: {quantity}", part=part, actor=user)
    db.session.flush()
    signals.order_changed.send(order, old_quantity_cents=before_cents)
    return order


def cancel_order(user: User, order_id: int) -> Order:
    """The buyer cancels every part the producers have not accepted yet; stock is returned."""
    order = buyer_order(user, order_id)
    _require_editable(order)
    cancellable = [p for p in order.parts if p.status in BUYER_EDITABLE]
    if not cancellable:
        raise Conflict(_("Nothing left to cancel: the producers have accepted this order."))
    for part in cancellable:
        _cancel_part(part, user, _("Cancelled by the buyer."))
    db.session.flush()
    return order


# ---------------------------------------------------------------- producers

def _producer_part(user: User, part_id: int) -> OrderPart:
    from marketplace.catalog.services import producer_of

    profile = producer_of(user)
    part = db.session.get(OrderPart, part_id)
    if part is None or part.producer_id != profile.id:
        raise NotFound(_("No such order in your list."))
    return part


def _set_part_status(part: OrderPart, target: PartStatus, actor: User | None, note: str = "") -> None:
    try:
        check_transition(part.status, target)
    except InvalidTransition as exc:
        raise Conflict(_("This order part cannot go from %(a)s to %(b)s.", a=_(exc.current.value),
                         b=_(exc.target.value)))
    part.status = target
    part.status_changed_at = utcnow()
    if target == PartStatus.CANCELLED:
        part.cancel_reason = note
    _record(part.order, target.value, note, part=part, actor=actor)


def _cancel_part(part: OrderPart, actor: User | None, reason: str) -> None:
    _set_part_status(part, PartStatus.CANCELLED, actor, reason)
    for line in part.lines:
        if line.status == LineStatus.ACTIVE:
            release_stock(line.product_id, line.quantity)
    signals.part_cancelled.send(part, reason=reason)


def accept_part(user: User, part_id: int) -> OrderPart:
    """The producer confirms they will supply this part."""
    part = _producer_part(user, part_id)
    _set_part_status(part, PartStatus.ACCEPTED, user)
    db.session.flush()
    return part


def reject_line(user: User, line_id: int, reason: str) -> OrderLine:
    """The producer cannot supply a line: the buyer is told why and owes nothing for it."""
    line = db.session.get(OrderLine, line_id)
    if line is None:
        raise NotFound(_("No such order line."))
    part = _producer_part(user, line.part_id)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_("Tell the buyer why."), "reason")
    # Up to the hand-over: a product can still be found spoiled once packed.
    if part.status not in (PartStatus.PLACED, PartStatus.ACCEPTED, PartStatus.READY) \
            or line.status != LineStatus.ACTIVE:
        raise Conflict(_("This line can no longer be rejected."))
    line.credited_cents = line.final_cents
    line.status = LineStatus.REJECTED
    line.rejection_reason = reason
    release_stock(line.product_id, line.quantity)
    order = part.order
    _record(order, "line_rejected", f"{line.product_name}: {reason}", part=part, actor=user)
    if all(l.status == LineStatus.REJECTED for l in part.lines):
        _set_part_status(part, PartStatus.CANCELLED, user, reason)
    signals.line_rejected.send(line)
    queue_email(order.buyer.email, _("A product of your order %(ref)s is unavailable", ref=order.reference),
                _("%(producer)s cannot supply %(product)s: %(reason)s. You will not pay for it (%(amount)s).",
                  producer=part.producer.name, product=line.product_name, reason=reason,
                  amount=format_money(line.credited_cents)))
    db.session.flush()
    return line


def weight_bounds_g(line: OrderLine) -> tuple[int, int]:
    """The weighed total must stay within the coop's published margin around the estimate."""
    margin = get_int_setting("weight_margin_percent")
    estimate = line.estimated_weight_total_g
    return (estimate * (100 - margin) + 99) // 100, estimate * (100 + margin) // 100


def record_weight(user: User, line_id: int, grams: int) -> OrderLine:
    """The producer enters the weighed amount; the line's final price follows."""
    line = db.session.get(OrderLine, line_id)
    if line is None:
        raise NotFound(_("No such order line."))
    part = _producer_part(user, line.part_id)
    if not line.is_weight_priced:
        raise ServiceError(_("This product is not priced by weight."))
    if part.status not in (PartStatus.PLACED, PartStatus.ACCEPTED) or line.status != LineStatus.ACTIVE:
        raise Conflict(_("This line can no longer be weighed."))
    low, high = weight_bounds_g(line)
    if not isinstance(grams, int) or not low <= grams <= high:
        raise ServiceError(_("The weight must be between %(low)d g and %(high)d g (estimate ± margin).",
                             low=low, high=high), "grams")
    line.weighed_grams = grams
    _record(part.order, "weighed", f"{line.product_name}: {grams} g", part=part, actor=user)
    db.session.flush()
    return line


def mark_ready(user: User, part_id: int) -> OrderPart:
    """Packed and ready: every weight-priced line must have been weighed first."""
    part = _producer_part(user, part_id)
    if any(l.is_weight_priced and l.status == LineStatus.ACTIVE and l.weighed_grams is None for l in part.lines):
        raise Conflict(_("Weigh every product sold by weight before marking the order ready."))
    _set_part_status(part, PartStatus.READY, user)
    order = part.order
    if all(p.status in (PartStatus.READY, PartStatus.CANCELLED) for p in order.parts):
        queue_email(order.buyer.email, _("Order %(ref)s is ready", ref=order.reference),
                    _("Every producer has packed your order %(ref)s. Amount due: %(total)s.",
                      ref=order.reference, total=format_money(order.total_due_cents)))
        signals.order_ready.send(order)
    db.session.flush()
    return part


def mark_collected(admin_or_producer: User, order_id: int) -> Order:
    """At the pickup: the buyer collected every ready part of the order."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound(_("No such order."))
    if not admin_or_producer.is_admin:
        raise NotAllowed(_("Only the coop's administrators run the pickup."))
    ready = [p for p in order.parts if p.status == PartStatus.READY]
    if not ready:
        raise Conflict(_("No part of this order is ready to be collected."))
    for part in ready:
        _set_part_status(part, PartStatus.COLLECTED, admin_or_producer)
    if order.payment_method == PaymentMethod.PAY_AT_PICKUP and all(p.status in (PartStatus.COLLECTED,
                                                                                PartStatus.CANCELLED)
                                                                   for p in order.parts):
        order.payment_status = PaymentStatus.PAID
        _record(order, "paid_at_pickup", format_money(order.total_due_cents), actor=admin_or_producer)
    db.session.flush()
    if _all_done(order):
        signals.order_completed.send(order)
    return order


def _all_done(order: Order) -> bool:
    live = [p for p in order.parts if p.status != PartStatus.CANCELLED]
    return bool(live) and all(p.status in (PartStatus.COLLECTED, PartStatus.DELIVERED) for p in live)


# ---------------------------------------------------------------- home delivery (called by dispatch)

def hand_to_courier(order_id: int, courier: User | None = None) -> Order:
    """The courier picked up every ready part of a home-delivery order."""
    order = _get_order(order_id)
    if order.fulfilment != Fulfilment.DELIVERY:
        raise Conflict(_("This order is collected at the pickup, not delivered."))
    for part in order.parts:
        if part.status == PartStatus.READY:
            _set_part_status(part, PartStatus.HANDED_TO_COURIER, courier)
    db.session.flush()
    queue_email(order.buyer.email, _("Order %(ref)s is on its way", ref=order.reference),
                _("A coop courier has your order %(ref)s. Have your delivery code ready: %(code)s.",
                  ref=order.reference, code=order.delivery_code))
    signals.order_out_for_delivery.send(order)
    return order


def mark_delivered(order_id: int, courier: User | None = None) -> Order:
    """Delivered at the buyer's door (the dispatch service has checked the buyer's code)."""
    order = _get_order(order_id)
    for part in order.parts:
        if part.status == PartStatus.HANDED_TO_COURIER:
            _set_part_status(part, PartStatus.DELIVERED, courier)
    if order.payment_method == PaymentMethod.PAY_AT_PICKUP and _all_done(order):
        order.payment_status = PaymentStatus.PAID
    db.session.flush()
    queue_email(order.buyer.email, _("Order %(ref)s delivered", ref=order.reference),
                _("Your order %(ref)s has been delivered. Thank you!", ref=order.reference))
    for part in order.parts:
        if part.status == PartStatus.DELIVERED:
            queue_email(part.producer.user.email, _("Order %(ref)s delivered", ref=order.reference),
                        _("Your part of order %(ref)s has been delivered to the buyer.", ref=order.reference))
    if _all_done(order):
        signals.order_completed.send(order)
    return order


def delivery_failed(order_id: int, reason: str, courier: User | None = None) -> Order:
    """The delivery could not be made: the goods are ready again and back with the dispatcher."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_("Say why the delivery failed."), "reason")
    order = _get_order(order_id)
    for part in order.parts:
        if part.status == PartStatus.HANDED_TO_COURIER:
            _set_part_status(part, PartStatus.READY, courier, reason)
    _record(order, "delivery_failed", reason, actor=courier)
    db.session.flush()
    signals.delivery_failed.send(order, reason=reason)
    return order


def cancel_unpaid_order(order_id: int, reason: str) -> Order:
    """A card checkout that was never paid (expired, abandoned): cancel it and return the stock."""
    order = _get_order(order_id)
    if order.payment_status != PaymentStatus.AWAITING:
        return order
    for part in order.parts:
        if part.status in BUYER_EDITABLE:
            _cancel_part(part, None, reason)
    order.payment_status = PaymentStatus.CANCELLED
    db.session.flush()
    return order


def _get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound(_("No such order."))
    return order


# ---------------------------------------------------------------- cut-off

@dataclass(frozen=True)
class HarvestLine:
    product_name: str
    unit: str
    quantity: int
    estimated_weight_g: int


def producer_totals(distribution_id: int) -> dict[int, int]:
    """Each producer's ordered total (estimates) for a distribution, cancelled parts excluded."""
    totals: dict[int, int] = defaultdict(int)
    parts = (db.session.query(OrderPart).join(Order)
             .filter(Order.distribution_id == distribution_id, OrderPart.status != PartStatus.CANCELLED).all())
    for part in parts:
        totals[part.producer_id] += part.estimated_cents
    return dict(totals)


def harvest_totals(distribution_id: int, producer_id: int) -> list[HarvestLine]:
    """What a producer must harvest and pack: quantities per product over all buyers."""
    lines = (db.session.query(OrderLine).join(OrderPart).join(Order)
             .filter(Order.distribution_id == distribution_id, OrderPart.producer_id == producer_id,
                     OrderPart.status != PartStatus.CANCELLED, OrderLine.status == LineStatus.ACTIVE)
             .order_by(OrderLine.product_name).all())
    merged: dict[tuple[str, str], list[int]] = {}
    for line in lines:
        key = (line.product_name, line.unit)
        acc = merged.setdefault(key, [0, 0])
        acc[0] += line.quantity
        acc[1] += line.estimated_weight_total_g
    return [HarvestLine(name, unit, q, g) for (name, unit), (q, g) in merged.items()]


def close_distribution(distribution_id: int, now: datetime | None = None) -> bool:
    """Run the cut-off once: close ordering, cancel parts under the producer's minimum, send harvest totals.

    Returns False if it had already run (safe to call twice, from beat or by hand).
    """
    now = now or utcnow()
    claimed = db.session.execute(
        update(Distribution).where(Distribution.id == distribution_id, Distribution.closed_at.is_(None),
                                   Distribution.cutoff_at <= now)
        .values(closed_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        db.session.rollback()
        return False
    distribution = db.session.get(Distribution, distribution_id)
    db.session.refresh(distribution)
    totals = producer_totals(distribution_id)
    producers = {p.id: p for p in db.session.query(ProducerProfile).filter(ProducerProfile.id.in_(totals)).all()}
    for producer_id, total in sorted(totals.items()):
        producer = producers[producer_id]
        if producer.min_order_cents and total < producer.min_order_cents:
            _cancel_under_minimum(distribution, producer, total)
        else:
            _send_harvest_totals(distribution, producer)
    db.session.commit()
    return True


def _cancel_under_minimum(distribution: Distribution, producer: ProducerProfile, total: int) -> None:
    reason = _("%(producer)s's minimum order for this distribution (%(min)s) was not reached (%(total)s).",
               producer=producer.name, min=format_money(producer.min_order_cents), total=format_money(total))
    parts = (db.session.query(OrderPart).join(Order)
             .filter(Order.distribution_id == distribution.id, OrderPart.producer_id == producer.id,
                     OrderPart.status != PartStatus.CANCELLED).all())
    for part in parts:
        _cancel_part(part, None, reason)
        queue_email(part.order.buyer.email, _("Part of your order %(ref)s is cancelled", ref=part.order.reference),
                    reason + " " + _("You will not pay for these products."))
    queue_email(producer.user.email, _("No harvest for this distribution"), reason)


def _send_harvest_totals(distribution: Distribution, producer: ProducerProfile) -> None:
    lines = harvest_totals(distribution.id, producer.id)
    body = "\n".join(f"- {l.product_name}: {l.quantity} × {l.unit}"
                     + (f" (~{l.estimated_weight_g} g)" if l.estimated_weight_g else "") for l in lines)
    queue_email(producer.user.email, _("Harvest list for %(place)s", place=distribution.pickup_place.name),
                _("Ordering is closed. Please harvest and pack:") + "\n" + body)


def due_distribution_ids(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return [d for (d,) in db.session.query(Distribution.id)
            .filter(Distribution.cutoff_at <= now, Distribution.closed_at.is_(None),
                    Distribution.cancelled_at.is_(None)).order_by(Distribution.cutoff_at)]


def close_due_distributions(now: datetime | None = None) -> list[int]:
    """Close every distribution whose cut-off has passed (the beat task calls this)."""
    return [d for d in due_distribution_ids(now) if close_distribution(d, now)]
