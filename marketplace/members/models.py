"""Accounts and the member register."""
from __future__ import annotations

import enum

from flask_login import UserMixin

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class College(str, enum.Enum):
    PRODUCER = "producer"
    COURIER = "courier"
    BUYER = "buyer"
    SUPPORTER = "supporter"


class MembershipStatus(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    LEFT = "left"


# The one place that says which membership changes are allowed.
MEMBERSHIP_TRANSITIONS: dict[MembershipStatus, set[MembershipStatus]] = {
    MembershipStatus.PENDING: {MembershipStatus.ACTIVE, MembershipStatus.REJECTED},
    MembershipStatus.REJECTED: {MembershipStatus.PENDING},
    MembershipStatus.ACTIVE: {MembershipStatus.SUSPENDED, MembershipStatus.LEFT},
    MembershipStatus.SUSPENDED: {MembershipStatus.ACTIVE, MembershipStatus.LEFT},
    MembershipStatus.LEFT: set(),
}


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(254), nullable=False, unique=True)
    password_hash = db.Column(db.String(255), nullable=False)
    full_name = db.Column(db.String(120), nullable=False)
    phone = db.Column(db.String(40), nullable=False, default="")
    address = db.Column(db.String(300), nullable=False, default="")
    postcode = db.Column(db.String(16), nullable=False, default="")
    town = db.Column(db.String(120), nullable=False, default="")
    locale = db.Column(db.String(8))
    is_admin = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    login_disabled = db.Column(db.Boolean, nullable=False, default=False)
    erased_at = db.Column(db.DateTime)

    membership = db.relationship("Membership", back_populates="user", uselist=False,
                                 foreign_keys="Membership.user_id")

    @property
    def is_active(self) -> bool:  # Flask-Login: an erased or disabled account cannot log in
        return not self.login_disabled and self.erased_at is None

    @property
    def is_active_member(self) -> bool:
        return self.membership is not None and self.membership.status == MembershipStatus.ACTIVE

    def has_college(self, college: College) -> bool:
        return self.is_active_member and self.membership.college == college

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class Membership(db.Model):
    """One line of the member register."""

    __tablename__ = "memberships"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, unique=True)
    member_number = db.Column(db.Integer, unique=True)
    college = db.Column(enum_type(College), nullable=False)
    status = db.Column(enum_type(MembershipStatus), nullable=False, default=MembershipStatus.PENDING)
    motivation = db.Column(db.Text, nullable=False, default="")
    applied_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    joined_at = db.Column(db.DateTime)
    decided_at = db.Column(db.DateTime)
    decided_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    decision_reason = db.Column(db.Text, nullable=False, default="")
    shares_count = db.Column(db.Integer, nullable=False, default=1)
    share_nominal_cents = db.Column(db.Integer, nullable=False, default=2000)

    __table_args__ = (db.CheckConstraint("shares_count >= 1", name="shares_positive"),)

    user = db.relationship("User", back_populates="membership", foreign_keys=[user_id])
    decided_by = db.relationship("User", foreign_keys=[decided_by_id])

    @property
    def shares_total_cents(self) -> int:
        return self.shares_count * self.share_nominal_cents
