"""What a member sees and asks of their own account."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from marketplace.accounts import emails
from marketplace.accounts.models import AccountMovement, MemberAccount
from marketplace.accounts.services.ledger import account_row, balance_cents, movements_of
from marketplace.core.errors import NotAllowed, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import format_money
from marketplace.timeutil import utcnow


@dataclass(frozen=True)
class Statement:
    user: User
    balance_cents: int
    movements: list[AccountMovement]
    payback_requested: bool


def _require_user(user: User | None) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))


def statement(viewer: User, user_id: int | None = None) -> Statement:
    """A member's balance and movements: their own, or any member's for an admin."""
    _require_user(viewer)
    user_id = viewer.id if user_id is None else user_id
    if user_id != viewer.id and not viewer.is_admin:
        raise NotFound(_("No such member."))
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such member."))
    account = db.session.get(MemberAccount, user_id)
    requested = account is not None and account.payback_requested_at is not None
    return Statement(user, balance_cents(user_id), movements_of(user_id), requested)


def request_payback(user: User) -> None:
    """The member asks for their positive balance back; the admins are told and record the payback."""
    _require_user(user)
    balance = balance_cents(user.id)
    if balance <= 0:
        raise ServiceError(_("Your balance is %(balance)s: there is nothing to hand back.",
                             balance=format_money(balance)))
    account = account_row(user.id, lock=True)
    if account.payback_requested_at is None:
        account.payback_requested_at = utcnow()
        for admin in db.session.query(User).filter_by(is_admin=True, login_disabled=False):
            send_email(admin, emails.payback_requested, member=user.full_name, amount_cents=balance)
    db.session.flush()
