"""Sign-up, log-in and the member register's rules."""
from __future__ import annotations

import hmac
from functools import cache

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.core.models import OutboundEmail
from marketplace.core.services import get_int_setting
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members import emails, signals, throttling
from marketplace.members.models import (
    MEMBERSHIP_TRANSITIONS,
    AttemptKind,
    College,
    Membership,
    MembershipStatus,
    User,
    new_session_secret,
)
from marketplace.members.passwords import hash_password, hasher, require_strong_password
from marketplace.timeutil import utcnow


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _user_by_email(email: str) -> User | None:
    return db.session.query(User).filter(func.lower(User.email) == normalise_email(email)).first()


def register(email: str, password: str, full_name: str, *, confirmed: bool = False,
             password_hash: str | None = None) -> User:
    """Create an account (not yet a member: membership is applied for separately).

    `password_hash`: the hash of `password`, computed once by a caller creating many accounts with one
    password (the demo); the password's strength is checked all the same."""
    email = normalise_email(email)
    require_strong_password(password, email, full_name)
    if _user_by_email(email) is not None:
        raise Conflict(_("An account already exists with this e-mail address."), "email")
    user = User(email=email, password_hash=password_hash or hash_password(password), full_name=full_name.strip(),
                email_confirmed_at=utcnow() if confirmed else None)
    try:
        with db.session.begin_nested():  # two sign-ups at once: only this savepoint is undone, not the caller's work
            db.session.add(user)
    except IntegrityError:
        raise Conflict(_("An account already exists with this e-mail address."), "email") from None
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user if the password matches and the account may log in, else None."""
    user = _user_by_email(email)
    if user is None or not user.is_active:
        hasher().hash(password)  # same work either way: no timing hint that the e-mail exists
        return None
    try:
        hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def log_in(email: str, password: str, client_address: str, *, confirming: bool = False) -> User:
    """Check a log-in within the per-account and per-address limits; failures are counted and recorded."""
    known = _user_by_email(email)
    throttling.require_allowed(AttemptKind.LOGIN, normalise_email(email), client_address,
                               known.id if known else None)
    user = authenticate(email, password)
    if user is None:
        throttling.record_failure(AttemptKind.LOGIN, normalise_email(email), client_address,
                                  known.id if known else None)
        raise ServiceError(_("Wrong e-mail or password."), "password")
    if confirming and user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    if user.email_confirmed_at is None:
        raise NotAllowed(_("Confirm your e-mail address first with the link we sent you. No e-mail? "
                           "\"Forgot your password?\" sends a new link that also confirms it."), "email")
    return user


def end_all_sessions(user: User) -> None:
    """Log the member out everywhere: every session and remember-me cookie carries the old secret."""
    user.session_secret = new_session_secret()


@cache
def _session_user() -> Select:
    """Built on first use: a loader option configures the mappers, which needs every domain's models imported."""
    return select(User).options(joinedload(User.membership)).where(User.id == bindparam("user_id"))


def user_for_session(session_id: str) -> User | None:
    """The user a session or remember-me cookie names, if its secret is still theirs and they may log in."""
    user_id, _sep, secret = session_id.partition(":")
    if not user_id.isdigit() or len(user_id) > 10 or not secret:
        return None
    # With the membership: every page asks whether the member is active (one statement, not two). A statement
    # built once: `session.get` with a loader option builds and keys a new query on every request.
    user = db.session.execute(_session_user(), {"user_id": int(user_id)}).unique().scalar_one_or_none()
    if user is None or not user.is_active or not user.session_secret:
        return None
    return user if hmac.compare_digest(user.session_secret.encode(), secret.encode()) else None


def set_password(user: User, password: str) -> None:
    """A new password ends every other session of the member."""
    require_strong_password(password, user.email, user.full_name)
    user.password_hash = hash_password(password)
    end_all_sessions(user)


def change_password(user: User, current_password: str, new_password: str, client_address: str) -> None:
    """Change one's password, proving the current one (counted like a log-in)."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    try:
        log_in(user.email, current_password, client_address)
    except throttling.TooManyAttempts as exc:
        exc.field = "current_password"
        raise
    except ServiceError:
        raise ServiceError(_("Your current password is not correct."), "current_password") from None
    set_password(user, new_password)


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
    signals.membership_approved.send(membership)  # a producer gets a profile (catalog.handlers)
    send_email(membership.user, emails.welcome, number=membership.member_number)
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
    send_email(membership.user, emails.application_rejected, reason=reason)
    db.session.flush()
    return membership


def change_membership_status(admin: User, membership_id: int, target: MembershipStatus, reason: str) -> Membership:
    """Suspend, reinstate or record a member leaving."""
    require_admin(admin)
    membership = _get_membership(membership_id)
    if target in (MembershipStatus.SUSPENDED, MembershipStatus.LEFT) and not (reason or "").strip():
        raise ServiceError(_("Give a reason."), "reason")
    _change_status(membership, target, admin, (reason or "").strip())
    if target in (MembershipStatus.SUSPENDED, MembershipStatus.LEFT):
        end_all_sessions(membership.user)
    db.session.flush()
    return membership


# ---------------------------------------------------------------- links sent by e-mail

RESET_MAX_AGE_S = 2 * 3600
CONFIRM_MAX_AGE_S = 7 * 24 * 3600


def _serializer(purpose: str):
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose)


def _reset_link(user: User) -> str:
    # The token embeds a fragment of the current hash: once the password changes, it is void.
    token = _serializer("password-reset").dumps({"user": user.id, "h": user.password_hash[-16:]})
    return public_url("members.reset_password", token=token)


def _user_from_link(token: str, purpose: str, max_age_s: int) -> tuple[User, dict]:
    from itsdangerous import BadSignature, SignatureExpired

    try:
        data = _serializer(purpose).loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise ServiceError(_("This link has expired: ask for a new one.")) from None
    except BadSignature:
        raise ServiceError(_("This link is not valid.")) from None
    user = db.session.get(User, data.get("user")) if isinstance(data, dict) else None
    if user is None or not user.is_active:
        raise ServiceError(_("This link has already been used or is no longer valid."))
    return user, data


def sign_up(email: str, password: str, full_name: str,
            locale: str | None = None) -> tuple[User | None, OutboundEmail]:
    """Open an account to be confirmed by e-mail; a taken address gets an e-mail to its owner instead.

    `locale`: the language the visitor signed up in, kept as the account's language (e-mails included).

    The visitor sees the same answer either way: sign-up never tells whether an address has an account.
    Returns the new account (None for a taken address) and the e-mail queued."""
    require_strong_password(password, email, full_name)
    existing = _user_by_email(email)
    if existing is not None:
        hash_password(password)  # the same work as a new account: no timing hint either
        return None, send_email(existing, emails.address_taken, login=public_url("members.login"),
                                reset=_reset_link(existing))
    user = register(email, password, full_name)
    if locale in current_app.config["LANGUAGES"]:
        user.locale = locale
    token = _serializer("confirm-email").dumps({"user": user.id, "email": user.email})
    return user, send_email(user, emails.confirm_address, link=public_url("members.confirm_email", token=token))


def confirm_email(token: str, password: str, client_address: str) -> User:
    """Confirm an address with the link sent to it and the account's password; returns the user to log in."""
    user, data = _user_from_link(token, "confirm-email", CONFIRM_MAX_AGE_S)
    if data.get("email") != user.email:
        raise ServiceError(_("This link is not valid."))
    return log_in(user.email, password, client_address, confirming=True)


def request_password_reset(email: str, client_address: str) -> OutboundEmail | None:
    """E-mail a time-limited reset link, within limits; says nothing about whether the address has an account."""
    user = _user_by_email(email)
    throttling.require_allowed(AttemptKind.PASSWORD_RESET, normalise_email(email), client_address,
                               user.id if user else None)
    throttling.use_attempt(AttemptKind.PASSWORD_RESET, normalise_email(email), client_address)
    if user is None or not user.is_active:
        return None
    return send_email(user, emails.reset_password, link=_reset_link(user))


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a valid, unused reset link (which also confirms the address)."""
    user, data = _user_from_link(token, "password-reset", RESET_MAX_AGE_S)
    if user.password_hash[-16:] != data.get("h"):
        raise ServiceError(_("This link has already been used or is no longer valid."))
    set_password(user, new_password)
    user.email_confirmed_at = user.email_confirmed_at or utcnow()
    return user
