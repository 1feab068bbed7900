"""A subscription's money: its season as the rule sees it, the instalments, and payments recorded."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from marketplace.contracts.models import (
    Contract,
    DeliveryChoice,
    Instalment,
    PaymentMeans,
    Subscription,
    SubscriptionDelivery,
)
from marketplace.contracts.rules import (
    DeliveryPlan,
    absence_charged,
    amount_due_cents,
    free_absences_taken,
    reschedule,
)
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.orders.models import OrderPart
from marketplace.orders.states import PartStatus
from marketplace.timeutil import utcnow

RECORDED_MEANS = (PaymentMeans.CARD, PaymentMeans.CHEQUE, PaymentMeans.BANK_TRANSFER)


def claimed_distribution_ids(subscription: Subscription) -> set[int]:
    """The distributions whose order was already made (or tried) for this subscription."""
    return {d for (d,) in db.session.query(SubscriptionDelivery.distribution_id)
            .filter_by(subscription_id=subscription.id)}


def subscriber_distributions(subscription: Subscription) -> list[Distribution]:
    """The subscriber's deliveries: the season's distributions whose cut-off is after they subscribed
    (and, once stopped, those whose cut-off came before the stop or whose order was already made)."""
    return [distribution for distribution, _plan in delivery_plan(subscription)]


def choices_of(subscription: Subscription) -> dict[int, DeliveryChoice]:
    rows = db.session.query(DeliveryChoice).filter_by(subscription_id=subscription.id).all()
    return {choice.distribution_id: choice for choice in rows}


def delivery_plan(subscription: Subscription) -> list[tuple[Distribution, DeliveryPlan]]:
    """Each delivery as it stands: the share or the amended baskets, absent or not, cancelled or not, and
    whether its order (once made) could serve anything."""
    plan: list[tuple[Distribution, DeliveryPlan]] = []
    for _subscription_id, distribution, delivery in _plan_rows([subscription.id], Distribution):
        plan.append((distribution, delivery))
    return plan


def delivery_plans(subscription_ids: Sequence[int]) -> dict[int, list[DeliveryPlan]]:
    """The deliveries of `delivery_plan` (without their distributions) of several subscriptions, in one statement
    whatever their number: {subscription id: plan}."""
    plans: dict[int, list[DeliveryPlan]] = {subscription_id: [] for subscription_id in subscription_ids}
    for subscription_id, _distribution_id, delivery in _plan_rows(list(plans), Distribution.id):
        plans[subscription_id].append(delivery)
    return plans


def _plan_rows(subscription_ids: list[int], distribution) -> Iterator[tuple[int, Any, DeliveryPlan]]:
    """(subscription id, `distribution` (the entity or a column), the delivery) of each delivery of these
    subscriptions, by subscription then in date order, in one statement.

    A subscription's deliveries are its season's distributions whose cut-off is after it began, and once stopped,
    those whose cut-off came before the stop or whose order was already made. A delivery's order serves nothing
    when it was made (or tried) and has no live part (none made, or every one cancelled)."""
    if not subscription_ids:
        return
    choice, claim = aliased(DeliveryChoice), aliased(SubscriptionDelivery)
    served = exists().where(OrderPart.order_id == claim.order_id, OrderPart.status != PartStatus.CANCELLED)
    rows = db.session.execute(
        select(Subscription.id, Subscription.share, distribution, Distribution.cancelled_at, choice.baskets,
               choice.absent, claim.id, served)
        .join(Distribution, Distribution.series_key == Subscription.series_key)
        .outerjoin(choice, and_(choice.subscription_id == Subscription.id, choice.distribution_id == Distribution.id))
        .outerjoin(claim, and_(claim.subscription_id == Subscription.id, claim.distribution_id == Distribution.id))
        .where(Subscription.id.in_(subscription_ids),
               Distribution.cutoff_at > func.coalesce(Subscription.accepted_at, Subscription.created_at),
               or_(Subscription.stopped_at.is_(None), Distribution.cutoff_at <= Subscription.stopped_at,
                   claim.id.is_not(None)))
        .order_by(Subscription.id, Distribution.starts_at, Distribution.id))
    for subscription_id, share, shown, cancelled_at, amended, absent, claim_id, served_any in rows:
        baskets = share if amended is None else amended
        yield subscription_id, shown, DeliveryPlan(baskets=baskets, absent=bool(absent),
                                                   cancelled=cancelled_at is not None,
                                                   unserved=baskets > 0 and claim_id is not None and not served_any)


def charged_absence_ids(subscription: Subscription) -> set[int]:
    """The distributions where the member is absent beyond the allowance: the basket is prepared and owed."""
    if subscription.contract is None:
        return set()
    plan = delivery_plan(subscription)
    flags = absence_charged([p for _d, p in plan], subscription.contract.allowed_absences)
    return {distribution.id for (distribution, _p), charged in zip(plan, flags, strict=True) if charged}


def amount_cents(subscription: Subscription) -> int:
    """The season's amount under the contract's rule (contracts.rules)."""
    contract = subscription.contract
    return amount_due_cents(contract.price_per_delivery_cents, [p for _d, p in delivery_plan(subscription)],
                            contract.allowed_absences)


def absences_left(subscription: Subscription) -> int:
    contract = subscription.contract
    used = free_absences_taken([p for _d, p in delivery_plan(subscription)], contract.allowed_absences)
    return contract.allowed_absences - used


def _due_dates(subscription: Subscription, count: int) -> list[date]:
    """Instalment i falls due on the day of delivery (i × deliveries) // count: spread over the season."""
    days = [d.starts_at.date() for d in subscriber_distributions(subscription)] or [utcnow().date()]
    return [days[(i * len(days)) // count] for i in range(count)]


def refresh_schedule(subscription: Subscription) -> list[Instalment]:
    """Recompute the instalments still to pay from the season as it now stands (contracts.rules.reschedule).

    Paid instalments never change; the unpaid ones take the new amounts; a settling instalment is added
    when everything was paid and the amount changed, or removed when no longer needed."""
    contract = subscription.contract
    rows = sorted(subscription.instalment_rows, key=lambda row: row.number)
    paid = [row.paid_cents for row in rows if row.paid_cents is not None]
    schedule = reschedule(amount_cents(subscription), paid, contract.instalments)
    dates = _due_dates(subscription, contract.instalments)
    by_number = {row.number: row for row in rows}
    for index, cents in enumerate(schedule):
        number = index + 1
        row = by_number.get(number)
        if row is None:
            row = Instalment(number=number, due_on=dates[min(index, len(dates) - 1)], amount_cents=cents)
            subscription.instalment_rows.append(row)
        elif row.paid_cents is None:
            row.amount_cents = cents
    for number, row in by_number.items():
        if number > len(schedule) and row.paid_cents is None:
            subscription.instalment_rows.remove(row)
            db.session.delete(row)
    db.session.flush()
    return sorted(subscription.instalment_rows, key=lambda row: row.number)


def refresh_series_schedules(series_key: str | None) -> int:
    """Every contract subscription on the series gets its schedule recomputed (a distribution of it was
    cancelled: nobody pays for it any more). Returns how many were refreshed."""
    if not series_key:
        return 0
    subscriptions = (db.session.query(Subscription)
                     .filter(Subscription.series_key == series_key, Subscription.contract_id.is_not(None))
                     .order_by(Subscription.id).all())
    for subscription in subscriptions:
        refresh_schedule(subscription)
    return len(subscriptions)


@dataclass(frozen=True)
class Balance:
    amount_cents: int   # the season's amount under the rule, as it stands
    paid_cents: int
    due_cents: int      # negative: owed back to the member


def balance(subscription: Subscription) -> Balance:
    amount = amount_cents(subscription)
    paid = sum(row.paid_cents or 0 for row in subscription.instalment_rows)
    return Balance(amount, paid, amount - paid)


SUBSCRIBERS_PER_PAGE = 200


@dataclass(frozen=True)
class SubscribersPage:
    """One page of a contract's subscriptions (items: their id, status and stop reason, the member's name and what
    was paid), each one's balance."""

    pages: Pagination
    balances: dict[int, Balance]  # by subscription id


def subscribers_page(contract: Contract, page: int = 1, per_page: int | None = None) -> SubscribersPage:
    """The contract's subscriptions in the order they came, a page at a time, read as columns with their member's
    name, each one's balance (`balance`'s figures): a count and two statements whatever the page's size (the page
    with what was paid on each, summed by the database; every delivery plan of the page)."""
    paid = (select(func.coalesce(func.sum(Instalment.paid_cents), 0))
            .where(Instalment.subscription_id == Subscription.id).scalar_subquery())
    pages = (db.session.query(Subscription.id, Subscription.status, Subscription.stop_reason,
                              User.full_name.label("member_name"), paid.label("paid_cents"))
             .join(User, User.id == Subscription.member_id).filter(Subscription.contract_id == contract.id)
             .order_by(Subscription.created_at, Subscription.id)
             .paginate(page=page, per_page=per_page or SUBSCRIBERS_PER_PAGE, error_out=False))
    plans = delivery_plans([row.id for row in pages.items])
    balances = {}
    for row in pages.items:
        amount = amount_due_cents(contract.price_per_delivery_cents, plans[row.id], contract.allowed_absences)
        balances[row.id] = Balance(amount, int(row.paid_cents), amount - int(row.paid_cents))
    return SubscribersPage(pages, balances)


def _next_unpaid(subscription_id: int) -> tuple[Subscription, Instalment]:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or subscription.contract is None:
        raise NotFound(_("No such subscription."))
    refresh_schedule(subscription)
    row = next((r for r in sorted(subscription.instalment_rows, key=lambda r: r.number) if r.paid_cents is None),
               None)
    if row is None:
        raise Conflict(_("Every instalment is already paid."))
    return subscription, row


def record_instalment(admin: User, subscription_id: int, means: PaymentMeans) -> Instalment:
    """The coop received the next instalment (card terminal, cheque, transfer): it is recorded as paid, in order."""
    require_admin(admin)
    means = PaymentMeans(means)
    if means not in RECORDED_MEANS:
        raise ServiceError(_("Record a card, cheque or transfer payment."), "means")
    subscription, row = _next_unpaid(subscription_id)
    row.paid_cents, row.paid_at, row.means, row.recorded_by_id = row.amount_cents, utcnow(), means, admin.id
    refresh_schedule(subscription)
    return row


def pay_instalment_from_account(member: User, subscription_id: int) -> Instalment:
    """The member's account pays the next instalment (never below the account's floor)."""
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import MovementKind

    subscription, row = _next_unpaid(subscription_id)
    if subscription.member_id != member.id:
        raise NotFound(_("No such subscription."))
    if row.amount_cents <= 0:
        raise Conflict(_("Nothing to pay: this instalment is a credit to you."))
    accounts.post_movement(member.id, MovementKind.CONTRACT_PAYMENT, -row.amount_cents, actor=member,
                           key=f"contract-instalment:{subscription.id}:{row.number}")
    row.paid_cents, row.paid_at, row.means, row.recorded_by_id = row.amount_cents, utcnow(), PaymentMeans.ACCOUNT, \
        member.id
    refresh_schedule(subscription)
    return row
