"""Courier dispatch: couriers' availability, delivery jobs, planned runs, offers and courier pay."""
from __future__ import annotations

import enum

from marketplace.core.legal import LegalIdentityMixin
from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class Vehicle(str, enum.Enum):
    BIKE = "bike"
    CARGO_BIKE = "cargo_bike"
    VAN = "van"


# Town speeds used to turn distances into travel times (km/h); a road router can replace this.
VEHICLE_SPEED_KMH = {Vehicle.BIKE: 15.0, Vehicle.CARGO_BIKE: 13.0, Vehicle.VAN: 25.0}


class JobStatus(str, enum.Enum):
    OPEN = "open"                # ready, waiting to be planned
    PLANNED = "planned"          # in a live run
    UNASSIGNED = "unassigned"    # the planner could not fit it: the dispatcher must act
    FAILED = "failed"            # the courier could not deliver: back with the dispatcher
    DELIVERED = "delivered"


class RunStatus(str, enum.Enum):
    OFFERED = "offered"          # waiting for the offered courier's answer
    OPEN = "open"                # every suitable courier was asked: first to accept takes it
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"  # first pickup done
    DONE = "done"
    CANCELLED = "cancelled"


LIVE_RUN = (RunStatus.OFFERED, RunStatus.OPEN, RunStatus.ACCEPTED, RunStatus.IN_PROGRESS)
UNSTARTED_RUN = (RunStatus.OFFERED, RunStatus.OPEN, RunStatus.ACCEPTED)

# The one place that says which run changes are allowed.
RUN_TRANSITIONS: dict[RunStatus, set[RunStatus]] = {
    RunStatus.OFFERED: {RunStatus.OFFERED, RunStatus.OPEN, RunStatus.ACCEPTED, RunStatus.CANCELLED},
    RunStatus.OPEN: {RunStatus.OFFERED, RunStatus.ACCEPTED, RunStatus.CANCELLED},
    RunStatus.ACCEPTED: {RunStatus.OFFERED, RunStatus.IN_PROGRESS, RunStatus.DONE, RunStatus.CANCELLED},
    RunStatus.IN_PROGRESS: {RunStatus.DONE},
    RunStatus.DONE: set(),
    RunStatus.CANCELLED: set(),
}


class OfferStatus(str, enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class StopKind(str, enum.Enum):
    PICKUP = "pickup"
    DROPOFF = "dropoff"


class StopStatus(str, enum.Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"   # a pickup failed, so its drop-off will not happen


courier_zones = db.Table(
    "courier_zones",
    db.Column("courier_profile_id", db.Integer, db.ForeignKey("courier_profiles.id", ondelete="CASCADE"),
              primary_key=True),
    db.Column("zone_id", db.Integer, db.ForeignKey("delivery_zones.id", ondelete="CASCADE"), primary_key=True),
)


RULE_DEFAULTS = {"pay_per_run_cents": 500, "pay_per_km_cents": 60, "pay_per_stop_cents": 150,
                 "offer_timeout_s": 15 * 60, "max_code_attempts": 5}


class DispatchRules(db.Model):
    """The coop's dispatch rules (one row): courier pay, offer timeout, delivery-code attempts."""

    __tablename__ = "dispatch_rules"
    id = db.Column(db.Integer, primary_key=True)
    pay_per_run_cents = db.Column(db.Integer, nullable=False, default=RULE_DEFAULTS["pay_per_run_cents"])
    pay_per_km_cents = db.Column(db.Integer, nullable=False, default=RULE_DEFAULTS["pay_per_km_cents"])
    pay_per_stop_cents = db.Column(db.Integer, nullable=False, default=RULE_DEFAULTS["pay_per_stop_cents"])
    offer_timeout_s = db.Column(db.Integer, nullable=False, default=RULE_DEFAULTS["offer_timeout_s"])
    max_code_attempts = db.Column(db.Integer, nullable=False, default=RULE_DEFAULTS["max_code_attempts"])
    # Producers bring the goods to the distribution's pickup place, couriers start from there
    # (how most food co-ops deliver: the producers come to the distribution anyway).
    goods_at_pickup_place = db.Column(db.Boolean, nullable=False, default=False)
    hub_latitude = db.Column(db.Float)   # optional consolidation hub for multi-producer orders
    hub_longitude = db.Column(db.Float)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        db.CheckConstraint("pay_per_run_cents >= 0 AND pay_per_km_cents >= 0 AND pay_per_stop_cents >= 0",
                           name="pay_not_negative"),
        db.CheckConstraint("offer_timeout_s > 0", name="offer_timeout_positive"),
        db.CheckConstraint("max_code_attempts > 0", name="code_attempts_positive"),
    )


class PostcodeCentroid(db.Model):
    """Approximate coordinates of a postcode, imported from the coop's CSV."""

    __tablename__ = "postcode_centroids"
    postcode = db.Column(db.String(16), primary_key=True)
    latitude = db.Column(db.Float, nullable=False)
    longitude = db.Column(db.Float, nullable=False)
    town = db.Column(db.String(120), nullable=False, default="")


class CourierStatus(str, enum.Enum):
    MEMBER = "member"                # rides as a member: no invoice for the pay
    SELF_EMPLOYED = "self_employed"  # a business: self-billed invoices under their mandate


class CourierProfile(LegalIdentityMixin, db.Model):
    """What a courier member rides and carries (and, if self-employed, their seller identity)."""

    __tablename__ = "courier_profiles"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, unique=True)
    vehicle = db.Column(enum_type(Vehicle), nullable=False, default=Vehicle.BIKE)
    capacity_g = db.Column(db.Integer, nullable=False)
    capacity_parcels = db.Column(db.Integer, nullable=False)
    max_stops = db.Column(db.Integer, nullable=False)
    # Where runs start and end; NULL: the centroid of the courier's postcode.
    home_latitude = db.Column(db.Float)
    home_longitude = db.Column(db.Float)
    business_status = db.Column(enum_type(CourierStatus), nullable=False, default=CourierStatus.MEMBER)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        db.CheckConstraint("capacity_g > 0", name="capacity_g_positive"),
        db.CheckConstraint("capacity_parcels > 0", name="capacity_parcels_positive"),
        db.CheckConstraint("max_stops > 0", name="max_stops_positive"),
    )

    user = db.relationship("User", backref=db.backref("courier_profile", uselist=False))
    zones = db.relationship("DeliveryZone", secondary=courier_zones, order_by="DeliveryZone.name")

    @property
    def speed_kmh(self) -> float:
        return VEHICLE_SPEED_KMH[self.vehicle]


class AvailabilitySlot(db.Model):
    """A time a courier can ride (naive UTC)."""

    __tablename__ = "courier_availability"
    id = db.Column(db.Integer, primary_key=True)
    courier_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    starts_at = db.Column(db.DateTime, nullable=False, index=True)
    ends_at = db.Column(db.DateTime, nullable=False)

    __table_args__ = (db.CheckConstraint("starts_at < ends_at", name="availability_order"),)

    courier = db.relationship("User")


class DeliveryJob(db.Model):
    """One home-delivery order as the dispatcher sees it."""

    __tablename__ = "delivery_jobs"
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, unique=True)
    status = db.Column(enum_type(JobStatus), nullable=False, default=JobStatus.OPEN, index=True)
    reason = db.Column(db.Text, nullable=False, default="")
    # Drop-off coordinates: entered by the dispatcher, or from the geocoder / postcode centroid.
    latitude = db.Column(db.Float)
    longitude = db.Column(db.Float)
    coordinates_source = db.Column(db.String(20), nullable=False, default="")
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    order = db.relationship("Order")


class Run(db.Model):
    """A courier run: pickups at producers, drop-offs at buyers, in order."""

    __tablename__ = "courier_runs"
    id = db.Column(db.Integer, primary_key=True)
    status = db.Column(enum_type(RunStatus), nullable=False, default=RunStatus.OFFERED, index=True)
    plan_key = db.Column(db.String(40), nullable=False, index=True)  # "slot:12" or "distribution:3"
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id"), nullable=False, index=True)
    availability_id = db.Column(db.Integer, db.ForeignKey("courier_availability.id", ondelete="SET NULL"))
    courier_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)      # holder once accepted
    offered_to_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)   # current offer
    offer_expires_at = db.Column(db.DateTime)
    starts_at = db.Column(db.DateTime, nullable=False)
    ends_at = db.Column(db.DateTime, nullable=False)
    distance_m = db.Column(db.Integer, nullable=False, default=0)
    weight_g = db.Column(db.Integer, nullable=False, default=0)
    parcels = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    accepted_at = db.Column(db.DateTime)
    completed_at = db.Column(db.DateTime)

    courier = db.relationship("User", foreign_keys=[courier_id])
    offered_to = db.relationship("User", foreign_keys=[offered_to_id])
    distribution = db.relationship("Distribution")
    stops = db.relationship("RunStop", back_populates="run", order_by="RunStop.position",
                            cascade="all, delete-orphan")
    offers = db.relationship("RunOffer", back_populates="run", order_by="RunOffer.id",
                             cascade="all, delete-orphan")

    @property
    def order_ids(self) -> list[int]:
        return sorted({s.order_id for s in self.stops if s.status != StopStatus.CANCELLED})

    @property
    def live_stops(self) -> list[RunStop]:
        return [s for s in self.stops if s.status != StopStatus.CANCELLED]


class RunStop(db.Model):
    __tablename__ = "courier_run_stops"
    id = db.Column(db.Integer, primary_key=True)
    run_id = db.Column(db.Integer, db.ForeignKey("courier_runs.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    position = db.Column(db.Integer, nullable=False)
    kind = db.Column(enum_type(StopKind), nullable=False)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), nullable=False, index=True)
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"))
    # NULL only for a finished drop-off whose buyer erased their account.
    latitude = db.Column(db.Float)
    longitude = db.Column(db.Float)
    eta = db.Column(db.DateTime, nullable=False)
    status = db.Column(enum_type(StopStatus), nullable=False, default=StopStatus.PENDING)
    done_at = db.Column(db.DateTime)
    failure_reason = db.Column(db.Text, nullable=False, default="")
    code_attempts = db.Column(db.Integer, nullable=False, default=0)

    run = db.relationship("Run", back_populates="stops")
    order = db.relationship("Order")
    producer = db.relationship("ProducerProfile")


class RunOffer(db.Model):
    """Who was offered a run, when, and what they answered (the fairness record)."""

    __tablename__ = "courier_run_offers"
    id = db.Column(db.Integer, primary_key=True)
    run_id = db.Column(db.Integer, db.ForeignKey("courier_runs.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    courier_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    status = db.Column(enum_type(OfferStatus), nullable=False, default=OfferStatus.PENDING)
    offered_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    expires_at = db.Column(db.DateTime, nullable=False)
    answered_at = db.Column(db.DateTime)
    pay_cents = db.Column(db.Integer, nullable=False, default=0)  # what the courier was shown

    run = db.relationship("Run", back_populates="offers")
    courier = db.relationship("User")


class CourierPayable(db.Model):
    """What the coop owes a courier for a finished run (the payments domain transfers it)."""

    __tablename__ = "courier_payables"
    id = db.Column(db.Integer, primary_key=True)
    run_id = db.Column(db.Integer, db.ForeignKey("courier_runs.id"), nullable=False, unique=True)
    courier_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    amount_cents = db.Column(db.Integer, nullable=False)
    distance_m = db.Column(db.Integer, nullable=False)
    stops = db.Column(db.Integer, nullable=False)
    rule = db.Column(db.String(200), nullable=False)  # the rule as applied, in words
    transfer_requested_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("amount_cents >= 0", name="payable_not_negative"),)

    run = db.relationship("Run")
    courier = db.relationship("User")
