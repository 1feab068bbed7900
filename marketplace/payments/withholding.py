"""Members' at-cost fees withheld from their payouts: at most the published share of each payout.

Billing owns what a member owes; payments asks it and tells it through its signals (fees_due,
fee_withheld, fee_released: billing sits above payments and answers in billing/handlers.py) what was
withheld, and what was given back when the line behind a withholding was refunded to the buyer (the
fee is then due again). With no receiver, nothing is withheld.
"""
from __future__ import annotations

from sqlalchemy import func

from marketplace.core.services import get_int_setting
from marketplace.extensions import db
from marketplace.payments import signals
from marketplace.payments.common import write_ledger
from marketplace.payments.models import LedgerEntry, LedgerKind, Payout

CAP_SETTING = "withholding_cap_percent"


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
    answers = signals.fees_due.send(member_user_id)
    if not answers or available_cents <= 0:
        return 0
    due = sum(int(cents or 0) for _receiver, cents in answers)
    cap = available_cents * withholding_cap_percent() // 100
    return max(0, min(due, cap))


def record_withholding(payout: Payout) -> None:
    """Ledger and billing learn what was kept from a payout just planned."""
    if not payout.withheld_cents:
        return
    write_ledger(LedgerKind.WITHHOLDING, payout.withheld_cents, order_id=payout.order_id, part_id=payout.part_id,
                 user_id=payout.user_id, reference=f"withholding:{payout.reference}")
    signals.fee_withheld.send(payout.user_id, cents=payout.withheld_cents, reference=payout.reference)


def release_withholding(payout: Payout, cents: int, reference: str) -> int:
    """Give back part of a payout's withholding (its line was refunded): the fee is due again."""
    cents = min(cents, payout.withheld_cents - payout.withholding_released_cents)
    key = f"withholding-released:{reference}"
    if cents <= 0 or db.session.query(LedgerEntry.id).filter_by(reference=key).first() is not None:
        return 0
    write_ledger(LedgerKind.WITHHOLDING_RELEASED, cents, order_id=payout.order_id, part_id=payout.part_id,
                 user_id=payout.user_id, reference=key)
    payout.withholding_released_cents += cents
    signals.fee_released.send(payout.user_id, cents=cents, reference=payout.reference)
    return cents
