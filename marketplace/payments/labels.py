"""The ledger stores kinds (codes) and data (reasons, references); the reader's words are added when shown."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.payments.models import LedgerKind

LEDGER_LABELS = {
    LedgerKind.CHARGE: _l("Card payment"),
    LedgerKind.FEE: _l("Stripe fee (coop cost)"),
    LedgerKind.TRANSFER: _l("Transfer to a producer"),
    LedgerKind.COURIER_TRANSFER: _l("Transfer to a courier"),
    LedgerKind.REVERSAL: _l("Taken back from a transfer"),
    LedgerKind.REFUND: _l("Refund to the card"),
    LedgerKind.WITHHOLDING: _l("Coop fees due, withheld"),
    LedgerKind.WITHHOLDING_RELEASED: _l("Withheld fees given back"),
    LedgerKind.REFUND_FAILED: _l("Refund returned by the card network"),
    LedgerKind.DISPUTE: _l("Chargeback withdrawn"),
    LedgerKind.DISPUTE_REINSTATED: _l("Chargeback won: funds reinstated"),
    LedgerKind.COOP_COST: _l("Borne by the coop"),
}


def ledger_label(kind: LedgerKind) -> str:
    return str(LEDGER_LABELS.get(kind, kind.value))


# Why a payout or a refund waits, stored as a code (Payout.error, Credit.error); Stripe's own messages
# are stored and shown as Stripe wrote them. "refund_returned:<Stripe's reason>" carries its reason.
WAIT_REASONS = {
    "account_not_ready": _l("The member's Stripe account cannot receive transfers yet."),
    "waiting_for_balance": _l("The coop's Stripe balance does not cover it yet: it is paid as soon as funds are "
                              "available."),
    "waits_for_chargeback": _l("Waits for the chargeback on this payment to close."),
    "waits_for_transfer": _l("Waits for the producer's transfer, then is taken back from it."),
}
REFUND_RETURNED = "refund_returned:"


def error_text(error: str) -> str:
    """A payout's or refund's problem in the reader's language (Stripe's messages as they came)."""
    if error in WAIT_REASONS:
        return str(WAIT_REASONS[error])
    if error.startswith(REFUND_RETURNED):
        return _("The card network returned the refund (%(reason)s).", reason=error[len(REFUND_RETURNED):])
    return error
