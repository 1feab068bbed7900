"""What admins do with accounts: adjustments, top-ups received, paybacks, and the treasurer's view."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func

from marketplace.accounts.models import AccountMovement, Means, MemberAccount, MovementKind
from marketplace.accounts.services.ledger import balance_cents, post_movement
from marketplace.core.errors import NotFound, ServiceError
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin

OFFLINE_MEANS = (Means.CASH, Means.CHEQUE, Means.BANK_TRANSFER)


def _member(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such member."))
    return user


def adjust(admin: User, user_id: int, amount_cents: int, reason: str) -> AccountMovement:
    """An admin's correction, in either direction, with the reason the member will read."""
    require_admin(admin)
    _member(user_id)
    return post_movement(user_id, MovementKind.ADJUSTMENT, amount_cents, reason=reason, actor=admin)


def record_top_up(admin: User, user_id: int, amount_cents: int, means: Means, note: str = "") -> AccountMovement:
    """Money the member handed to the coop (cash, cheque, bank transfer), recorded by an admin."""
    require_admin(admin)
    _member(user_id)
    try:
        means = Means(means)
    except ValueError:
        raise ServiceError(_("Choose cash, cheque or bank transfer."), "means") from None
    if means not in OFFLINE_MEANS:
        raise ServiceError(_("Choose cash, cheque or bank transfer."), "means")
    if amount_cents <= 0:
        raise ServiceError(_("The amount must be between 0.01 and 10,000.00."), "amount")
    return post_movement(user_id, MovementKind.TOP_UP, amount_cents, reason=note, actor=admin, means=means)


def record_payback(admin: User, user_id: int, means: Means, note: str = "") -> AccountMovement:
    """The coop handed the whole positive balance back to the member (cash, cheque or transfer)."""
    require_admin(admin)
    _member(user_id)
    if Means(means) not in OFFLINE_MEANS:
        raise ServiceError(_("Choose cash, cheque or bank transfer."), "means")
    balance = balance_cents(user_id)
    if balance <= 0:
        raise ServiceError(_("There is nothing to hand back."))
    movement = post_movement(user_id, MovementKind.PAYBACK, -balance, reason=note, actor=admin, means=Means(means))
    account = db.session.get(MemberAccount, user_id)
    account.payback_requested_at = None
    db.session.flush()
    return movement


@dataclass(frozen=True)
class AccountLine:
    user: User
    balance_cents: int
    payback_requested: bool


@dataclass(frozen=True)
class Treasury:
    """The money the coop holds for its members: a liability, not income."""

    lines: list[AccountLine]
    owed_to_members_cents: int   # sum of positive balances
    owed_by_members_cents: int   # sum of negative balances (carried-over amounts due), as a positive figure
    ledger_total_cents: int      # sum of every movement ever posted

    @property
    def liability_cents(self) -> int:
        return self.owed_to_members_cents - self.owed_by_members_cents

    @property
    def reconciled(self) -> bool:
        return self.liability_cents == self.ledger_total_cents


def treasury(admin: User) -> Treasury:
    """Every member's balance, their totals, and the ledger's own total to reconcile them with."""
    require_admin(admin)
    rows = (db.session.query(MemberAccount, func.coalesce(func.sum(AccountMovement.amount_cents), 0))
            .outerjoin(AccountMovement, AccountMovement.user_id == MemberAccount.user_id)
            .group_by(MemberAccount.user_id).all())
    lines = sorted((AccountLine(account.user, int(total), account.payback_requested_at is not None)
                    for account, total in rows), key=lambda line: line.user.full_name.lower())
    ledger_total = int(db.session.query(func.coalesce(func.sum(AccountMovement.amount_cents), 0)).scalar())
    return Treasury(lines=[line for line in lines if line.balance_cents or line.payback_requested],
                    owed_to_members_cents=sum(m.balance_cents for m in lines if m.balance_cents > 0),
                    owed_by_members_cents=-sum(m.balance_cents for m in lines if m.balance_cents < 0),
                    ledger_total_cents=ledger_total)


def member_liability_cents() -> int:
    """The money the coop holds for its members (the ledger's total), for public and admin pages."""
    return int(db.session.query(func.coalesce(func.sum(AccountMovement.amount_cents), 0)).scalar())
