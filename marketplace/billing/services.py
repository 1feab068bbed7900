"""Fee at cost: record the coop's costs, vote the rule, close a period, bill and collect the fees.

Every rule of the domain lives here; views and tasks only call these functions. Nothing here
commits: the request (or the task) commits once, so a refused action leaves nothing behind.
"""
from __future__ import annotations

import calendar
import importlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import BigInteger, and_, case, cast, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from marketplace.billing.allocation import FeeRule, MemberActivity, allocate_fees
from marketplace.billing.models import (PERIOD_TRANSITIONS, RULE_TRANSITIONS, AdoptedVia, BillingPeriod,
                                        BillingSettings, CostCategory, CostEntry, DuesEntry, DuesKind,
                                        FeeRuleVersion, PaymentMethod, PeriodStatus, RuleStatus, RuleVote, Statement,
                                        VoteChoice)
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.core.services import public_url
from marketplace.extensions import db
from marketplace.members.models import Membership, MembershipStatus, User
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import MAX_CENTS, format_money
from marketplace.timeutil import utcnow

COLLEGE_ORDER = ("producer", "courier", "buyer", "supporter")
MAX_FLAT_CENTS = 100_000       # 1,000 EUR per member and period: far above any sane flat part
MAX_WEIGHT = 1_000_000
RECEIPT_TYPES = {b"%PDF": "pdf", b"\x89PNG": "png", b"\xff\xd8\xff": "jpg"}


class PeriodAlreadyClosed(Conflict):
    """The period was closed already (maybe by a concurrent close): nothing was changed."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- settings

def get_billing_settings() -> BillingSettings:
    """The coop's billing settings (created with the defaults on first use)."""
    row = db.session.get(BillingSettings, 1)
    if row is None:
        row = BillingSettings(id=1, quorum_percent=25, majority_percent=50, allow_admin_decision=False)
        db.session.add(row)
        db.session.flush()
    return row


def update_billing_settings(admin: User, *, quorum_percent: int, majority_percent: int,
                            allow_admin_decision: bool) -> BillingSettings:
    """Change how a fee rule is adopted (admins only)."""
    require_admin(admin)
    if not _is_int(quorum_percent) or not 0 <= quorum_percent <= 100:
        raise ServiceError(_("The quorum is a percentage between 0 and 100."), "quorum_percent")
    if not _is_int(majority_percent) or not 0 <= majority_percent <= 99:
        raise ServiceError(_("The majority is a percentage between 0 and 99 (a rule needs more than it)."),
                           "majority_percent")
    row = get_billing_settings()
    row.quorum_percent, row.majority_percent = quorum_percent, majority_percent
    row.allow_admin_decision = bool(allow_admin_decision)
    db.session.flush()
    return row


# ---------------------------------------------------------------- periods (calendar months, coop time zone)

def coop_timezone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")


def coop_today() -> date:
    """Today's date in the coop's time zone."""
    return datetime.now(coop_timezone()).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def previous_month(day: date) -> date:
    first = month_start(day)
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def utc_bounds(period: BillingPeriod) -> tuple[datetime, datetime]:
    """The period as naive UTC datetimes [start, end), the way times are stored."""
    tz = coop_timezone()

    def to_utc(day: date) -> datetime:
        return datetime.combine(day, time(0), tz).astimezone(timezone.utc).replace(tzinfo=None)

    return to_utc(period.starts_on), to_utc(period.ends_on)


def get_or_create_period(day: date) -> BillingPeriod:
    """The period (month) containing `day`, created open if it does not exist yet."""
    start = month_start(day)
    period = db.session.query(BillingPeriod).filter_by(starts_on=start).one_or_none()
    if period is not None:
        return period
    try:
        with db.session.begin_nested():  # two requests creating the same month: the unique key decides
            period = BillingPeriod(starts_on=start, ends_on=next_month(start), status=PeriodStatus.OPEN)
            db.session.add(period)
    except IntegrityError:
        period = db.session.query(BillingPeriod).filter_by(starts_on=start).one()
    return period


def get_period(period_id: int) -> BillingPeriod:
    period = db.session.get(BillingPeriod, period_id)
    if period is None:
        raise NotFound(_("No such billing period."))
    return period


def _open_period_for(day: date, lock: bool = False) -> tuple[BillingPeriod, BillingPeriod | None]:
    """Where a cost dated `day` goes: its own period if open, else the first open one after it.

    Returns (target period, the closed period it adjusts or None). With lock=True the target
    row is locked (SELECT ... FOR UPDATE) so that a concurrent close waits or is waited for.
    """
    period = get_or_create_period(day)
    adjusted = None
    while True:
        if lock:
            db.session.refresh(period, with_for_update=True)
        if period.status == PeriodStatus.OPEN:
            return period, adjusted
        adjusted = adjusted or period
        period = get_or_create_period(period.ends_on)


def period_label(period: BillingPeriod) -> str:
    from flask_babel import format_date

    try:
        return format_date(period.starts_on, "MMMM y")
    except Exception:  # outside a request (e-mails from a task): plain English
        return f"{calendar.month_name[period.starts_on.month]} {period.starts_on.year}"


# ---------------------------------------------------------------- the cost ledger

@dataclass(frozen=True)
class CostInput:
    category: CostCategory | str
    amount_cents: int
    incurred_on: date
    vat_cents: int = 0
    supplier: str = ""
    note: str = ""


def _validate_cost(data: CostInput) -> CostCategory:
    try:
        category = CostCategory(getattr(data.category, "value", data.category))
    except ValueError:
        raise ServiceError(_("Choose a cost category from the list."), "category")
    if not _is_int(data.amount_cents):
        raise ServiceError(_("The amount must be a number of euros, e.g. 12.50."), "amount")
    if data.amount_cents <= 0:
        raise ServiceError(_("A cost must be greater than zero. To correct a cost, delete it while its "
                             "period is open."), "amount")
    if data.amount_cents > MAX_CENTS:
        raise ServiceError(_("This amount is too large."), "amount")
    if not _is_int(data.vat_cents) or data.vat_cents < 0:
        raise ServiceError(_("The VAT must be zero or a positive amount."), "vat")
    if data.vat_cents > data.amount_cents:
        raise ServiceError(_("The VAT cannot exceed the amount (VAT included)."), "vat")
    if not isinstance(data.incurred_on, date):
        raise ServiceError(_("Enter the date of the cost."), "incurred_on")
    if data.incurred_on > coop_today():
        raise ServiceError(_("A cost cannot be dated in the future."), "incurred_on")
    if len(data.supplier) > 200 or len(data.note) > 4000:
        raise ServiceError(_("The supplier or the note is too long."), "note")
    return category


def _receipts_folder() -> Path:
    folder = Path(current_app.config.get("BILLING_RECEIPTS_FOLDER")
                  or Path(current_app.instance_path) / "receipts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_receipt(data: bytes) -> str:
    """Check an uploaded receipt (PDF, PNG or JPEG, size) and store it outside the public uploads."""
    limit = current_app.config.get("MAX_PHOTO_BYTES", 5 * 1024 * 1024)
    if len(data) > limit:
        raise ServiceError(_("The receipt is too large (%(mb)d MB at most).", mb=limit // (1024 * 1024)),
                           "receipt")
    extension = next((ext for magic, ext in RECEIPT_TYPES.items() if data.startswith(magic)), None)
    if extension is None:
        raise ServiceError(_("Upload the receipt as a PDF, PNG or JPEG file."), "receipt")
    name = f"{uuid.uuid4().hex}.{extension}"
    (_receipts_folder() / name).write_bytes(data)
    return name


def record_cost(admin: User, data: CostInput, receipt: bytes | None = None,
                receipt_name: str = "") -> CostEntry:
    """Record one operating cost; if its month is closed it lands in the next open period, flagged."""
    require_admin(admin)
    category = _validate_cost(data)
    period, adjusted = _open_period_for(data.incurred_on, lock=True)
    entry = CostEntry(period_id=period.id, category=category, amount_cents=data.amount_cents,
                      vat_cents=data.vat_cents, supplier=data.supplier.strip(), incurred_on=data.incurred_on,
                      note=data.note.strip(), adjusts_period_id=adjusted.id if adjusted else None,
                      created_by_id=admin.id)
    if receipt:
        entry.receipt_filename = store_receipt(receipt)
        entry.receipt_original_name = Path(receipt_name or "receipt").name[:200]
    db.session.add(entry)
    db.session.flush()
    return entry


def delete_cost(admin: User, cost_id: int) -> None:
    """Remove a cost recorded by mistake; only while its period is open."""
    require_admin(admin)
    entry = db.session.get(CostEntry, cost_id)
    if entry is None:
        raise NotFound(_("No such cost."))
    db.session.refresh(entry.period, with_for_update=True)
    if entry.period.is_closed:
        raise Conflict(_("This cost belongs to a closed period: closed periods never change. Record a "
                         "correction in the current period instead."))
    db.session.delete(entry)
    db.session.flush()


def receipt_file(admin: User, cost_id: int) -> tuple[Path, str]:
    """Path and download name of a cost's receipt (admins only)."""
    require_admin(admin)
    entry = db.session.get(CostEntry, cost_id)
    if entry is None or not entry.receipt_filename:
        raise NotFound(_("No receipt for this cost."))
    return _receipts_folder() / entry.receipt_filename, entry.receipt_original_name or entry.receipt_filename


def _optional_hook(module: str, name: str):
    """A function another domain may provide (payments, dispatch are developed alongside)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def sync_processing_fees(start: datetime, end: datetime) -> int:
    """Record Stripe processing fees between start and end as costs, once per Stripe id."""
    hook = _optional_hook("marketplace.payments.services", "processing_fees_between")
    if hook is None:
        return 0
    fees = list(hook(start, end) or [])
    if not fees:
        return 0
    ids = [str(stripe_id) for _day, _cents, stripe_id in fees]
    known = {row[0] for row in db.session.query(CostEntry.stripe_id).filter(CostEntry.stripe_id.in_(ids))}
    added = 0
    for day, cents, stripe_id in fees:
        if str(stripe_id) in known or not _is_int(cents) or cents <= 0:
            continue
        day = day.date() if isinstance(day, datetime) else day
        period, adjusted = _open_period_for(min(day, coop_today()))
        db.session.add(CostEntry(period_id=period.id, category=CostCategory.PAYMENT_PROCESSING, amount_cents=cents,
                                 vat_cents=0, supplier="Stripe", incurred_on=day, stripe_id=str(stripe_id),
                                 note=_("Card payment processing fee (recorded automatically)"),
                                 adjusts_period_id=adjusted.id if adjusted else None))
        known.add(str(stripe_id))
        added += 1
    db.session.flush()
    return added


# ---------------------------------------------------------------- fee rules, votes

@dataclass(frozen=True)
class RuleInput:
    flat_cents: dict[str, int]
    weights: dict[str, int]
    effective_from: date
    rationale: str = ""


def to_fee_rule(version: FeeRuleVersion) -> FeeRule:
    return FeeRule(flat_cents=version.flat_cents(), weights=version.weights())


def _validated_rule(data: RuleInput) -> FeeRule:
    for college in list(data.flat_cents) + list(data.weights):
        if college not in COLLEGE_ORDER:
            raise ServiceError(_("Unknown college: %(c)s.", c=college))
    for college, cents in data.flat_cents.items():
        if not _is_int(cents) or not 0 <= cents <= MAX_FLAT_CENTS:
            raise ServiceError(_("The flat part must be an amount between 0 and %(max)s.",
                                 max=format_money(MAX_FLAT_CENTS)), f"flat_{college}")
    for college, weight in data.weights.items():
        if not _is_int(weight) or not 0 <= weight <= MAX_WEIGHT:
            raise ServiceError(_("A weight is a whole number between 0 and %(max)d.", max=MAX_WEIGHT),
                               f"weight_{college}")
    try:
        return FeeRule(flat_cents=data.flat_cents, weights=data.weights)
    except ValueError:
        raise ServiceError(_("This rule cannot recover any cost: every flat part is zero and the weights sum to "
                             "nothing. Give at least one college a flat part or a weight above zero."))


def propose_rule(admin: User, data: RuleInput) -> FeeRuleVersion:
    """Put a new version of the fee rule to the members' vote."""
    require_admin(admin)
    _validated_rule(data)
    if not isinstance(data.effective_from, date):
        raise ServiceError(_("Enter the month from which the rule applies."), "effective_from")
    latest = db.session.query(func.max(FeeRuleVersion.version)).scalar() or 0
    flat, weights = data.flat_cents, data.weights
    version = FeeRuleVersion(
        version=latest + 1, status=RuleStatus.VOTING, effective_from=month_start(data.effective_from),
        rationale=data.rationale.strip()[:4000], proposed_by_id=admin.id,
        **{f"flat_{c}_cents": flat.get(c, 0) for c in COLLEGE_ORDER},
        **{f"weight_{c}": weights.get(c, 0) for c in COLLEGE_ORDER})
    db.session.add(version)
    db.session.flush()
    return version


def get_rule(rule_id: int) -> FeeRuleVersion:
    rule = db.session.get(FeeRuleVersion, rule_id)
    if rule is None:
        raise NotFound(_("No such fee rule."))
    return rule


def _change_rule_status(rule: FeeRuleVersion, target: RuleStatus) -> None:
    if target not in RULE_TRANSITIONS[rule.status]:
        raise Conflict(_("This rule is no longer open to a decision (it is %(s)s).", s=rule.status.value))
    rule.status = target


def cast_vote(user: User, rule_id: int, choice: VoteChoice | str) -> RuleVote:
    """One active member, one vote on a proposed rule (a second vote replaces the first)."""
    require_active_member(user)
    try:
        choice = VoteChoice(getattr(choice, "value", choice))
    except ValueError:
        raise ServiceError(_("Vote for, against, or abstain."), "choice")
    rule = get_rule(rule_id)
    if rule.status != RuleStatus.VOTING:
        raise Conflict(_("The vote on this rule is closed."))
    vote = db.session.query(RuleVote).filter_by(rule_id=rule.id, user_id=user.id).one_or_none()
    if vote is None:
        vote = RuleVote(rule_id=rule.id, user_id=user.id, choice=choice)
        db.session.add(vote)
    else:
        vote.choice = choice
    db.session.flush()
    return vote


def _active_member_count() -> int:
    return db.session.query(func.count(Membership.id)).filter(Membership.status == MembershipStatus.ACTIVE).scalar()


def tally_vote(admin: User, rule_id: int) -> FeeRuleVersion:
    """Close the vote: adopted if the quorum is met and strictly more than the majority voted for."""
    require_admin(admin)
    rule = get_rule(rule_id)
    settings = get_billing_settings()
    counts = dict(db.session.query(RuleVote.choice, func.count(RuleVote.id))
                  .join(Membership, Membership.user_id == RuleVote.user_id)
                  .filter(RuleVote.rule_id == rule.id, Membership.status == MembershipStatus.ACTIVE)
                  .group_by(RuleVote.choice).all())
    votes_for = counts.get(VoteChoice.FOR, 0)
    votes_against = counts.get(VoteChoice.AGAINST, 0)
    votes_abstain = counts.get(VoteChoice.ABSTAIN, 0)
    electorate = _active_member_count()
    turnout = votes_for + votes_against + votes_abstain
    quorum_met = electorate > 0 and turnout * 100 >= settings.quorum_percent * electorate
    majority_met = votes_for > 0 and votes_for * 100 > settings.majority_percent * (votes_for + votes_against)
    _change_rule_status(rule, RuleStatus.ADOPTED if quorum_met and majority_met else RuleStatus.REJECTED)
    rule.electorate, rule.votes_for, rule.votes_against, rule.votes_abstain = (electorate, votes_for, votes_against,
                                                                               votes_abstain)
    rule.quorum_percent, rule.majority_percent = settings.quorum_percent, settings.majority_percent
    rule.decided_at, rule.decided_by_id = utcnow(), admin.id
    if rule.status == RuleStatus.ADOPTED:
        rule.adopted_via = AdoptedVia.VOTE
    db.session.flush()
    return rule


def adopt_by_decision(admin: User, rule_id: int, ga_reference: str) -> FeeRuleVersion:
    """Adopt a rule decided by a general assembly, if the coop's settings allow it."""
    require_admin(admin)
    if not get_billing_settings().allow_admin_decision:
        raise NotAllowed(_("The coop's settings require a members' vote to adopt a fee rule."))
    ga_reference = (ga_reference or "").strip()
    if not ga_reference:
        raise ServiceError(_("Give the reference of the general assembly's decision."), "ga_reference")
    rule = get_rule(rule_id)
    _change_rule_status(rule, RuleStatus.ADOPTED)
    rule.adopted_via, rule.ga_reference = AdoptedVia.ADMIN_DECISION, ga_reference[:200]
    rule.decided_at, rule.decided_by_id = utcnow(), admin.id
    db.session.flush()
    return rule


def withdraw_rule(admin: User, rule_id: int) -> FeeRuleVersion:
    require_admin(admin)
    rule = get_rule(rule_id)
    _change_rule_status(rule, RuleStatus.WITHDRAWN)
    rule.decided_at, rule.decided_by_id = utcnow(), admin.id
    db.session.flush()
    return rule


def rule_in_force(on: date) -> FeeRuleVersion | None:
    """The adopted rule that applies to a period starting on `on` (latest effective, then latest version)."""
    return (db.session.query(FeeRuleVersion)
            .filter(FeeRuleVersion.status == RuleStatus.ADOPTED, FeeRuleVersion.effective_from <= on)
            .order_by(FeeRuleVersion.effective_from.desc(), FeeRuleVersion.version.desc()).first())


# ---------------------------------------------------------------- activity (aggregate SQL)

def line_amount_sql():
    """OrderLine.final_cents as SQL, for lines of live parts (see OrderLine.final_cents).

    Rejected lines are 0; weighed lines round_half_up(grams x price / 1000); other weight-priced
    lines the estimate (quantity x estimated grams x price / 1000, rounded half up); else quantity
    x price. Amounts are non-negative, so (2n + 1000) // 2000 (integer division) is round-half-up
    of n / 1000.
    """
    from marketplace.orders.models import OrderLine
    from marketplace.orders.states import LineStatus

    price = cast(OrderLine.unit_price_cents, BigInteger)
    weighed = cast(OrderLine.weighed_grams, BigInteger) * price
    estimated = (cast(OrderLine.quantity, BigInteger) * cast(func.coalesce(OrderLine.estimated_weight_g, 0),
                                                             BigInteger) * price)
    return case(
        (OrderLine.status == LineStatus.REJECTED.value, literal(0, BigInteger)),
        (and_(OrderLine.is_weight_priced, OrderLine.weighed_grams.is_not(None)), (2 * weighed + 1000) // 2000),
        (OrderLine.is_weight_priced, (2 * estimated + 1000) // 2000),
        else_=cast(OrderLine.quantity, BigInteger) * price,
    )


def _done_lines(stmt, start: datetime, end: datetime):
    """Restrict `stmt` to lines of parts collected or delivered whose distribution's pickup is in [start, end)."""
    from marketplace.distributions.models import Distribution
    from marketplace.orders.models import Order, OrderLine, OrderPart
    from marketplace.orders.states import PartStatus

    return (stmt.select_from(OrderLine)
            .join(OrderPart, OrderPart.id == OrderLine.part_id)
            .join(Order, Order.id == OrderPart.order_id)
            .join(Distribution, Distribution.id == Order.distribution_id)
            .where(OrderPart.status.in_([PartStatus.COLLECTED.value, PartStatus.DELIVERED.value]),
                   Distribution.starts_at >= start, Distribution.starts_at < end))


def producer_sales_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """{producer's user id: sales in cents} over the period, in one GROUP BY query."""
    from marketplace.catalog.models import ProducerProfile
    from marketplace.orders.models import OrderPart

    amount = func.sum(line_amount_sql())
    stmt = (_done_lines(select(ProducerProfile.user_id, amount), start, end)
            .join(ProducerProfile, ProducerProfile.id == OrderPart.producer_id).group_by(ProducerProfile.user_id))
    return {user_id: int(total or 0) for user_id, total in db.session.execute(stmt)}


def buyer_purchases_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """{buyer's user id: goods bought in cents} over the period (delivery fees excluded), one query."""
    from marketplace.orders.models import Order

    stmt = _done_lines(select(Order.buyer_id, func.sum(line_amount_sql())), start, end).group_by(Order.buyer_id)
    return {user_id: int(total or 0) for user_id, total in db.session.execute(stmt)}


def delivery_fees_total(start: datetime, end: datetime) -> int:
    """Delivery fees paid on orders delivered in the period (for the transparency page)."""
    from marketplace.distributions.models import Distribution
    from marketplace.orders.models import Order, OrderPart
    from marketplace.orders.states import PartStatus

    delivered = select(OrderPart.id).where(OrderPart.order_id == Order.id,
                                           OrderPart.status == PartStatus.DELIVERED.value).exists()
    stmt = (select(func.coalesce(func.sum(Order.delivery_fee_cents), 0)).select_from(Order)
            .join(Distribution, Distribution.id == Order.distribution_id)
            .where(Distribution.starts_at >= start, Distribution.starts_at < end, delivered))
    return int(db.session.execute(stmt).scalar() or 0)


def courier_pay_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """{courier's user id: delivery pay in cents}, from the dispatch domain when it provides it."""
    hook = _optional_hook("marketplace.dispatch.services", "courier_pay_by_member")
    if hook is None:
        return {}
    return {int(k): int(v) for k, v in (hook(start, end) or {}).items() if int(v) > 0}


# ---------------------------------------------------------------- period close

def _carry_in(period: BillingPeriod) -> int:
    previous = (db.session.query(BillingPeriod.carry_out_cents)
                .filter(BillingPeriod.status == PeriodStatus.CLOSED, BillingPeriod.starts_on < period.starts_on)
                .order_by(BillingPeriod.starts_on.desc()).first())
    return int(previous[0] or 0) if previous else 0


def close_period(period_id: int, actor: User | None = None, today: date | None = None) -> BillingPeriod:
    """Close a period: bill every active member so that the fees add up exactly to its cost.

    `actor` None means the scheduled task. A conditional UPDATE claims the period, so of two
    concurrent closes exactly one bills; the other gets PeriodAlreadyClosed and changes nothing.
    """
    if actor is not None:
        require_admin(actor)
    period = get_period(period_id)
    if period.is_closed:
        raise PeriodAlreadyClosed(_("The period %(p)s is already closed; its statements stand.",
                                    p=period_label(period)))
    today = today or coop_today()
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
    start, end = utc_bounds(period)
    sync_processing_fees(start, end)
    # Claim the period: the row lock makes a concurrent close wait, then find nothing to update.
    assert PeriodStatus.CLOSED in PERIOD_TRANSITIONS[PeriodStatus.OPEN]
    claimed = db.session.execute(
        update(BillingPeriod).where(BillingPeriod.id == period.id, BillingPeriod.status == PeriodStatus.OPEN.value)
        .values(status=PeriodStatus.CLOSED.value, closed_at=utcnow(), closed_by_id=actor.id if actor else None)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise PeriodAlreadyClosed(_("The period %(p)s was closed by someone else meanwhile; nothing was changed.",
                                    p=period_label(period)))
    db.session.refresh(period)

    total_cost = int(db.session.query(func.coalesce(func.sum(CostEntry.amount_cents), 0))
                     .filter(CostEntry.period_id == period.id).scalar())
    carry_in = _carry_in(period)
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
    allocation = allocate_fees(total_cost, activities, to_fee_rule(version), carry_in)

    now = utcnow()
    activity_of = {a.member_id: a.activity_cents for a in activities}
    statements = [dict(period_id=period.id, user_id=fee.member_id, college=fee.college,
                       activity_cents=activity_of[fee.member_id], flat_cents=fee.flat_cents,
                       proportional_cents=fee.proportional_cents, total_cents=fee.total_cents,
                       explanation=fee.explanation, created_at=now)
                  for fee in allocation.fees.values()]
    charges = [dict(user_id=fee.member_id, period_id=period.id, kind=DuesKind.CHARGE.value,
                    amount_cents=fee.total_cents, reference=f"period:{period.id}", created_at=now)
               for fee in allocation.fees.values() if fee.total_cents > 0]
    # executemany without RETURNING: one statement whatever the number of members.
    if statements:
        db.session.execute(insert(Statement), statements)
    if charges:
        db.session.execute(insert(DuesEntry), charges)
    _queue_statement_emails(period, allocation.fees)

    period.rule_id = version.id
    period.total_cost_cents, period.carry_in_cents = total_cost, carry_in
    period.carry_out_cents, period.billed_cents = allocation.carry_out_cents, allocation.recovered_cents
    period.producer_sales_cents = sum(sales.values())
    period.buyer_purchases_cents = sum(purchases.values())
    period.courier_pay_cents = sum(courier_pay.values())
    period.delivery_fees_cents = delivery_fees_total(start, end)
    period.member_count = len(activities)
    period.summary = allocation.summary
    db.session.flush()
    return period


def _queue_statement_emails(period: BillingPeriod, fees: dict) -> None:
    label = period_label(period)
    emails = db.session.execute(select(User.id, User.email).join(Membership, Membership.user_id == User.id)
                                .where(Membership.status == MembershipStatus.ACTIVE.value)).all()
    address = dict(emails)
    now = utcnow()
    rows = []
    for user_id, fee in fees.items():
        if user_id not in address:
            continue
        rows.append(dict(
            recipient=address[user_id], created_at=now,
            subject=_("Your coop fee for %(p)s: %(amount)s", p=label, amount=format_money(fee.total_cents))[:300],
            body=_("The coop keeps no margin: its members share exactly what running it cost in %(p)s.\n\n"
                   "Your fee: %(amount)s.\nHow it was computed: %(how)s\n\nYour statement (web page and PDF) is "
                   "under \"My fees\" on the coop's site: %(url)s", p=label,
                   amount=format_money(fee.total_cents), how=fee.explanation, url=public_url("/billing"))))
    if rows:
        db.session.execute(insert(OutboundEmail), rows)


def close_month(actor: User, starts_on: date) -> BillingPeriod:
    """The admin button: close the period starting on `starts_on` (created if nothing was recorded)."""
    require_admin(actor)
    return close_period(get_or_create_period(starts_on).id, actor)


def due_period_ids(today: date | None = None) -> list[int]:
    """Ended, still open periods in order, last month's included (created if it had no cost)."""
    today = today or coop_today()
    get_or_create_period(previous_month(today))
    rows = (db.session.query(BillingPeriod.id).filter(BillingPeriod.status == PeriodStatus.OPEN,
                                                      BillingPeriod.ends_on <= today)
            .order_by(BillingPeriod.starts_on).all())
    return [row[0] for row in rows]


# ---------------------------------------------------------------- statements

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


def costs_by_category(period_id: int) -> list[tuple[str, int]]:
    rows = (db.session.query(CostEntry.category, func.sum(CostEntry.amount_cents))
            .filter(CostEntry.period_id == period_id).group_by(CostEntry.category).all())
    totals = {getattr(c, "value", c): int(t) for c, t in rows}
    return [(c.value, totals[c.value]) for c in CostCategory if c.value in totals]


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


def my_statements(user: User) -> list[tuple[Statement, int]]:
    """The member's statements, newest first, with what was paid on each."""
    statements = (db.session.query(Statement).join(BillingPeriod)
                  .filter(Statement.user_id == user.id).order_by(BillingPeriod.starts_on.desc()).all())
    paid = dict(db.session.query(DuesEntry.period_id, func.sum(DuesEntry.amount_cents))
                .filter(DuesEntry.user_id == user.id, DuesEntry.kind == DuesKind.PAYMENT)
                .group_by(DuesEntry.period_id).all())
    return [(s, int(paid.get(s.period_id) or 0)) for s in statements]


# ---------------------------------------------------------------- dues: collection

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
        raise ServiceError(_("Choose how the fee was paid."), "method")
    statement = db.session.get(Statement, statement_id)
    if statement is None:
        raise NotFound(_("No such statement."))
    _lock_member(statement.user_id)
    due = statement.total_cents - _paid_for(statement.user_id, statement.period_id)
    if due <= 0:
        raise Conflict(_("This fee is already settled."))
    reference = (reference or "").strip()[:200] or f"{method.value}:{statement.id}:{utcnow():%Y%m%d%H%M%S}"
    return _settle(statement.user_id, due, method, reference, admin, only_period=statement.period_id)


# ---------------------------------------------------------------- transparency

@dataclass
class CollegeFigures:
    college: str
    members: int = 0
    due_cents: int = 0
    collected_cents: int = 0


@dataclass
class PeriodReport:
    period: BillingPeriod
    costs: list[tuple[str, int]]
    colleges: list[CollegeFigures]
    adjustments_cents: int = 0
    shares: dict[str, Fraction] = field(default_factory=dict)
    paid_by_buyers_cents: int = 0
    to_producers_cents: int = 0
    to_couriers_cents: int = 0

    @property
    def due_cents(self) -> int:
        return sum(c.due_cents for c in self.colleges)

    @property
    def collected_cents(self) -> int:
        return sum(c.collected_cents for c in self.colleges)

    @property
    def balance_cents(self) -> int:
        """Fees billed minus what was to recover: minus the carry-over (zero when fully billed)."""
        return (self.period.billed_cents or 0) - (self.period.total_cost_cents or 0) - (self.period.carry_in_cents or 0)


def transparency_report(limit: int = 12) -> list[PeriodReport]:
    """Public figures of the last closed periods, newest first (a fixed number of queries)."""
    periods = (db.session.query(BillingPeriod).filter(BillingPeriod.status == PeriodStatus.CLOSED)
               .order_by(BillingPeriod.starts_on.desc()).limit(limit).all())
    if not periods:
        return []
    ids = [p.id for p in periods]
    costs: dict[int, dict[str, int]] = defaultdict(dict)
    adjustments: dict[int, int] = defaultdict(int)
    for pid, category, adjusting, total in (
            db.session.query(CostEntry.period_id, CostEntry.category, CostEntry.adjusts_period_id.is_not(None),
                             func.sum(CostEntry.amount_cents))
            .filter(CostEntry.period_id.in_(ids))
            .group_by(CostEntry.period_id, CostEntry.category, CostEntry.adjusts_period_id.is_not(None))):
        key = getattr(category, "value", category)
        costs[pid][key] = costs[pid].get(key, 0) + int(total)
        if adjusting:
            adjustments[pid] += int(total)
    figures: dict[int, dict[str, CollegeFigures]] = {pid: {c: CollegeFigures(c) for c in COLLEGE_ORDER} for pid in ids}
    for pid, college, count, due in (
            db.session.query(Statement.period_id, Statement.college, func.count(Statement.id),
                             func.sum(Statement.total_cents))
            .filter(Statement.period_id.in_(ids)).group_by(Statement.period_id, Statement.college)):
        figures[pid][college].members, figures[pid][college].due_cents = int(count), int(due or 0)
    for pid, college, collected in (
            db.session.query(DuesEntry.period_id, Statement.college, func.sum(DuesEntry.amount_cents))
            .join(Statement, and_(Statement.period_id == DuesEntry.period_id, Statement.user_id == DuesEntry.user_id))
            .filter(DuesEntry.period_id.in_(ids), DuesEntry.kind == DuesKind.PAYMENT)
            .group_by(DuesEntry.period_id, Statement.college)):
        figures[pid][college].collected_cents = int(collected or 0)
    reports = []
    for period in periods:
        colleges = figures[period.id]
        report = PeriodReport(period=period, costs=[(c.value, costs[period.id][c.value]) for c in CostCategory
                                                    if c.value in costs[period.id]],
                              colleges=list(colleges.values()), adjustments_cents=adjustments[period.id])
        # Each euro paid by buyers: goods + delivery fees + the buyers' own fees; what reached producers
        # and couriers is their sales and pay net of their own fees.
        goods = period.producer_sales_cents or 0
        report.paid_by_buyers_cents = goods + (period.delivery_fees_cents or 0) + colleges["buyer"].due_cents
        report.to_producers_cents = max(goods - colleges["producer"].due_cents, 0)
        report.to_couriers_cents = max((period.courier_pay_cents or 0) - colleges["courier"].due_cents, 0)
        if report.paid_by_buyers_cents > 0:
            paid = report.paid_by_buyers_cents
            report.shares = {"producers": Fraction(report.to_producers_cents, paid),
                             "couriers": Fraction(report.to_couriers_cents, paid)}
            report.shares["coop"] = 1 - report.shares["producers"] - report.shares["couriers"]
        reports.append(report)
    return reports


def open_periods() -> list[BillingPeriod]:
    return (db.session.query(BillingPeriod).filter(BillingPeriod.status == PeriodStatus.OPEN)
            .order_by(BillingPeriod.starts_on).all())


def closable_months(today: date | None = None) -> list[date]:
    """Month starts an admin can close now: ended open periods, plus last month if it has no row yet."""
    today = today or coop_today()
    months = {p.starts_on for p in open_periods() if p.ends_on <= today}
    last = previous_month(today)
    if not db.session.query(BillingPeriod.id).filter_by(starts_on=last).first():
        months.add(last)
    return sorted(months)



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
