"""The producer's desk: their order parts a page at a time; accept a part, reject a line, weigh, mark ready."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.catalog.models import ProducerProfile
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.core.services import get_int_setting
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders import emails, signals
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.services.lifecycle import _record, _set_part_status
from marketplace.orders.services.stock import release_line_stock
from marketplace.orders.states import LineStatus, PartStatus

PARTS_PER_PAGE = 200


@dataclass(frozen=True)
class DeskPart:
    """A part on the desk with what it shows of its order (read as columns, no order or buyer object)."""

    part: OrderPart  # with its lines
    reference: str
    buyer_name: str


@dataclass(frozen=True)
class OrderDesk:
    """One page of a producer's order parts, newest distribution first, grouped by distribution."""

    producer: ProducerProfile
    by_distribution: dict[Distribution, list[DeskPart]]
    pages: Pagination


def order_desk(user: User, page: int = 1, per_page: int | None = None) -> OrderDesk:
    """The acting producer's order parts, a page at a time, each with its order's reference, its buyer's name, its
    distribution and place, and its lines: a count and two statements whatever the page's size."""
    from marketplace.catalog.services import producer_of

    profile = producer_of(user)
    query = (db.session.query(OrderPart, Distribution, Order.reference, User.full_name)
             .join(Order, OrderPart.order_id == Order.id)
             .join(Distribution, Order.distribution_id == Distribution.id).join(User, Order.buyer_id == User.id)
             .options(selectinload(OrderPart.lines), joinedload(Distribution.pickup_place))
             .filter(OrderPart.producer_id == profile.id)
             .order_by(Distribution.starts_at.desc(), Order.id, OrderPart.id))
    pages = query.paginate(page=page, per_page=per_page or PARTS_PER_PAGE, error_out=False)
    by_distribution: dict[Distribution, list[DeskPart]] = {}
    for part, distribution, reference, buyer_name in pages.items:
        by_distribution.setdefault(distribution, []).append(DeskPart(part, reference, buyer_name))
        for line in part.lines:  # each line's amount reads its part: known here, not looked up line by line
            set_committed_value(line, "part", part)
    return OrderDesk(profile, by_distribution, pages)


def _producer_part(user: User, part_id: int) -> OrderPart:
    from marketplace.catalog.services import producer_of

    profile = producer_of(user)
    part = db.session.get(OrderPart, part_id)
    if part is None or part.producer_id != profile.id:
        raise NotFound(_("No such order in your list."))
    return part


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
    release_line_stock(line)
    order = part.order
    _record(order, "line_rejected", f"{line.product_name}: {reason}", part=part, actor=user)
    if all(other.status == LineStatus.REJECTED for other in part.lines):
        _set_part_status(part, PartStatus.CANCELLED, user, reason)
    signals.line_rejected.send(line)
    send_email(order.buyer, emails.line_unavailable, ref=order.reference, producer=part.producer.name,
               product=line.product_name, reason=reason, amount_cents=line.credited_cents)
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
    if any(line.is_weight_priced and line.status == LineStatus.ACTIVE and line.weighed_grams is None
           for line in part.lines):
        raise Conflict(_("Weigh every product sold by weight before marking the order ready."))
    _set_part_status(part, PartStatus.READY, user)
    order = part.order
    if all(p.status in (PartStatus.READY, PartStatus.CANCELLED) for p in order.parts):
        send_email(order.buyer, emails.order_ready, ref=order.reference, total_cents=order.total_due_cents)
        signals.order_ready.send(order)
    db.session.flush()
    return part
