"""Members' statements: one per member and closed period, for the member or an admin."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from marketplace.billing.models import BillingPeriod, CostEntry, DuesEntry, DuesKind, FeeRuleVersion, Statement
from marketplace.billing.services.collection import _paid_for
from marketplace.billing.services.costs import costs_by_category
from marketplace.core.errors import NotAllowed, NotFound
from marketplace.extensions import db
from marketplace.members.models import User


@dataclass
class StatementView:
    statement: Statement
    period: BillingPeriod
    rule: FeeRuleVersion | None
    costs_by_category: list[tuple[str, int]]
    adjustments: list[CostEntry]
    paid_cents: int
    member_name: str

    @property
    def due_cents(self) -> int:
        return max(self.statement.total_cents - self.paid_cents, 0)


def get_statement(viewer: User, statement_id: int) -> StatementView:
    """A statement, for its member or an admin."""
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    statement = db.session.get(Statement, statement_id)
    if statement is None or (statement.user_id != viewer.id and not viewer.is_admin):
        raise NotFound(_("No such statement."))
    period = statement.period
    adjustments = [c for c in period.costs if c.is_adjustment]
    return StatementView(statement=statement, period=period, rule=period.rule,
                         costs_by_category=costs_by_category(period.id), adjustments=adjustments,
                         paid_cents=_paid_for(statement.user_id, period.id), member_name=statement.user.full_name)


STATEMENTS_PER_PAGE = 200


def period_statements(period: BillingPeriod, page: int = 1, per_page: int | None = None) -> Pagination:
    """One page of a period's statements by college and member, each with its member's name (a count and two
    statements whatever the page's size); the admin's period page."""
    return (db.session.query(Statement).filter(Statement.period_id == period.id)
            .options(selectinload(Statement.user).load_only(User.full_name))
            .order_by(Statement.college, Statement.user_id, Statement.id)
            .paginate(page=page, per_page=per_page or STATEMENTS_PER_PAGE, error_out=False))


def my_statements(user: User) -> list[tuple[Statement, int]]:
    """The member's statements, newest first, with what was paid on each."""
    statements = (db.session.query(Statement).join(BillingPeriod)
                  .filter(Statement.user_id == user.id).order_by(BillingPeriod.starts_on.desc()).all())
    paid = dict(db.session.query(DuesEntry.period_id, func.sum(DuesEntry.amount_cents))
                .filter(DuesEntry.user_id == user.id, DuesEntry.kind == DuesKind.PAYMENT)
                .group_by(DuesEntry.period_id).all())
    return [(s, int(paid.get(s.period_id) or 0)) for s in statements]
