"""Payouts to producers and couriers: Stripe transfers that never get stuck.

A transfer from an order's charge (``source_transaction``) can go at once; pay the coop funds
itself (a courier paid beyond the delivery fees collected) needs the coop's *available* Stripe
balance. Such a payout waits, visibly, and is retried when funds are available (beat, and
Stripe's ``balance.available`` event). A refusal by Stripe is saved under its idempotency key
for 24 hours, so the next attempt uses a new key (safe: nothing was transferred).
"""
from __future__ import annotations

import stripe
from flask_babel import gettext as _

from marketplace.core.errors import NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order
from marketplace.payments import emails
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.balances import available_cents
from marketplace.payments.common import call_stripe, commit_step, now, raise_alert, settle_alert, write_ledger
from marketplace.payments.models import (
    CardPaymentStatus,
    Credit,
    CreditStatus,
    LedgerKind,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from marketplace.payments.services import account_of
from marketplace.payments.withholding import record_withholding, withholding_for
from marketplace.tasking import enqueue_after_commit


def _locked(payout_id: int) -> Payout | None:
    return db.session.query(Payout).filter_by(id=payout_id).with_for_update().first()


def _source_charge(payout: Payout) -> str | None:
    """The order's charge the transfer is paid from; None when the coop pays from its own balance.

    An order the buyer's member account paid in part was charged less than its producers are owed, and
    Stripe refuses transfers from a charge beyond what it has left: such an order's producers are paid from
    the coop's available balance, where card top-ups sit (cash and cheque top-ups sit in the coop's bank
    account: the treasurer tops up the Stripe balance when a payout waits for funds)."""
    from marketplace.accounts.services import order_share_cents

    payment = payout.order.card_payment if payout.order is not None else None
    if payment is None or payment.status != CardPaymentStatus.CAPTURED or order_share_cents(payout.order_id) > 0:
        return None
    return payment.charge_id


def execute_payout(payout_id: int) -> Payout | None:
    """Send a planned payout with a Transfer (idempotency key from its reference): safe to run twice."""
    payout = _locked(payout_id)
    if payout is None or payout.status == PayoutStatus.PAID:
        commit_step()
        return payout
    if payout.net_cents == 0:
        payout.status, payout.paid_at = PayoutStatus.PAID, now()
        commit_step()
        return payout
    account = account_of(payout.user_id)
    if account is None or not account.can_receive_transfers:
        _block(payout, "account_not_ready", alert=False)
        commit_step()
        return payout
    source = _source_charge(payout)
    if source is None:
        available = available_cents()
        if available < payout.net_cents:
            _wait(payout, available)
            commit_step()
            return payout
    params = _transfer_params(payout, account.stripe_account_id, source)
    key = payout.idempotency_key
    transfer, refusal = call_stripe(lambda: gateway.client().v1.transfers.create(params, gateway.idem(key)))
    if refusal is not None:
        return _refused(payout_id, refusal, source)
    return _paid(payout_id, transfer.id)


def _transfer_params(payout: Payout, destination: str, source: str | None) -> dict:
    order = payout.order
    params = {"amount": payout.net_cents, "currency": gateway.currency(), "destination": destination,
              "transfer_group": order.reference if order else payout.reference,
              "metadata": {"payout_id": str(payout.id), "reference": payout.reference,
                           "order_id": str(payout.order_id or "")},
              "description": payout.reference}
    if source:
        params["source_transaction"] = source
    return params


def _block(payout: Payout, reason: str, alert: bool = True) -> None:
    payout.status, payout.error = PayoutStatus.BLOCKED, reason[:500]
    if alert:
        raise_alert(emails.payout_blocked, key=f"payout:{payout.id}", order_id=payout.order_id,
                    ref=payout.reference, error=payout.error)


def _wait(payout: Payout, available: int) -> None:
    payout.status = PayoutStatus.WAITING
    payout.error = "waiting_for_balance"
    raise_alert(emails.payout_waiting, key=f"payout-waiting:{payout.id}", order_id=payout.order_id,
                ref=payout.reference, amount_cents=payout.net_cents, member=payout.user.full_name,
                available_cents=available)


def _refused(payout_id: int, exc: stripe.InvalidRequestError, source: str | None) -> Payout:
    payout = _locked(payout_id)
    payout.attempts += 1  # the refusal is saved under the old key: the next attempt needs a new one
    if exc.code == "balance_insufficient" and source is None:
        _wait(payout, available_cents())
    else:
        _block(payout, str(exc.user_message or exc))
    commit_step()
    return payout


def _paid(payout_id: int, transfer_id: str) -> Payout:
    payout = _locked(payout_id)
    payout.status, payout.paid_at, payout.error = PayoutStatus.PAID, now(), ""
    payout.stripe_transfer_id = transfer_id
    kind = LedgerKind.TRANSFER if payout.kind == PayoutKind.PRODUCER else LedgerKind.COURIER_TRANSFER
    write_ledger(kind, payout.net_cents, order_id=payout.order_id, part_id=payout.part_id, user_id=payout.user_id,
                 stripe_id=transfer_id, note=payout.reference)
    settle_alert(f"payout:{payout.id}")
    settle_alert(f"payout-waiting:{payout.id}")
    for credit in db.session.query(Credit).filter_by(part_id=payout.part_id, status=CreditStatus.PENDING) \
            if payout.part_id else []:
        enqueue_after_commit("payments.execute_credit", [credit.id])  # a refund waiting for this transfer
    order = payout.order
    send_email(payout.user, emails.payment_sent, ref=order.reference if order else payout.reference,
               amount_cents=payout.net_cents, withheld_cents=payout.withheld_cents)
    commit_step()
    return payout


def retry_waiting_payouts() -> list[int]:
    """Send again, oldest first, the payouts that waited for the coop's balance and now fit in it."""
    waiting = (db.session.query(Payout).filter(Payout.status == PayoutStatus.WAITING)
               .order_by(Payout.id).with_for_update(skip_locked=True).all())
    if not waiting:
        commit_step()
        return []
    available = available_cents()
    retried = []
    for payout in waiting:
        if payout.net_cents > available:
            continue
        available -= payout.net_cents
        payout.status = PayoutStatus.PENDING
        # No dedup key: a payout may wait, be retried and wait again with the same attempt number (waiting sends
        # nothing to Stripe), and a kept key would drop every later retry. Setting PENDING under this commit is
        # what stops a second retry from enqueuing it twice; execute_payout is safe to run twice anyway.
        enqueue_after_commit("payments.execute_payout", [payout.id])
        retried.append(payout.id)
    commit_step()
    return retried


def retry_payout(admin: User, payout_id: int) -> Payout:
    """An admin fixed what blocked a payout (the member's account, the coop's balance): send it again."""
    require_admin(admin)
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(_("No such payout."))
    if payout.status not in (PayoutStatus.BLOCKED, PayoutStatus.WAITING):
        raise ServiceError(_("Only a blocked or waiting payout can be retried."))
    payout.status = PayoutStatus.PENDING
    enqueue_after_commit("payments.execute_payout", [payout.id],
                         dedup_key=f"payout:{payout.id}:attempt-{payout.attempts}:admin-{now():%Y%m%d%H%M%S}")
    db.session.flush()
    return payout


def stuck_payouts(admin: User) -> list[Payout]:
    """Payouts that wait (for the coop's balance) or are blocked, with the reason, oldest first."""
    require_admin(admin)
    return (db.session.query(Payout).filter(Payout.status.in_([PayoutStatus.WAITING, PayoutStatus.BLOCKED]))
            .order_by(Payout.id).all())


# ---------------------------------------------------------------- couriers

def pay_courier(courier_user_id: int, amount_cents: int, reference: str, source_order_ids: list[int]) -> list[int]:
    """Pay a courier for a run: one Transfer per source order (from that order's charge, up to its delivery fee).

    `reference` (e.g. "courier-run:42") makes every idempotency key, so calling twice pays once. Any part
    of `amount_cents` above the delivery fees collected is paid from the coop's balance (its own cost).
    Returns the payout ids.
    """
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ServiceError(_("A courier payment must be positive."))
    if db.session.get(User, courier_user_id) is None:
        raise NotFound(_("No such courier."))
    remaining = amount_cents
    payouts = []
    for order_id in sorted(set(source_order_ids)):
        key = f"{reference}:order:{order_id}"
        existing = db.session.query(Payout).filter_by(reference=key).first()
        if existing is not None:
            payouts.append(existing)
            remaining -= existing.gross_cents
            continue
        order = db.session.get(Order, order_id)
        payment = order.card_payment if order else None
        if payment is None or payment.status != CardPaymentStatus.CAPTURED or not order.delivery_fee_cents:
            continue  # a pay-at-pickup order's fee was paid in cash: nothing routed by card
        share = min(remaining, order.delivery_fee_cents)
        if share <= 0:
            continue
        payouts.append(_courier_payout(courier_user_id, key, order_id, share))
        remaining -= share
    if remaining > 0:
        key = f"{reference}:coop"
        existing = db.session.query(Payout).filter_by(reference=key).first()
        payouts.append(existing or _courier_payout(courier_user_id, key, None, remaining))
    for payout in payouts:
        if payout.status == PayoutStatus.PENDING:
            enqueue_after_commit("payments.execute_payout", [payout.id], dedup_key=f"payout:{payout.id}")
    commit_step()
    return [p.id for p in payouts]


def _courier_payout(user_id: int, key: str, order_id: int | None, amount: int) -> Payout:
    payout = Payout(kind=PayoutKind.COURIER, reference=key, user_id=user_id, order_id=order_id, gross_cents=amount,
                    withheld_cents=withholding_for(user_id, amount))
    db.session.add(payout)
    db.session.flush()
    record_withholding(payout)
    return payout
