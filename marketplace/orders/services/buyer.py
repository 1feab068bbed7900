"""The buyer's orders a page at a time; their changes before the cut-off: quantities, removed lines, cancellation."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import joinedload, selectinload

from marketplace.core.errors import Conflict, NotFound
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders import signals
from marketplace.orders.models import Order, OrderPart
from marketplace.orders.services.lifecycle import _cancel_part, _record, _set_part_status
from marketplace.orders.services.stock import MAX_QUANTITY, quantity_refusal, release_line_stock, reserve_more_for_line
from marketplace.orders.states import BUYER_EDITABLE, LineStatus, PartStatus

ORDERS_PER_PAGE = 100


def buyer_orders(user: User, page: int = 1, per_page: int | None = None) -> Pagination:
    """One page of the member's orders, newest first, each with its distribution, place and parts (what each is
    due: `total_due_cents_by_order`): a fixed number of statements whatever their number."""
    return (db.session.query(Order).filter(Order.buyer_id == user.id)
            .options(selectinload(Order.distribution).selectinload(Distribution.pickup_place),
                     selectinload(Order.parts))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .paginate(page=page, per_page=per_page or ORDERS_PER_PAGE, error_out=False))


def buyer_order(user: User, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != user.id:
        raise NotFound(_("No such order."))
    return order


def order_for_page(user: User, order_id: int) -> Order:
    """The order its page shows, to its buyer or an admin: with its distribution and place, delivery slot, parts,
    their producers and lines, and its history, in a fixed number of statements whatever its number of producers
    and lines (the page a buyer lands on after checking out)."""
    order = (db.session.query(Order).filter(Order.id == order_id)
             .options(joinedload(Order.distribution).joinedload(Distribution.pickup_place),
                      joinedload(Order.delivery_slot),
                      selectinload(Order.parts).options(joinedload(OrderPart.producer), selectinload(OrderPart.lines)),
                      selectinload(Order.events))
             .one_or_none())
    if order is None or (order.buyer_id != user.id and not user.is_admin):
        raise NotFound(_("No such order."))
    return order


def _require_editable(order: Order) -> None:
    if not order.distribution.is_open():
        raise Conflict(_("The cut-off has passed: this order can no longer be changed."))
    if order.quantities_locked:
        raise Conflict(_("This basket comes with your contract: change it on your contract's page."))


def change_line_quantity(user: User, order_id: int, line_id: int, quantity: int) -> Order:
    """The buyer changes a quantity before cut-off (0 removes the line); stock follows."""
    order = buyer_order(user, order_id)
    _require_editable(order)
    line = next((candidate for p in order.parts for candidate in p.lines if candidate.id == line_id), None)
    if line is None:
        raise NotFound(_("No such order line."))
    if line.part.status not in BUYER_EDITABLE or line.status != LineStatus.ACTIVE:
        raise Conflict(_("The producer has already accepted this part: it can no longer be changed."))
    if not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise quantity_refusal(allow_zero=True)
    before_cents = order.goods_estimated_cents
    delta = quantity - line.quantity
    if delta > 0:
        reserve_more_for_line(line, delta)
    elif delta < 0:
        release_line_stock(line, -delta)
    part = line.part
    if quantity == 0:
        part.lines.remove(line)
        db.session.delete(line)
        if not part.lines:
            _set_part_status(part, PartStatus.CANCELLED, user, "emptied_by_buyer")
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
        _cancel_part(part, user, "cancelled_by_buyer")
    db.session.flush()
    return order
