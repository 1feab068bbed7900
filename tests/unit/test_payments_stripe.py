"""What the app gets right against a Stripe as strict as Stripe documents (the fake in tests/fakes).

Each test drives the money flow step by step (tests/payments_harness.py): webhooks held and
delivered on purpose, the worker run by hand, Stripe's clock moved by the test.
"""
from __future__ import annotations

from datetime import datetime

import pytest
import stripe
from flask import current_app
from flask_babel import format_datetime

from marketplace.core.models import OutboundEmail
from marketplace.core.services import set_setting
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.billing import services as billing_services
from marketplace.orders.states import PaymentStatus
from marketplace.payments import balances, payouts, reconciliation, refunds, services, stripe_gateway, sync
from marketplace.payments.common import from_timestamp
from marketplace.payments.labels import error_text
from marketplace.payments.models import (CardPayment, CardPaymentStatus, Chargeback, Credit,
                                         CreditStatus, LedgerEntry, LedgerKind, PaymentAlert, Payout, PayoutStatus)
from tests.factories import get_admin, login
from tests.fakes.stripe_common import DAY, DISPUTE_FEE, payout_fee, stripe_fee
from tests.payments_fixtures import fake_stripe, stripe_config  # noqa: F401
from tests.payments_harness import MoneyFlow


@pytest.fixture
def app_config(fake_stripe):
    return stripe_config(fake_stripe)


@pytest.fixture
def flow(app, fake_stripe, monkeypatch) -> MoneyFlow:
    money = MoneyFlow(app, fake_stripe)
    money.follow_stripes_clock(monkeypatch)
    return money


def _ledger(kind: LedgerKind, order_id: int | None = None) -> list[int]:
    query = db.session.query(LedgerEntry.amount_cents).filter_by(kind=kind)
    if order_id is not None:
        query = query.filter_by(order_id=order_id)
    return sorted(c for (c,) in query)


def _paid_order(flow: MoneyFlow, quantities=None, delivery=False, grams=1800) -> tuple[dict, int]:
    """Two farms, an order paid by card, weighed 10 % under the estimate, captured and transferred."""
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", quantities or {0: 2, 1: 1, 2: 1}, delivery=delivery)
    flow.pay(order_id)
    flow.settle()
    flow.prepare(order_id, grams=grams)
    flow.settle()
    return coop, order_id


def _alerts(fragment: str) -> list[PaymentAlert]:
    return [a for a in db.session.query(PaymentAlert).filter(PaymentAlert.resolved_at.is_(None))
            if fragment in a.subject + a.body]


# ---------------------------------------------------------------- reconciliation

def test_a_weighed_order_reconciles_after_its_partial_capture(flow):
    _coop, order_id = _paid_order(flow)
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    charge = flow.fake.objects[payment.charge_id]
    assert charge["amount_captured"] < charge["amount"] and charge["amount_refunded"] > 0  # released remainder
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.stripe_problems == [] and balance.ok and balance.settled


def test_reconciliation_pages_through_stripe_lists(flow, monkeypatch):
    _coop, order_id = _paid_order(flow)
    monkeypatch.setattr(balances, "PAGE", 1)
    monkeypatch.setattr(reconciliation, "PAGE", 1)
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.transferred == sum(_ledger(LedgerKind.TRANSFER, order_id)) and balance.ok
    assert len(_ledger(LedgerKind.TRANSFER, order_id)) == 2  # two transfers: read on two pages
    assert reconciliation.reconcile_platform() == []


def test_every_stripe_fee_lands_in_the_cost_ledger_and_the_platform_balance_reconciles(flow):
    from marketplace.billing import services as billing
    from marketplace.billing.models import CostEntry

    coop, order_id = _paid_order(flow)
    farm_account = services.account_of(coop["farms"][0].id).stripe_account_id
    flow.fake.advance(flow.fake.funds_delay)
    payout = flow.fake.pay_out(farm_account)
    flow.fake.bill_active_accounts()
    flow.settle()
    assert reconciliation.reconcile_platform() == []
    charge_fee = stripe_fee(sum(_ledger(LedgerKind.CHARGE)))
    assert _ledger(LedgerKind.FEE) == sorted([charge_fee, payout_fee(payout["amount"]), 200])
    billing.sync_processing_fees(datetime(2000, 1, 1), datetime(2100, 1, 1))
    costs = sum(c.amount_cents for c in db.session.query(CostEntry))
    stripe_fees = sum(balances.fee_cents(t) for t in balances.balance_transactions())
    assert costs == stripe_fees == charge_fee + payout_fee(payout["amount"]) + 200


def test_the_fee_on_a_surplus_refunded_after_an_early_capture_lands_in_the_cost_ledger(flow):
    """Captured early at the hold (before it lapsed), then weighed under it: Stripe refunds the surplus but keeps
    its fee on the whole capture. That kept fee is a cost of the coop like any other."""
    from marketplace.billing import services as billing
    from marketplace.billing.models import CostEntry

    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {0: 2, 1: 1})
    flow.pay(order_id)
    flow.settle()
    assert services.capture_order(order_id, early=True) == "captured"
    flow.settle()
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    captured = payment.captured_cents
    flow.prepare(order_id, grams=1800)  # 10 % under the estimate: the amount due is now below the capture
    flow.settle()
    due = db.session.get(Order, order_id).total_due_cents
    assert [r["amount"] for r in flow.fake.objects_of("refund")] == [captured - due] and captured - due > 0
    assert _ledger(LedgerKind.FEE) == [stripe_fee(captured)]  # not stripe_fee(due): the surplus' fee stays
    assert stripe_fee(captured) > stripe_fee(due)
    assert reconciliation.reconcile_platform() == []
    billing.sync_processing_fees(datetime(2000, 1, 1), datetime(2100, 1, 1))
    assert sum(c.amount_cents for c in db.session.query(CostEntry)) == stripe_fee(captured)


def test_a_movement_the_ledger_lacks_is_reported(flow):
    _paid_order(flow)
    flow.fake.top_up(1000)  # the coop's own money: not a problem
    assert reconciliation.reconcile_platform() == []
    db.session.query(LedgerEntry).filter_by(kind=LedgerKind.TRANSFER).first().amount_cents += 1
    db.session.commit()
    problems = reconciliation.reconcile_platform()
    assert len(problems) == 1 and "(transfer)" in problems[0]


# ---------------------------------------------------------------- chargebacks

def _dispute(flow: MoneyFlow, order_id: int) -> dict:
    charge_id = db.session.query(CardPayment).filter_by(order_id=order_id).one().charge_id
    dispute = flow.fake.open_dispute(charge_id)
    flow.settle()
    return dispute


def test_a_chargeback_is_recorded_and_raised_with_its_deadline(flow, client):
    _coop, order_id = _paid_order(flow)
    dispute = _dispute(flow, order_id)
    [chargeback] = db.session.query(Chargeback).all()
    assert (chargeback.order_id, chargeback.amount_cents, chargeback.status) == \
        (order_id, dispute["amount"], "needs_response")
    assert chargeback.fee_cents == DISPUTE_FEE and chargeback.due_by is not None
    assert _ledger(LedgerKind.DISPUTE, order_id) == [dispute["amount"]]
    assert DISPUTE_FEE in _ledger(LedgerKind.FEE, order_id)
    [alert] = _alerts("Chargeback")
    assert format_datetime(chargeback.due_by, "y-MM-dd HH:mm") in alert.subject  # the coop's time, no seconds
    assert db.session.query(OutboundEmail).filter(OutboundEmail.subject == alert.subject).count() == 1
    login(client, get_admin())
    page = client.get("/payments/admin/chargebacks").get_data(as_text=True)
    assert "needs_response" in page and db.session.get(Order, order_id).reference in page
    assert services.has_chargeback(order_id)


@pytest.mark.parametrize("rule", ["coop_absorbs", "reverse_producers"])
def test_a_lost_chargeback_is_borne_exactly_as_the_published_rule_says(flow, rule):
    set_setting("lost_chargeback_rule", rule)
    db.session.commit()
    coop, order_id = _paid_order(flow, delivery=True)
    transfers = {p.part_id: p.net_cents for p in db.session.query(Payout).filter_by(order_id=order_id)}
    dispute = _dispute(flow, order_id)
    flow.fake.close_dispute(dispute["id"], won=False)
    flow.settle()
    [chargeback] = db.session.query(Chargeback).all()
    assert chargeback.status == "lost" and chargeback.rule == rule
    reversals = sorted(r["amount"] for r in flow.fake.objects_of("transfer_reversal"))
    if rule == "coop_absorbs":
        assert reversals == [] and chargeback.absorbed_cents == dispute["amount"]
    else:
        # Each farm gives back what it was paid; the coop bears the delivery fee (not transferred yet).
        assert reversals == sorted(transfers.values())
        assert chargeback.recovered_cents == sum(transfers.values())
        assert chargeback.absorbed_cents == dispute["amount"] - sum(transfers.values()) == 450
    assert _ledger(LedgerKind.COOP_COST, order_id) == [chargeback.absorbed_cents]
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.difference == 450  # the courier's delivery fee, still to pay
    assert reconciliation.reconcile_platform() == []
    # An unpaid sale is not a cancelled one: the invoices stand, no credit note (payments/chargebacks.py).
    from marketplace.invoicing.models import InvoiceDraft, InvoiceKind

    drafts = db.session.query(InvoiceDraft).filter_by(order_id=order_id).all()
    assert len(drafts) == 3 and {d.kind for d in drafts} == {InvoiceKind.INVOICE}


def test_a_line_refund_held_by_a_chargeback_is_still_taken_back_from_its_producer_when_lost(flow):
    """Found by the state machine: the bank refunded the line, so no refund on top, but the producer was
    left with it while the coop bore the whole chargeback."""
    _coop, order_id = _paid_order(flow)
    dispute = _dispute(flow, order_id)
    eggs = next(l for p in db.session.get(Order, order_id).parts for l in p.lines if l.product_name == "Eggs 1")
    orders.reject_line(eggs.part.producer.user, eggs.id, "Found broken while packing")  # paid, still packed
    db.session.commit()
    flow.settle()
    credit = db.session.query(Credit).filter_by(line_id=eggs.id).one()
    assert credit.status == CreditStatus.PENDING and "chargeback" in credit.error  # Stripe refuses refunds now
    flow.fake.close_dispute(dispute["id"], won=False)
    flow.settle()
    credit = db.session.get(Credit, credit.id)
    assert (credit.status, credit.refund_status, credit.stripe_refund_id) == (CreditStatus.DONE, "chargeback", None)
    assert [r["amount"] for r in flow.fake.objects_of("transfer_reversal")] == [350]
    assert _ledger(LedgerKind.COOP_COST, order_id) == [dispute["amount"] - 350]
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled and balance.difference == 0


def test_a_won_chargeback_gives_the_amount_back_but_its_fee_stays_a_cost(flow):
    _coop, order_id = _paid_order(flow)
    dispute = _dispute(flow, order_id)
    flow.fake.close_dispute(dispute["id"], won=True)
    flow.settle()
    assert _ledger(LedgerKind.DISPUTE_REINSTATED, order_id) == [dispute["amount"]]
    assert DISPUTE_FEE in _ledger(LedgerKind.FEE, order_id) and not _ledger(LedgerKind.COOP_COST)
    assert not _alerts("Chargeback") and not services.has_chargeback(order_id)
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled


# ---------------------------------------------------------------- idempotency keys

def test_a_checkout_retried_after_a_rolled_back_request_sends_the_same_session_request(flow):
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {1: 1})
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    first_session = payment.session_id
    # The request failed after Stripe answered: its transaction rolled back, the session id is lost.
    payment.session_id, payment.session_url = None, ""
    db.session.commit()
    coop["farms"][0].producer_profile.name = "Farm renamed meanwhile"
    db.session.commit()
    buyer = db.session.get(Order, order_id).buyer
    with current_app.test_request_context(base_url="http://www.shop.test"):
        url = services.start_checkout(buyer, order_id)
    creates = [r for r in flow.fake.requests if r.path == "/v1/checkout/sessions" and r.method == "POST"]
    assert [r.status for r in creates] == [200, 200] and creates[1].replayed
    assert db.session.get(CardPayment, payment.id).session_id == first_session and url


def test_a_capture_retried_after_a_lost_response_captures_once(flow, monkeypatch):
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {0: 2, 1: 1, 2: 1})
    flow.pay(order_id)
    flow.settle()
    flow.prepare(order_id, grams=1800)
    real_client = stripe_gateway.client()
    lost = {"n": 0}
    real_capture = real_client.v1.payment_intents.capture

    def capture_then_lose_the_answer(*args, **kwargs):
        real_capture(*args, **kwargs)
        lost["n"] += 1
        raise stripe.APIConnectionError("connection reset after the request was sent")

    monkeypatch.setattr(real_client.v1.payment_intents, "capture", capture_then_lose_the_answer)
    with pytest.raises(stripe.APIConnectionError):
        services.capture_order(order_id)
    monkeypatch.setattr(real_client.v1.payment_intents, "capture", real_capture)
    # Meanwhile the second farm finds its eggs broken: the amount due changes before the retry.
    line = next(l for p in db.session.get(Order, order_id).parts for l in p.lines if l.product_name == "Eggs 1")
    orders.reject_line(line.part.producer.user, line.id, "Broken")
    db.session.commit()
    assert services.capture_order(order_id) == "captured"  # the worker's retry: same key, same amount
    flow.settle()
    captures = [r for r in flow.fake.requests if r.path.endswith("/capture")]
    assert lost["n"] == 1 and [r.status for r in captures] == [200, 200] and captures[1].replayed
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    assert payment.status == CardPaymentStatus.CAPTURED
    assert _ledger(LedgerKind.REFUND, order_id) == [350]  # the rejected eggs, refunded after capture
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled


# ---------------------------------------------------------------- payouts never stuck

def test_coop_funded_courier_pay_waits_for_available_funds_then_goes(flow, client):
    coop, order_id = _paid_order(flow, delivery=True)
    orders.hand_to_courier(order_id, coop["courier"])
    orders.mark_delivered(order_id, coop["courier"])
    db.session.commit()
    # 6.00 for the run: 4.50 of delivery fee collected, 1.50 paid by the coop from its own balance.
    payouts.pay_courier(coop["courier"].id, 600, "courier-run:1", [order_id])
    flow.settle()
    coop_part = db.session.query(Payout).filter_by(reference="courier-run:1:coop").one()
    assert coop_part.status == PayoutStatus.WAITING and "available" in error_text(coop_part.error)
    assert db.session.query(Payout).filter_by(reference=f"courier-run:1:order:{order_id}").one().status == \
        PayoutStatus.PAID
    assert not [r for r in flow.fake.requests if r.idempotency_key == "courier-run:1:coop"]
    login(client, get_admin())
    assert "courier-run:1:coop" in client.get("/payments/admin/attention").get_data(as_text=True)
    # The coop's balance is short by Stripe's fees (members pay them at cost later): it tops it up.
    flow.fake.top_up(1000, available_in=DAY)
    flow.fake.advance(DAY)  # the funds become available: balance.available
    flow.settle()
    coop_part = db.session.get(Payout, coop_part.id)
    assert coop_part.status == PayoutStatus.PAID and _ledger(LedgerKind.COURIER_TRANSFER) == [150, 450]
    assert not _alerts("waits for the coop")


def test_a_transfer_stripe_refused_for_balance_is_retried_under_a_new_key(flow, monkeypatch):
    coop, order_id = _paid_order(flow, delivery=True)
    monkeypatch.setattr(payouts, "available_cents", lambda currency=None: 10**6)  # a stale reading
    payouts.pay_courier(coop["courier"].id, 100 + 450, "courier-run:2", [order_id])
    flow.settle()
    payout = db.session.query(Payout).filter_by(reference="courier-run:2:coop").one()
    assert payout.status == PayoutStatus.WAITING and payout.attempts == 1
    monkeypatch.undo()
    flow.follow_stripes_clock(monkeypatch)
    flow.fake.top_up(100)
    assert payouts.retry_waiting_payouts() == [payout.id]
    flow.settle()
    assert db.session.get(Payout, payout.id).status == PayoutStatus.PAID
    keys = [r.idempotency_key for r in flow.fake.requests if r.path == "/v1/transfers" and r.method == "POST"
            and (r.idempotency_key or "").startswith("courier-run:2:coop")]
    assert keys == ["courier-run:2:coop", "courier-run:2:coop:attempt-1"]


# ---------------------------------------------------------------- refunds final only when Stripe says so

def _admin_refund(order_id: int, product: str, cents: int) -> Credit:
    line = next(l for p in db.session.get(Order, order_id).parts for l in p.lines if l.product_name == product)
    credit = services.resolve_dispute(get_admin(), line.id, cents, "Damaged")
    db.session.commit()
    return credit


def test_a_pending_refund_is_done_only_when_it_succeeds(flow):
    _coop, order_id = _paid_order(flow)
    flow.fake.refunds_pending = True
    credit = _admin_refund(order_id, "Eggs 1", 350)
    flow.settle()
    credit = db.session.get(Credit, credit.id)
    assert (credit.status, credit.refund_status) == (CreditStatus.PENDING, "pending")
    assert not flow.fake.objects_of("transfer_reversal")  # the producer keeps it until the refund is final
    flow.fake.settle_refund(credit.stripe_refund_id, succeeded=True)
    flow.settle()
    credit = db.session.get(Credit, credit.id)
    assert credit.status == CreditStatus.DONE and [r["amount"] for r in flow.fake.objects_of("transfer_reversal")] \
        == [350]
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled


def test_a_failed_refund_is_raised_with_a_next_step_and_closed_by_the_admin(flow, client):
    _coop, order_id = _paid_order(flow)
    flow.fake.refunds_pending = True
    credit = _admin_refund(order_id, "Eggs 1", 350)
    flow.settle()
    flow.fake.settle_refund(db.session.get(Credit, credit.id).stripe_refund_id, succeeded=False)
    flow.settle()
    credit = db.session.get(Credit, credit.id)
    assert credit.status == CreditStatus.FAILED and _ledger(LedgerKind.REFUND_FAILED, order_id) == [350]
    [alert] = _alerts("could not be refunded")
    assert "bank transfer" in alert.body
    login(client, get_admin())
    page = client.get("/payments/admin/attention").get_data(as_text=True)
    assert "Refund failed" in page and "Given back another way" in page
    assert client.post(f"/payments/admin/credits/{credit.id}/refunded-outside",
                       data={"note": "Bank transfer 2026-11-30"}).status_code == 302
    flow.settle()  # then taken back from the producer, as for any refund
    credit = db.session.get(Credit, credit.id)
    assert credit.status == CreditStatus.DONE and credit.refund_status == "outside_stripe"
    assert [r["amount"] for r in flow.fake.objects_of("transfer_reversal")] == [350]
    assert not _alerts("could not be refunded")
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.refunded == 350 and balance.stripe_problems == []


def test_a_reversal_refused_because_the_producer_was_paid_out_is_retried_then_raised(flow, client):
    coop, order_id = _paid_order(flow)
    farm_account = services.account_of(coop["farms"][1].id).stripe_account_id
    flow.fake.advance(flow.fake.funds_delay)
    flow.fake.pay_out(farm_account)
    flow.settle()
    credit = _admin_refund(order_id, "Eggs 1", 350)
    flow.settle()
    credit = db.session.get(Credit, credit.id)
    assert credit.refund_status == "succeeded" and credit.status == CreditStatus.PENDING
    assert credit.reversal_attempts == 1 and _alerts("was refused")
    assert refunds.retry_refused_reversals() == [credit.id]
    flow.settle()
    assert db.session.get(Credit, credit.id).reversal_attempts == 2  # a new key each time
    login(client, get_admin())
    assert client.post(f"/payments/admin/credits/{credit.id}/absorb").status_code == 302
    assert db.session.get(Credit, credit.id).status == CreditStatus.DONE
    assert _ledger(LedgerKind.COOP_COST, order_id) == [350]
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled


def test_a_line_rejected_after_its_payout_is_refunded_once(flow):
    """Found by the state machine: the rejected line was out of the amount due and subtracted again."""
    _coop, order_id = _paid_order(flow)
    eggs = next(l for p in db.session.get(Order, order_id).parts for l in p.lines if l.product_name == "Eggs 0")
    services.resolve_dispute(get_admin(), eggs.id, 100, "One egg cracked")  # a partial refund first
    db.session.commit()
    flow.settle()
    orders.reject_line(eggs.part.producer.user, eggs.id, "The whole box was cracked")  # still packed: allowed
    db.session.commit()
    flow.settle()
    assert services.rebalance_order(order_id) is None
    flow.settle()
    assert _ledger(LedgerKind.REFUND, order_id) == [100, 250]  # the line's 3.50, refunded once in all
    assert _ledger(LedgerKind.REVERSAL, order_id) == [100, 250]
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.ok and balance.settled and balance.difference == 0


# ---------------------------------------------------------------- lost webhooks

def test_the_return_page_syncs_a_payment_whose_webhooks_were_lost(flow, client):
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {1: 1})
    flow.pay(order_id)
    assert flow.lose_webhooks() > 0
    login(client, db.session.get(Order, order_id).buyer)
    page = client.get(f"/payments/orders/{order_id}/return")
    assert 'data-status="authorised"' in page.get_data(as_text=True)
    assert db.session.get(Order, order_id).payment_status == PaymentStatus.AUTHORISED


def test_the_beat_syncs_open_checkouts_and_captures_before_capture_before(flow):
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {1: 2})
    flow.pay(order_id)
    flow.lose_webhooks()
    assert sync.sync_payments(flow.now())["synced"] == []  # webhooks may still come
    flow.fake.advance(11 * 60)
    assert sync.sync_payments(flow.now())["synced"] == [order_id]
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    charge = flow.fake.objects[payment.charge_id]
    assert payment.status == CardPaymentStatus.AUTHORISED
    assert payment.capture_before == from_timestamp(charge["payment_method_details"]["card"]["capture_before"])
    flow.fake.advance(5 * DAY)
    assert sync.sync_payments(flow.now())["captured"] == []
    flow.fake.advance(DAY)  # less than a day before capture_before
    assert sync.sync_payments(flow.now())["captured"] == [order_id]
    flow.lose_webhooks()
    sync.sync_payments(flow.now())
    assert db.session.get(CardPayment, payment.id).status == CardPaymentStatus.CAPTURED


def test_a_hold_that_lapsed_on_a_delivered_order_raises_an_alert_instead_of_cancelling(flow):
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {0: 1, 2: 1})
    flow.pay(order_id)
    flow.settle()
    flow.lose_webhooks()
    order = db.session.get(Order, order_id)
    for part in order.parts:  # accepted, never weighed: the beat that would capture did not run
        orders.accept_part(part.producer.user, part.id)
    db.session.commit()
    eggs_part = next(p for p in order.parts if not any(l.is_weight_priced for l in p.lines))
    orders.mark_ready(eggs_part.producer.user, eggs_part.id)
    db.session.commit()
    orders.mark_collected(get_admin(), order_id)
    db.session.commit()
    flow.lose_webhooks()
    flow.fake.advance(7 * DAY)  # the card network drops the hold...
    assert flow.lose_webhooks() == 2  # ...and its charge.expired and payment_intent.canceled are lost
    assert sync.sync_payments(flow.now())["synced"] == [order_id]  # past capture_before: the beat asks
    flow.run_tasks()
    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    order = db.session.get(Order, order_id)
    assert payment.status == CardPaymentStatus.LAPSED and order.payment_status == PaymentStatus.DUE
    assert all(p.status.value != "cancelled" for p in order.parts)
    [alert] = _alerts("lapsed")
    assert "handed over" in alert.body and alert.order_id == order_id


# ---------------------------------------------------------------- withholding

@pytest.fixture
def billing_owes(monkeypatch):
    """Billing says every producer owes 20.00 of fees; records what payments withhold and give back."""
    calls = {"withheld": [], "released": []}
    monkeypatch.setattr(billing_services, "fees_due_cents", lambda user_id: 2000)
    monkeypatch.setattr(billing_services, "record_fee_withheld", lambda user_id, cents, ref: calls["withheld"].append(cents))
    monkeypatch.setattr(billing_services, "release_fee_withheld",
                        lambda user_id, cents, ref: calls["released"].append(cents))
    return calls


def test_withholding_is_capped_and_a_refunded_withheld_line_reduces_it(flow, client, billing_owes):
    set_setting("withholding_cap_percent", "25")
    db.session.commit()
    coop, order_id = _paid_order(flow, quantities={1: 4})
    [payout] = db.session.query(Payout).filter_by(order_id=order_id).all()
    assert (payout.gross_cents, payout.withheld_cents, payout.net_cents) == (1400, 350, 1050)
    login(client, coop["farms"][0])
    page = client.get("/payments/account").get_data(as_text=True)
    assert "at most 25 %" in page and "3.50" in page
    published = client.get("/transparency").get_data(as_text=True)  # the rule is public
    assert "at most 25 % of each payment" in published and "borne by the coop" in published
    _admin_refund(order_id, "Eggs 0", 1400)
    flow.settle()
    assert [r["amount"] for r in flow.fake.objects_of("transfer_reversal")] == [1050]
    assert billing_owes["released"] == [350] and _ledger(LedgerKind.WITHHOLDING_RELEASED, order_id) == [350]
    [balance] = reconciliation.reconcile(check_stripe=True)
    assert balance.difference == 0 and balance.ok and balance.settled


# ---------------------------------------------------------------- API version, Connect endpoint, dashboard

def test_every_request_carries_the_pinned_api_version(flow, app):
    _paid_order(flow)
    assert {r.stripe_version for r in flow.fake.requests} == {app.config["STRIPE_API_VERSION"]}


def test_connect_events_are_verified_with_their_own_secret(flow, app):
    flow.coop(producers=1)
    flow.fake.connect_webhook_handler = None
    flow.fake.webhook_handler = None
    event = flow.fake.resend(flow.fake.events_of_type("account.updated")[0]["id"])
    forged = flow.fake.sign(event.payload, secret=app.config["STRIPE_WEBHOOK_SECRET"])
    for path, signature, status in (("/stripe/connect-webhook", forged, 400),
                                    ("/stripe/webhook", event.signature, 400),
                                    ("/stripe/connect-webhook", event.signature, 200)):
        response = flow.client.post(path, data=event.payload, content_type="application/json",
                                    headers={"Stripe-Signature": signature})
        assert response.status_code == status, path


def test_a_producer_opens_their_stripe_dashboard_with_a_login_link(flow, client):
    farm = flow.coop(producers=1)["farms"][0]
    login(client, farm)
    response = client.post("/payments/account/dashboard")
    assert response.status_code == 303 and response.headers["Location"].startswith(flow.fake.url + "/_fake/express/")


def test_a_courier_opens_their_stripe_dashboard_with_a_login_link(flow, client):
    courier = flow.coop(producers=1)["courier"]
    login(client, courier)
    page = client.get("/payments/account").get_data(as_text=True)
    assert 'data-testid="stripe-dashboard"' in page
    response = client.post("/payments/account/dashboard")
    assert response.status_code == 303 and response.headers["Location"].startswith(flow.fake.url + "/_fake/express/")
    [link] = [r for r in flow.fake.requests if r.path.endswith("/login_links")]
    assert services.account_of(courier.id).stripe_account_id in link.path


def test_the_admin_publishes_the_chargeback_rule_and_the_withholding_cap(app, client):
    from marketplace.core.services import get_setting

    login(client, get_admin())
    form = {"coop_name": "La Coop", "colour_primary": "#112233", "colour_accent": "#e8a33d", "share_nominal": "20.00",
            "weight_margin_percent": "20", "lost_chargeback_rule": "reverse_producers",
            "withholding_cap_percent": "30"}
    assert client.post("/admin/settings", data=form).status_code == 302
    assert (get_setting("lost_chargeback_rule"), get_setting("withholding_cap_percent")) == ("reverse_producers", "30")
    assert client.post("/admin/settings", data={**form, "withholding_cap_percent": "150"}).status_code == 400
    assert client.post("/admin/settings", data={**form, "lost_chargeback_rule": "buyer_pays"}).status_code == 400
    assert get_setting("withholding_cap_percent") == "30"
    page = client.get("/transparency").get_data(as_text=True)
    assert "is taken back from the order" in page and "at most 30 %" in page
