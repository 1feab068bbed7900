"""The ledger stores kinds (codes) and data (reasons, references); the reader's words are added when shown."""
from __future__ import annotations

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
