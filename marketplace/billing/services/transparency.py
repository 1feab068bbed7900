"""The public transparency page: what each closed period cost and who paid it, by college."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from sqlalchemy import and_, func

from marketplace.billing.models import (
    BillingPeriod,
    CostCategory,
    CostEntry,
    DuesEntry,
    DuesKind,
    PeriodStatus,
    Statement,
)
from marketplace.billing.services.common import COLLEGE_ORDER
from marketplace.extensions import db


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


@dataclass
class YearView:
    """The last twelve months of closed periods added up: costs, fees per college, where each buyer euro went."""
    months: list[PeriodReport]            # oldest first
    costs: list[tuple[str, int]]
    colleges: list[CollegeFigures]
    paid_by_buyers_cents: int = 0
    to_producers_cents: int = 0
    to_couriers_cents: int = 0

    @property
    def total_cost_cents(self) -> int:
        return sum(cents for _category, cents in self.costs)

    @property
    def shares(self) -> dict[str, Fraction]:
        """Of each euro buyers paid over the year: producers, couriers, and the coop's running costs and other."""
        if self.paid_by_buyers_cents <= 0:
            return {}
        producers = Fraction(self.to_producers_cents, self.paid_by_buyers_cents)
        couriers = Fraction(self.to_couriers_cents, self.paid_by_buyers_cents)
        return {"producers": producers, "couriers": couriers, "coop": 1 - producers - couriers}


def twelve_months(reports: list[PeriodReport]) -> YearView | None:
    """Add up the closed periods that began in the twelve months before the newest one ended (None: none closed)."""
    if not reports:
        return None
    newest_end = max(r.period.ends_on for r in reports)
    year_start = date(newest_end.year - 1, newest_end.month, 1)   # periods run from the first of a month
    months = sorted((r for r in reports if r.period.starts_on >= year_start), key=lambda r: r.period.starts_on)
    costs: dict[str, int] = defaultdict(int)
    colleges = {c: CollegeFigures(c) for c in COLLEGE_ORDER}
    for report in months:
        for category, cents in report.costs:
            costs[category] += cents
        for figures in report.colleges:
            total = colleges[figures.college]
            total.members = max(total.members, figures.members)   # members billed in the busiest month
            total.due_cents += figures.due_cents
            total.collected_cents += figures.collected_cents
    return YearView(months=months, costs=[(c.value, costs[c.value]) for c in CostCategory if c.value in costs],
                    colleges=list(colleges.values()),
                    paid_by_buyers_cents=sum(r.paid_by_buyers_cents for r in months),
                    to_producers_cents=sum(r.to_producers_cents for r in months),
                    to_couriers_cents=sum(r.to_couriers_cents for r in months))
