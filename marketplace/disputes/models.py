"""A buyer's complaint about one order line, the producer's answer and the admin's decision."""
from __future__ import annotations

import enum

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class DisputeReason(str, enum.Enum):
    MISSING = "missing"
    DAMAGED = "damaged"
    LATE = "late"


class DisputeStatus(str, enum.Enum):
    OPEN = "open"            # reported by the buyer
    ANSWERED = "answered"    # the producer gave their side
    CREDITED = "credited"    # resolved: a credit on the buyer's member account
    REFUNDED = "refunded"    # resolved: refunded on the card used, reversed from the producer
    REJECTED = "rejected"    # resolved: no compensation, with a reason


OPEN_STATES = (DisputeStatus.OPEN, DisputeStatus.ANSWERED)
RESOLVED_STATES = (DisputeStatus.CREDITED, DisputeStatus.REFUNDED, DisputeStatus.REJECTED)

# The one place that says which dispute changes are allowed.
DISPUTE_TRANSITIONS: dict[DisputeStatus, set[DisputeStatus]] = {
    DisputeStatus.OPEN: {DisputeStatus.ANSWERED, *RESOLVED_STATES},
    DisputeStatus.ANSWERED: {DisputeStatus.ANSWERED, *RESOLVED_STATES},
    DisputeStatus.CREDITED: set(),
    DisputeStatus.REFUNDED: set(),
    DisputeStatus.REJECTED: set(),
}


class Dispute(db.Model):
    __tablename__ = "disputes"
    id = db.Column(db.Integer, primary_key=True)
    line_id = db.Column(db.Integer, db.ForeignKey("order_lines.id"), nullable=False, unique=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), nullable=False, index=True)
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"), nullable=False, index=True)
    buyer_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    reason = db.Column(enum_type(DisputeReason), nullable=False)
    note = db.Column(db.Text, nullable=False, default="")
    status = db.Column(enum_type(DisputeStatus), nullable=False, default=DisputeStatus.OPEN, index=True)
    producer_answer = db.Column(db.Text, nullable=False, default="")
    answered_at = db.Column(db.DateTime)
    amount_cents = db.Column(db.Integer, nullable=False, default=0)  # credited or refunded
    resolution_note = db.Column(db.Text, nullable=False, default="")
    resolved_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    resolved_at = db.Column(db.DateTime)
    payment_credit_id = db.Column(db.Integer, db.ForeignKey("payment_credits.id"))  # card refund
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("amount_cents >= 0", name="dispute_amount_not_negative"),)

    line = db.relationship("OrderLine")
    order = db.relationship("Order")
    producer = db.relationship("ProducerProfile")
    buyer = db.relationship("User", foreign_keys=[buyer_id])
    resolved_by = db.relationship("User", foreign_keys=[resolved_by_id])
    events = db.relationship("DisputeEvent", back_populates="dispute", order_by="DisputeEvent.id",
                             cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES


class DisputeEvent(db.Model):
    """Each step, shown to the buyer, the producer and the admins."""

    __tablename__ = "dispute_events"
    id = db.Column(db.Integer, primary_key=True)
    dispute_id = db.Column(db.Integer, db.ForeignKey("disputes.id", ondelete="CASCADE"), nullable=False, index=True)
    actor_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    kind = db.Column(db.String(40), nullable=False)
    text = db.Column(db.Text, nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    dispute = db.relationship("Dispute", back_populates="events")
    actor = db.relationship("User")
