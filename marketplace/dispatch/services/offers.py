"""Fair offers: a run is offered to one suitable courier at a time, accepted once, declined or expired to the
next; the run's status changes go through _set_run_status."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, update

from marketplace.core.errors import Conflict, NotAllowed, NotFound
from marketplace.core.mail import send_email
from marketplace.dispatch import emails
from marketplace.dispatch.models import (
    LIVE_RUN,
    RUN_TRANSITIONS,
    AvailabilitySlot,
    CourierProfile,
    OfferStatus,
    Run,
    RunOffer,
    RunStatus,
)
from marketplace.dispatch.services.availability import _eligible_couriers, _require_courier
from marketplace.dispatch.services.rules import get_rules, offered_pay_cents
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.timeutil import utcnow


def _set_run_status(run: Run, target: RunStatus) -> None:
    if target not in RUN_TRANSITIONS[run.status]:
        raise Conflict(_("This run cannot go from %(a)s to %(b)s.", a=_(run.status.value), b=_(target.value)))
    run.status = target


def _offer(run: Run, courier_id: int, now: datetime) -> RunOffer:
    rules = get_rules()
    offer = RunOffer(run=run, courier_id=courier_id, offered_at=now,
                     expires_at=now + timedelta(seconds=rules.offer_timeout_s), pay_cents=offered_pay_cents(run))
    db.session.add(offer)
    _set_run_status(run, RunStatus.OFFERED)
    run.courier_id = None
    run.offered_to_id, run.offer_expires_at = courier_id, offer.expires_at
    db.session.flush()
    courier = db.session.get(User, courier_id)
    send_email(courier, emails.run_offered, run_id=run.id, stops=len(run.live_stops), km=run.distance_m / 1000,
               starts_at=run.starts_at, ends_at=run.ends_at, pay_cents=offer.pay_cents,
               per_run_cents=rules.pay_per_run_cents, per_km_cents=rules.pay_per_km_cents,
               per_stop_cents=rules.pay_per_stop_cents, expires_at=offer.expires_at)
    return offer  # its expiry is the beat sweep's (dispatch.expire_due_offers), not a long countdown


def _run_zone_ids(run: Run) -> set[int]:
    return {s.order.delivery_zone_id for s in run.live_stops if s.order.delivery_zone_id}


def can_take(profile: CourierProfile, run: Run) -> bool:
    """Vehicle, stops and zones fit the run, and the courier is available for it and not busy then."""
    if profile.capacity_g < run.weight_g or profile.capacity_parcels < run.parcels:
        return False
    if profile.max_stops < len(run.live_stops):
        return False
    if not _run_zone_ids(run) <= {z.id for z in profile.zones}:
        return False
    available = (db.session.query(AvailabilitySlot.id)
                 .filter(AvailabilitySlot.courier_id == profile.user_id, AvailabilitySlot.starts_at <= run.starts_at,
                         AvailabilitySlot.ends_at >= run.ends_at).first())
    if available is None:
        return False
    clash = (db.session.query(Run.id)
             .filter(Run.id != run.id, Run.status.in_(LIVE_RUN),
                     or_(Run.courier_id == profile.user_id,
                         and_(Run.offered_to_id == profile.user_id, Run.status == RunStatus.OFFERED)),
                     Run.starts_at < run.ends_at, Run.ends_at > run.starts_at).first())
    return clash is None


def _runs_accepted_recently(user_id: int, now: datetime) -> int:
    return (db.session.query(func.count(RunOffer.id))
            .filter(RunOffer.courier_id == user_id, RunOffer.status == OfferStatus.ACCEPTED,
                    RunOffer.answered_at > now - timedelta(days=30)).scalar())


def next_candidates(run: Run, now: datetime | None = None) -> list[CourierProfile]:
    """Suitable couriers not asked yet for this run, those with the fewest recent runs first (fairness)."""
    now = now or utcnow()
    asked = {o.courier_id for o in run.offers}
    candidates = [p for p in _eligible_couriers() if p.user_id not in asked and can_take(p, run)]
    return sorted(candidates, key=lambda p: (_runs_accepted_recently(p.user_id, now), p.user_id))


def _offer_next(run: Run, now: datetime) -> RunOffer | None:
    candidates = next_candidates(run, now)
    if candidates:
        return _offer(run, candidates[0].user_id, now)
    # Everyone suitable was asked: any suitable courier may take it; the dispatcher sees it on the board.
    _set_run_status(run, RunStatus.OPEN)
    run.offered_to_id, run.offer_expires_at, run.courier_id = None, None, None
    db.session.flush()
    return None


def _get_run(run_id: int, lock: bool = False) -> Run:
    query = db.session.query(Run).filter_by(id=run_id)
    if lock:
        query = query.with_for_update()
    run = query.one_or_none()
    if run is None:
        raise NotFound(_("No such run."))
    return run


def accept_run(user: User, run_id: int, now: datetime | None = None) -> Run:
    """The courier takes the run. One conditional UPDATE, so two couriers can never both hold it."""
    _require_courier(user)
    now = now or utcnow()
    run = _get_run(run_id)
    if run.status == RunStatus.OPEN:
        profile = user.courier_profile
        if profile is None or not can_take(profile, run):
            raise NotAllowed(_("This run does not fit your vehicle, zones or availability."))
    elif run.status == RunStatus.OFFERED and run.offered_to_id != user.id:
        if any(o.courier_id == user.id for o in run.offers):
            raise Conflict(_("Too late: your offer expired and the run went to another courier."))
        raise NotAllowed(_("This run is offered to another courier."))
    claimed = db.session.execute(
        update(Run)
        .where(Run.id == run_id,
               or_(Run.status == RunStatus.OPEN,
                   and_(Run.status == RunStatus.OFFERED, Run.offered_to_id == user.id, Run.offer_expires_at > now)))
        .values(status=RunStatus.ACCEPTED, courier_id=user.id, offered_to_id=None, offer_expires_at=None,
                accepted_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise Conflict(_("Too late: this run has been taken or the offer has expired."))
    db.session.expire(run)
    mine = None
    for offer in run.offers:
        if offer.status == OfferStatus.PENDING:
            offer.status, offer.answered_at = (OfferStatus.ACCEPTED if offer.courier_id == user.id
                                               else OfferStatus.WITHDRAWN), now
            if offer.courier_id == user.id:
                mine = offer
    if mine is None:
        db.session.add(RunOffer(run=run, courier_id=user.id, offered_at=now, expires_at=now, answered_at=now,
                                status=OfferStatus.ACCEPTED, pay_cents=offered_pay_cents(run)))
    db.session.flush()
    return run


def decline_run(user: User, run_id: int, now: datetime | None = None) -> Run:
    """The courier says no: the run goes to the next suitable courier."""
    _require_courier(user)
    now = now or utcnow()
    run = _get_run(run_id, lock=True)
    if run.status != RunStatus.OFFERED or run.offered_to_id != user.id:
        raise NotAllowed(_("This run is not offered to you."))
    for offer in run.offers:
        if offer.status == OfferStatus.PENDING and offer.courier_id == user.id:
            offer.status, offer.answered_at = OfferStatus.DECLINED, now
    _offer_next(run, now)
    db.session.flush()
    return run


def expire_offer(offer_id: int, now: datetime | None = None) -> float | None:
    """An offer's time is up: offer the run to the next courier. Returns seconds left if not due yet."""
    now = now or utcnow()
    offer = db.session.get(RunOffer, offer_id)
    if offer is None or offer.status != OfferStatus.PENDING:
        return None
    if offer.expires_at > now:
        return (offer.expires_at - now).total_seconds()
    run = _get_run(offer.run_id, lock=True)
    db.session.refresh(offer)
    if offer.status != OfferStatus.PENDING:
        return None
    offer.status, offer.answered_at = OfferStatus.EXPIRED, now
    if run.status == RunStatus.OFFERED and run.offered_to_id == offer.courier_id:
        _offer_next(run, now)
    db.session.flush()
    return None


def expire_due_offers(now: datetime | None = None) -> int:
    """Beat (every 30 s): expire every offer whose time is up; offers have no countdown task."""
    now = now or utcnow()
    due = [o.id for o in db.session.query(RunOffer.id)
           .filter(RunOffer.status == OfferStatus.PENDING, RunOffer.expires_at <= now).order_by(RunOffer.id)]
    for offer_id in due:
        expire_offer(offer_id, now)
    return len(due)
