"""Checkout: the cart becomes one order with one part per producer (and a card order never paid is undone)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import NoReturn

from flask_babel import gettext as _
from sqlalchemy import bindparam, delete
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.catalog.models import Product
from marketplace.catalog.variants import SaleTerms, variant_display_name
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member
from marketplace.orders import emails, signals
from marketplace.orders.models import Cart, CartItem, Order, OrderPart
from marketplace.orders.services import rows
from marketplace.orders.services.account_payment import pay_from_account
from marketplace.orders.services.cart import _open_distribution, _taking_part, cart_lines, get_cart
from marketplace.orders.services.lifecycle import _cancel_part, _get_order, _record
from marketplace.orders.services.lines import new_order_line
from marketplace.orders.services.stock import lock_product_rows, reserve_variants
from marketplace.orders.services.summary import CheckoutSummary, checkout_summary, require_summary_matches
from marketplace.orders.slots import reserve_slot_place
from marketplace.orders.states import BUYER_EDITABLE, Fulfilment, PaymentMethod, PaymentStatus
from marketplace.timeutil import utcnow


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
    expected_total_cents: int | None = None   # the total the buyer reviewed (None: no review step)
    use_account: bool = True  # the buyer's account balance pays first unless they opt out


def _reference_candidate() -> str:
    """A short public order reference; 40 random bits make a clash negligible (and each use checks it)."""
    return "C" + utcnow().strftime("%y%m") + "-" + secrets.token_hex(5).upper()


def _new_reference() -> str:
    """A reference no order has yet."""
    while True:
        reference = _reference_candidate()
        if not db.session.query(Order.id).filter_by(reference=reference).first():
            return reference


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
    items = sorted(cart.items, key=lambda i: (i.product_id, i.variant_id))
    # One statement, whatever the cart's size; the terms below then read the products fresh.
    lock_product_rows(item.product_id for item in items)
    lines = cart_lines(cart)  # the terms of every line, read once (one statement) for the summary and the lines
    summary = checkout_summary(cart, distribution, data, lines)

    order = Order(reference=_reference_candidate(), buyer_id=user.id, distribution_id=distribution.id,
                  fulfilment=data.fulfilment, payment_method=data.payment_method,
                  payment_status=PaymentStatus.DUE if data.payment_method == PaymentMethod.PAY_AT_PICKUP
                  else PaymentStatus.AWAITING,
                  delivery_code=f"{secrets.randbelow(10000):04d}", note=data.note.strip()[:1000])
    if data.fulfilment == Fulfilment.DELIVERY:
        _apply_delivery(order, distribution, data, summary)
    _add_lines(order, distribution, items,
               {line.item.variant_id: line.terms for line in lines if line.terms is not None})
    _record(order, "placed", actor=user)
    _write(order)
    _empty(cart)
    require_summary_matches(order, summary)
    if data.use_account:
        pay_from_account(order)
    place = distribution.pickup_place.name  # read before the receivers add rows: they are flushed once, at the commit
    signals.order_placed.send(order)
    send_email(user, emails.order_confirmed, ref=order.reference, place=place,
               total_cents=order.goods_estimated_cents + order.delivery_fee_cents)
    return order


def _write(order: Order) -> None:
    """The order, its parts, lines and events: one INSERT per table (rows.insert_new), then kept in the
    session as written, as the unit of work would have left them after its flush. The order's INSERT itself
    checks that no order has its reference yet (another one is drawn in the rare case one has)."""
    while not rows.insert_new_unless_taken(order, "reference"):
        order.reference = _reference_candidate()
    for part in order.parts:
        part.order_id = order.id
    rows.insert_new(order.parts)
    lines = []
    for part in order.parts:
        for line in part.lines:
            line.part_id = part.id
            lines.append(line)
    rows.insert_new(lines)
    for event in order.events:
        event.order_id = order.id
        event.part_id = event.part.id if event.part is not None else None
    rows.insert_new(order.events)
    rows.keep(order, [order, *order.parts, *lines, *order.events])


_DELETE_ITEMS = delete(CartItem.__table__).where(CartItem.__table__.c.id.in_(bindparam("ids", expanding=True)))


def _empty(cart: Cart) -> None:
    """The cart's items ordered are deleted (by id: an item another tab adds meanwhile stays in the cart)."""
    ids = [item.id for item in cart.items]
    deleted = db.session.connection().execute(_DELETE_ITEMS, {"ids": ids}).rowcount
    if deleted != len(ids):  # another checkout of this cart (a second click, another tab) got there first
        raise Conflict(_("This cart was just ordered from another window or by a second click: your orders list "
                         "shows the order."))
    for item in cart.items:
        db.session.expunge(item)
    set_committed_value(cart, "items", [])


def _add_lines(order: Order, distribution: Distribution, items: list[CartItem], terms: dict[int, SaleTerms]) -> None:
    """One part per producer, one line per variant at the distribution's terms; stock taken in one go.

    A variant has terms only where its product is sold and its producer takes part: the product, and who
    takes part, are read only to say why a line has none."""
    parts: dict[int, OrderPart] = {}
    for item in items:
        term = terms.get(item.variant_id)
        if term is None:
            _refuse_line(distribution, item)
        producer_id = term.variant.product.producer_id
        part = parts.get(producer_id)
        if part is None:
            part = parts[producer_id] = OrderPart(producer_id=producer_id)
            order.parts.append(part)
        part.lines.append(new_order_line(term, item.quantity, None))
    # One conditional UPDATE on the offers, one on the products, whatever the cart's size.
    sources = reserve_variants(distribution.id, {item.variant_id: item.quantity for item in items}, terms)
    for part in parts.values():
        for line in part.lines:
            line.offer_id = sources[line.variant_id]


def _refuse_line(distribution: Distribution, item: CartItem) -> NoReturn:
    """Why this line has no terms at the distribution: its product is no longer sold, its producer does not
    take part, or its variant is not offered there."""
    product = db.session.get(Product, item.product_id)
    assert product is not None  # a cart item's product is never deleted (its foreign key)
    if not product.is_available:
        raise NotFound(_("%(name)s is no longer sold: remove it from your cart.", name=product.name))
    if not _taking_part(distribution.id, {product.producer_id}):
        raise Conflict(_("%(producer)s does not take part in this distribution.", producer=product.producer.name))
    raise Conflict(_("%(name)s is not offered at this distribution: remove it from your cart.",
                     name=variant_display_name(product.name, item.variant.label)))


def _apply_delivery(order: Order, distribution: Distribution, data: CheckoutInput, summary: CheckoutSummary) -> None:
    """Delivery as the summary priced it (its zone for the postcode, its fee)."""
    if not data.delivery_address.strip():
        raise ServiceError(_("Enter the delivery address."), "delivery_address")
    zone = summary.delivery_zone
    assert zone is not None  # checkout_summary refuses a delivery without one
    if distribution.slots:
        order.delivery_slot_id = reserve_slot_place(distribution, data.delivery_slot_id).id
    order.delivery_address = data.delivery_address.strip()
    order.delivery_postcode = data.delivery_postcode.strip()
    order.delivery_town = data.delivery_town.strip()
    order.delivery_zone_id = zone.id
    order.delivery_fee_cents = summary.delivery_fee_cents


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
