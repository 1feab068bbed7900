"""Distributions: a pickup place and time, with an ordering window that closes at a cut-off."""
from __future__ import annotations

import enum
from datetime import datetime

from marketplace.extensions import db
from marketplace.timeutil import utcnow


class DistributionPhase(str, enum.Enum):
    UPCOMING = "upcoming"   # ordering not open yet
    OPEN = "open"           # buyers can order and change their orders
    CLOSED = "closed"       # cut-off passed: producers harvest and pack
    CANCELLED = "cancelled"


distribution_producers = db.Table(
    "distribution_producers",
    db.Column("distribution_id", db.Integer, db.ForeignKey("distributions.id", ondelete="CASCADE"),
              primary_key=True),
    db.Column("producer_id", db.Integer, db.ForeignKey("producers.id", ondelete="CASCADE"), primary_key=True),
    # Set once the producer has said what they bring (distribution_offers): from then on only their offers
    # are sold there. NULL: every active variant is sold, from the product's own stock (the default).
    db.Column("offers_set_at", db.DateTime),
)


class PickupPlace(db.Model):
    __tablename__ = "pickup_places"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False)
    address = db.Column(db.String(300), nullable=False)
    postcode = db.Column(db.String(16), nullable=False, default="")
    town = db.Column(db.String(120), nullable=False, default="")
    latitude = db.Column(db.Float)
    longitude = db.Column(db.Float)
    notes = db.Column(db.Text, nullable=False, default="")
    active = db.Column(db.Boolean, nullable=False, default=True)


class DeliveryZone(db.Model):
    """Postcodes the coop's couriers serve, with the delivery fee (a public, flat coop rule)."""

    __tablename__ = "delivery_zones"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False)
    postcodes = db.Column(db.Text, nullable=False)  # comma-separated
    fee_cents = db.Column(db.Integer, nullable=False, default=0)
    active = db.Column(db.Boolean, nullable=False, default=True)

    __table_args__ = (db.CheckConstraint("fee_cents >= 0", name="fee_not_negative"),)

    @property
    def postcode_list(self) -> list[str]:
        return [p.strip() for p in self.postcodes.split(",") if p.strip()]


class Distribution(db.Model):
    __tablename__ = "distributions"
    id = db.Column(db.Integer, primary_key=True)
    pickup_place_id = db.Column(db.Integer, db.ForeignKey("pickup_places.id"), nullable=False)
    title = db.Column(db.String(160), nullable=False, default="")
    starts_at = db.Column(db.DateTime, nullable=False, index=True)   # pickup opens (UTC)
    ends_at = db.Column(db.DateTime, nullable=False)                 # pickup ends (UTC)
    opens_at = db.Column(db.DateTime, nullable=False)                # ordering opens (UTC)
    cutoff_at = db.Column(db.DateTime, nullable=False, index=True)   # ordering closes (UTC)
    home_delivery = db.Column(db.Boolean, nullable=False, default=False)
    series_key = db.Column(db.String(40), index=True)  # recurring distributions share it
    closed_at = db.Column(db.DateTime)  # set by the cut-off task once it has run
    cancelled_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.CheckConstraint("opens_at < cutoff_at", name="window_order"),
        db.CheckConstraint("cutoff_at <= starts_at", name="cutoff_before_pickup"),
        db.CheckConstraint("starts_at < ends_at", name="pickup_hours_order"),
    )

    pickup_place = db.relationship("PickupPlace")
    producers = db.relationship("ProducerProfile", secondary=distribution_producers,
                                backref=db.backref("distributions", lazy="dynamic"))
    slots = db.relationship("DeliverySlot", back_populates="distribution", order_by="DeliverySlot.starts_at",
                            cascade="all, delete-orphan")

    def phase(self, now: datetime | None = None) -> DistributionPhase:
        return distribution_phase(self.opens_at, self.cutoff_at, self.closed_at, self.cancelled_at, now)

    def is_open(self, now: datetime | None = None) -> bool:
        return self.phase(now) == DistributionPhase.OPEN


def distribution_phase(opens_at: datetime, cutoff_at: datetime, closed_at: datetime | None,
                       cancelled_at: datetime | None, now: datetime | None = None) -> DistributionPhase:
    """Where a distribution with this window stands (Distribution.phase; callers holding plain columns use it)."""
    now = now or utcnow()
    if cancelled_at is not None:
        return DistributionPhase.CANCELLED
    if closed_at is not None or now >= cutoff_at:
        return DistributionPhase.CLOSED
    if now < opens_at:
        return DistributionPhase.UPCOMING
    return DistributionPhase.OPEN


class DeliverySlot(db.Model):
    """A home-delivery time window on a distribution day."""

    __tablename__ = "delivery_slots"
    id = db.Column(db.Integer, primary_key=True)
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id", ondelete="CASCADE"),
                                nullable=False, index=True)
    starts_at = db.Column(db.DateTime, nullable=False)
    ends_at = db.Column(db.DateTime, nullable=False)
    capacity = db.Column(db.Integer, nullable=False, default=20)

    __table_args__ = (db.CheckConstraint("starts_at < ends_at", name="slot_order"),
                      db.CheckConstraint("capacity > 0", name="slot_capacity_positive"))

    distribution = db.relationship("Distribution", back_populates="slots")
