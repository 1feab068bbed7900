"""Reports for the accountant and the general assembly: each is a few aggregate queries, never one per row."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace.catalog.models import ProducerProfile
from marketplace.distributions.models import Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.members.models import Membership, User
from marketplace.members.services import require_admin
from marketplace.money import weighed_amount_cents
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.states import LineStatus, PartStatus

SOLD_PARTS = (PartStatus.COLLECTED, PartStatus.DELIVERED)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return datetime.combine(self.start, time.min), datetime.combine(self.end + timedelta(days=1), time.min)


def parse_period(raw_from: str | None, raw_to: str | None, today: date | None = None) -> Period:
    """From/to dates of a report (YYYY-MM-DD); by default the current calendar year."""
    today = today or date.today()
    try:
        start = date.fromisoformat(raw_from) if raw_from else date(today.year, 1, 1)
    except ValueError:
        start = date(today.year, 1, 1)
    try:
        end = date.fromisoformat(raw_to) if raw_to else date(today.year, 12, 31)
    except ValueError:
        end = date(today.year, 12, 31)
    if end < start:
        start, end = end, start
    return Period(start, end)


@dataclass
class Row:
    label: str
    values: dict = field(default_factory=dict)


def _line_amount(is_weight_priced: bool, weighed: int | None, quantity: int, price: int,
                 estimated_weight_g: int | None) -> int:
    if is_weight_priced:
        grams = weighed if weighed is not None else quantity * (estimated_weight_g or 0)
        return weighed_amount_cents(grams, price)
    return quantity * price


def _sold_lines(period: Period):
    """(producer id, place id, order id, amount, vat bp) of every line sold in the period: one query."""
    start, end = period.bounds
    query = (select(OrderPart.producer_id, Distribution.pickup_place_id, Order.id, OrderLine.is_weight_priced,
                    OrderLine.weighed_grams, OrderLine.quantity, OrderLine.unit_price_cents,
                    OrderLine.estimated_weight_g, OrderLine.vat_rate_bp)
             .join(OrderPart, OrderLine.part_id == OrderPart.id).join(Order, OrderPart.order_id == Order.id)
             .join(Distribution, Order.distribution_id == Distribution.id)
             .where(OrderPart.status.in_(SOLD_PARTS), OrderLine.status == LineStatus.ACTIVE,
                    Distribution.starts_at >= start, Distribution.starts_at < end))
    for producer_id, place_id, order_id, weighted, weighed, quantity, price, est, vat in db.session.execute(query):
        yield producer_id, place_id, order_id, _line_amount(weighted, weighed, quantity, price, est), vat


def _vat_part(amount: int, vat_bp: int) -> int:
    # Prices include VAT: the VAT inside is amount x rate / (1 + rate), rounded to the cent.
    from fractions import Fraction

    from marketplace.money import round_half_up

    return round_half_up(Fraction(amount * vat_bp, 10000 + vat_bp))


def sales_by_producer(admin: User, period: Period) -> list[Row]:
    """Goods sold (collected or delivered) per producer, VAT included, with the VAT inside and orders."""
    require_admin(admin)
    totals: dict[int, dict] = defaultdict(lambda: {"sales_cents": 0, "vat_cents": 0, "orders": set()})
    for producer_id, _place, order_id, amount, vat in _sold_lines(period):
        t = totals[producer_id]
        t["sales_cents"] += amount
        t["vat_cents"] += _vat_part(amount, vat)
        t["orders"].add(order_id)
    names: dict[int, str] = dict(db.session.execute(select(ProducerProfile.id, ProducerProfile.name)).all())
    rows = [Row(names.get(pid, f"#{pid}"), {"producer_id": pid, "sales_cents": t["sales_cents"],
                                             "vat_cents": t["vat_cents"], "orders": len(t["orders"])})
            for pid, t in totals.items()]
    return sorted(rows, key=lambda r: (-r.values["sales_cents"], r.label))


def orders_by_pickup_point(admin: User, period: Period) -> list[Row]:
    """Orders placed for each pickup point (all statuses but cancelled) and goods sold there."""
    require_admin(admin)
    start, end = period.bounds
    counts = db.session.execute(
        select(Distribution.pickup_place_id, func.count(func.distinct(Order.id)))
        .join(Order, Order.distribution_id == Distribution.id)
        .join(OrderPart, OrderPart.order_id == Order.id)
        .where(OrderPart.status != PartStatus.CANCELLED, Distribution.starts_at >= start,
               Distribution.starts_at < end)
        .group_by(Distribution.pickup_place_id)).all()
    sales: dict[int, int] = defaultdict(int)
    for _producer, place_id, _order, amount, _vat in _sold_lines(period):
        sales[place_id] += amount
    names: dict[int, str] = dict(db.session.execute(select(PickupPlace.id, PickupPlace.name)).all())
    rows = [Row(names.get(pid, f"#{pid}"), {"place_id": pid, "orders": n, "sales_cents": sales.get(pid, 0)})
            for pid, n in counts]
    return sorted(rows, key=lambda r: (-r.values["orders"], r.label))


def courier_deliveries(admin: User, period: Period) -> list[Row]:
    """Finished runs per courier: runs, stops, kilometres and pay owed (from dispatch's payables)."""
    require_admin(admin)
    from marketplace.dispatch.models import CourierPayable

    start, end = period.bounds
    result = db.session.execute(
        select(CourierPayable.courier_id, User.full_name, func.count(CourierPayable.id),
               func.coalesce(func.sum(CourierPayable.stops), 0), func.coalesce(func.sum(CourierPayable.distance_m), 0),
               func.coalesce(func.sum(CourierPayable.amount_cents), 0))
        .join(User, User.id == CourierPayable.courier_id)
        .where(CourierPayable.created_at >= start, CourierPayable.created_at < end)
        .group_by(CourierPayable.courier_id, User.full_name)).all()
    rows = [Row(name, {"courier_id": cid, "runs": runs, "stops": int(stops), "km": round(int(meters) / 1000, 1),
                       "pay_cents": int(pay)}) for cid, name, runs, stops, meters, pay in result]
    return sorted(rows, key=lambda r: (-r.values["pay_cents"], r.label))


MEMBERS_PER_PAGE = 100


def _register_query():
    from sqlalchemy.orm import joinedload

    return (db.select(Membership).options(joinedload(Membership.user))
            .order_by(Membership.member_number.is_(None), Membership.member_number, Membership.applied_at,
                      Membership.id))


def member_register(admin: User) -> list[Membership]:
    """The register of members, in member-number order (applicants last): the whole of it (CSV export)."""
    require_admin(admin)
    return list(db.session.scalars(_register_query()))


def member_register_page(admin: User, page: int, per_page: int = MEMBERS_PER_PAGE):
    """One page of the register (a count and one query for its rows, whatever the page size)."""
    require_admin(admin)
    return db.paginate(_register_query(), page=page, per_page=per_page, error_out=False)


def cost_ledger(admin: User, period: Period) -> list:
    """The coop's running costs (read from billing) incurred in the period."""
    require_admin(admin)
    from marketplace.billing.models import CostEntry

    return (db.session.query(CostEntry)
            .filter(CostEntry.incurred_on >= period.start, CostEntry.incurred_on <= period.end)
            .order_by(CostEntry.incurred_on, CostEntry.id).all())


def costs_by_category(entries) -> list[Row]:
    totals: dict[str, int] = defaultdict(int)
    for entry in entries:
        totals[getattr(entry.category, "value", str(entry.category))] += entry.amount_cents
    return [Row(_(k), {"amount_cents": v}) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])]


def chart_bars(rows: list[Row], key: str, limit: int = 25) -> list[tuple[str, int, float]]:
    """(label, value, share of the largest) for a horizontal bar chart."""
    top = rows[:limit]
    largest = max((r.values.get(key, 0) for r in top), default=0) or 1
    return [(r.label, r.values.get(key, 0), r.values.get(key, 0) / largest) for r in top]
