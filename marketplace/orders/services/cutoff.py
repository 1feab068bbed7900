"""The cut-off: ordering closes, parts under a producer's minimum are cancelled, harvest lists go out."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import contains_eager

from marketplace.catalog.models import ProducerProfile
from marketplace.catalog.variants import variant_display_name
from marketplace.core.mail import send_email
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.orders import emails, signals
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.services.lifecycle import _cancel_part
from marketplace.orders.services.totals import estimated_cents_by_producer
from marketplace.orders.states import PART_TRANSITIONS, TERMINAL, LineStatus, PartStatus
from marketplace.timeutil import utcnow


@dataclass(frozen=True)
class HarvestLine:
    product_name: str
    unit: str
    quantity: int
    estimated_weight_g: int
    variant_id: int | None = None
    variant_label: str = ""
    orders: int = 0   # how many orders ask for it


def producer_totals(distribution_id: int) -> dict[int, int]:
    """Each producer's ordered total (estimates) for a distribution, cancelled parts excluded (summed by the
    database: totals.estimated_cents_by_producer)."""
    return estimated_cents_by_producer(distribution_id)


def harvest_totals(distribution_id: int, producer_id: int) -> list[HarvestLine]:
    """What a producer must harvest and pack for a distribution: units per variant over every order
    (one-off or made from a contract: all are orders), active lines of parts not cancelled."""
    lines = (db.session.query(OrderLine).join(OrderPart).join(Order)
             .options(contains_eager(OrderLine.part))  # each line's order, in the same statement
             .filter(Order.distribution_id == distribution_id, OrderPart.producer_id == producer_id,
                     OrderPart.status != PartStatus.CANCELLED, OrderLine.status == LineStatus.ACTIVE)
             .order_by(OrderLine.product_name, OrderLine.variant_label, OrderLine.variant_id).all())
    merged: dict[tuple[int, str], list] = {}
    for line in lines:
        # Per variant and unit: a line priced before a variant's unit changed is counted apart.
        acc = merged.setdefault((line.variant_id, line.unit), [line.product_name, line.variant_label, 0, 0, set()])
        acc[2] += line.quantity
        acc[3] += line.estimated_weight_total_g
        acc[4].add(line.part.order_id)
    return [HarvestLine(name, unit, quantity, grams, variant_id, label, len(orders))
            for (variant_id, unit), (name, label, quantity, grams, orders) in merged.items()]


def close_distribution(distribution_id: int, now: datetime | None = None) -> bool:
    """Run the cut-off once: close ordering, cancel parts under the producer's minimum, send harvest totals.

    Returns False if it had already run (safe to call twice, from beat or by hand): then nothing
    was changed. Flushes only: the caller commits.
    """
    now = now or utcnow()
    pending = db.session.get(Distribution, distribution_id)
    if pending is not None and pending.closed_at is None and pending.cutoff_at <= now:
        signals.distribution_closing.send(pending, now=now)
    # A conditional UPDATE claims the cut-off: a concurrent run waits on the row, then finds it closed.
    claimed = db.session.execute(
        update(Distribution).where(Distribution.id == distribution_id, Distribution.closed_at.is_(None),
                                   Distribution.cutoff_at <= now)
        .values(closed_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return False
    distribution = db.session.get(Distribution, distribution_id)
    db.session.refresh(distribution)
    totals = producer_totals(distribution_id)
    producers = {p.id: p for p in db.session.query(ProducerProfile).filter(ProducerProfile.id.in_(totals)).all()}
    for producer_id, total in sorted(totals.items()):
        producer = producers[producer_id]
        if producer.min_order_cents and total < producer.min_order_cents:
            _cancel_under_minimum(distribution, producer, total)
        else:
            _send_harvest_totals(distribution, producer)
    db.session.flush()
    return True


def _cancel_under_minimum(distribution: Distribution, producer: ProducerProfile, total: int) -> None:
    parts = (db.session.query(OrderPart).join(Order)
             .filter(Order.distribution_id == distribution.id, OrderPart.producer_id == producer.id,
                     OrderPart.status != PartStatus.CANCELLED).all())
    for part in parts:
        _cancel_part(part, None, "minimum_not_reached")
        send_email(part.order.buyer, emails.part_cancelled_under_minimum, ref=part.order.reference,
                   producer=producer.name, min_cents=producer.min_order_cents, total_cents=total)
    send_email(producer.user, emails.no_harvest, producer=producer.name, min_cents=producer.min_order_cents,
               total_cents=total)


def _send_harvest_totals(distribution: Distribution, producer: ProducerProfile) -> None:
    lines = harvest_totals(distribution.id, producer.id)
    send_email(producer.user, emails.harvest_list, place=distribution.pickup_place.name,
               lines=[(variant_display_name(line.product_name, line.variant_label), line.quantity, line.unit,
                      line.estimated_weight_g) for line in lines])


def due_distribution_ids(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return [d for (d,) in db.session.query(Distribution.id)
            .filter(Distribution.cutoff_at <= now, Distribution.closed_at.is_(None),
                    Distribution.cancelled_at.is_(None)).order_by(Distribution.cutoff_at)]


def close_due_distributions(now: datetime | None = None) -> list[int]:
    """Close every distribution whose cut-off has passed (the beat task calls this, then commits)."""
    return [d for d in due_distribution_ids(now) if close_distribution(d, now)]


def cancel_orders_of(distribution: Distribution) -> list[int]:
    """A cancelled distribution: every part not handed over yet is cancelled ("distribution_cancelled"): its
    units go back, its payment is released or refunded (payments reacts to part_cancelled) and each buyer is
    told once. Subscription orders are the contracts' to cancel (their schedules change with them)."""
    parts = (db.session.query(OrderPart).join(Order)
             .filter(Order.distribution_id == distribution.id, Order.origin == "",
                     OrderPart.status.notin_(TERMINAL))
             .order_by(OrderPart.order_id, OrderPart.id).all())
    orders: dict[int, Order] = {}
    for part in parts:
        if PartStatus.CANCELLED in PART_TRANSITIONS[part.status]:
            _cancel_part(part, None, "distribution_cancelled")
            orders[part.order_id] = part.order
    for order in orders.values():
        send_email(order.buyer, emails.order_cancelled_with_distribution, ref=order.reference,
                   place=distribution.pickup_place.name, day=distribution.starts_at)
    db.session.flush()
    return list(orders)
