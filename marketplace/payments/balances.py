"""The coop's own Stripe balance: what is available, and every movement accounted for in the ledger.

Stripe writes a balance transaction for every movement of the platform's balance: card charges
(with the processing fee), refunds and failed refunds, transfers and reversals, chargebacks
(with the dispute fee), and Stripe's own fees billed apart (Connect's per-payout and per-active-
account fees). Every fee lands in the ledger as a coop cost, so the fee at cost is the whole
cost; every other movement must match a ledger row, to the cent.
"""
from __future__ import annotations

from collections.abc import Iterator

from marketplace.extensions import db
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.common import attr, commit_step, write_ledger
from marketplace.payments.models import CardPayment, LedgerEntry, LedgerKind

# Balance transactions whose amount is itself a fee Stripe charges the coop.
FEE_TYPES = {"stripe_fee", "stripe_fx_fee", "tax_fee"}
# The coop's own treasury (money in from its bank, out to its bank): not order money.
TREASURY_TYPES = {"topup", "topup_reversal", "payout", "payout_cancel", "payout_failure"}
PAGE = 100


def available_cents(currency: str | None = None) -> int:
    """The platform's available balance in the coop's currency (what a transfer without a charge can use)."""
    currency = currency or gateway.currency()
    balance = gateway.client().v1.balance.retrieve()
    return sum(attr(b, "amount") or 0 for b in attr(balance, "available") or [] if attr(b, "currency") == currency)


def balance_transactions() -> Iterator:
    """Every balance transaction of the platform, newest first, page after page (has_more)."""
    client = gateway.client()
    params: dict = {"limit": PAGE}
    while True:
        page = client.v1.balance_transactions.list(params)
        yield from page.data
        if not page.has_more or not page.data:
            return
        params = {"limit": PAGE, "starting_after": page.data[-1].id}


def fee_cents(txn) -> int:
    """What a balance transaction cost the coop in Stripe fees."""
    fee = attr(txn, "fee") or 0
    if attr(txn, "type") in FEE_TYPES:
        fee += -(attr(txn, "amount") or 0)
    return fee


def sync_platform_fees() -> int:
    """Record every Stripe fee (card, Connect, dispute...) in the ledger as a coop cost; returns how many new."""
    before = db.session.query(LedgerEntry).filter_by(kind=LedgerKind.FEE).count()
    for txn in balance_transactions():
        fee = fee_cents(txn)
        if fee > 0:
            write_ledger(LedgerKind.FEE, fee, order_id=_order_of(txn), stripe_id=txn.id,
                         note=attr(txn, "description") or "")
    commit_step()
    return db.session.query(LedgerEntry).filter_by(kind=LedgerKind.FEE).count() - before


def _order_of(txn) -> int | None:
    source = attr(txn, "source")
    if attr(txn, "type") == "charge" and source:
        return db.session.query(CardPayment.order_id).filter_by(charge_id=source).scalar()
    return None


def _ledger_amount(kind: LedgerKind, *, stripe_id: str | None = None, reference: str | None = None) -> int | None:
    query = db.session.query(LedgerEntry.amount_cents).filter(LedgerEntry.kind == kind)
    query = query.filter_by(stripe_id=stripe_id) if stripe_id else query.filter_by(reference=reference)
    return query.scalar()


def _expected_rows(txn) -> list[tuple[LedgerKind, dict, int]]:
    """The ledger rows (kind, key, cents) that account for a balance transaction."""
    kind, amount, source = attr(txn, "type"), attr(txn, "amount") or 0, attr(txn, "source")
    category = attr(txn, "reporting_category")
    rows: list[tuple[LedgerKind, dict, int]] = []
    if kind == "charge":
        rows.append((LedgerKind.CHARGE, {"stripe_id": source}, amount))
    elif kind == "refund":
        rows.append((LedgerKind.REFUND, {"stripe_id": source}, -amount))
    elif kind == "refund_failure":
        rows.append((LedgerKind.REFUND_FAILED, {"stripe_id": txn.id}, amount))
    elif kind == "transfer":
        transfer_kind = db.session.query(LedgerEntry.kind).filter_by(stripe_id=source).scalar() or LedgerKind.TRANSFER
        rows.append((transfer_kind, {"stripe_id": source}, -amount))
    elif kind == "transfer_refund":
        rows.append((LedgerKind.REVERSAL, {"stripe_id": source}, amount))
    elif kind == "adjustment" and category == "dispute":
        rows.append((LedgerKind.DISPUTE, {"reference": f"dispute:{txn.id}"}, -amount))
    elif kind == "adjustment" and category == "dispute_reversal":
        rows.append((LedgerKind.DISPUTE_REINSTATED, {"reference": f"reinstated:{txn.id}"}, amount))
    if fee_cents(txn) > 0:
        rows.append((LedgerKind.FEE, {"stripe_id": txn.id}, fee_cents(txn)))
    return rows


def platform_problems() -> list[str]:
    """Every movement of the coop's Stripe balance that the ledger does not show to the cent."""
    problems = []
    for txn in balance_transactions():
        kind = attr(txn, "type")
        expected = _expected_rows(txn)
        if not expected and kind not in TREASURY_TYPES:
            problems.append(f"{txn.id}: a {kind} of {attr(txn, 'amount')} that the shop did not make")
        for ledger_kind, key, cents in expected:
            recorded = _ledger_amount(ledger_kind, **key)
            if recorded != cents:
                problems.append(f"{txn.id} ({kind}): Stripe {cents} vs ledger {recorded} ({ledger_kind.value})")
    return problems
