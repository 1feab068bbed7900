"""Members' activity over a period (sales, purchases, delivery pay), each in one aggregate query."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, and_, case, cast, func, literal, select

from marketplace.dispatch import services as dispatch
from marketplace.extensions import db


def line_amount_sql():
    """OrderLine.final_cents as SQL, for lines of live parts (see OrderLine.final_cents).

    Rejected lines are 0; weighed lines round_half_up(grams x price / 1000); other weight-priced
    lines the estimate (quantity x estimated grams x price / 1000, rounded half up); else quantity
    x price. Amounts are non-negative, so (2n + 1000) // 2000 (integer division) is round-half-up
    of n / 1000.
    """
    from marketplace.orders.models import OrderLine
    from marketplace.orders.states import LineStatus

    price = cast(OrderLine.unit_price_cents, BigInteger)
    weighed = cast(OrderLine.weighed_grams, BigInteger) * price
    estimated = (cast(OrderLine.quantity, BigInteger) * cast(func.coalesce(OrderLine.estimated_weight_g, 0),
                                                             BigInteger) * price)
    return case(
        (OrderLine.status == LineStatus.REJECTED.value, literal(0, BigInteger)),
        (and_(OrderLine.is_weight_priced, OrderLine.weighed_grams.is_not(None)), (2 * weighed + 1000) // 2000),
        (OrderLine.is_weight_priced, (2 * estimated + 1000) // 2000),
        else_=cast(OrderLine.quantity, BigInteger) * price,
    )


def _done_lines(stmt, start: datetime, end: datetime):
    """Restrict `stmt` to lines of parts collected or delivered whose distribution's pickup is in [start, end)."""
    from marketplace.distributions.models import Distribution
    from marketplace.orders.models import Order, OrderLine, OrderPart
    from marketplace.orders.states import PartStatus

    return (stmt.select_from(OrderLine)
            .join(OrderPart, OrderPart.id == OrderLine.part_id)
            .join(Order, Order.id == OrderPart.order_id)
            .join(Distribution, Distribution.id == Order.distribution_id)
            .where(OrderPart.status.in_([PartStatus.COLLECTED.value, PartStatus.DELIVERED.value]),
                   Distribution.starts_at >= start, Distribution.starts_at < end))


def producer_sales_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """{producer's user id: sales in cents} over the period, in one GROUP BY query."""
    from marketplace.catalog.models import ProducerProfile
    from marketplace.orders.models import OrderPart

    amount = func.sum(line_amount_sql())
    stmt = (_done_lines(select(ProducerProfile.user_id, amount), start, end)
            .join(ProducerProfile, ProducerProfile.id == OrderPart.producer_id).group_by(ProducerProfile.user_id))
    return {user_id: int(total or 0) for user_id, total in db.session.execute(stmt)}


def buyer_purchases_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """{buyer's user id: goods bought in cents} over the period (delivery fees excluded), one query."""
    from marketplace.orders.models import Order

    stmt = _done_lines(select(Order.buyer_id, func.sum(line_amount_sql())), start, end).group_by(Order.buyer_id)
    return {user_id: int(total or 0) for user_id, total in db.session.execute(stmt)}


def delivery_fees_total(start: datetime, end: datetime) -> int:
    """Delivery fees paid on orders delivered in the period (for the transparency page)."""
    from marketplace.distributions.models import Distribution
    from marketplace.orders.models import Order, OrderPart
    from marketplace.orders.states import PartStatus

    delivered = select(OrderPart.id).where(OrderPart.order_id == Order.id,
                                           OrderPart.status == PartStatus.DELIVERED.value).exists()
    stmt = (select(func.coalesce(func.sum(Order.delivery_fee_cents), 0)).select_from(Order)
            .join(Distribution, Distribution.id == Order.distribution_id)
            .where(Distribution.starts_at >= start, Distribution.starts_at < end, delivered))
    return int(db.session.execute(stmt).scalar() or 0)


def courier_pay_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """{courier's user id: delivery pay in cents}, as the dispatch domain recorded it."""
    return {int(k): int(v) for k, v in dispatch.courier_pay_by_member(start, end).items() if int(v) > 0}
