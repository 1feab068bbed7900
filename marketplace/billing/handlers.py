"""Billing's answers to payments: what a member owes, and the fees payments kept from or gave back to a
transfer. Run inside the caller's transaction; they never commit (marketplace/payments/signals.py)."""
from __future__ import annotations

from marketplace.billing import services
from marketplace.payments import signals as payment_signals


@payment_signals.fees_due.connect
def fees_due(user_id: int, **_extra) -> int:
    return services.fees_due_cents(user_id)


@payment_signals.fee_withheld.connect
def fee_withheld(user_id: int, *, cents: int, reference: str, **_extra) -> None:
    services.record_fee_withheld(user_id, cents, reference)


@payment_signals.fee_released.connect
def fee_released(user_id: int, *, cents: int, reference: str, **_extra) -> None:
    services.release_fee_withheld(user_id, cents, reference)
