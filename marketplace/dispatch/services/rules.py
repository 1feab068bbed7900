"""The coop's dispatch rules and courier pay: what a run pays, and what the coop owes for a finished one."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func

from marketplace.core.errors import ServiceError
from marketplace.dispatch import signals
from marketplace.dispatch.models import RULE_DEFAULTS, CourierPayable, DispatchRules, Run, StopStatus
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.money import format_money, round_half_up
from marketplace.tasking import enqueue_after_commit
from marketplace.timeutil import utcnow


def get_rules() -> DispatchRules:
    """The coop's dispatch rules, created with defaults on first use."""
    rules = db.session.get(DispatchRules, 1)
    if rules is None:
        # Not added to the session: reading the rules never writes (see _record_code_attempt).
        rules = DispatchRules(id=1, **RULE_DEFAULTS)
    return rules


def update_rules(admin: User, *, pay_per_run_cents: int, pay_per_km_cents: int, pay_per_stop_cents: int,
                 offer_timeout_minutes: int, max_code_attempts: int,
                 goods_at_pickup_place: bool | None = None) -> DispatchRules:
    """The coop changes its courier pay rule or offer timeout (admins only)."""
    require_admin(admin)
    for name, value in (("pay_per_run_cents", pay_per_run_cents), ("pay_per_km_cents", pay_per_km_cents),
                        ("pay_per_stop_cents", pay_per_stop_cents)):
        if not isinstance(value, int) or value < 0 or value > 100_000:
            raise ServiceError(_("Pay amounts must be between 0 and 1,000.00."), name)
    if not isinstance(offer_timeout_minutes, int) or not 1 <= offer_timeout_minutes <= 24 * 60:
        raise ServiceError(_("The offer timeout must be between 1 minute and 24 hours."), "offer_timeout_minutes")
    if not isinstance(max_code_attempts, int) or not 1 <= max_code_attempts <= 20:
        raise ServiceError(_("Allow between 1 and 20 attempts at the delivery code."), "max_code_attempts")
    rules = get_rules()
    db.session.add(rules)
    rules.pay_per_run_cents, rules.pay_per_km_cents = pay_per_run_cents, pay_per_km_cents
    rules.pay_per_stop_cents, rules.offer_timeout_s = pay_per_stop_cents, offer_timeout_minutes * 60
    rules.max_code_attempts = max_code_attempts
    if goods_at_pickup_place is not None:
        rules.goods_at_pickup_place = bool(goods_at_pickup_place)
    db.session.flush()
    return rules


def run_pay_cents(distance_m: int, stops: int, rules: DispatchRules | None = None) -> int:
    """Courier pay for a run: per run + per km (rounded half up to the cent) + per stop."""
    rules = rules or get_rules()
    from fractions import Fraction

    return (rules.pay_per_run_cents + round_half_up(Fraction(rules.pay_per_km_cents * distance_m, 1000))
            + rules.pay_per_stop_cents * stops)


def pay_rule_text(rules: DispatchRules | None = None) -> str:
    rules = rules or get_rules()
    return _("%(run)s per run + %(km)s per km + %(stop)s per stop", run=format_money(rules.pay_per_run_cents),
             km=format_money(rules.pay_per_km_cents), stop=format_money(rules.pay_per_stop_cents))


def offered_pay_cents(run: Run) -> int:
    return run_pay_cents(run.distance_m, len(run.live_stops))


def record_payable(run: Run) -> CourierPayable:
    """What the coop owes for a finished run, by the published rule; the payments domain transfers it."""
    existing = db.session.query(CourierPayable).filter_by(run_id=run.id).one_or_none()
    if existing is not None:
        return existing
    rules = get_rules()
    visited = sum(1 for s in run.stops if s.status in (StopStatus.DONE, StopStatus.FAILED))
    payable = CourierPayable(run_id=run.id, courier_id=run.courier_id, distance_m=run.distance_m, stops=visited,
                             amount_cents=run_pay_cents(run.distance_m, visited, rules), rule=pay_rule_text(rules))
    db.session.add(payable)
    db.session.flush()
    signals.courier_payable_recorded.send(payable)
    celery_app = current_app.extensions.get("celery")
    if celery_app is not None and "payments.pay_courier" in celery_app.tasks:
        enqueue_after_commit("payments.pay_courier",
                             [run.courier_id, payable.amount_cents, f"courier-run:{run.id}", run.order_ids],
                             dedup_key=f"pay-run:{run.id}")
        payable.transfer_requested_at = utcnow()
    return payable


def courier_pay_by_member(start: datetime, end: datetime) -> dict[int, int]:
    """Couriers' delivery pay recorded in [start, end), per courier user id (their billing activity)."""
    rows = (db.session.query(CourierPayable.courier_id, func.sum(CourierPayable.amount_cents))
            .filter(CourierPayable.created_at >= start, CourierPayable.created_at < end)
            .group_by(CourierPayable.courier_id).all())
    return {courier_id: int(total or 0) for courier_id, total in rows}
