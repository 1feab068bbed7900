"""Billing periods: calendar months in the coop's time zone, created on first use, closed in order."""
from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from marketplace.billing.models import BillingPeriod, PeriodStatus
from marketplace.core.errors import NotFound
from marketplace.extensions import db


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
        return datetime.combine(day, time(0), tz).astimezone(UTC).replace(tzinfo=None)

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


def due_period_ids(today: date | None = None) -> list[int]:
    """Ended, still open periods in order, last month's included (created if it had no cost)."""
    today = today or coop_today()
    get_or_create_period(previous_month(today))
    rows = (db.session.query(BillingPeriod.id).filter(BillingPeriod.status == PeriodStatus.OPEN,
                                                      BillingPeriod.ends_on <= today)
            .order_by(BillingPeriod.starts_on).all())
    return [row[0] for row in rows]
