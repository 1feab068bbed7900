"""Members' at-cost fees withheld from their payouts: at most the published share of each payout.

Billing owns what a member owes; payments asks it through optional hooks (billing may be absent)
and tells it what was withheld, and what was given back when the line behind a withholding was
refunded to the buyer (the fee is then due again).
"""
from __future__ import annotations

import importlib

from sqlalchemy import func

from marketplace.core.services import get_int_setting
from marketplace.extensions import db
from marketplace.payments.common import write_ledger
from marketplace.payments.models import LedgerEntry, LedgerKind, Payout

CAP_SETTING = "withholding_cap_percent"


def _billing():
    try:
        return importlib.import_module("marketplace.billing.services")
    except ImportError:
        return None


def _billing_hook(name: str):
    billing = _billing()
    return getattr(billing, name, None) if billing else None


def withholding_cap_percent() -> int:
    """The published share of a payout that may be kept for fees (0-100)."""
    return max(0, min(100, get_int_setting(CAP_SETTING)))


def withheld_total_cents(user_id: int) -> int:
    """Everything withheld from this member's transfers and not given back (billing subtracts it from dues)."""
    def total(kind: LedgerKind) -> int:
        return int(db.session.query(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).filter(
            LedgerEntry.kind == kind, LedgerEntry.user_id == user_id).scalar())

    return total(LedgerKind.WITHHOLDING) - total(LedgerKind.WITHHOLDING_RELEASED)


def withholding_for(member_user_id: int, available_cents: int) -> int:
    """How much of a payout to keep for the member's fees due: never above the published cap."""
    fees_due = _billing_hook("fees_due_cents")
    if fees_due is None or available_cents <= 0:
        return 0
    due = int(fees_due(member_user_id) or 0)
    cap = available_cents * withholding_cap_percent() // 100
    return max(0, min(due, cap))


def record_withholding(payout: Payout) -> None:
    """Ledger and billing learn what was kept from a payout just planned."""
    if not payout.withheld_cents:
        return
    write_ledger(LedgerKind.WITHHOLDING, payout.withheld_cents, order_id=payout.order_id, part_id=payout.part_id,
                 user_id=payout.user_id, reference=f"withholding:{payout.reference}")
    record = _billing_hook("record_fee_withheld")
    if record is not None:
        record(payout.user_id, payout.withheld_cents, payout.reference)


def release_withholding(payout: Payout, cents: int, reference: str) -> int:
    """Give back part of a payout's withholding (its line was refunded): the fee is due again."""
    cents = min(cents, payout.withheld_cents - payout.withholding_released_cents)
    key = f"withholding-released:{reference}"
    if cents <= 0 or db.session.query(LedgerEntry.id).filter_by(reference=key).first() is not None:
        return 0
    write_ledger(LedgerKind.WITHHOLDING_RELEASED, cents, order_id=payout.order_id, part_id=payout.part_id,
                 user_id=payout.user_id, reference=key)
    payout.withholding_released_cents += cents
    release = _billing_hook("release_fee_withheld")
    if release is not None:
        release(payout.user_id, cents, payout.reference)
    return cents
