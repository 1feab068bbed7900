"""Couriers: who may ride, what they ride and where, and the times they declare they can."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import or_

from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.dispatch.models import LIVE_RUN, AvailabilitySlot, CourierProfile, Run, Vehicle
from marketplace.dispatch.services.coordinates import centroid, check_coordinates
from marketplace.distributions.models import DeliveryZone
from marketplace.extensions import db
from marketplace.members.models import College, Membership, MembershipStatus, User
from marketplace.members.services import require_active_member
from marketplace.timeutil import utcnow

MAX_AVAILABILITY_HOURS = 14
MAX_STOPS_LIMIT = 200
MAX_CAPACITY_KG = 2000


def _require_courier(user: User) -> None:
    require_active_member(user, College.COURIER)


def _eligible_couriers() -> list[CourierProfile]:
    return (db.session.query(CourierProfile).join(User, CourierProfile.user_id == User.id)
            .join(Membership, Membership.user_id == User.id)
            .filter(Membership.college == College.COURIER, Membership.status == MembershipStatus.ACTIVE,
                    User.login_disabled.is_(False), User.erased_at.is_(None))
            .order_by(CourierProfile.user_id).all())


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
