"""Money going back: refunds to buyers, reversals from producers, withholdings given back.

A credit is done only when Stripe says so: its refund ``succeeded`` (refunds may stay pending for
days, or fail) and its reversal went through. A failed refund or a reversal Stripe refuses (the
producer already paid their balance out) is retried or raised to the admins with a next step;
nothing stays pending silently. A line whose payout was partly withheld for fees is taken back
from the transfer first, then from the withholding (the fee is due again).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import stripe
from flask_babel import gettext as _

from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.orders.states import PaymentStatus
from marketplace.payments import emails
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.amounts import set_payment_status
from marketplace.payments.common import (
    attr,
    call_stripe,
    commit_step,
    id_of,
    now,
    raise_alert,
    settle_alert,
    write_ledger,
)
from marketplace.payments.labels import REFUND_RETURNED
from marketplace.payments.models import Credit, CreditKind, CreditStatus, LedgerKind, Payout
from marketplace.payments.services import has_chargeback
from marketplace.payments.withholding import release_withholding
from marketplace.tasking import enqueue_after_commit

# A card refund normally settles within days; one still pending after this is raised to the admins.
REFUND_PENDING_ALERT = timedelta(days=10)
# The buyer has the money back: on the card (Stripe says so), by their bank (a lost chargeback), or
# given back another way by an admin.
REFUNDED = ("succeeded", "chargeback", "outside_stripe")


def _locked(credit_id: int) -> Credit | None:
    return db.session.query(Credit).filter_by(id=credit_id).with_for_update().first()


def execute_credit(credit_id: int) -> Credit | None:
    """Refund a credit to the buyer and, once the refund succeeded, take it back from the producer."""
    credit = _locked(credit_id)
    if credit is None or credit.status != CreditStatus.PENDING:
        commit_step()
        return credit
    if credit.kind != CreditKind.CHARGEBACK and credit.refund_status not in REFUNDED:
        if credit.stripe_refund_id is None:
            if has_chargeback(credit.order_id):
                credit.error = "waits_for_chargeback"
                commit_step()
                return credit
            if not _refund(credit_id):
                return db.session.get(Credit, credit_id)
            credit = _locked(credit_id)
        if credit.refund_status not in REFUNDED:
            commit_step()  # final only when Stripe says so: refund.updated / the beat sync
            return credit
    if not _reverse(credit_id):
        return db.session.get(Credit, credit_id)
    return _finish(credit_id)


def _refund(credit_id: int) -> bool:
    """Create the Stripe refund (key from the credit); False when Stripe refused it."""
    credit = _locked(credit_id)
    params = {"payment_intent": credit.order.card_payment.payment_intent_id, "amount": credit.amount_cents,
              "reason": "requested_by_customer",
              "metadata": {"order_id": str(credit.order_id), "credit_id": str(credit.id)}}
    key = credit.refund_key
    refund, refusal = call_stripe(lambda: gateway.client().v1.refunds.create(params, gateway.idem(key)))
    if refusal is not None:
        credit = _locked(credit_id)
        credit.refund_attempts += 1
        _refund_refused(credit, refusal)
        commit_step()
        return False
    credit = _locked(credit_id)
    credit.stripe_refund_id, credit.refund_status, credit.error = refund.id, refund.status, ""
    # The refund leaves the coop's Stripe balance now, even while pending; a failure brings it back.
    write_ledger(LedgerKind.REFUND, credit.amount_cents, order_id=credit.order_id, part_id=credit.part_id,
                 stripe_id=refund.id, note=credit.reason)
    commit_step()
    return True


def _refund_refused(credit: Credit, exc: stripe.InvalidRequestError) -> None:
    if exc.code == "charge_disputed":
        credit.error = "waits_for_chargeback"
        return
    credit.status, credit.error = CreditStatus.FAILED, str(exc.user_message or exc)[:500]
    _tell_admins_refund_failed(credit)


def _tell_admins_refund_failed(credit: Credit) -> None:
    order = credit.order
    raise_alert(emails.refund_failed, key=f"refund:{credit.id}", order_id=order.id, ref=order.reference,
                amount_cents=credit.amount_cents, buyer=order.buyer.full_name, error=credit.error)


def _reverse(credit_id: int) -> bool:
    """Take a refunded line back from the producer's transfer, then from its withholding; False if refused."""
    credit = _locked(credit_id)
    if credit.kind not in (CreditKind.DISPUTE, CreditKind.CHARGEBACK) or credit.part_id is None:
        return True
    payout = db.session.query(Payout).filter_by(part_id=credit.part_id).with_for_update().first()
    if payout is None:
        return True  # not planned yet: plan_part_payout pays the part net of the refund
    if not payout.stripe_transfer_id:
        credit.error = "waits_for_transfer"
        commit_step()  # payouts.execute_payout sends it on once the transfer is made
        return False
    if credit.reversal_cents is None:
        _decide_reversal(credit, payout)
        commit_step()
        credit, payout = _locked(credit_id), db.session.get(Payout, payout.id)
    if credit.reversal_cents == 0 or credit.stripe_reversal_id:
        return True
    params = {"amount": credit.reversal_cents, "metadata": {"credit_id": str(credit.id)}}
    transfer_id, key = payout.stripe_transfer_id, credit.reversal_key
    reversal, refusal = call_stripe(
        lambda: gateway.client().v1.transfers.reversals.create(transfer_id, params, gateway.idem(key)))
    if refusal is not None:
        _reversal_refused(credit_id, refusal)
        return False
    credit = _locked(credit_id)
    payout = db.session.query(Payout).filter_by(part_id=credit.part_id).with_for_update().first()
    payout.reversed_cents += credit.reversal_cents
    credit.stripe_reversal_id, credit.error = reversal.id, ""
    write_ledger(LedgerKind.REVERSAL, credit.reversal_cents, order_id=credit.order_id, part_id=credit.part_id,
                 user_id=payout.user_id, stripe_id=reversal.id, note=credit.reason)
    settle_alert(f"reversal:{credit.id}")
    commit_step()
    return True


def _decide_reversal(credit: Credit, payout: Payout) -> None:
    """Stored before the first call: what the transfer gives back, the rest from the withholding."""
    reversible = payout.net_cents - payout.reversed_cents - _reversals_decided(payout, credit)
    credit.reversal_cents = max(0, min(credit.amount_cents, reversible))
    credit.withholding_released_cents = release_withholding(
        payout, credit.amount_cents - credit.reversal_cents, reference=f"credit:{credit.id}")


def _reversals_decided(payout: Payout, credit: Credit) -> int:
    """Reversals decided for other credits of the part and not made yet."""
    others = db.session.query(Credit).filter(Credit.part_id == payout.part_id, Credit.id != credit.id,
                                             Credit.reversal_cents.is_not(None),
                                             Credit.stripe_reversal_id.is_(None)).all()
    return sum(c.reversal_cents for c in others)


def _reversal_refused(credit_id: int, exc: stripe.InvalidRequestError) -> None:
    credit = _locked(credit_id)
    credit.reversal_attempts += 1
    credit.error = str(exc.user_message or exc)[:500]
    payout = db.session.query(Payout).filter_by(part_id=credit.part_id).first()
    raise_alert(emails.reversal_refused, key=f"reversal:{credit.id}", order_id=credit.order_id,
                member=payout.user.full_name, amount_cents=credit.reversal_cents, error=credit.error)
    commit_step()


def _finish(credit_id: int) -> Credit:
    credit = _locked(credit_id)
    credit.status, credit.error = CreditStatus.DONE, ""
    order = credit.order
    if credit.kind != CreditKind.CHARGEBACK and credit.refund_status != "chargeback":
        send_email(order.buyer, emails.refunded, ref=order.reference, amount_cents=credit.amount_cents,
                   reason=credit.reason)
        _mark_refunded_when_complete(order)
    commit_step()
    return credit


def _mark_refunded_when_complete(order) -> None:
    refunded = sum(c.amount_cents for c in db.session.query(Credit).filter(
        Credit.order_id == order.id, Credit.kind != CreditKind.CHARGEBACK, Credit.status == CreditStatus.DONE))
    if refunded >= order.card_payment.captured_cents:
        set_payment_status(order, PaymentStatus.REFUNDED)


# ---------------------------------------------------------------- what Stripe says about a refund

def sync_refund(refund_id: str) -> Credit | None:
    """Read a refund from Stripe: succeeded goes on to the reversal, failed is raised to the admins."""
    credit = db.session.query(Credit).filter_by(stripe_refund_id=refund_id).with_for_update().first()
    if credit is None:
        return None
    refund = gateway.client().v1.refunds.retrieve(refund_id)
    status = attr(refund, "status")
    credit.refund_status = status
    if status == "succeeded" and credit.status == CreditStatus.PENDING:
        enqueue_after_commit("payments.execute_credit", [credit.id], dedup_key=f"credit:{credit.id}:refunded")
    elif status in ("failed", "canceled") and credit.status != CreditStatus.FAILED:
        back = id_of(attr(refund, "failure_balance_transaction"))
        write_ledger(LedgerKind.REFUND_FAILED, credit.amount_cents, order_id=credit.order_id,
                     part_id=credit.part_id, stripe_id=back, reference=None if back else f"refund-failed:{credit.id}",
                     note=attr(refund, "failure_reason") or status)
        credit.status = CreditStatus.FAILED
        credit.error = (REFUND_RETURNED + (attr(refund, "failure_reason") or status))[:500]
        _tell_admins_refund_failed(credit)
    commit_step()
    return credit


def sync_pending_refunds(at: datetime | None = None) -> list[int]:
    """Beat: ask Stripe about refunds still pending (a lost webhook must not leave them so forever)."""
    at = at or now()
    pending = db.session.query(Credit).filter(Credit.status == CreditStatus.PENDING,
                                              Credit.refund_status == "pending").all()
    for credit in pending:
        sync_refund(credit.stripe_refund_id)
        credit = db.session.get(Credit, credit.id)
        if credit.refund_status == "pending" and credit.created_at <= at - REFUND_PENDING_ALERT:
            raise_alert(emails.refund_pending, key=f"refund-pending:{credit.id}", order_id=credit.order_id,
                        ref=credit.order.reference, amount_cents=credit.amount_cents)
            commit_step()
    return [c.id for c in pending]


def retry_refused_reversals() -> list[int]:
    """Beat: try again the reversals Stripe refused (the producer's balance may have funds now)."""
    ids = [c.id for c in db.session.query(Credit).filter(
        Credit.status == CreditStatus.PENDING, Credit.reversal_attempts > 0, Credit.stripe_reversal_id.is_(None))]
    for credit_id in ids:
        enqueue_after_commit("payments.execute_credit", [credit_id])
    commit_step()
    return ids


# ---------------------------------------------------------------- the admins' next steps

def stuck_credits(admin: User) -> list[Credit]:
    """Refunds that failed and reversals that wait, with the reason."""
    require_admin(admin)
    return (db.session.query(Credit).filter((Credit.status == CreditStatus.FAILED) | (
        (Credit.status == CreditStatus.PENDING) & (Credit.error != ""))).order_by(Credit.id).all())


def _admin_credit(admin: User, credit_id: int) -> Credit:
    require_admin(admin)
    credit = db.session.get(Credit, credit_id)
    if credit is None:
        raise NotFound(_("No such refund."))
    return credit


def mark_refunded_outside_stripe(admin: User, credit_id: int, note: str) -> Credit:
    """A failed refund was given back another way (bank transfer, cash): record it, then take it back
    from the producer as for any refund."""
    credit = _admin_credit(admin, credit_id)
    if credit.status != CreditStatus.FAILED:
        raise Conflict(_("Only a failed refund can be marked as given back another way."))
    note = (note or "").strip()
    if not note:
        raise ServiceError(_("Say how the money was given back (e.g. the bank transfer's reference)."), "note")
    write_ledger(LedgerKind.REFUND, credit.amount_cents, order_id=credit.order_id, part_id=credit.part_id,
                 reference=f"refund-outside:{credit.id}", note=note[:500])
    credit.status, credit.refund_status, credit.error = CreditStatus.PENDING, "outside_stripe", ""
    settle_alert(f"refund:{credit.id}")
    enqueue_after_commit("payments.execute_credit", [credit.id], dedup_key=f"credit:{credit.id}:outside")
    db.session.flush()
    return credit


def absorb_reversal(admin: User, credit_id: int) -> Credit:
    """The coop bears a reversal Stripe keeps refusing (a running cost), instead of the producer."""
    credit = _admin_credit(admin, credit_id)
    if credit.status != CreditStatus.PENDING or credit.stripe_reversal_id or not credit.reversal_cents \
            or not credit.reversal_attempts:
        raise Conflict(_("Only a refused reversal can be borne by the coop."))
    write_ledger(LedgerKind.COOP_COST, credit.reversal_cents, order_id=credit.order_id, part_id=credit.part_id,
                 reference=f"reversal-absorbed:{credit.id}", note=credit.reason)
    credit.status, credit.error = CreditStatus.DONE, ""
    settle_alert(f"reversal:{credit.id}")
    db.session.flush()
    return credit
