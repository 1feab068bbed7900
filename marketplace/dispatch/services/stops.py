"""The courier's side: their day, their runs, and each stop (pickups, drop-offs proved by the buyer's code,
failures)."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, time

from flask_babel import gettext as _
from sqlalchemy import and_, or_, update

from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.dispatch.models import (
    CourierPayable,
    DeliveryJob,
    JobStatus,
    Run,
    RunStatus,
    RunStop,
    StopKind,
    StopStatus,
)
from marketplace.dispatch.services.availability import _require_courier
from marketplace.dispatch.services.offers import _get_run, _set_run_status, can_take
from marketplace.dispatch.services.rules import get_rules, record_payable
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.timeutil import utcnow


def _my_stop(user: User, stop_id: int) -> RunStop:
    _require_courier(user)
    stop = db.session.get(RunStop, stop_id)
    if stop is None:
        raise NotFound(_("No such stop."))
    run = stop.run
    if run.courier_id != user.id:
        raise NotAllowed(_("This run is held by another courier."))
    if run.status not in (RunStatus.ACCEPTED, RunStatus.IN_PROGRESS):
        raise Conflict(_("This run is not under way."))
    if stop.status != StopStatus.PENDING:
        raise Conflict(_("This stop is already done."))
    return stop


def _order_stops(stop: RunStop) -> list[RunStop]:
    return [s for s in stop.run.stops if s.order_id == stop.order_id]


def mark_picked_up(user: User, stop_id: int, now: datetime | None = None) -> RunStop:
    """Picked up at a producer; once every part of the order is on board it is out for delivery."""
    from marketplace.orders import services as order_services

    stop = _my_stop(user, stop_id)
    if stop.kind != StopKind.PICKUP:
        raise ServiceError(_("This is a drop-off: confirm it with the buyer's code."))
    stop.status, stop.done_at = StopStatus.DONE, now or utcnow()
    if stop.run.status == RunStatus.ACCEPTED:
        _set_run_status(stop.run, RunStatus.IN_PROGRESS)
    pickups = [s for s in _order_stops(stop) if s.kind == StopKind.PICKUP]
    if all(s.status == StopStatus.DONE for s in pickups):
        order_services.hand_to_courier(stop.order_id, user)
    db.session.flush()
    return stop


def _record_code_attempt(stop_id: int) -> None:
    # On its own connection: a wrong code fails the request (nothing else changes) but the attempt counts.
    with db.engine.begin() as conn:
        conn.execute(update(RunStop.__table__).where(RunStop.__table__.c.id == stop_id)
                     .values(code_attempts=RunStop.__table__.c.code_attempts + 1))


def confirm_delivery(user: User, stop_id: int, code: str, now: datetime | None = None) -> RunStop:
    """Delivered: the buyer's 4-digit code proves it; wrong codes are counted and limited."""
    from marketplace.orders import services as order_services

    stop = _my_stop(user, stop_id)
    if stop.kind != StopKind.DROPOFF:
        raise ServiceError(_("This is a pickup."))
    if any(s.kind == StopKind.PICKUP and s.status != StopStatus.DONE for s in _order_stops(stop)):
        raise Conflict(_("Pick up every part of this order first."))
    rules = get_rules()
    if stop.code_attempts >= rules.max_code_attempts:
        raise NotAllowed(_("Too many wrong codes: call the dispatcher, or mark the delivery as failed."))
    code = (code or "").strip()
    if len(code) != 4 or not code.isdigit():
        raise ServiceError(_("The delivery code has 4 digits."), "code")
    if not hmac.compare_digest(code, stop.order.delivery_code):
        _record_code_attempt(stop.id)
        left = rules.max_code_attempts - stop.code_attempts - 1
        if left <= 0:
            raise NotAllowed(_("Wrong code. Too many wrong codes: call the dispatcher, or mark the delivery "
                               "as failed."))
        raise ServiceError(_("Wrong code: %(n)d attempt(s) left.", n=left), "code")
    stop.status, stop.done_at = StopStatus.DONE, now or utcnow()
    order_services.mark_delivered(stop.order_id, user)
    job = db.session.query(DeliveryJob).filter_by(order_id=stop.order_id).one_or_none()
    if job is not None:
        job.status, job.reason = JobStatus.DELIVERED, ""
    _finish_run_if_done(stop.run, now)
    db.session.flush()
    return stop


def report_failure(user: User, stop_id: int, reason: str, now: datetime | None = None) -> RunStop:
    """The courier could not pick up or deliver: the order goes back to the dispatcher with the reason."""
    from marketplace.orders import services as order_services

    reason = (reason or "").strip()[:500]
    if not reason:
        raise ServiceError(_("Say why."), "reason")
    stop = _my_stop(user, stop_id)
    now = now or utcnow()
    stop.status, stop.done_at, stop.failure_reason = StopStatus.FAILED, now, reason
    for other in _order_stops(stop):
        if other.status == StopStatus.PENDING:
            other.status = StopStatus.CANCELLED
    order_services.delivery_failed(stop.order_id, reason, user)
    job = db.session.query(DeliveryJob).filter_by(order_id=stop.order_id).one_or_none()
    if job is not None:
        job.status, job.reason = JobStatus.FAILED, reason
    if stop.run.status == RunStatus.ACCEPTED:
        _set_run_status(stop.run, RunStatus.IN_PROGRESS)
    _finish_run_if_done(stop.run, now)
    db.session.flush()
    return stop


def _finish_run_if_done(run: Run, now: datetime | None) -> None:
    if any(s.status == StopStatus.PENDING for s in run.stops):
        return
    _set_run_status(run, RunStatus.DONE)
    run.completed_at = now or utcnow()
    record_payable(run)


@dataclass
class CourierDay:
    offers: list[Run]
    open_runs: list[Run]
    runs: list[Run]
    payables: list[CourierPayable]


def courier_day(user: User, now: datetime | None = None) -> CourierDay:
    """Offers waiting for an answer, open runs that fit, and the courier's runs of today and later."""
    _require_courier(user)
    now = now or utcnow()
    offers = (db.session.query(Run).filter(Run.status == RunStatus.OFFERED, Run.offered_to_id == user.id)
              .order_by(Run.starts_at).all())
    profile = user.courier_profile
    open_runs = []
    if profile is not None:
        open_runs = [r for r in db.session.query(Run).filter(Run.status == RunStatus.OPEN, Run.ends_at > now)
                     .order_by(Run.starts_at) if can_take(profile, r)]
    start_of_day = datetime.combine(now.date(), time.min)
    runs = (db.session.query(Run).filter(Run.courier_id == user.id,
                                          or_(Run.status.in_((RunStatus.ACCEPTED, RunStatus.IN_PROGRESS)),
                                              and_(Run.status == RunStatus.DONE, Run.ends_at >= start_of_day)))
            .order_by(Run.starts_at).all())
    payables = (db.session.query(CourierPayable).filter_by(courier_id=user.id)
                .order_by(CourierPayable.id.desc()).limit(10).all())
    return CourierDay(offers, open_runs, runs, payables)


def courier_run(user: User, run_id: int) -> Run:
    """A run, for the courier who holds it or is offered it."""
    _require_courier(user)
    run = _get_run(run_id)
    if user.id not in (run.courier_id, run.offered_to_id) and not (
            run.status == RunStatus.OPEN and user.courier_profile and can_take(user.courier_profile, run)):
        raise NotAllowed(_("This run is held by another courier."))
    return run


def stops_in_turn(run: Run) -> list[RunStop]:
    """The stops as the courier works them: those still to do first, in route order, then the ones done."""
    live = run.live_stops
    return [s for s in live if s.status == StopStatus.PENDING] + [s for s in live if s.status != StopStatus.PENDING]


def next_stop(day: CourierDay) -> tuple[Run, RunStop] | None:
    """The next stop of the courier's earliest run under way (accepted or in progress), if any."""
    for run in day.runs:
        if run.status in (RunStatus.ACCEPTED, RunStatus.IN_PROGRESS):
            pending = [s for s in run.live_stops if s.status == StopStatus.PENDING]
            if pending:
                return run, pending[0]
    return None
