"""Planning: ready home deliveries of a slot become courier runs (the pure planner decides), offered at once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_

from marketplace.core.errors import NotFound
from marketplace.dispatch import planner
from marketplace.dispatch.geo import Coordinates
from marketplace.dispatch.models import (
    LIVE_RUN,
    AvailabilitySlot,
    DeliveryJob,
    JobStatus,
    Run,
    RunStatus,
    RunStop,
    StopKind,
    StopStatus,
)
from marketplace.dispatch.services.availability import _eligible_couriers
from marketplace.dispatch.services.coordinates import courier_home, locate_dropoff, locate_producer
from marketplace.dispatch.services.offers import _offer
from marketplace.dispatch.services.rules import get_rules
from marketplace.distributions.models import DeliverySlot, Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.orders.models import Order, OrderPart
from marketplace.orders.states import Fulfilment, PartStatus
from marketplace.tasking import enqueue_after_commit
from marketplace.timeutil import utcnow

DEFAULT_ITEM_WEIGHT_G = 500  # a piece, bunch or box whose weight nobody entered


def _epoch(dt: datetime) -> int:
    return int(dt.replace(tzinfo=UTC).timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)


def plan_key_for(order: Order) -> str:
    return f"slot:{order.delivery_slot_id}" if order.delivery_slot_id else f"distribution:{order.distribution_id}"


def _window(order: Order) -> tuple[datetime, datetime]:
    if order.delivery_slot is not None:
        return order.delivery_slot.starts_at, order.delivery_slot.ends_at
    return order.distribution.starts_at, order.distribution.ends_at


def _order_is_ready(order: Order) -> bool:
    return order.fulfilment == Fulfilment.DELIVERY and order.status == "ready"


def order_weight_g(order: Order) -> int:
    """Weight to carry: weighed where known, else estimates; 1 kg per kg or litre, 500 g a piece."""
    total = 0
    for part in order.parts:
        if part.status == PartStatus.CANCELLED:
            continue
        for line in part.lines:
            if line.status.value != "active":
                continue
            if line.is_weight_priced:
                total += line.weighed_grams or line.estimated_weight_total_g or DEFAULT_ITEM_WEIGHT_G
            elif line.unit in ("kg", "litre"):
                total += 1000 * line.quantity
            else:
                total += DEFAULT_ITEM_WEIGHT_G * line.quantity
    return max(total, 1)


def _live_parts(order: Order) -> list[OrderPart]:
    return [p for p in order.parts if p.status != PartStatus.CANCELLED]


def plan_for_order(order_id: int) -> list[int]:
    """An order became ready: plan the open deliveries of its slot. Safe to run twice."""
    order = db.session.get(Order, order_id)
    if order is None or order.fulfilment != Fulfilment.DELIVERY:
        return []
    return plan_slot(plan_key_for(order))


def _lock_plan_scope(plan_key: str) -> tuple[str, int]:
    kind, _sep, raw = plan_key.partition(":")
    if kind not in ("slot", "distribution") or not raw.isdigit():
        raise ValueError(f"bad plan key {plan_key!r}")
    model = DeliverySlot if kind == "slot" else Distribution
    # One planner at a time per slot: a redelivered or concurrent task waits, then finds nothing left to plan.
    row = db.session.query(model).filter_by(id=int(raw)).with_for_update().one_or_none()
    if row is None:
        raise NotFound(_("No such delivery slot."))
    return kind, int(raw)


def _orders_in_scope(kind: str, ident: int) -> list[Order]:
    query = db.session.query(Order).filter(Order.fulfilment == Fulfilment.DELIVERY)
    if kind == "slot":
        query = query.filter(Order.delivery_slot_id == ident)
    else:
        query = query.filter(Order.distribution_id == ident, Order.delivery_slot_id.is_(None))
    return query.order_by(Order.id).all()


def _job_for(order: Order) -> DeliveryJob:
    job = db.session.query(DeliveryJob).filter_by(order_id=order.id).one_or_none()
    if job is None:
        job = DeliveryJob(order=order, status=JobStatus.OPEN)
        db.session.add(job)
    return job


def _busy_until(user_id: int, slot: AvailabilitySlot) -> datetime | None:
    return (db.session.query(func.max(Run.ends_at))
            .filter(or_(Run.courier_id == user_id, and_(Run.offered_to_id == user_id,
                                                         Run.status == RunStatus.OFFERED)),
                    Run.status.in_(LIVE_RUN), Run.starts_at < slot.ends_at, Run.ends_at > slot.starts_at)
            .scalar())


def plan_slot(plan_key: str, now: datetime | None = None) -> list[int]:
    """Plan every ready, unplanned delivery of a slot across all available couriers; offer the runs.

    Returns the ids of the runs created (none when everything is already planned).
    """
    now = now or utcnow()
    kind, ident = _lock_plan_scope(plan_key)
    jobs = _jobs_to_plan(kind, ident)
    deliveries = _deliveries(jobs, now)
    if not deliveries:
        db.session.flush()
        return []
    couriers, slot_by_id = _available_couriers(deliveries, now)
    hub, hub_for = _hub(jobs[0].order.distribution.pickup_place)
    plan = planner.plan_runs(deliveries, couriers, hub=hub, hub_for=hub_for)
    created = _record_plan(plan_key, plan, jobs, slot_by_id, now)
    db.session.flush()
    return created


def _jobs_to_plan(kind: str, ident: int) -> list[DeliveryJob]:
    """The delivery jobs of the scope's ready orders that are open or were left unassigned."""
    jobs: list[DeliveryJob] = []
    for order in _orders_in_scope(kind, ident):
        if not _order_is_ready(order):
            continue
        job = _job_for(order)
        if job.status in (JobStatus.OPEN, JobStatus.UNASSIGNED):
            jobs.append(job)
    return jobs


def _deliveries(jobs: list[DeliveryJob], now: datetime) -> list[planner.Delivery]:
    """The planner's view of each job; a job whose drop-off or producer cannot be located is left unassigned."""
    deliveries: list[planner.Delivery] = []
    for job in jobs:
        delivery = _delivery(job, now)
        if delivery is not None:
            deliveries.append(delivery)
    return deliveries


def _delivery(job: DeliveryJob, now: datetime) -> planner.Delivery | None:
    order = job.order
    drop = locate_dropoff(job)
    if drop is None:
        _unassign(job, _("no coordinates for this address: enter them on the dispatch board"))
        return None
    pickups = []
    for part in _live_parts(order):
        point = locate_producer(part.producer)
        if point is None:
            _unassign(job, _("producer %(name)s has no coordinates", name=part.producer.name))
            return None
        pickups.append(planner.Pickup(point, part.producer_id))
    start, end = _window(order)
    return planner.Delivery(
        id=order.id, pickups=pickups, dropoff=drop, weight_g=order_weight_g(order),
        parcels=len(pickups), window=(max(_epoch(start), _epoch(now)), max(_epoch(end), _epoch(now))),
        skills=frozenset({order.delivery_zone_id}) if order.delivery_zone_id else frozenset())


def _available_couriers(deliveries: list[planner.Delivery], now: datetime
                        ) -> tuple[list[planner.Courier], dict[int, AvailabilitySlot]]:
    """One planner courier per availability slot overlapping the deliveries' windows, from when it is free."""
    earliest = min(d.window[0] for d in deliveries)
    latest = max(d.window[1] for d in deliveries)
    couriers: list[planner.Courier] = []
    slot_by_id: dict[int, AvailabilitySlot] = {}
    for profile in _eligible_couriers():
        home = courier_home(profile)
        if home is None:
            continue
        slots = (db.session.query(AvailabilitySlot)
                 .filter(AvailabilitySlot.courier_id == profile.user_id,
                         AvailabilitySlot.starts_at < _from_epoch(latest),
                         AvailabilitySlot.ends_at > _from_epoch(earliest), AvailabilitySlot.ends_at > now)
                 .all())
        for slot in slots:
            start = max(slot.starts_at, now, _busy_until(profile.user_id, slot) or slot.starts_at)
            if start >= slot.ends_at:
                continue
            slot_by_id[slot.id] = slot
            couriers.append(planner.Courier(
                id=slot.id, start=home, end=home, shift=(_epoch(start), _epoch(slot.ends_at)),
                capacity_g=profile.capacity_g, capacity_parcels=profile.capacity_parcels,
                max_stops=profile.max_stops, speed_kmh=profile.speed_kmh,
                skills=frozenset(z.id for z in profile.zones)))
    return couriers, slot_by_id


def _hub(place: PickupPlace) -> tuple[Coordinates | None, Literal["multi", "all"]]:
    """Where goods are consolidated before the drop-offs, by the coop's rules, and for which deliveries."""
    rules = get_rules()
    if rules.goods_at_pickup_place and place.latitude is not None and place.longitude is not None:
        # Every basket is collected at the distribution: one pickup there, then the drop-offs.
        return Coordinates(place.latitude, place.longitude), "all"
    if rules.hub_latitude is not None and rules.hub_longitude is not None:
        return Coordinates(rules.hub_latitude, rules.hub_longitude), "multi"
    return None, "multi"


def _record_plan(plan_key: str, plan: planner.Plan, jobs: list[DeliveryJob],
                 slot_by_id: dict[int, AvailabilitySlot], now: datetime) -> list[int]:
    """Store the planned runs and offer each to its courier; mark what the planner could not place."""
    job_by_order = {j.order_id: j for j in jobs}
    distribution_id = jobs[0].order.distribution_id
    created: list[int] = []
    for planned in plan.runs:
        slot = slot_by_id[planned.courier_id]
        run = _new_run(plan_key, distribution_id, slot, planned)
        for order_id in planned.delivery_ids:
            job = job_by_order[order_id]
            job.status, job.reason = JobStatus.PLANNED, ""
            run.weight_g += order_weight_g(job.order)
            run.parcels += len(_live_parts(job.order))
        db.session.add(run)
        db.session.flush()
        _offer(run, slot.courier_id, now)
        created.append(run.id)
    for item in plan.unassigned:
        _unassign(job_by_order[item.delivery_id], item.reason)  # translated when shown
    return created


def _new_run(plan_key: str, distribution_id: int, slot: AvailabilitySlot, planned: planner.PlannedRun) -> Run:
    run = Run(plan_key=plan_key, distribution_id=distribution_id, availability_id=slot.id,
              starts_at=_from_epoch(planned.start_s), ends_at=_from_epoch(planned.end_s),
              distance_m=planned.distance_m, status=RunStatus.OFFERED, weight_g=0, parcels=0)
    for position, stop in enumerate(planned.stops):
        run.stops.append(RunStop(
            position=position, kind=StopKind(stop.kind), order_id=stop.delivery_id,
            producer_id=stop.producer if stop.kind == "pickup" and stop.producer != "hub" else None,
            latitude=stop.location.lat, longitude=stop.location.lon, eta=_from_epoch(stop.arrival_s),
            status=StopStatus.PENDING))
    return run


def _unassign(job: DeliveryJob, reason: str) -> None:
    job.status, job.reason = JobStatus.UNASSIGNED, reason


def plannable_keys(now: datetime | None = None) -> list[str]:
    """Slots whose distribution has passed its cut-off and that hold ready deliveries not yet planned."""
    now = now or utcnow()
    orders = (db.session.query(Order).join(Distribution, Order.distribution_id == Distribution.id)
              .outerjoin(DeliveryJob, DeliveryJob.order_id == Order.id)
              .filter(Order.fulfilment == Fulfilment.DELIVERY, Distribution.cutoff_at <= now,
                      Distribution.ends_at > now - timedelta(hours=12), Distribution.cancelled_at.is_(None),
                      or_(DeliveryJob.id.is_(None), DeliveryJob.status == JobStatus.OPEN))
              .all())
    return sorted({plan_key_for(o) for o in orders if _order_is_ready(o)})


def request_planning(order: Order) -> None:
    """Called when an order becomes ready: plan its slot after the commit (outbox, so never lost)."""
    if order.fulfilment != Fulfilment.DELIVERY:
        return
    job = _job_for(order)
    if job.status in (JobStatus.UNASSIGNED, JobStatus.FAILED):
        job.status, job.reason = JobStatus.OPEN, ""
    db.session.flush()
    ready_events = sum(1 for e in order.events if e.kind == "ready")
    enqueue_after_commit("dispatch.plan_for_order", [order.id], dedup_key=f"plan-order:{order.id}:{ready_events}")
