"""Chargebacks (Stripe disputes): the bank takes a payment back from the coop's balance.

Every ``charge.dispute.*`` event makes us read the dispute from Stripe: the amount withdrawn and
Stripe's fee go to the ledger (the fee is a coop cost), the admins get an alert with the deadline
for evidence, and a page follows it. When a dispute is lost, the coop's published rule decides
who bears it, exactly: the coop (a running cost), or the producers of the order, in proportion to
what each was paid for it (taken back from their transfers, then from fees withheld from them).
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.core.mail import send_email
from marketplace.core.services import get_setting
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.payments import emails
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.common import (
    attr,
    commit_step,
    from_timestamp,
    id_of,
    now,
    raise_alert,
    settle_alert,
    write_ledger,
)
from marketplace.payments.models import (
    CardPayment,
    Chargeback,
    Credit,
    CreditKind,
    CreditStatus,
    LedgerKind,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from marketplace.payments.services import amount_due_cents
from marketplace.tasking import enqueue_after_commit

RULE_SETTING = "lost_chargeback_rule"
COOP_ABSORBS, REVERSE_PRODUCERS = "coop_absorbs", "reverse_producers"
RULES = {
    COOP_ABSORBS: _l("A lost chargeback is borne by the coop, as a running cost shared at cost."),
    REVERSE_PRODUCERS: _l("A lost chargeback is taken back from the order's producers, in proportion to what each "
                          "was paid for it; the rest (the delivery fee) is borne by the coop."),
}


def lost_chargeback_rule() -> str:
    """The published rule for who bears a lost chargeback."""
    rule = get_setting(RULE_SETTING)
    return rule if rule in RULES else COOP_ABSORBS


def sync_dispute(dispute_id: str) -> Chargeback | None:
    """Read a dispute from Stripe and record what it changed; None when no order matches its charge."""
    dispute = gateway.client().v1.disputes.retrieve(dispute_id)
    charge_id = id_of(attr(dispute, "charge"))
    payment = db.session.query(CardPayment).filter_by(charge_id=charge_id).first()
    if payment is None:
        return None
    chargeback = db.session.query(Chargeback).filter_by(stripe_dispute_id=dispute_id).with_for_update().first()
    is_new = chargeback is None
    if is_new:
        chargeback = Chargeback(stripe_dispute_id=dispute_id, order_id=payment.order_id, charge_id=charge_id)
        db.session.add(chargeback)
    chargeback.amount_cents = attr(dispute, "amount") or 0
    chargeback.reason, chargeback.status = attr(dispute, "reason") or "", attr(dispute, "status") or ""
    chargeback.due_by = from_timestamp(attr(attr(dispute, "evidence_details"), "due_by"))
    db.session.flush()
    _record_movements(chargeback, attr(dispute, "balance_transactions") or [])
    if is_new:
        _alert_opened(chargeback)
    if chargeback.status in ("won", "lost") and chargeback.closed_at is None:
        _closed(chargeback)
    commit_step()
    return chargeback


def _record_movements(chargeback: Chargeback, transactions) -> None:
    """The amount withdrawn or reinstated, and Stripe's fee (a coop cost), once per balance transaction."""
    for txn in transactions:
        amount, fee, category = attr(txn, "amount") or 0, attr(txn, "fee") or 0, attr(txn, "reporting_category")
        if amount < 0:
            write_ledger(LedgerKind.DISPUTE, -amount, order_id=chargeback.order_id,
                         reference=f"dispute:{attr(txn, 'id')}",
                         note=chargeback.reason)
        elif amount > 0 and category == "dispute_reversal":
            write_ledger(LedgerKind.DISPUTE_REINSTATED, amount, order_id=chargeback.order_id,
                         reference=f"reinstated:{attr(txn, 'id')}")
        write_ledger(LedgerKind.FEE, fee, order_id=chargeback.order_id, stripe_id=attr(txn, "id"),
                     note=attr(txn, "description") or "")
    chargeback.fee_cents = sum(attr(t, "fee") or 0 for t in transactions)


def _alert_opened(chargeback: Chargeback) -> None:
    order = chargeback.order
    raise_alert(emails.chargeback_opened, key=f"chargeback:{chargeback.stripe_dispute_id}", order_id=order.id,
                ref=order.reference, due_at=chargeback.due_by.isoformat() if chargeback.due_by else "",
                amount_cents=chargeback.amount_cents, reason=chargeback.reason, fee_cents=chargeback.fee_cents,
                rule=lost_chargeback_rule())


def _closed(chargeback: Chargeback) -> None:
    """A dispute is over. Won: held refunds go. Lost: the loss is shared by the published rule.

    A lost chargeback issues no credit note, on purpose: in French law an unpaid sale (an "impayé") is not a
    cancelled sale. The goods were sold and delivered, so the invoice stands as issued; what the bank took
    back is a loss on the debt, borne as the rule says. Only a seller who later holds the debt definitively
    irrecoverable and wants its VAT back (CGI art. 272-1) needs a rectifying invoice: an accounting decision
    made by hand, never triggered by the chargeback itself.
    """
    chargeback.closed_at = now()
    settle_alert(f"chargeback:{chargeback.stripe_dispute_id}")
    waiting = db.session.query(Credit).filter(Credit.order_id == chargeback.order_id,
                                              Credit.kind != CreditKind.CHARGEBACK,
                                              Credit.status == CreditStatus.PENDING,
                                              Credit.stripe_refund_id.is_(None)).all()
    if chargeback.status == "won":
        for credit in waiting:  # refunds held back while the chargeback was open may go now
            credit.error = ""
            enqueue_after_commit("payments.execute_credit", [credit.id])
        enqueue_after_commit("payments.rebalance_order", [chargeback.order_id])
        return
    for credit in waiting:  # the bank gave the buyer this money back: no refund on top
        credit.refund_status, credit.error = "chargeback", ""
        if credit.kind == CreditKind.DISPUTE:  # a line refund the admin decided: the producer still gives it back
            enqueue_after_commit("payments.execute_credit", [credit.id])
        else:
            credit.status = CreditStatus.DONE
    apply_lost_rule(chargeback, max(0, chargeback.amount_cents - _surplus_cents(chargeback.order)))


def _surplus_cents(order) -> int:
    """What the coop still holds for the order beyond what is due (the bank returned it with the rest)."""
    refunded = sum(c.amount_cents for c in db.session.query(Credit).filter(
        Credit.order_id == order.id, Credit.kind != CreditKind.CHARGEBACK, Credit.stripe_refund_id.is_not(None),
        Credit.status != CreditStatus.FAILED))
    return max(0, order.card_payment.captured_cents - refunded - amount_due_cents(order))


def apply_lost_rule(chargeback: Chargeback, loss_cents: int) -> None:
    """Share a lost chargeback's loss by the published rule, exactly to the cent (once)."""
    if chargeback.rule:
        return
    chargeback.rule = lost_chargeback_rule()
    shares: dict[int, int] = {}
    if chargeback.rule == REVERSE_PRODUCERS:
        shares = _producer_shares(chargeback.order_id, loss_cents)
        for payout_id, cents in shares.items():
            _take_back(chargeback, db.session.get(Payout, payout_id), cents)
    chargeback.recovered_cents = sum(shares.values())
    chargeback.absorbed_cents = loss_cents - chargeback.recovered_cents
    write_ledger(LedgerKind.COOP_COST, chargeback.absorbed_cents, order_id=chargeback.order_id,
                 reference=f"chargeback-absorbed:{chargeback.id}", note=chargeback.reason)
    db.session.flush()


def _producer_shares(order_id: int, loss: int) -> dict[int, int]:
    """{payout id: cents}: the loss split by what each producer still holds for the order (largest remainder)."""
    payouts = (db.session.query(Payout).filter_by(order_id=order_id, kind=PayoutKind.PRODUCER,
                                                  status=PayoutStatus.PAID).order_by(Payout.id).all())
    held = {p.id: p.gross_cents - p.reversed_cents - p.withholding_released_cents for p in payouts}
    total = sum(v for v in held.values() if v > 0)
    if total <= 0 or loss <= 0:
        return {}
    recover = min(loss, total)
    exact = {pid: recover * v / total for pid, v in held.items() if v > 0}
    shares = {pid: int(x) for pid, x in exact.items()}
    for pid in sorted(exact, key=lambda p: (-(exact[p] - shares[p]), p))[:recover - sum(shares.values())]:
        shares[pid] += 1
    return {pid: cents for pid, cents in shares.items() if cents > 0}


def _take_back(chargeback: Chargeback, payout: Payout, cents: int) -> None:
    credit = Credit(kind=CreditKind.CHARGEBACK, order_id=chargeback.order_id, part_id=payout.part_id,
                    amount_cents=cents, chargeback_id=chargeback.id,
                    reason=_("Chargeback lost (%(reason)s): taken back by the coop's published rule",
                             reason=chargeback.reason))
    db.session.add(credit)
    db.session.flush()
    enqueue_after_commit("payments.execute_credit", [credit.id], dedup_key=f"credit:{credit.id}")
    send_email(payout.user, emails.chargeback_taken_back, ref=chargeback.order.reference, amount_cents=cents)


def chargebacks(admin: User) -> list[Chargeback]:
    """Every chargeback, open ones first (soonest deadline first)."""
    require_admin(admin)
    rows = db.session.query(Chargeback).order_by(Chargeback.created_at.desc()).all()
    return sorted(rows, key=lambda c: (not c.is_open, c.due_by or c.created_at))
