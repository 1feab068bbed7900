"""The ledger's rules: who may post what, with which sign, and how low a balance may go.

Every movement goes through `post_movement`; every debit first locks the member's account row,
so two requests spending the same balance at once are served one after the other.
"""
from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace.accounts import signals
from marketplace.accounts.models import KIND_SIGN, AccountMovement, Means, MemberAccount, MovementKind
from marketplace.core.errors import Conflict, ServiceError
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import format_money
from marketplace.timeutil import utcnow

MAX_MOVEMENT_CENTS = 10_000_00  # 10,000.00: far above any basket; a typo's extra zeros are refused
MAX_REASON = 1000


def carry_over_limit_cents() -> int:
    """The coop's setting: weighing differences below it are carried to the account, not charged or refunded."""
    from marketplace.core.services import get_int_setting

    return max(get_int_setting("account_carry_over_cents"), 0)


def account_row(user_id: int, *, lock: bool = False) -> MemberAccount:
    """The member's account row, created on first use; `lock` holds it until the transaction ends."""
    query = db.session.query(MemberAccount).filter_by(user_id=user_id)
    account = (query.with_for_update() if lock else query).first()
    if account is None:
        # Two first movements at once both find no row: one inserts it, the other waits on it, no error.
        dialect = db.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        db.session.execute(insert(MemberAccount).values(user_id=user_id, created_at=utcnow())
                           .on_conflict_do_nothing(index_elements=["user_id"]))
        account = (query.with_for_update() if lock else query).first()
    return account


# Built once (read at every checkout): the statement and its cache key are not made again at each call.
_BALANCE = (select(func.coalesce(func.sum(AccountMovement.amount_cents), 0))
            .where(AccountMovement.user_id == bindparam("user_id")))


def balance_cents(user_id: int) -> int:
    """The member's balance: the sum of their movements (positive: the coop owes the member)."""
    return int(db.session.execute(_BALANCE, {"user_id": user_id}).scalar_one())


def balances_cents(user_ids: Iterable[int]) -> dict[int, int]:
    """`balance_cents` of several members in one statement whatever their number: {user id: balance}."""
    ids = set(user_ids)
    sums = dict(db.session.query(AccountMovement.user_id, func.sum(AccountMovement.amount_cents))
                .filter(AccountMovement.user_id.in_(ids)).group_by(AccountMovement.user_id).all()) if ids else {}
    return {user_id: int(sums.get(user_id) or 0) for user_id in ids}


def floor_cents(kind: MovementKind) -> int:
    """The published overdraft rule: a balance never goes below zero, except by a weighing difference
    carried over, and then by at most the carry-over limit."""
    return -carry_over_limit_cents() if kind == MovementKind.CARRY_OVER else 0


def check_movement(kind: MovementKind, amount_cents: int, reason: str) -> None:
    """The movement's own rules: a whole non-zero amount in bounds, the kind's sign, a reason for adjustments."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents == 0 \
            or abs(amount_cents) > MAX_MOVEMENT_CENTS:
        raise ServiceError(_("The amount must be between 0.01 and 10,000.00."), "amount")
    sign = KIND_SIGN[kind]
    if sign and (amount_cents > 0) != (sign > 0):
        raise ServiceError(_("This kind of movement cannot have that sign."), "amount")
    if kind == MovementKind.ADJUSTMENT and not reason.strip():
        raise ServiceError(_("Give the reason for the adjustment: the member will read it."), "reason")
    if len(reason) > MAX_REASON:
        raise ServiceError(_("Keep the reason under %(n)d characters.", n=MAX_REASON), "reason")


def post_movement(user_id: int, kind: MovementKind, amount_cents: int, *, reason: str = "",
                  actor: User | None = None, order_id: int | None = None, means: Means | None = None,
                  key: str | None = None) -> AccountMovement:
    """Append one movement (audited); a debit may not take the balance below the overdraft rule's floor.

    With a `key`, posting the same fact again returns the movement already posted (safe to run twice)."""
    kind = MovementKind(kind)
    reason = (reason or "").strip()
    check_movement(kind, amount_cents, reason)
    if key is not None:
        existing = db.session.query(AccountMovement).filter_by(key=key).first()
        if existing is not None:
            return existing
    account_row(user_id, lock=True)
    before = balance_cents(user_id)
    if amount_cents < 0 and before + amount_cents < floor_cents(kind):
        raise Conflict(_("The account has %(balance)s: not enough for this movement.",
                         balance=format_money(before)))
    movement = AccountMovement(user_id=user_id, kind=kind, amount_cents=amount_cents, reason=reason,
                               actor_id=actor.id if actor is not None else None, order_id=order_id,
                               means=Means(means) if means else None, key=key)
    db.session.add(movement)
    db.session.flush()
    signals.movement_posted.send(movement, actor=actor, before_cents=before, note=reason)
    return movement


def movements_of(user_id: int, limit: int = 500) -> list[AccountMovement]:
    """The member's movements, newest first."""
    return (db.session.query(AccountMovement).filter_by(user_id=user_id)
            .order_by(AccountMovement.id.desc()).limit(limit).all())



# Movements that settle an order: what the account paid it, less what came back to the account from it.
ORDER_SETTLEMENT_KINDS = (MovementKind.ORDER_PAYMENT, MovementKind.REFUND_TO_ACCOUNT, MovementKind.CARRY_OVER)


def order_share_cents(order_id: int) -> int:
    """What the buyer's account has paid towards an order, net of what came back to it (never credits)."""
    return order_shares_cents([order_id])[order_id]


def order_shares_cents(order_ids: Iterable[int]) -> dict[int, int]:
    """`order_share_cents` of several orders in one statement whatever their number: {order id: share}."""
    ids = set(order_ids)
    sums = dict(db.session.query(AccountMovement.order_id, func.sum(AccountMovement.amount_cents))
                .filter(AccountMovement.order_id.in_(ids), AccountMovement.kind.in_(ORDER_SETTLEMENT_KINDS))
                .group_by(AccountMovement.order_id).all()) if ids else {}
    return {order_id: -int(sums.get(order_id) or 0) for order_id in ids}
