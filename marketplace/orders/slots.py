"""Delivery-slot places: reserved at checkout like stock, so a slot is never overbooked."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.errors import Conflict, ServiceError
from marketplace.distributions.models import DeliverySlot, Distribution
from marketplace.extensions import db
from marketplace.orders.models import Order, OrderPart
from marketplace.orders.states import PartStatus


def reserve_slot_place(distribution: Distribution, slot_id: int | None) -> DeliverySlot:
    """Take a place in a delivery slot or refuse: a slot never holds more live orders than its capacity.

    The slot's row lock makes concurrent checkouts count one after the other (as reserve_stock's
    conditional UPDATE does for stock); a cancelled order no longer holds its place.
    """
    slot = (db.session.query(DeliverySlot).filter(DeliverySlot.id == slot_id).with_for_update().one_or_none()
            if slot_id else None)
    if slot is None or slot.distribution_id != distribution.id:
        raise ServiceError(_("Choose a delivery time slot."), "delivery_slot_id")
    taken = (db.session.query(Order.id)
             .filter(Order.delivery_slot_id == slot.id, Order.parts.any(OrderPart.status != PartStatus.CANCELLED))
             .count())
    if taken >= slot.capacity:
        raise Conflict(_("This delivery slot is full: choose another."), "delivery_slot_id")
    return slot
