"""The dispatcher's board and overrides: reassign, split, replan, enter coordinates, reset code attempts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _

from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.dispatch import emails
from marketplace.dispatch.geo import Coordinates, HaversineMatrix, haversine_m
from marketplace.dispatch.models import (
    UNSTARTED_RUN,
    CourierProfile,
    DeliveryJob,
    JobStatus,
    OfferStatus,
    Run,
    RunStatus,
    RunStop,
    StopStatus,
)
from marketplace.dispatch.services.availability import _eligible_couriers
from marketplace.dispatch.services.coordinates import check_coordinates
from marketplace.dispatch.services.offers import _get_run, _offer, _offer_next
from marketplace.dispatch.services.planning import (
    _live_parts,
    _lock_plan_scope,
    _orders_in_scope,
    order_weight_g,
    plan_slot,
)
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order
from marketplace.timeutil import utcnow


@dataclass
class Board:
    day: date
    runs: list[Run]
    jobs_needing_action: list[DeliveryJob]
    couriers: list[CourierProfile]


def board(admin: User, day: date) -> Board:
    """All runs of a day and every delivery the dispatcher must act on."""
    require_admin(admin)
    start = datetime.combine(day, time.min)
    runs = (db.session.query(Run).filter(Run.starts_at >= start, Run.starts_at < start + timedelta(days=1))
            .order_by(Run.starts_at, Run.id).all())
    jobs = (db.session.query(DeliveryJob)
            .filter(DeliveryJob.status.in_((JobStatus.UNASSIGNED, JobStatus.FAILED, JobStatus.OPEN)))
            .order_by(DeliveryJob.id).all())
    return Board(day, runs, jobs, _eligible_couriers())


def _dispatchable_run(run_id: int) -> Run:
    run = _get_run(run_id, lock=True)
    if run.status not in UNSTARTED_RUN:
        raise Conflict(_("This run has started or is over: it can no longer be changed."))
    return run


def _withdraw(run: Run, now: datetime) -> None:
    for offer in run.offers:
        if offer.status == OfferStatus.PENDING:
            offer.status, offer.answered_at = OfferStatus.WITHDRAWN, now
    if run.courier_id is not None:
        send_email(run.courier, emails.run_withdrawn, run_id=run.id)


def reassign_run(admin: User, run_id: int, courier_id: int, now: datetime | None = None) -> Run:
    """The dispatcher offers a run to a courier of their choice (the current holder is told)."""
    require_admin(admin)
    now = now or utcnow()
    run = _dispatchable_run(run_id)
    profile = db.session.query(CourierProfile).filter_by(user_id=courier_id).one_or_none()
    if profile is None or profile not in _eligible_couriers():
        raise NotFound(_("No such courier."))
    if profile.capacity_g < run.weight_g or profile.capacity_parcels < run.parcels:
        raise Conflict(_("This run is too heavy or too bulky for that courier's vehicle."))
    if run.courier_id == courier_id:
        return run
    _withdraw(run, now)
    _offer(run, courier_id, now)
    db.session.flush()
    return run


def _run_distance(run: Run) -> int:
    points = [Coordinates(s.latitude, s.longitude) for s in run.live_stops]
    straight = sum(haversine_m(a, b) for a, b in zip(points, points[1:], strict=False))
    return int(straight * HaversineMatrix(15).detour_factor)


def split_run(admin: User, run_id: int, order_ids: list[int], now: datetime | None = None) -> Run:
    """Move some orders (their pickups and drop-off) to a new run, offered to the next suitable courier."""
    require_admin(admin)
    now = now or utcnow()
    run = _dispatchable_run(run_id)
    in_run = set(run.order_ids)
    moving = set(order_ids)
    if not moving or not moving <= in_run:
        raise ServiceError(_("Choose orders of this run to move."), "order_ids")
    if moving == in_run:
        raise ServiceError(_("Leave at least one order in the run (or reassign the whole run)."), "order_ids")
    new = Run(plan_key=run.plan_key, distribution_id=run.distribution_id, status=RunStatus.OPEN,
              starts_at=run.starts_at, ends_at=run.ends_at)
    for stop in list(run.stops):
        if stop.order_id in moving:
            run.stops.remove(stop)
            new.stops.append(RunStop(position=len(new.stops), kind=stop.kind, order_id=stop.order_id,
                                     producer_id=stop.producer_id, latitude=stop.latitude,
                                     longitude=stop.longitude, eta=stop.eta,
                                     status=StopStatus.PENDING))
    for position, stop in enumerate(run.stops):
        stop.position = position
    for target in (run, new):
        orders = [db.session.get(Order, oid) for oid in sorted({s.order_id for s in target.live_stops})]
        target.weight_g = sum(order_weight_g(o) for o in orders)
        target.parcels = sum(len(_live_parts(o)) for o in orders)
        target.distance_m = _run_distance(target)
        target.starts_at, target.ends_at = target.stops[0].eta, target.stops[-1].eta
    db.session.add(new)
    db.session.flush()
    _offer_next(new, now)
    db.session.flush()
    return new


def replan(admin: User, plan_key: str) -> list[int]:
    """The dispatcher puts unassigned and failed deliveries of a slot back into planning, now."""
    require_admin(admin)
    kind, ident = _lock_plan_scope(plan_key)
    for order in _orders_in_scope(kind, ident):
        job = db.session.query(DeliveryJob).filter_by(order_id=order.id).one_or_none()
        if job is not None and job.status in (JobStatus.UNASSIGNED, JobStatus.FAILED):
            job.status, job.reason = JobStatus.OPEN, ""
    return plan_slot(plan_key)


def set_job_coordinates(admin: User, job_id: int, latitude: float | None, longitude: float | None
                        ) -> DeliveryJob:
    """The dispatcher enters the drop-off coordinates of an address the centroids do not know."""
    require_admin(admin)
    job = db.session.get(DeliveryJob, job_id)
    if job is None:
        raise NotFound(_("No such delivery."))
    point = check_coordinates(latitude, longitude)
    if point is None:
        raise ServiceError(_("Enter both latitude and longitude."), "latitude")
    job.latitude, job.longitude, job.coordinates_source = point.lat, point.lon, "entered"
    db.session.flush()
    return job


def reset_code_attempts(admin: User, stop_id: int) -> RunStop:
    """After a phone call with the buyer, the dispatcher lets the courier try the code again."""
    require_admin(admin)
    stop = db.session.get(RunStop, stop_id)
    if stop is None:
        raise NotFound(_("No such stop."))
    stop.code_attempts = 0
    db.session.flush()
    return stop
