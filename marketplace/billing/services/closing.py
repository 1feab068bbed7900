"""Closing a period: bill every active member so that the fees add up exactly to what the period cost."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update

from marketplace.billing import emails as billing_emails
from marketplace.billing import signals
from marketplace.billing.allocation import Allocation, MemberActivity, MemberFee, allocate_fees
from marketplace.billing.models import (
    PERIOD_TRANSITIONS,
    BillingPeriod,
    CostEntry,
    DuesEntry,
    DuesKind,
    FeeRuleVersion,
    PeriodStatus,
    Statement,
)
from marketplace.billing.services.activity import (
    buyer_purchases_by_member,
    courier_pay_by_member,
    delivery_fees_total,
    producer_sales_by_member,
)
from marketplace.billing.services.costs import sync_processing_fees
from marketplace.billing.services.periods import coop_today, get_or_create_period, get_period, period_label, utc_bounds
from marketplace.billing.services.rules import rule_in_force, to_fee_rule
from marketplace.core.errors import Conflict, ServiceError
from marketplace.core.mail import language_of, render_email
from marketplace.core.models import OutboundEmail
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members.models import Membership, MembershipStatus, User
from marketplace.members.services import require_admin
from marketplace.timeutil import utcnow


class PeriodAlreadyClosed(Conflict):
    """The period was closed already (maybe by a concurrent close): nothing was changed."""


@dataclass(frozen=True)
class PeriodActivity:
    """Every active member's activity over a period, and the per-college figures it came from."""

    members: list[MemberActivity]
    sales: dict[int, int]
    purchases: dict[int, int]
    courier_pay: dict[int, int]


def _carry_in(period: BillingPeriod) -> int:
    previous = (db.session.query(BillingPeriod.carry_out_cents)
                .filter(BillingPeriod.status == PeriodStatus.CLOSED, BillingPeriod.starts_on < period.starts_on)
                .order_by(BillingPeriod.starts_on.desc()).first())
    return int(previous[0] or 0) if previous else 0


def _rule_for_closing(period: BillingPeriod, today: date) -> FeeRuleVersion:
    """The rule that bills the period, once it is known that the period may be closed today."""
    if period.is_closed:
        raise PeriodAlreadyClosed(_("The period %(p)s is already closed; its statements stand.",
                                    p=period_label(period)))
    if period.ends_on > today:
        raise Conflict(_("The period %(p)s has not ended yet: it can be closed from %(d)s.",
                         p=period_label(period), d=period.ends_on.isoformat()))
    earlier = (db.session.query(BillingPeriod).filter(BillingPeriod.status == PeriodStatus.OPEN,
                                                      BillingPeriod.starts_on < period.starts_on)
               .order_by(BillingPeriod.starts_on).first())
    if earlier is not None:
        raise Conflict(_("Close the period %(p)s first: periods are closed in order.", p=period_label(earlier)))
    version = rule_in_force(period.starts_on)
    if version is None:
        raise ServiceError(_("No fee rule is in force for %(p)s: the members must adopt one first.",
                             p=period_label(period)))
    return version


def _claim(period: BillingPeriod, actor: User | None) -> None:
    """Mark the period closed; the row lock makes a concurrent close wait, then find nothing to update."""
    assert PeriodStatus.CLOSED in PERIOD_TRANSITIONS[PeriodStatus.OPEN]
    claimed = db.session.execute(
        update(BillingPeriod).where(BillingPeriod.id == period.id, BillingPeriod.status == PeriodStatus.OPEN.value)
        .values(status=PeriodStatus.CLOSED.value, closed_at=utcnow(), closed_by_id=actor.id if actor else None)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise PeriodAlreadyClosed(_("The period %(p)s was closed by someone else meanwhile; nothing was changed.",
                                    p=period_label(period)))
    db.session.refresh(period)


def _period_activity(start: datetime, end: datetime) -> PeriodActivity:
    """Each active member's activity in [start, end): sales, delivery pay or purchases, by college."""
    members = db.session.execute(select(Membership.user_id, Membership.college)
                                 .where(Membership.status == MembershipStatus.ACTIVE.value)
                                 .order_by(Membership.user_id)).all()
    sales = producer_sales_by_member(start, end)
    purchases = buyer_purchases_by_member(start, end)
    courier_pay = courier_pay_by_member(start, end)
    by_college = {"producer": sales, "courier": courier_pay, "buyer": purchases, "supporter": {}}
    activities = []
    for user_id, college in members:
        college = getattr(college, "value", college)
        activities.append(MemberActivity(user_id, college, by_college[college].get(user_id, 0)))
    return PeriodActivity(activities, sales, purchases, courier_pay)


def _issue_statements(period: BillingPeriod, allocation: Allocation, activities: list[MemberActivity]) -> None:
    """One statement per member and one charge per fee above zero, in two statements whatever the count."""
    now = utcnow()
    activity_of = {a.member_id: a.activity_cents for a in activities}
    statements = [{"period_id": period.id, "user_id": fee.member_id, "college": fee.college,
                       "activity_cents": activity_of[fee.member_id], "flat_cents": fee.flat_cents,
                       "proportional_cents": fee.proportional_cents, "total_cents": fee.total_cents,
                       "explanation": fee.explanation, "created_at": now}
                  for fee in allocation.fees.values()]
    charges = [{"user_id": fee.member_id, "period_id": period.id, "kind": DuesKind.CHARGE.value,
                    "amount_cents": fee.total_cents, "reference": f"period:{period.id}", "created_at": now}
               for fee in allocation.fees.values() if fee.total_cents > 0]
    # executemany without RETURNING: one statement whatever the number of members.
    if statements:
        db.session.execute(insert(Statement), statements)
    if charges:
        db.session.execute(insert(DuesEntry), charges)


def close_period(period_id: int, actor: User | None = None, today: date | None = None) -> BillingPeriod:
    """Close a period: bill every active member so that the fees add up exactly to its cost.

    `actor` None means the scheduled task. A conditional UPDATE claims the period, so of two
    concurrent closes exactly one bills; the other gets PeriodAlreadyClosed and changes nothing.
    """
    if actor is not None:
        require_admin(actor)
    period = get_period(period_id)
    version = _rule_for_closing(period, today or coop_today())
    start, end = utc_bounds(period)
    sync_processing_fees(start, end)
    _claim(period, actor)

    total_cost = int(db.session.query(func.coalesce(func.sum(CostEntry.amount_cents), 0))
                     .filter(CostEntry.period_id == period.id).scalar())
    carry_in = _carry_in(period)
    activity = _period_activity(start, end)
    allocation = allocate_fees(total_cost, activity.members, to_fee_rule(version), carry_in)
    _issue_statements(period, allocation, activity.members)
    _queue_statement_emails(period, allocation.fees)

    period.rule_id = version.id
    period.total_cost_cents, period.carry_in_cents = total_cost, carry_in
    period.carry_out_cents, period.billed_cents = allocation.carry_out_cents, allocation.recovered_cents
    period.producer_sales_cents = sum(activity.sales.values())
    period.buyer_purchases_cents = sum(activity.purchases.values())
    period.courier_pay_cents = sum(activity.courier_pay.values())
    period.delivery_fees_cents = delivery_fees_total(start, end)
    period.member_count = len(activity.members)
    period.summary = allocation.summary
    db.session.flush()
    signals.statements_issued.send(period)
    return period


def _queue_statement_emails(period: BillingPeriod, fees: dict[int, MemberFee]) -> None:
    members = db.session.execute(select(User.id, User.email, User.locale)
                                 .join(Membership, Membership.user_id == User.id)
                                 .where(Membership.status == MembershipStatus.ACTIVE.value)).all()
    address = {row.id: row for row in members}
    now, url = utcnow(), public_url("billing.my_fees")
    rows = []
    for user_id, fee in fees.items():
        if user_id not in address:
            continue
        member = address[user_id]
        subject, body = render_email(language_of(member), billing_emails.fee_statement, month=period.starts_on,
                                     amount_cents=fee.total_cents, how=fee.explanation, url=url)
        rows.append({"recipient": member.email, "created_at": now, "subject": subject[:300], "body": body})
    if rows:
        db.session.execute(insert(OutboundEmail), rows)


def close_month(actor: User, starts_on: date) -> BillingPeriod:
    """The admin button: close the period starting on `starts_on` (created if nothing was recorded)."""
    require_admin(actor)
    return close_period(get_or_create_period(starts_on).id, actor)
