"""An order's history and its parts' transitions, shared by every step of the order's life."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.errors import Conflict, NotFound
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders import signals
from marketplace.orders.events import reason_text
from marketplace.orders.models import Order, OrderEvent, OrderPart
from marketplace.orders.services.stock import release_line_stock
from marketplace.orders.states import InvalidTransition, LineStatus, PartStatus, check_transition
from marketplace.timeutil import utcnow


def _record(order: Order, kind: str, detail: str = "", part: OrderPart | None = None,
            actor: User | None = None, amount_cents: int | None = None) -> None:
    order.events.append(OrderEvent(kind=kind, detail=detail, part=part, actor_id=actor.id if actor else None,
                                   amount_cents=amount_cents))


def _get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound(_("No such order."))
    return order


def _set_part_status(part: OrderPart, target: PartStatus, actor: User | None, note: str = "") -> None:
    try:
        check_transition(part.status, target)
    except InvalidTransition as exc:
        raise Conflict(_("This order part cannot go from %(a)s to %(b)s.", a=_(exc.current.value),
                         b=_(exc.target.value))) from None
    part.status = target
    part.status_changed_at = utcnow()
    if target == PartStatus.CANCELLED:
        part.cancel_reason = note
    _record(part.order, target.value, note, part=part, actor=actor)


def _cancel_part(part: OrderPart, actor: User | None, reason: str) -> None:
    """`reason`: a code of orders.events.REASONS, or a person's own words."""
    _set_part_status(part, PartStatus.CANCELLED, actor, reason)
    for line in part.lines:
        if line.status == LineStatus.ACTIVE:
            release_line_stock(line)
    signals.part_cancelled.send(part, reason=reason_text(reason), reason_code=reason)


def _all_done(order: Order) -> bool:
    live = [p for p in order.parts if p.status != PartStatus.CANCELLED]
    return bool(live) and all(p.status in (PartStatus.COLLECTED, PartStatus.DELIVERED) for p in live)
