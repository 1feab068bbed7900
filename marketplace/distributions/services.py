"""Scheduling distributions and the coop's delivery rule."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.distributions import signals
from marketplace.distributions.models import DeliverySlot, DeliveryZone, Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.money import MAX_CENTS
from marketplace.timeutil import utcnow

MAX_REPEAT_WEEKS = 52


@dataclass(frozen=True)
class SlotInput:
    starts_at: datetime
    ends_at: datetime
    capacity: int = 20


@dataclass(frozen=True)
class DistributionInput:
    pickup_place_id: int
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    cutoff_at: datetime
    producer_ids: tuple[int, ...]
    home_delivery: bool = False
    title: str = ""
    slots: tuple[SlotInput, ...] = ()
    repeat_weeks: int = 1


def create_pickup_place(admin: User, *, name: str, address: str, postcode: str = "", town: str = "",
                        latitude: float | None = None, longitude: float | None = None,
                        notes: str = "") -> PickupPlace:
    require_admin(admin)
    if not name.strip() or not address.strip():
        raise ServiceError(_("A pickup place needs a name and an address."))
    if latitude is not None and not -90 <= latitude <= 90 or longitude is not None and not -180 <= longitude <= 180:
        raise ServiceError(_("Coordinates are out of range."))
    place = PickupPlace(name=name.strip(), address=address.strip(), postcode=postcode.strip(), town=town.strip(),
                        latitude=latitude, longitude=longitude, notes=notes.strip())
    db.session.add(place)
    db.session.flush()
    return place


def create_delivery_zone(admin: User, *, name: str, postcodes: str, fee_cents: int) -> DeliveryZone:
    require_admin(admin)
    codes = [p.strip() for p in postcodes.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not name.strip() or not codes:
        raise ServiceError(_("A delivery zone needs a name and at least one postcode."))
    if not 0 <= fee_cents <= MAX_CENTS:
        raise ServiceError(_("The delivery fee cannot be negative."), "fee")
    zone = DeliveryZone(name=name.strip(), postcodes=",".join(codes), fee_cents=fee_cents)
    db.session.add(zone)
    db.session.flush()
    return zone


def _check_window(data: DistributionInput) -> None:
    if not data.opens_at < data.cutoff_at:
        raise ServiceError(_("Ordering must open before the cut-off."), "cutoff_at")
    if not data.cutoff_at <= data.starts_at:
        raise ServiceError(_("The cut-off must come before the pickup starts."), "cutoff_at")
    if not data.starts_at < data.ends_at:
        raise ServiceError(_("The pickup must end after it starts."), "ends_at")
    if not data.producer_ids:
        raise ServiceError(_("Choose at least one producer taking part."), "producer_ids")
    if not 1 <= data.repeat_weeks <= MAX_REPEAT_WEEKS:
        raise ServiceError(_("Repeat between 1 and %(n)d weeks.", n=MAX_REPEAT_WEEKS), "repeat_weeks")
    for slot in data.slots:
        if not slot.starts_at < slot.ends_at or slot.capacity <= 0:
            raise ServiceError(_("Each delivery slot must end after it starts and take at least one order."))
    if data.slots and not data.home_delivery:
        raise ServiceError(_("Delivery slots only make sense with home delivery."))


def _producers(producer_ids: tuple[int, ...]) -> list:
    """The producers' profiles named by id. Distributions sit below catalog: they know its ProducerProfile only as
    the target of their own `producers` relationship, as their model declares it."""
    profile = Distribution.producers.property.mapper.class_
    return db.session.query(profile).filter(profile.id.in_(producer_ids)).all()


def schedule_distribution(admin: User, data: DistributionInput) -> list[Distribution]:
    """Create one distribution, or a weekly series of them (the same times each week)."""
    require_admin(admin)
    _check_window(data)
    place = db.session.get(PickupPlace, data.pickup_place_id)
    if place is None:
        raise ServiceError(_("Choose a pickup place."), "pickup_place_id")
    producers = _producers(data.producer_ids)
    if len(producers) != len(set(data.producer_ids)):
        raise ServiceError(_("Unknown producer."), "producer_ids")
    series_key = uuid.uuid4().hex[:12] if data.repeat_weeks > 1 else None
    created = []
    for week in range(data.repeat_weeks):
        shift = timedelta(weeks=week)
        distribution = Distribution(
            pickup_place=place, title=data.title.strip(), starts_at=data.starts_at + shift,
            ends_at=data.ends_at + shift, opens_at=data.opens_at + shift, cutoff_at=data.cutoff_at + shift,
            home_delivery=data.home_delivery, series_key=series_key, producers=list(producers))
        distribution.slots = [DeliverySlot(starts_at=s.starts_at + shift, ends_at=s.ends_at + shift,
                                           capacity=s.capacity) for s in data.slots]
        db.session.add(distribution)
        created.append(distribution)
    db.session.flush()
    return created


def cancel_distribution(admin: User, distribution_id: int, now: datetime | None = None) -> Distribution:
    """Cancel a distribution before its pickup starts; those who depend on it are told (signals)."""
    require_admin(admin)
    distribution = get_distribution(distribution_id)
    if distribution.cancelled_at is not None:
        return distribution
    now = now or utcnow()
    if distribution.starts_at <= now:
        raise Conflict(_("This distribution has started: it can no longer be cancelled."))
    distribution.cancelled_at = now
    db.session.flush()
    signals.distribution_cancelled.send(distribution)
    return distribution


def get_distribution(distribution_id: int) -> Distribution:
    distribution = db.session.get(Distribution, distribution_id)
    if distribution is None:
        raise NotFound(_("No such distribution."))
    return distribution


def open_distributions(now: datetime | None = None) -> list[Distribution]:
    """Distributions buyers can order for right now, soonest first."""
    now = now or utcnow()
    return (db.session.query(Distribution).options(joinedload(Distribution.pickup_place))
            .filter(Distribution.opens_at <= now, Distribution.cutoff_at > now,
                    Distribution.closed_at.is_(None), Distribution.cancelled_at.is_(None))
            .order_by(Distribution.starts_at).all())


def upcoming_distributions(now: datetime | None = None, limit: int = 20) -> list[Distribution]:
    now = now or utcnow()
    return (db.session.query(Distribution).filter(Distribution.ends_at > now, Distribution.cancelled_at.is_(None))
            .order_by(Distribution.starts_at).limit(limit).all())


def zone_for_postcode(postcode: str) -> DeliveryZone | None:
    """The active zone that serves this postcode, if any."""
    postcode = (postcode or "").strip()
    if not postcode:
        return None
    for zone in db.session.query(DeliveryZone).filter_by(active=True).order_by(DeliveryZone.id):
        if postcode in zone.postcode_list:
            return zone
    return None


def delivery_fee_cents(zone: DeliveryZone) -> int:
    """The coop's published rule: one flat fee per zone, the same for every buyer in it."""
    return zone.fee_cents
