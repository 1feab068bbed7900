"""What many orders are due, and what each producer sells in a distribution, in one statement: the list pages
show them without loading the lines.

The same rule as `Order.total_due_cents` (final amounts where weighed, estimates elsewhere, nothing for a
rejected line or a cancelled part, delivery only with goods), summed by the database;
tests/unit/test_order_totals.py checks the two agree line for line (and the estimates with
`OrderPart.estimated_cents`).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, case, cast, func, or_, select

from marketplace.extensions import db
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.states import LineStatus, PartStatus


def _line_final_cents():
    """`OrderLine.final_cents` in SQL: nothing for a rejected line or a cancelled part, the agreed amount when there
    is one (a contract's price), else grams x price per kg rounded half up to the cent (`weighed_amount_cents` on
    these non-negative amounts), the weighed grams once known, else the estimate."""
    grams = case((OrderLine.weighed_grams.is_not(None), OrderLine.weighed_grams),
                 else_=OrderLine.quantity * func.coalesce(OrderLine.estimated_weight_g, 0))
    weighed = (cast(grams, BigInteger) * OrderLine.unit_price_cents + 500) // 1000
    return case((or_(OrderLine.status == LineStatus.REJECTED, OrderPart.status == PartStatus.CANCELLED), 0),
                (OrderLine.agreed_cents.is_not(None), OrderLine.agreed_cents),
                (OrderLine.is_weight_priced.is_(True), weighed),
                else_=cast(OrderLine.quantity, BigInteger) * OrderLine.unit_price_cents)


def _line_estimated_cents():
    """`OrderLine.estimated_cents` in SQL: the agreed amount when there is one, else quantity x estimated grams x
    price per kg rounded half up to the cent for a weighed line, else quantity x unit price."""
    grams = OrderLine.quantity * func.coalesce(OrderLine.estimated_weight_g, 0)
    weighed = (cast(grams, BigInteger) * OrderLine.unit_price_cents + 500) // 1000
    return case((OrderLine.agreed_cents.is_not(None), OrderLine.agreed_cents),
                (OrderLine.is_weight_priced.is_(True), weighed),
                else_=cast(OrderLine.quantity, BigInteger) * OrderLine.unit_price_cents)


def estimated_cents_by_producer(distribution_id: int) -> dict[int, int]:
    """{producer id: the sum of `OrderPart.estimated_cents`} over a distribution's parts not cancelled (their active
    lines; a producer whose live parts have none is there with 0), in one statement whatever their number."""
    rows = db.session.execute(
        select(OrderPart.producer_id, func.sum(_line_estimated_cents()))
        .join(Order, Order.id == OrderPart.order_id)
        .outerjoin(OrderLine, (OrderLine.part_id == OrderPart.id) & (OrderLine.status == LineStatus.ACTIVE))
        .where(Order.distribution_id == distribution_id, OrderPart.status != PartStatus.CANCELLED)
        .group_by(OrderPart.producer_id))
    return {producer_id: int(cents or 0) for producer_id, cents in rows}


def total_due_cents_by_order(orders: Iterable[Order]) -> dict[int, int]:
    """{order id: `Order.total_due_cents`} for these orders, in one statement whatever their number."""
    orders = list(orders)
    if not orders:
        return {}
    rows = db.session.execute(
        select(OrderPart.order_id, func.sum(_line_final_cents()))
        .join(OrderLine, OrderLine.part_id == OrderPart.id)
        .where(OrderPart.order_id.in_([order.id for order in orders]), OrderPart.status != PartStatus.CANCELLED)
        .group_by(OrderPart.order_id))
    goods: dict[int, int] = {row[0]: int(row[1] or 0) for row in rows}
    totals = {}
    for order in orders:
        cents = goods.get(order.id, 0)
        totals[order.id] = cents + (order.delivery_fee_cents if cents > 0 else 0)
    return totals


def final_cents_by_part(order_ids: Iterable[int]) -> list:
    """Every part of these orders as (order_id, id, status, final_cents): `OrderPart.final_cents` summed by the
    database (0 for a cancelled part or one without lines), in one statement whatever their number."""
    ids = list(order_ids)
    if not ids:
        return []
    return list(db.session.execute(
        select(OrderPart.order_id, OrderPart.id, OrderPart.status,
               func.coalesce(func.sum(_line_final_cents()), 0).label("final_cents"))
        .outerjoin(OrderLine, OrderLine.part_id == OrderPart.id)
        .where(OrderPart.order_id.in_(ids)).group_by(OrderPart.order_id, OrderPart.id, OrderPart.status)
        .order_by(OrderPart.id)))
