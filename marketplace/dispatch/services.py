"""Dispatch rules: courier availability, planning ready deliveries into runs, fair offers, the courier's
stops, courier pay, and the dispatcher's overrides. Every rule of the dispatch domain lives here."""
from __future__ import annotations

import hmac
import importlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, update

from marketplace.catalog.models import ProducerProfile
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.services import queue_email
from marketplace.dispatch import planner, signals
from marketplace.dispatch.geo import Coordinates, HaversineMatrix, haversine_m, load_postcode_centroids
from marketplace.dispatch.models import (LIVE_RUN, RUN_TRANSITIONS, UNSTARTED_RUN, AvailabilitySlot,
                                         CourierPayable, CourierProfile, DeliveryJob, DispatchRules, RULE_DEFAULTS, JobStatus,
                                         OfferStatus, PostcodeCentroid, Run, RunOffer, RunStatus, RunStop,
                                         StopKind, StopStatus, Vehicle)
from marketplace.distributions.models import DeliverySlot, DeliveryZone, Distribution
from marketplace.extensions import db
from marketplace.members.models import College, Membership, MembershipStatus, User
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import format_money, round_half_up
from marketplace.orders.models import Order, OrderPart
from marketplace.orders.states import Fulfilment, PartStatus
from marketplace.tasking import enqueue_after_commit
from marketplace.timeutil import utcnow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_POSTCODES_CSV = PROJECT_ROOT / "data" / "postcodes-nantes.csv"
MAX_AVAILABILITY_HOURS = 14
MAX_STOPS_LIMIT = 200
MAX_CAPACITY_KG = 2000
DEFAULT_ITEM_WEIGHT_G = 500  # a piece, bunch or box whose weight nobody entered


# ---------------------------------------------------------------- coop rules and courier pay

def get_rules() -> DispatchRules:
    """The coop's dispatch rules, created with defaults on first use."""
    rules = db.session.get(DispatchRules, 1)
    if rules is None:
        # Not added to the session: reading the rules never writes (see _record_code_attempt).
        rules = DispatchRules(id=1, **RULE_DEFAULTS)
    return rules


def update_rules(admin: User, *, pay_per_run_cents: int, pay_per_km_cents: int, pay_per_stop_cents: int,
                 offer_timeout_minutes: int, max_code_attempts: int,
                 goods_at_pickup_place: bool | None = None) -> DispatchRules:
    """The coop changes its courier pay rule or offer timeout (admins only)."""
    require_admin(admin)
    for name, value in (("pay_per_run_cents", pay_per_run_cents), ("pay_per_km_cents", pay_per_km_cents),
                        ("pay_per_stop_cents", pay_per_stop_cents)):
        if not isinstance(value, int) or value < 0 or value > 100_000:
            raise ServiceError(_("Pay amounts must be between 0 and 1,000.00."), name)
    if not isinstance(offer_timeout_minutes, int) or not 1 <= offer_timeout_minutes <= 24 * 60:
        raise ServiceError(_("The offer timeout must be between 1 minute and 24 hours."), "offer_timeout_minutes")
    if not isinstance(max_code_attempts, int) or not 1 <= max_code_attempts <= 20:
        raise ServiceError(_("Allow between 1 and 20 attempts at the delivery code."), "max_code_attempts")
    rules = get_rules()
    db.session.add(rules)
    rules.pay_per_run_cents, rules.pay_per_km_cents = pay_per_run_cents, pay_per_km_cents
    rules.pay_per_stop_cents, rules.offer_timeout_s = pay_per_stop_cents, offer_timeout_minutes * 60
    rules.max_code_attempts = max_code_attempts
    if goods_at_pickup_place is not None:
        rules.goods_at_pickup_place = bool(goods_at_pickup_place)
    db.session.flush()
    return rules


def run_pay_cents(distance_m: int, stops: int, rules: DispatchRules | None = None) -> int:
    """Courier pay for a run: per run + per km (rounded half up to the cent) + per stop."""
    rules = rules or get_rules()
    from fractions import Fraction

    return (rules.pay_per_run_cents + round_half_up(Fraction(rules.pay_per_km_cents * distance_m, 1000))
            + rules.pay_per_stop_cents * stops)


def pay_rule_text(rules: DispatchRules | None = None) -> str:
    rules = rules or get_rules()
    return _("%(run)s per run + %(km)s per km + %(stop)s per stop", run=format_money(rules.pay_per_run_cents),
             km=format_money(rules.pay_per_km_cents), stop=format_money(rules.pay_per_stop_cents))


def offered_pay_cents(run: Run) -> int:
    return run_pay_cents(run.distance_m, len(run.live_stops))


# ---------------------------------------------------------------- coordinates

def check_coordinates(latitude: float | None, longitude: float | None) -> Coordinates | None:
    """Both or neither; in range; a clear message otherwise."""
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise ServiceError(_("Enter both latitude and longitude, or neither."), "latitude")
    try:
        return Coordinates(float(latitude), float(longitude))
    except (TypeError, ValueError):
        field = "latitude" if not (isinstance(latitude, (int, float)) and -90 <= latitude <= 90) else "longitude"
        raise ServiceError(_("Coordinates out of range: latitude must be between -90 and 90, longitude "
                             "between -180 and 180."), field) from None


def import_postcode_centroids(admin: User, csv_text: str) -> int:
    """Replace the postcode-centroid table with a `postcode,lat,lon[,town]` CSV; all or nothing."""
    require_admin(admin)
    try:
        centroids = load_postcode_centroids(csv_text if "\n" in csv_text or "," in csv_text else csv_text + "\n")
    except ValueError as exc:
        raise ServiceError(_("The CSV was not imported: %(error)s", error=str(exc)), "csv") from None
    if not centroids:
        raise ServiceError(_("The CSV holds no postcode."), "csv")
    towns = _towns(csv_text)
    db.session.query(PostcodeCentroid).delete()
    for postcode, point in centroids.items():
        db.session.add(PostcodeCentroid(postcode=postcode[:16], latitude=point.lat, longitude=point.lon,
                                        town=towns.get(postcode, "")[:120]))
    db.session.flush()
    return len(centroids)


def _towns(csv_text: str) -> dict[str, str]:
    import csv
    import io

    return {row[0].strip(): row[3].strip() for row in csv.reader(io.StringIO(csv_text.lstrip("\ufeff")))
            if len(row) == 4}


@lru_cache(maxsize=1)
def _demo_centroids() -> dict[str, Coordinates]:
    return load_postcode_centroids(DEMO_POSTCODES_CSV) if DEMO_POSTCODES_CSV.exists() else {}


def centroid(postcode: str) -> Coordinates | None:
    """The coop's imported centroid for a postcode, else the demo area's shipped table."""
    postcode = (postcode or "").strip()
    if not postcode:
        return None
    row = db.session.get(PostcodeCentroid, postcode)
    if row is not None:
        return Coordinates(row.latitude, row.longitude)
    if db.session.query(PostcodeCentroid.postcode).first() is None:
        return _demo_centroids().get(postcode)
    return None


def _geocoder() -> Callable[[str, str, str], Coordinates | None] | None:
    """The optional geocoder (config DISPATCH_GEOCODER = "module:callable"): (address, postcode, town) to a point."""
    target = current_app.config.get("DISPATCH_GEOCODER")
    if not target:
        return None
    if callable(target):
        return target
    module, _sep, name = str(target).partition(":")
    return getattr(importlib.import_module(module), name)


def locate_dropoff(job: DeliveryJob) -> Coordinates | None:
    """Entered coordinates first, then the geocoder, then the postcode centroid (cached on the job)."""
    if job.latitude is not None and job.longitude is not None:
        return Coordinates(job.latitude, job.longitude)
    order = job.order
    point, source = None, ""
    geocode = _geocoder()
    if geocode is not None:
        try:
            point, source = geocode(order.delivery_address, order.delivery_postcode, order.delivery_town), "geocoder"
        except Exception as exc:  # an outside service: never block planning on it
            current_app.logger.warning("Geocoder failed for order %s: %s", order.id, exc)
            point = None
    if point is None:
        point, source = centroid(order.delivery_postcode), "postcode"
    if point is not None:
        job.latitude, job.longitude, job.coordinates_source = point.lat, point.lon, source
    return point


def locate_producer(producer: ProducerProfile) -> Coordinates | None:
    if producer.latitude is not None and producer.longitude is not None:
        return Coordinates(producer.latitude, producer.longitude)
    return centroid(producer.postcode)


def courier_home(profile: CourierProfile) -> Coordinates | None:
    if profile.home_latitude is not None and profile.home_longitude is not None:
        return Coordinates(profile.home_latitude, profile.home_longitude)
    return centroid(profile.user.postcode)


# ---------------------------------------------------------------- courier availability

def _require_courier(user: User) -> None:
    require_active_member(user, College.COURIER)


@dataclass(frozen=True)
class CourierProfileInput:
    vehicle: str
    capacity_kg: float
    capacity_parcels: int
    max_stops: int
    zone_ids: tuple[int, ...]
    home_latitude: float | None = None
    home_longitude: float | None = None


def save_courier_profile(user: User, data: CourierProfileInput) -> CourierProfile:
    """A courier says what they ride, what it carries, how many stops they do and where they ride."""
    _require_courier(user)
    try:
        vehicle = Vehicle(data.vehicle)
    except ValueError:
        raise ServiceError(_("Choose a bike, a cargo bike or a van."), "vehicle") from None
    if not isinstance(data.capacity_kg, (int, float)) or isinstance(data.capacity_kg, bool) \
            or not 0 < data.capacity_kg <= MAX_CAPACITY_KG:
        raise ServiceError(_("The capacity must be more than 0 kg (and at most %(max)d kg).",
                             max=MAX_CAPACITY_KG), "capacity_kg")
    if not isinstance(data.capacity_parcels, int) or not 0 < data.capacity_parcels <= 500:
        raise ServiceError(_("The number of parcels must be at least 1 (and at most 500)."), "capacity_parcels")
    if not isinstance(data.max_stops, int) or not 0 < data.max_stops <= MAX_STOPS_LIMIT:
        raise ServiceError(_("The maximum number of stops must be between 1 and %(max)d.", max=MAX_STOPS_LIMIT),
                           "max_stops")
    home = check_coordinates(data.home_latitude, data.home_longitude)
    zones = db.session.query(DeliveryZone).filter(DeliveryZone.id.in_(data.zone_ids),
                                                  DeliveryZone.active.is_(True)).all() if data.zone_ids else []
    if not zones or len(zones) != len(set(data.zone_ids)):
        raise ServiceError(_("Choose at least one of the coop's delivery zones."), "zone_ids")
    if home is None and centroid(user.postcode) is None:
        raise ServiceError(_("Enter where your runs start (coordinates), or a postcode the coop knows in your "
                             "account."), "home_latitude")
    profile = user.courier_profile or CourierProfile(user=user)
    profile.vehicle = vehicle
    profile.capacity_g = int(round(data.capacity_kg * 1000))
    profile.capacity_parcels = data.capacity_parcels
    profile.max_stops = data.max_stops
    profile.home_latitude = home.lat if home else None
    profile.home_longitude = home.lon if home else None
    profile.zones = zones
    db.session.add(profile)
    db.session.flush()
    return profile


def add_availability(user: User, starts_at: datetime, ends_at: datetime, now: datetime | None = None
                     ) -> AvailabilitySlot:
    """A courier declares a time they can ride (naive UTC); no overlap with their other slots."""
    _require_courier(user)
    now = now or utcnow()
    if user.courier_profile is None:
        raise ServiceError(_("Tell the coop about your vehicle and zones first."))
    if ends_at <= starts_at:
        raise ServiceError(_("The end of your availability must be after its start."), "end")
    if ends_at - starts_at > timedelta(hours=MAX_AVAILABILITY_HOURS):
        raise ServiceError(_("An availability cannot last more than %(h)d hours.", h=MAX_AVAILABILITY_HOURS), "end")
    if ends_at <= now:
        raise ServiceError(_("This time is already over."), "day")
    overlapping = (db.session.query(AvailabilitySlot)
                   .filter(AvailabilitySlot.courier_id == user.id, AvailabilitySlot.starts_at < ends_at,
                           AvailabilitySlot.ends_at > starts_at).first())
    if overlapping is not None:
        raise Conflict(_("This overlaps your availability of %(start)s–%(end)s: change that one instead.",
                         start=overlapping.starts_at.strftime("%d/%m %H:%M"),
                         end=overlapping.ends_at.strftime("%H:%M")), "start")
    slot = AvailabilitySlot(courier_id=user.id, starts_at=starts_at, ends_at=ends_at)
    db.session.add(slot)
    db.session.flush()
    return slot


def remove_availability(user: User, slot_id: int) -> None:
    """Withdraw an availability that no run relies on."""
    _require_courier(user)
    slot = db.session.get(AvailabilitySlot, slot_id)
    if slot is None or slot.courier_id != user.id:
        raise NotFound(_("No such availability."))
    busy = (db.session.query(Run.id).filter(Run.availability_id == slot.id, Run.status.in_(LIVE_RUN),
                                            or_(Run.courier_id == user.id, Run.offered_to_id == user.id)).first())
    if busy:
        raise Conflict(_("A run is planned in this availability: decline it or ask the dispatcher first."))
    db.session.delete(slot)
    db.session.flush()


def availability_of(user: User, now: datetime | None = None) -> list[AvailabilitySlot]:
    now = now or utcnow()
    return (db.session.query(AvailabilitySlot).filter(AvailabilitySlot.courier_id == user.id,
                                                       AvailabilitySlot.ends_at > now)
            .order_by(AvailabilitySlot.starts_at).all())


# ---------------------------------------------------------------- planning

def _epoch(dt: datetime) -> int:
    return int(dt.replace(tzinfo=timezone.utc).timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)


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


def _eligible_couriers() -> list[CourierProfile]:
    return (db.session.query(CourierProfile).join(User, CourierProfile.user_id == User.id)
            .join(Membership, Membership.user_id == User.id)
            .filter(Membership.college == College.COURIER, Membership.status == MembershipStatus.ACTIVE,
                    User.login_disabled.is_(False), User.erased_at.is_(None))
            .order_by(CourierProfile.user_id).all())


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
    jobs: list[DeliveryJob] = []
    for order in _orders_in_scope(kind, ident):
        if not _order_is_ready(order):
            continue
        job = _job_for(order)
        if job.status in (JobStatus.OPEN, JobStatus.UNASSIGNED):
            jobs.append(job)
    if not jobs:
        db.session.flush()
        return []

    deliveries: list[planner.Delivery] = []
    for job in jobs:
        order = job.order
        drop = locate_dropoff(job)
        if drop is None:
            _unassign(job, _("no coordinates for this address: enter them on the dispatch board"))
            continue
        pickups = []
        for part in _live_parts(order):
            point = locate_producer(part.producer)
            if point is None:
                _unassign(job, _("producer %(name)s has no coordinates", name=part.producer.name))
                break
            pickups.append(planner.Pickup(point, part.producer_id))
        else:
            start, end = _window(order)
            deliveries.append(planner.Delivery(
                id=order.id, pickups=pickups, dropoff=drop, weight_g=order_weight_g(order),
                parcels=len(pickups), window=(max(_epoch(start), _epoch(now)), max(_epoch(end), _epoch(now))),
                skills=frozenset({order.delivery_zone_id}) if order.delivery_zone_id else frozenset()))
    if not deliveries:
        db.session.flush()
        return []

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

    rules = get_rules()
    hub, hub_for = None, "multi"
    place = jobs[0].order.distribution.pickup_place
    if rules.goods_at_pickup_place and place.latitude is not None and place.longitude is not None:
        # Every basket is collected at the distribution: one pickup there, then the drop-offs.
        hub, hub_for = Coordinates(place.latitude, place.longitude), "all"
    elif rules.hub_latitude is not None and rules.hub_longitude is not None:
        hub = Coordinates(rules.hub_latitude, rules.hub_longitude)
    plan = planner.plan_runs(deliveries, couriers, hub=hub, hub_for=hub_for)

    job_by_order = {j.order_id: j for j in jobs}
    distribution_id = jobs[0].order.distribution_id
    created: list[int] = []
    for planned in plan.runs:
        slot = slot_by_id[planned.courier_id]
        run = Run(plan_key=plan_key, distribution_id=distribution_id, availability_id=slot.id,
                  starts_at=_from_epoch(planned.start_s), ends_at=_from_epoch(planned.end_s),
                  distance_m=planned.distance_m, status=RunStatus.OFFERED, weight_g=0, parcels=0)
        for position, stop in enumerate(planned.stops):
            run.stops.append(RunStop(
                position=position, kind=StopKind(stop.kind), order_id=stop.delivery_id,
                producer_id=stop.producer if stop.kind == "pickup" and stop.producer != "hub" else None,
                latitude=stop.location.lat, longitude=stop.location.lon, eta=_from_epoch(stop.arrival_s), status=StopStatus.PENDING))
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
    db.session.flush()
    return created


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


# ---------------------------------------------------------------- offers

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
    queue_email(courier.email, _("A run is offered to you"),
                _("Run %(id)s: %(stops)d stops, %(km).1f km, %(start)s–%(end)s UTC. Pay: %(pay)s (%(rule)s). "
                  "Accept or decline it on your courier page before %(expires)s UTC.",
                  id=run.id, stops=len(run.live_stops), km=run.distance_m / 1000,
                  start=run.starts_at.strftime("%d/%m %H:%M"), end=run.ends_at.strftime("%H:%M"),
                  pay=format_money(offer.pay_cents), rule=pay_rule_text(rules),
                  expires=offer.expires_at.strftime("%H:%M")))
    enqueue_after_commit("dispatch.expire_offer", [offer.id], dedup_key=f"offer-expiry:{offer.id}")
    return offer


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
    """Beat's safety net for offer timeouts whose countdown task was lost."""
    now = now or utcnow()
    due = [o.id for o in db.session.query(RunOffer.id)
           .filter(RunOffer.status == OfferStatus.PENDING, RunOffer.expires_at <= now).order_by(RunOffer.id)]
    for offer_id in due:
        expire_offer(offer_id, now)
    return len(due)


# ---------------------------------------------------------------- the courier's stops

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


def record_payable(run: Run) -> CourierPayable:
    """What the coop owes for a finished run, by the published rule; the payments domain transfers it."""
    existing = db.session.query(CourierPayable).filter_by(run_id=run.id).one_or_none()
    if existing is not None:
        return existing
    rules = get_rules()
    visited = sum(1 for s in run.stops if s.status in (StopStatus.DONE, StopStatus.FAILED))
    payable = CourierPayable(run_id=run.id, courier_id=run.courier_id, distance_m=run.distance_m, stops=visited,
                             amount_cents=run_pay_cents(run.distance_m, visited, rules), rule=pay_rule_text(rules))
    db.session.add(payable)
    db.session.flush()
    signals.courier_payable_recorded.send(payable)
    celery_app = current_app.extensions.get("celery")
    if celery_app is not None and "payments.pay_courier" in celery_app.tasks:
        enqueue_after_commit("payments.pay_courier",
                             [run.courier_id, payable.amount_cents, f"courier-run:{run.id}", run.order_ids],
                             dedup_key=f"pay-run:{run.id}")
        payable.transfer_requested_at = utcnow()
    return payable


# ---------------------------------------------------------------- what the courier sees

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


# ---------------------------------------------------------------- the dispatcher

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
        queue_email(run.courier.email, _("Run %(id)s was given to another courier", id=run.id),
                    _("The dispatcher has changed run %(id)s: it is no longer yours.", id=run.id))


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
    return int(sum(haversine_m(a, b) for a, b in zip(points, points[1:])) * HaversineMatrix(15).detour_factor)


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


def courier_pay_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """Couriers' delivery pay recorded in [start, end), per courier user id (their billing activity)."""
    rows = (db.session.query(CourierPayable.courier_id, func.sum(CourierPayable.amount_cents))
            .filter(CourierPayable.created_at >= start, CourierPayable.created_at < end)
            .group_by(CourierPayable.courier_id).all())
    return {courier_id: int(total or 0) for courier_id, total in rows}
