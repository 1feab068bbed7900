"""Admin-only use cases that span domains: coop settings, order search."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select

from marketplace.audit.services import record
from marketplace.catalog.services import VAT_RATES_BP
from marketplace.core import outbox
from marketplace.core.contrast import weakest_contrast
from marketplace.core.errors import NotFound, ServiceError
from marketplace.core.legal import VatRegime, clean_siret, clean_vat_number
from marketplace.core.models import OutboundEmail, OutboxMessage
from marketplace.core.services import ServiceStatus, service_statuses, set_setting
from marketplace.distributions.models import Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.members.models import Membership, MembershipStatus, User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order, OrderPart
from marketplace.orders.services import total_due_cents_by_order
from marketplace.orders.states import order_status

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def update_settings(admin: User, values: dict[str, str]) -> None:
    """Make the shop the coop's own: name, colours, texts, shares' nominal value."""
    require_admin(admin)
    for key in ("colour_primary", "colour_accent"):
        if key in values and not _COLOUR.match(values[key]):
            raise ServiceError(_("Colours are written #RRGGBB."), key)
        problem = weakest_contrast(key, values[key]) if key in values else None
        if problem is not None:
            raise ServiceError(_("This colour is hard to read with %(where)s (contrast %(ratio)s:1, at least 4.5:1 "
                                 "is needed): choose a darker or lighter one.", where=problem.where,
                                 ratio=f"{problem.ratio:.1f}"), key)
    logo_url = values.get("coop_logo_url")
    if logo_url and not re.match(r"^(https://|/)", logo_url):
        raise ServiceError(_("The logo address must start with https:// or /."), "coop_logo_url")
    _check_invoicing_settings(values)
    for key, value in values.items():
        set_setting(key, value)


INVOICING_SETTINGS = ("coop_siret", "coop_registration", "coop_vat_regime", "coop_vat_number",
                      "services_vat_rate_bp", "default_vat_rate_bp", "delivery_seller")


def _check_invoicing_settings(values: dict[str, str]) -> None:
    """The coop's legal identifiers are valid (python-stdnum), its VAT choices are known ones."""
    if "coop_siret" in values:
        values["coop_siret"] = clean_siret(values["coop_siret"], "coop_siret")
    if "coop_vat_number" in values:
        values["coop_vat_number"] = clean_vat_number(values["coop_vat_number"], values.get("coop_siret", "")[:9],
                                                     "coop_vat_number")
    if values.get("coop_vat_regime", "subject") not in {r.value for r in VatRegime}:
        raise ServiceError(_("Choose whether the coop charges VAT."), "coop_vat_regime")
    for key in ("services_vat_rate_bp", "default_vat_rate_bp"):
        if key in values and values[key] not in {str(bp) for bp in VAT_RATES_BP}:
            raise ServiceError(_("Choose one of the VAT rates."), key)
    if values.get("delivery_seller", "coop") not in ("coop", "courier"):
        raise ServiceError(_("Choose who sells home delivery."), "delivery_seller")


EMAILS_PER_PAGE = 200


def sent_emails(admin: User, page: int = 1, per_page: int | None = None) -> Pagination:
    """The e-mails the shop sent or is sending, newest first, a page at a time (a count and one statement)."""
    require_admin(admin)
    return db.paginate(select(OutboundEmail).order_by(OutboundEmail.id.desc()), page=page,
                       per_page=per_page or EMAILS_PER_PAGE, error_out=False)


MEMBERS_PER_PAGE = 200


def search_members(admin: User, *, status: str = "", text: str = "", page: int = 1,
                   per_page: int | None = None) -> Pagination:
    """One page of the member register for the admin's filters (status, name or e-mail): a count and one
    statement for the page whatever its size, each row the membership's and its member's columns the list shows
    (plain columns, no ORM object per row)."""
    require_admin(admin)
    query = (db.session.query(Membership.id, Membership.member_number, Membership.college, Membership.status,
                              Membership.motivation, Membership.applied_at, Membership.joined_at,
                              Membership.decision_reason, Membership.shares_count, Membership.share_nominal_cents,
                              Membership.user_id, User.full_name, User.email)
             .join(User, Membership.user_id == User.id))
    if status in {s.value for s in MembershipStatus}:
        query = query.filter(Membership.status == status)
    if text:
        query = query.filter(User.full_name.ilike(f"%{text}%") | User.email.ilike(f"%{text}%"))
    query = query.order_by(Membership.status, Membership.member_number, Membership.applied_at, Membership.id)
    return query.paginate(page=page, per_page=per_page or MEMBERS_PER_PAGE, error_out=False)


ORDERS_PER_PAGE = 200


@dataclass(frozen=True)
class DistributionOrders:
    """One page of a distribution's orders for the admin: what each is due and what to collect or hand back."""

    pages: Pagination  # items: rows of the orders' columns and their buyer's name
    statuses: dict[int, str]
    due_cents: dict[int, int]
    handovers: dict[int, str]  # the live orders'


def distribution_orders(admin: User, distribution_id: int, page: int = 1,
                        per_page: int | None = None) -> DistributionOrders:
    """A page of the distribution's orders in a fixed number of statements whatever their number, read as plain
    columns: the page and its count, the parts' statuses, what each is due (summed by the database) and the
    handover's figures."""
    from marketplace.orders.documents import handover_texts

    require_admin(admin)
    pages = (db.session.query(Order.id, Order.reference, Order.buyer_id, Order.fulfilment, Order.payment_method,
                              Order.payment_status, Order.delivery_fee_cents, User.full_name)
             .join(User, Order.buyer_id == User.id).filter(Order.distribution_id == distribution_id)
             .order_by(Order.id).paginate(page=page, per_page=per_page or ORDERS_PER_PAGE, error_out=False))
    statuses, due = _order_statuses(pages.items), total_due_cents_by_order(pages.items)
    live = [row for row in pages.items if statuses[row.id] != "cancelled"]
    return DistributionOrders(pages, statuses, due, handover_texts(live, final_cents=due))


def _order_statuses(orders) -> dict[int, str]:
    """{order id: `Order.status`} of these orders from their parts' statuses, in one statement."""
    statuses: dict[int, list] = {order.id: [] for order in orders}
    if statuses:
        for order_id, part_status in db.session.execute(
                select(OrderPart.order_id, OrderPart.status).where(OrderPart.order_id.in_(list(statuses)))):
            statuses[order_id].append(part_status)
    return {order_id: order_status(parts) for order_id, parts in statuses.items()}


@dataclass(frozen=True)
class OrderRow:
    """One row of the admin's order list: what it shows, read as plain columns (no ORM object per row)."""

    id: int
    reference: str
    buyer_name: str
    place_name: str
    starts_at: datetime
    status: str
    due_cents: int


def search_orders(admin: User, *, day: date | None = None, producer_id: int | None = None,
                  status: str | None = None, pickup_place_id: int | None = None, page: int = 1,
                  per_page: int | None = None) -> Pagination:
    """One page of the orders matching the admin's filters, newest first (items: `OrderRow`)."""
    require_admin(admin)
    query = (db.session.query(Order.id, Order.reference, Order.delivery_fee_cents, User.full_name,
                              PickupPlace.name, Distribution.starts_at)
             .join(Distribution, Order.distribution_id == Distribution.id)
             .join(User, Order.buyer_id == User.id)
             .join(PickupPlace, Distribution.pickup_place_id == PickupPlace.id))
    if day:
        start = datetime.combine(day, time.min)
        query = query.filter(Distribution.starts_at >= start, Distribution.starts_at < start + timedelta(days=1))
    if producer_id:
        query = query.filter(Order.parts.any(OrderPart.producer_id == producer_id))
    if pickup_place_id:
        query = query.filter(Distribution.pickup_place_id == pickup_place_id)
    if status:
        query = query.filter(Order.parts.any(OrderPart.status == status))
    # Everything the list shows in a fixed number of statements whatever the number of orders, and as plain
    # columns: the page and its count, the parts' statuses, what each order is due (summed by the database,
    # orders.total_due_cents_by_order; its lines are not loaded).
    result = query.order_by(Order.created_at.desc(), Order.id.desc()).paginate(
        page=page, per_page=per_page or ORDERS_PER_PAGE, error_out=False)
    rows = result.items
    statuses, due = _order_statuses(rows), total_due_cents_by_order(rows)
    result.items = [OrderRow(row.id, row.reference, row.full_name, row.name, row.starts_at, statuses[row.id],
                             due[row.id]) for row in rows]
    return result


# ---------------------------------------------------------------- background work (Celery, outbox)

@dataclass(frozen=True)
class BackgroundStatus:
    workers: list[ServiceStatus]
    beats: list[ServiceStatus]
    outbox: outbox.OutboxHealth
    oldest_pending: timedelta | None

    @property
    def healthy(self) -> bool:
        """A worker and a beat alive, no dead letter, nothing waiting for more than two minutes."""
        return (any(w.alive for w in self.workers) and any(b.alive for b in self.beats) and not self.outbox.dead
                and (self.oldest_pending or timedelta(0)) < timedelta(minutes=2))


def background_status(admin: User, now: datetime | None = None) -> BackgroundStatus:
    """Are the worker and beat alive, and is the outbox being published? (the admin dashboard)"""
    require_admin(admin)
    statuses = service_statuses(now)
    health = outbox.health()
    age = health.oldest_age_s(now)
    return BackgroundStatus(workers=statuses["worker"], beats=statuses["beat"], outbox=health,
                            oldest_pending=None if age is None else timedelta(seconds=age))


def _dead_letter(message_id: int) -> OutboxMessage:
    message = outbox.get_dead_letter(message_id)
    if message is None:
        raise NotFound(_("No such set-aside task."))
    return message


def _snapshot(message: OutboxMessage) -> dict:
    return {"task": message.task_name, "args": message.args_json, "attempts": message.attempts,
            "last_error": message.last_error or ""}


def replay_dead_letter(admin: User, message_id: int) -> OutboxMessage:
    """Send a set-aside task again (e.g. after a fix was deployed): the next drain publishes it."""
    require_admin(admin)
    message = _dead_letter(message_id)
    record(admin, "outbox.replay", message, before=_snapshot(message))
    outbox.revive(message)
    db.session.flush()
    return message


def drop_dead_letter(admin: User, message_id: int) -> None:
    """Give up on a set-aside task for good; the audit log keeps what it was."""
    require_admin(admin)
    message = _dead_letter(message_id)
    record(admin, "outbox.drop", message, before=_snapshot(message))
    db.session.delete(message)
    db.session.flush()
