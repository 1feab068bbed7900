"""Sign-up, log-in and the member register's rules."""
from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.services import get_int_setting, queue_email
from marketplace.extensions import db
from marketplace.members.models import (MEMBERSHIP_TRANSITIONS, College, Membership, MembershipStatus, User)
from marketplace.timeutil import utcnow

_hashers: dict[bool, PasswordHasher] = {}


def _hasher() -> PasswordHasher:
    """Argon2 with its recommended costs; tests ask for the cheapest (PASSWORD_HASH_CHEAP)."""
    from flask import current_app

    cheap = bool(current_app.config.get("PASSWORD_HASH_CHEAP"))
    if cheap not in _hashers:
        _hashers[cheap] = PasswordHasher.from_parameters(profiles.CHEAPEST) if cheap else PasswordHasher()
    return _hashers[cheap]


MIN_PASSWORD_LENGTH = 8


def normalise_email(email: str) -> str:
    return email.strip().lower()


def register(email: str, password: str, full_name: str) -> User:
    """Create an account (not yet a member: membership is applied for separately)."""
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(_("Choose a password of at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), "password")
    if db.session.query(User.id).filter(func.lower(User.email) == email).first():
        raise Conflict(_("An account already exists with this e-mail address."), "email")
    user = User(email=email, password_hash=_hasher().hash(password), full_name=full_name.strip())
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("An account already exists with this e-mail address."), "email")
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user if the password matches and the account may log in, else None."""
    user = db.session.query(User).filter(func.lower(User.email) == normalise_email(email)).first()
    if user is None or not user.is_active:
        _hasher().hash(password)  # same work either way: no timing hint that the e-mail exists
        return None
    try:
        _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(_("Choose a password of at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), "password")
    user.password_hash = _hasher().hash(password)


def apply_for_membership(user: User, college: College, motivation: str = "", shares_count: int = 1) -> Membership:
    """Apply (or re-apply after a rejection) to join the coop in a college."""
    minimum = get_int_setting("shares_minimum")
    if shares_count < minimum or shares_count > 1000:
        raise ServiceError(_("Subscribe between %(min)d and 1000 shares.", min=minimum), "shares_count")
    membership = user.membership
    if membership is not None:
        if membership.status != MembershipStatus.REJECTED:
            raise Conflict(_("You have already applied for membership."))
        membership.status = MembershipStatus.PENDING
        membership.decision_reason = ""
        membership.decided_at = None
        membership.applied_at = utcnow()
    else:
        membership = Membership(user=user, status=MembershipStatus.PENDING)
        db.session.add(membership)
    membership.college = college
    membership.motivation = motivation.strip()
    membership.shares_count = shares_count
    membership.share_nominal_cents = get_int_setting("share_nominal_cents")
    db.session.flush()
    return membership


def require_admin(user: User | None) -> None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_admin:
        raise NotAllowed(_("Only the coop's administrators can do this."))


def why_not_active(user: User) -> str | None:
    """A sentence telling a member why they cannot act yet, or None if they can."""
    membership = user.membership
    if membership is None:
        return _("You are not a member yet: apply for membership to order, sell or deliver.")
    if membership.status == MembershipStatus.PENDING:
        return _("Your membership application is awaiting approval by the coop's administrators.")
    if membership.status == MembershipStatus.REJECTED:
        return _("Your membership application was not accepted: %(reason)s", reason=membership.decision_reason)
    if membership.status == MembershipStatus.SUSPENDED:
        return _("Your membership is suspended: %(reason)s", reason=membership.decision_reason)
    if membership.status == MembershipStatus.LEFT:
        return _("You have left the coop.")
    return None


def require_active_member(user: User, college: College | None = None) -> Membership:
    """Raise NotAllowed unless the user is an active member (of `college` if given)."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    reason = why_not_active(user)
    if reason:
        raise NotAllowed(reason)
    if college is not None and user.membership.college != college:
        messages = {
            College.PRODUCER: _("Only producer members can sell."),
            College.COURIER: _("Only courier members can deliver."),
        }
        raise NotAllowed(messages.get(college, _("This is reserved to another college of members.")))
    return user.membership


def _get_membership(membership_id: int) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None:
        raise NotFound(_("No such membership application."))
    return membership


def _change_status(membership: Membership, target: MembershipStatus, admin: User, reason: str) -> None:
    if target not in MEMBERSHIP_TRANSITIONS[membership.status]:
        raise Conflict(_("A membership cannot go from %(a)s to %(b)s.", a=membership.status.value, b=target.value))
    membership.status = target
    membership.decided_at = utcnow()
    membership.decided_by_id = admin.id
    membership.decision_reason = reason


def approve_membership(admin: User, membership_id: int) -> Membership:
    """Accept an application: the applicant gets a member number and can act in their college."""
    require_admin(admin)
    membership = _get_membership(membership_id)
    _change_status(membership, MembershipStatus.ACTIVE, admin, "")
    if membership.member_number is None:
        # Member numbers are sequential; the unique constraint catches two admins at once.
        current_max = db.session.query(func.max(Membership.member_number)).scalar() or 0
        membership.member_number = current_max + 1
    membership.joined_at = membership.joined_at or utcnow()
    if membership.college == College.PRODUCER:
        from marketplace.catalog.services import ensure_producer_profile

        ensure_producer_profile(membership.user)
    queue_email(membership.user.email, _("Welcome to the coop"),
                _("Your membership has been approved. Your member number is %(n)d.", n=membership.member_number))
    db.session.flush()
    return membership


def reject_membership(admin: User, membership_id: int, reason: str) -> Membership:
    """Refuse an application, with a reason the applicant sees."""
    require_admin(admin)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_("Give the applicant a reason."), "reason")
    membership = _get_membership(membership_id)
    _change_status(membership, MembershipStatus.REJECTED, admin, reason)
    queue_email(membership.user.email, _("Your membership application"),
                _("Your application was not accepted: %(reason)s", reason=reason))
    db.session.flush()
    return membership


def change_membership_status(admin: User, membership_id: int, target: MembershipStatus, reason: str) -> Membership:
    """Suspend, reinstate or record a member leaving."""
    require_admin(admin)
    membership = _get_membership(membership_id)
    if target in (MembershipStatus.SUSPENDED, MembershipStatus.LEFT) and not (reason or "").strip():
        raise ServiceError(_("Give a reason."), "reason")
    _change_status(membership, target, admin, (reason or "").strip())
    db.session.flush()
    return membership


# ---------------------------------------------------------------- password reset

RESET_MAX_AGE_S = 2 * 3600


def _reset_serializer():
    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def request_password_reset(email: str, reset_url_for) -> None:
    """E-mail a time-limited reset link; says nothing about whether the address has an account."""
    user = db.session.query(User).filter(func.lower(User.email) == normalise_email(email)).first()
    if user is None or not user.is_active:
        return
    # The token embeds a fragment of the current hash: once the password changes, it is void.
    token = _reset_serializer().dumps({"user": user.id, "h": user.password_hash[-16:]})
    queue_email(user.email, _("Reset your password"),
                _("Someone asked to reset your password. If it was you, open this link within two hours:")
                + "\n" + reset_url_for(token) + "\n" + _("Otherwise, ignore this e-mail."))


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a valid, unused reset link."""
    from itsdangerous import BadSignature, SignatureExpired

    try:
        data = _reset_serializer().loads(token, max_age=RESET_MAX_AGE_S)
    except SignatureExpired:
        raise ServiceError(_("This link has expired: ask for a new one."))
    except BadSignature:
        raise ServiceError(_("This link is not valid."))
    user = db.session.get(User, data.get("user"))
    if user is None or not user.is_active or user.password_hash[-16:] != data.get("h"):
        raise ServiceError(_("This link has already been used or is no longer valid."))
    set_password(user, new_password)
    return user
