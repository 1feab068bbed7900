"""Handing the goods over: collected at the pickup, or handed to a courier and delivered (called by dispatch)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.accounts.models import Means
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders import emails, signals
from marketplace.orders.models import Order
from marketplace.orders.services.account_payment import settle_at_handover
from marketplace.orders.services.lifecycle import _all_done, _get_order, _record, _set_part_status
from marketplace.orders.states import Fulfilment, PartStatus, PaymentMethod, PaymentStatus


def mark_collected(admin_or_producer: User, order_id: int, received_cents: int | None = None,
                   means: Means = Means.CASH) -> Order:
    """At the pickup: the buyer collected every ready part of the order; what they paid (by default the amount
    to collect, account included) is recorded into their account, which pays the order."""
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
    if all(p.status in (PartStatus.COLLECTED, PartStatus.CANCELLED) for p in order.parts):
        received = settle_at_handover(order, admin_or_producer, received_cents, means)
        if order.payment_method == PaymentMethod.PAY_AT_PICKUP:
            order.payment_status = PaymentStatus.PAID
            _record(order, "paid_at_pickup", actor=admin_or_producer, amount_cents=received)
    db.session.flush()
    if _all_done(order):
        signals.order_completed.send(order)
    return order


def hand_to_courier(order_id: int, courier: User | None = None) -> Order:
    """The courier picked up every ready part of a home-delivery order."""
    order = _get_order(order_id)
    if order.fulfilment != Fulfilment.DELIVERY:
        raise Conflict(_("This order is collected at the pickup, not delivered."))
    for part in order.parts:
        if part.status == PartStatus.READY:
            _set_part_status(part, PartStatus.HANDED_TO_COURIER, courier)
    db.session.flush()
    send_email(order.buyer, emails.on_its_way, ref=order.reference, code=order.delivery_code)
    signals.order_out_for_delivery.send(order)
    return order


def mark_delivered(order_id: int, courier: User | None = None) -> Order:
    """Delivered at the buyer's door (the dispatch service has checked the buyer's code)."""
    order = _get_order(order_id)
    for part in order.parts:
        if part.status == PartStatus.HANDED_TO_COURIER:
            _set_part_status(part, PartStatus.DELIVERED, courier)
    if _all_done(order):
        settle_at_handover(order, courier)  # the courier collected the amount shown on the stop
    if order.payment_method == PaymentMethod.PAY_AT_PICKUP and _all_done(order):
        order.payment_status = PaymentStatus.PAID
    db.session.flush()
    send_email(order.buyer, emails.delivered_to_buyer, ref=order.reference)
    for part in order.parts:
        if part.status == PartStatus.DELIVERED:
            send_email(part.producer.user, emails.delivered_to_producer, ref=order.reference)
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
