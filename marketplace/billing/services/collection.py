"""Collecting the fees: what each member owes, payments recorded by admins, fees withheld from transfers."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import case, func, select

from marketplace.billing.models import BillingPeriod, DuesEntry, DuesKind, PaymentMethod, Statement
from marketplace.billing.services.common import _is_int
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.money import format_money
from marketplace.timeutil import utcnow


def _paid_for(user_id: int, period_id: int) -> int:
    return int(db.session.query(func.coalesce(func.sum(DuesEntry.amount_cents), 0))
               .filter(DuesEntry.user_id == user_id, DuesEntry.period_id == period_id,
                       DuesEntry.kind == DuesKind.PAYMENT).scalar())


def _outstanding_by_period(user_id: int) -> list[tuple[int, int]]:
    """[(period id, cents still due)] oldest first."""
    signed = case((DuesEntry.kind == DuesKind.CHARGE.value, DuesEntry.amount_cents), else_=-DuesEntry.amount_cents)
    rows = (db.session.query(DuesEntry.period_id, func.sum(signed))
            .join(BillingPeriod, BillingPeriod.id == DuesEntry.period_id)
            .filter(DuesEntry.user_id == user_id)
            .group_by(DuesEntry.period_id, BillingPeriod.starts_on).order_by(BillingPeriod.starts_on).all())
    return [(pid, int(due)) for pid, due in rows if due and due > 0]


def paid_by_member(period_id: int) -> dict[int, int]:
    """{user id: cents received} for one period's statements."""
    return {uid: int(total) for uid, total in
            db.session.query(DuesEntry.user_id, func.sum(DuesEntry.amount_cents))
            .filter(DuesEntry.period_id == period_id, DuesEntry.kind == DuesKind.PAYMENT)
            .group_by(DuesEntry.user_id)}


def fees_due_cents(user_id: int) -> int:
    """What the member still owes the coop (for payments: withhold it from their next transfers)."""
    signed = case((DuesEntry.kind == DuesKind.CHARGE.value, DuesEntry.amount_cents), else_=-DuesEntry.amount_cents)
    total = db.session.query(func.coalesce(func.sum(signed), 0)).filter(DuesEntry.user_id == user_id).scalar()
    return max(int(total), 0)


def _lock_member(user_id: int) -> None:
    # One member's dues are settled one payment at a time (no-op on SQLite, which serialises writes).
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _settle(user_id: int, cents: int, method: PaymentMethod, reference: str, recorded_by: User | None,
            only_period: int | None = None) -> int:
    remaining = cents
    for period_id, due in _outstanding_by_period(user_id):
        if only_period is not None and period_id != only_period:
            continue
        part = min(due, remaining)
        db.session.add(DuesEntry(user_id=user_id, period_id=period_id, kind=DuesKind.PAYMENT, amount_cents=part,
                                 method=method, reference=reference,
                                 recorded_by_id=recorded_by.id if recorded_by else None))
        remaining -= part
        if remaining == 0:
            break
    db.session.flush()
    return cents - remaining


def record_withholding(user_id: int, cents: int, reference: str) -> int:
    """Record fees withheld from a member's Stripe Connect transfer (oldest dues first); idempotent by reference.

    Returns the cents recorded: 0 if this reference was recorded before. Never more than is due.
    """
    if not _is_int(cents) or cents <= 0:
        raise ServiceError(_("A withholding must be a positive amount in cents."))
    reference = (reference or "").strip()[:200]
    if not reference:
        raise ServiceError(_("A withholding needs the transfer's reference."))
    _lock_member(user_id)
    seen = (db.session.query(DuesEntry.id).filter_by(user_id=user_id, kind=DuesKind.PAYMENT, reference=reference,
                                                     method=PaymentMethod.WITHHOLDING).first())
    if seen:
        return 0
    due = fees_due_cents(user_id)
    if cents > due:
        raise Conflict(_("Only %(due)s is due: withhold no more than that.", due=format_money(due)))
    return _settle(user_id, cents, PaymentMethod.WITHHOLDING, reference, None)


def record_payment(admin: User, statement_id: int, method: PaymentMethod | str, reference: str = "") -> int:
    """An admin records that a statement was paid (cash at the pickup, bank transfer, cheque...)."""
    require_admin(admin)
    try:
        method = PaymentMethod(getattr(method, "value", method))
    except ValueError:
        raise ServiceError(_("Choose how the fee was paid."), "method") from None
    statement = db.session.get(Statement, statement_id)
    if statement is None:
        raise NotFound(_("No such statement."))
    _lock_member(statement.user_id)
    due = statement.total_cents - _paid_for(statement.user_id, statement.period_id)
    if due <= 0:
        raise Conflict(_("This fee is already settled."))
    reference = (reference or "").strip()[:200] or f"{method.value}:{statement.id}:{utcnow():%Y%m%d%H%M%S}"
    return _settle(statement.user_id, due, method, reference, admin, only_period=statement.period_id)


def release_withholding(user_id: int, cents: int, reference: str) -> int:
    """Payments gave back fees withheld from a transfer (its line was refunded): they are due again.

    The withholding recorded under `reference` is reduced (latest period first); returns the cents released.
    """
    _lock_member(user_id)
    remaining = cents
    rows = (db.session.query(DuesEntry).join(BillingPeriod, BillingPeriod.id == DuesEntry.period_id)
            .filter(DuesEntry.user_id == user_id, DuesEntry.kind == DuesKind.PAYMENT,
                    DuesEntry.method == PaymentMethod.WITHHOLDING, DuesEntry.reference == reference)
            .order_by(BillingPeriod.starts_on.desc()).all())
    for row in rows:
        part = min(row.amount_cents, remaining)
        if part == row.amount_cents:
            db.session.delete(row)
        else:
            row.amount_cents -= part
        remaining -= part
        if remaining == 0:
            break
    db.session.flush()
    return cents - remaining


# The payments domain calls them under these names when it withholds fees from a transfer, or gives them back.
record_fee_withheld = record_withholding
release_fee_withheld = release_withholding
