"""Orders the shop places for a subscription (an AMAP contract's basket or a standing order).

Unlike a checkout, nobody is there to fix a refused cart: every line is reserved on its own, and a line
that cannot be served stays on the order as rejected, with the reason, while the other lines go on.
"""
from __future__ import annotations

import secrets

from flask_babel import gettext as _

from marketplace.catalog.models import ProductVariant
from marketplace.catalog.variants import sale_terms
from marketplace.core.errors import Conflict, NotFound
from marketplace.core.mail import send_email
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import allocate_cents, weighed_amount_cents
from marketplace.orders import emails, signals
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.services.lifecycle import _cancel_part, _record
from marketplace.orders.services.lines import new_order_line
from marketplace.orders.services.placing import _new_reference
from marketplace.orders.services.stock import (
    lock_products,
    release_line_stock,
    reserve_more_for_line,
    try_reserve_variant,
)
from marketplace.orders.states import BUYER_EDITABLE, PART_TRANSITIONS, LineStatus, PartStatus, PaymentStatus

ORIGINS = ("contract", "standing")


def _unserved_line(variant: ProductVariant, quantity: int, reason: str) -> OrderLine:
    """A line kept to say what could not be served (not offered, sold out): nothing reserved, nothing due."""
    product = variant.product
    return OrderLine(product_id=product.id, variant_id=variant.id, offer_id=None, product_name=product.name,
                     variant_label=variant.label, unit=variant.unit.value, unit_price_cents=variant.price_cents,
                     vat_rate_bp=variant.vat_rate_bp, quantity=quantity, is_weight_priced=variant.is_weight_priced,
                     estimated_weight_g=variant.estimated_weight_g, status=LineStatus.REJECTED,
                     rejection_reason=reason)


def _own_price_cents(line: OrderLine) -> int:
    """What the line would cost at its own price (the weight estimate for weight-priced goods)."""
    if line.is_weight_priced:
        return weighed_amount_cents(line.quantity * (line.estimated_weight_g or 0), line.unit_price_cents)
    return line.quantity * line.unit_price_cents


def apply_agreed_total(order: Order, total_cents: int | None) -> None:
    """A contract's order: its served lines share `total_cents` (the contract's price for the delivery) in
    proportion to their own prices, cents exact and deterministic (producer, then variant: money.allocate_cents),
    so the order and each producer's invoice add up to what the contract charges. None: own prices."""
    served = sorted(((part.producer_id, line.variant_id, line) for part in order.parts
                     if part.status != PartStatus.CANCELLED for line in part.lines
                     if line.status != LineStatus.REJECTED), key=lambda row: (row[0], row[1]))
    for part in order.parts:
        for line in part.lines:
            line.agreed_cents = None
    if total_cents is None or not served:
        return
    shares = allocate_cents(total_cents, [_own_price_cents(line) for _p, _v, line in served])
    for (_producer, _variant, line), cents in zip(served, shares, strict=True):
        line.agreed_cents = cents


def place_subscription_order(buyer: User, distribution: Distribution, wanted: dict[int, int], *, origin: str,
                             locked: bool, note: str = "", notify: bool = True,
                             agreed_total_cents: int | None = None) -> Order:
    """One order for this distribution from `wanted` ({variant_id: units}), each line reserved on its own.

    A line that cannot be served (not offered there, sold out) is recorded on the order as rejected with the
    reason code; the order is placed all the same. A contract's order is paid by the contract's instalments
    (payment status paid, nothing to collect at the pickup); a standing order is paid at the pickup."""
    if origin not in ORIGINS:
        raise ValueError(origin)
    order = Order(reference=_new_reference(), buyer_id=buyer.id, distribution_id=distribution.id,
                  payment_status=PaymentStatus.PAID if origin == "contract" else PaymentStatus.DUE,
                  delivery_code=f"{secrets.randbelow(10000):04d}", note=note[:1000], origin=origin,
                  quantities_locked=locked)
    variants = {v.id: v for v in db.session.query(ProductVariant).filter(ProductVariant.id.in_(wanted)).all()}
    # Locks in checkout's order (products, then offers): a checkout holding a product's row while it waits for
    # an offer this order has taken would otherwise deadlock with this order's lines (their foreign key).
    lock_products(variant.product_id for variant in variants.values())
    terms = sale_terms(distribution.id, wanted)
    parts: dict[int, OrderPart] = {}
    for variant_id in sorted(wanted):
        variant, quantity = variants.get(variant_id), wanted[variant_id]
        if variant is None or quantity <= 0:
            continue
        term = terms.get(variant_id)
        reservation = try_reserve_variant(distribution.id, variant_id, quantity) if term is not None else None
        if term is None:
            line = _unserved_line(variant, quantity, "not_offered")
        elif reservation is None:
            line = _unserved_line(variant, quantity, "sold_out")
        else:
            line = new_order_line(term, quantity, reservation.offer_id)
        producer_id = variant.product.producer_id
        part = parts.get(producer_id)
        if part is None:
            part = parts[producer_id] = OrderPart(producer_id=producer_id)
            order.parts.append(part)
        part.lines.append(line)
    for part in parts.values():
        if all(line.status == LineStatus.REJECTED for line in part.lines):
            part.status = PartStatus.CANCELLED
            part.cancel_reason = part.lines[0].rejection_reason
    apply_agreed_total(order, agreed_total_cents)
    db.session.add(order)
    _record(order, "placed", origin)
    db.session.flush()
    signals.order_placed.send(order)
    if notify:
        unserved = [(line.product_name, line.rejection_reason) for p in order.parts for line in p.lines
                    if line.status == LineStatus.REJECTED]
        send_email(buyer, emails.subscription_order_placed, ref=order.reference,
                   place=distribution.pickup_place.name, total_cents=order.goods_estimated_cents,
                   unserved=unserved, paid_by_contract=origin == "contract")
    return order


def set_subscription_quantities(order_id: int, wanted: dict[int, int], actor: User | None, reason: str,
                                agreed_total_cents: int | None = None) -> Order:
    """Bring a subscription's order to `wanted` ({variant_id: units}) before the cut-off: each active line
    grows or shrinks (its reservation follows); lines brought to 0 are rejected with `reason`, and a part
    left with nothing is cancelled with `reason` (an absence: "absent"). Lines not served stay as they are."""
    order = _subscription_order(order_id)
    for part in _editable_parts(order):
        for line in part.lines:
            if line.status != LineStatus.ACTIVE:
                continue
            target = wanted.get(line.variant_id, 0)
            if target > line.quantity:
                reserve_more_for_line(line, target - line.quantity)
                line.quantity = target
            elif 0 < target < line.quantity:
                release_line_stock(line, line.quantity - target)
                line.quantity = target
            elif target == 0:
                release_line_stock(line)
                line.status = LineStatus.REJECTED
                line.rejection_reason = reason
        if all(line.status == LineStatus.REJECTED for line in part.lines):
            # Its lines' units are back already: _cancel_part releases only active lines.
            _cancel_part(part, actor, reason)
    apply_agreed_total(order, agreed_total_cents)
    _record(order, "changed", reason, actor=actor)
    db.session.flush()
    return order


def cancel_subscription_order(order_id: int, actor: User | None, reason: str) -> Order:
    """Cancel every part of a subscription's order before the cut-off (an absence: `reason` "absent");
    the units go back to where they were taken. Once its distribution is cancelled, whatever the phase:
    the parts not handed over yet are cancelled ("distribution_cancelled")."""
    order = _subscription_order(order_id)
    if order.distribution.cancelled_at is not None:
        for part in order.parts:
            if PartStatus.CANCELLED in PART_TRANSITIONS[part.status]:
                _cancel_part(part, actor, "distribution_cancelled")
        db.session.flush()
        return order
    for part in _editable_parts(order):
        _cancel_part(part, actor, reason)
    db.session.flush()
    return order


def _subscription_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or not order.origin:
        raise NotFound(_("No such order."))
    return order


def _editable_parts(order: Order) -> list[OrderPart]:
    """A subscription order's parts still to change, before the cut-off and before their producers accepted them."""
    if not order.distribution.is_open():
        raise Conflict(_("The cut-off has passed: this order can no longer be changed."))
    parts = [part for part in order.parts if part.status != PartStatus.CANCELLED]
    if any(part.status not in BUYER_EDITABLE for part in parts):
        raise Conflict(_("The producer has already accepted this part: it can no longer be changed."))
    return parts
