"""Accounts and the member register."""
from __future__ import annotations

import enum
import secrets

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


def new_session_secret() -> str:
    return secrets.token_urlsafe(32)


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
    # Part of every session and remember-me cookie: changing it logs the member out everywhere.
    session_secret = db.Column(db.String(64), nullable=False, default=new_session_secret)
    email_confirmed_at = db.Column(db.DateTime)

    membership = db.relationship("Membership", back_populates="user", uselist=False,
                                 foreign_keys="Membership.user_id")

    @property
    def is_active(self) -> bool:  # Flask-Login: an erased or disabled account cannot log in
        return not self.login_disabled and self.erased_at is None

    def get_id(self) -> str:  # Flask-Login stores this in the session and the remember-me cookie
        return f"{self.id}:{self.session_secret}"

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


class AttemptKind(str, enum.Enum):
    LOGIN = "login"
    PASSWORD_RESET = "password_reset"
    API_TOKEN = "api_token"


class AuthFailure(db.Model):
    """A refused log-in, API token or throttled password-reset request: what, whose, from where."""

    __tablename__ = "auth_failures"
    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(enum_type(AttemptKind), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)  # None: no such account
    client_address = db.Column(db.String(64), nullable=False, default="")
    throttled = db.Column(db.Boolean, nullable=False, default=False)  # refused by the limit, not checked
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
