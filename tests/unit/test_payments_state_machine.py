"""A stateful property-based test of the card money flow against the strict fake Stripe.

Hypothesis plays random sequences of: checkout and payment, weighing, line rejection, cancellation,
clock jumps (early capture near capture_before, lapsed holds, expired sessions, available funds),
delivery and courier pay, admin refunds, chargebacks opened/won/lost, webhooks delivered,
duplicated, reordered or lost, and the worker running tasks (again). After every step:

* every ledger row matches the Stripe object it names, to the cent, and every capture, transfer,
  reversal and refund the shop made at Stripe is in the ledger;
* no order's ledger shows more paid out than came in, and reconciliation of the ledger finds no mismatch;
* no payout waits, and no refund or reversal failed, without an open alert for the admins.

Whenever the shop has caught up (every webhook delivered, every task run, the beat run: the
``catch_up`` step, and at the end), the ledger equals Stripe's objects to the cent for every
order and for the platform balance, and reconciliation against Stripe reports no mismatch.
``MONEY_FLOW_EXAMPLES`` runs more examples (CI runs 12, the inner loop 3: ``tests.thorough``), and
``MONEY_FLOW_RANDOM=1`` explores other random sequences than the fixed (derandomized) ones.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test
from sqlalchemy import func

from marketplace.core.errors import ServiceError
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import LineStatus, PartStatus
from marketplace.payments import balances, payouts, reconciliation, refunds, services, sync
from marketplace.payments.models import (CardPayment, CardPaymentStatus, Credit, CreditStatus, LedgerEntry,
                                         LedgerKind, PaymentAlert, Payout, PayoutStatus)
from tests.factories import get_admin
from tests.fakes.contract import object_problems, param_problems
from tests.fakes.stripe_common import DAY
from tests.payments_fixtures import fake_stripe, stripe_config  # noqa: F401
from tests.payments_harness import MoneyFlow
from tests.thorough import examples

EXAMPLES = int(os.environ.get("MONEY_FLOW_EXAMPLES", examples(12)))


@pytest.fixture
def app_config(fake_stripe):
    return stripe_config(fake_stripe)


def _ledger_amount(kind: LedgerKind, **key) -> int:
    return int(db.session.query(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
               .filter(LedgerEntry.kind == kind).filter_by(**key).scalar())


def _open_alert(key: str) -> bool:
    return db.session.query(PaymentAlert.id).filter_by(key=key, resolved_at=None).first() is not None


def _explain(balances) -> str:
    """What the ledger and the credits say about orders that do not balance (for a failure message)."""
    from marketplace.payments.models import Chargeback

    lines = []
    for b in balances:
        lines.append(str(b))
        lines += [f"  {e.kind.value} {e.amount_cents} {e.stripe_id or e.reference}"
                  for e in db.session.query(LedgerEntry).filter_by(order_id=b.order_id).order_by(LedgerEntry.id)]
        lines += [f"  credit {c.id} {c.kind.value} {c.amount_cents} {c.status.value} refund={c.refund_status} "
                  f"reversal={c.reversal_cents}/{c.stripe_reversal_id} released={c.withholding_released_cents} "
                  f"{c.error}" for c in db.session.query(Credit).filter_by(order_id=b.order_id)]
        lines += [f"  payout {p.id} {p.status.value} {p.gross_cents}-{p.withheld_cents} rev={p.reversed_cents}"
                  for p in db.session.query(Payout).filter_by(order_id=b.order_id)]
        lines += [f"  chargeback {c.status} {c.amount_cents} rule={c.rule} rec={c.recovered_cents} "
                  f"abs={c.absorbed_cents}" for c in db.session.query(Chargeback).filter_by(order_id=b.order_id)]
    return "\n".join(lines)


class MoneyFlowMachine(RuleBasedStateMachine):
    flow: MoneyFlow  # set by the test

    @initialize(first=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 2)),
                second=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 2)))
    def open_the_shop(self, first: tuple[int, int, int], second: tuple[int, int, int]) -> None:
        """A coop with two farms and a courier; two card orders paid (pickup and delivery), webhooks on their way."""
        db.session.remove()
        db.drop_all()
        db.create_all()
        self.flow.fake.reset()
        self.flow.fake.funds_delay = 2 * DAY
        self.flow.inbox.clear()
        self.coop = self.flow.coop()
        self.order_ids: list[int] = []
        self.buyers = 0
        self.checkout(*first, delivery=False, pay=True)
        self.checkout(*second, delivery=True, pay=True)

    # ---- buyers ---------------------------------------------------------------------------------

    @rule(tomatoes=st.integers(0, 2), eggs0=st.integers(0, 2), eggs1=st.integers(1, 2), delivery=st.booleans(),
          pay=st.sampled_from([True, True, False]))
    def checkout(self, tomatoes: int, eggs0: int, eggs1: int, delivery: bool, pay: bool) -> None:
        if len(self.order_ids) >= 4:
            return
        quantities = {i: q for i, q in enumerate((tomatoes, eggs0, eggs1)) if q}
        self.buyers += 1
        order_id = self.flow.place_order(self.coop, f"buyer{self.buyers}@test.coop", quantities, delivery=delivery)
        self.order_ids.append(order_id)
        if pay:
            self.flow.pay(order_id)

    def _payments(self, *statuses: CardPaymentStatus) -> list[CardPayment]:
        return (db.session.query(CardPayment).filter(CardPayment.status.in_(statuses))
                .order_by(CardPayment.order_id).all())

    @rule(pick=st.integers(0, 10))
    def pay(self, pick: int) -> None:
        payable = [p for p in self._payments(CardPaymentStatus.OPEN)
                   if p.session_id and self.flow.fake.objects[p.session_id]["status"] == "open"]
        if payable:
            self.flow.pay(payable[pick % len(payable)].order_id)

    @rule(pick=st.integers(0, 10), chance=st.integers(0, 3))
    def buyer_cancels(self, pick: int, chance: int) -> None:
        if self.order_ids and chance == 0:
            order = db.session.get(Order, self.order_ids[pick % len(self.order_ids)])
            self._attempt(orders.cancel_order, order.buyer, order.id)

    @precondition(lambda self: self.order_ids)
    @rule(pick=st.integers(0, 10), percent=st.integers(85, 115))
    def an_order_moves_on(self, pick: int, percent: int) -> None:
        """The next ordinary step of one order (paid, packed, handed over), webhooks and tasks following."""
        order = db.session.get(Order, self.order_ids[pick % len(self.order_ids)])
        payment = order.card_payment
        if payment.status == CardPaymentStatus.OPEN and payment.session_id \
                and self.flow.fake.objects[payment.session_id]["status"] == "open":
            self.flow.pay(order.id)
        elif any(p.status in (PartStatus.PLACED, PartStatus.ACCEPTED) for p in order.parts) \
                and payment.status in (CardPaymentStatus.AUTHORISED, CardPaymentStatus.CAPTURED):
            self._attempt(self._prepare, order.id, percent)
        else:
            self.hand_over(pick, 0)
        self.flow.deliver_all()
        self.flow.run_tasks()

    # ---- producers --------------------------------------------------------------------------------

    def _live_orders(self) -> list[Order]:
        return [o for o in (db.session.get(Order, i) for i in self.order_ids)
                if o.card_payment and o.card_payment.status in (CardPaymentStatus.AUTHORISED,
                                                                 CardPaymentStatus.CAPTURED)]

    @rule(pick=st.integers(0, 10), percent=st.integers(80, 120))
    def producers_weigh_and_pack(self, pick: int, percent: int) -> None:
        live = self._live_orders()
        if live:
            order_id = live[pick % len(live)].id
            self._attempt(self._prepare, order_id, percent)

    def _prepare(self, order_id: int, percent: int) -> None:
        order = db.session.get(Order, order_id)
        grams = max(l.estimated_weight_total_g for p in order.parts for l in p.lines) * percent // 100
        self.flow.prepare(order_id, grams=grams or None)

    @rule(pick=st.integers(0, 50), chance=st.integers(0, 1))
    def producer_rejects_a_line(self, pick: int, chance: int) -> None:
        lines = [] if chance else [l for o in self._live_orders() for p in o.parts for l in p.lines
                 if l.status == LineStatus.ACTIVE and p.status in (PartStatus.PLACED, PartStatus.ACCEPTED,
                                                                   PartStatus.READY)]
        if lines:
            line = lines[pick % len(lines)]
            self._attempt(orders.reject_line, line.part.producer.user, line.id, "Not good enough")

    # ---- delivery -------------------------------------------------------------------------------------

    @rule(pick=st.integers(0, 10), extra=st.sampled_from([0, 0, 150]))
    def hand_over(self, pick: int, extra: int) -> None:
        ready = [o for o in self._live_orders()
                 if o.parts and all(p.status in (PartStatus.READY, PartStatus.CANCELLED) for p in o.parts)
                 and any(p.status == PartStatus.READY for p in o.parts)]
        if not ready:
            return
        order = ready[pick % len(ready)]
        if order.fulfilment.value == "pickup":
            self._attempt(orders.mark_collected, get_admin(), order.id)
            return
        orders.hand_to_courier(order.id, self.coop["courier"])
        orders.mark_delivered(order.id, self.coop["courier"])
        db.session.commit()
        fee = order.delivery_fee_cents if order.goods_final_cents else 0
        if fee + extra:
            self._attempt(payouts.pay_courier, self.coop["courier"].id, fee + extra, f"courier-run:{order.id}",
                          [order.id])

    # ---- admins and banks -------------------------------------------------------------------------------

    @rule(pick=st.integers(0, 50), share=st.integers(1, 100))
    def admin_refunds_part_of_a_line(self, pick: int, share: int) -> None:
        lines = [l for p in self._payments(CardPaymentStatus.CAPTURED) for part in p.order.parts
                 for l in part.lines if l.status == LineStatus.ACTIVE and part.status != PartStatus.CANCELLED]
        if lines:
            line = lines[pick % len(lines)]
            amount = max(1, line.final_cents * share // 100)
            self._attempt(services.resolve_dispute, get_admin(), line.id, amount, "Damaged")

    @rule(pick=st.integers(0, 10))
    def bank_opens_a_chargeback(self, pick: int) -> None:
        captured = [p for p in self._payments(CardPaymentStatus.CAPTURED)
                    if not self.flow.fake._disputes_of(p.charge_id)
                    and self.flow.fake.objects[p.charge_id]["amount_refunded"]
                    < self.flow.fake.objects[p.charge_id]["amount"]]
        if captured:
            self.flow.fake.open_dispute(captured[pick % len(captured)].charge_id)

    @rule(pick=st.integers(0, 10), won=st.booleans())
    def bank_closes_a_chargeback(self, pick: int, won: bool) -> None:
        open_ones = [d for d in self.flow.fake.objects_of("dispute") if d["status"] == "needs_response"]
        if open_ones:
            self.flow.fake.close_dispute(open_ones[pick % len(open_ones)]["id"], won=won)

    @rule(pending=st.booleans())
    def card_network_refund_mode(self, pending: bool) -> None:
        self.flow.fake.refunds_pending = pending

    @rule(pick=st.integers(0, 10), succeeded=st.booleans())
    def card_network_settles_a_refund(self, pick: int, succeeded: bool) -> None:
        pending = [r for r in self.flow.fake.objects_of("refund") if r["status"] == "pending"]
        if pending:
            self.flow.fake.settle_refund(pending[pick % len(pending)]["id"], succeeded=succeeded)

    @rule(pick=st.integers(0, 10))
    def producer_is_paid_out(self, pick: int) -> None:
        farms = self.coop["farms"]
        self.flow.fake.pay_out(services.account_of(farms[pick % len(farms)].id).stripe_account_id)

    @rule(hours=st.sampled_from([1, 1, 12, 24, 36, 24 * 3, 24 * 6, 24 * 7 + 1]))
    def clock_jumps(self, hours: int) -> None:
        self.flow.fake.advance(hours * 3600)

    # ---- webhooks ---------------------------------------------------------------------------------------

    @precondition(lambda self: self.flow.inbox)
    @rule()
    def webhooks_arrive(self) -> None:
        self.flow.deliver_all()

    @precondition(lambda self: self.flow.inbox)
    @rule(pick=st.integers(0, 30))
    def webhook_delivered(self, pick: int) -> None:  # any of the held ones: events come in any order
        assert self.flow.deliver(pick % len(self.flow.inbox)) == 200

    @precondition(lambda self: self.flow.inbox)
    @rule(pick=st.integers(0, 30))
    def webhook_duplicated(self, pick: int) -> None:
        assert self.flow.deliver(pick % len(self.flow.inbox), keep=True) == 200

    @precondition(lambda self: self.flow.inbox)
    @rule(pick=st.integers(0, 30), chance=st.integers(0, 2))
    def webhook_lost(self, pick: int, chance: int) -> None:
        if chance == 0:
            self.flow.inbox.pop(pick % len(self.flow.inbox))

    # ---- the worker and the beat ---------------------------------------------------------------------

    @precondition(lambda self: self.flow.pending_tasks())
    @rule(pick=st.integers(0, 30))
    def worker_runs_a_task(self, pick: int) -> None:
        pending = self.flow.pending_tasks()
        self.flow.run_task(pending[pick % len(pending)].id)

    @precondition(lambda self: self.flow.pending_tasks())
    @rule()
    def worker_runs_every_task(self) -> None:
        self.flow.run_tasks()

    @rule(pick=st.integers(0, 100))
    def worker_runs_a_task_again(self, pick: int) -> None:
        from marketplace.core.models import OutboxMessage

        done = db.session.query(OutboxMessage).filter(OutboxMessage.published_at.is_not(None)).all()
        if done:
            self.flow.run_task(done[pick % len(done)].id)

    @rule()
    def beat(self) -> None:
        at = self.flow.now()
        sync.sync_payments(at)
        refunds.sync_pending_refunds(at)
        payouts.retry_waiting_payouts()

    @rule()
    def catch_up(self) -> None:
        """Every webhook delivered, every task and the beat run: the shop is up to date with Stripe."""
        for _ in range(12):
            self.flow.deliver_all()
            self.flow.run_tasks()
            at = self.flow.now() + timedelta(minutes=11)
            sync.sync_payments(at)
            refunds.sync_pending_refunds(at)
            payouts.retry_waiting_payouts()
            if not self.flow.inbox and not self.flow.pending_tasks():
                break
        balances.sync_platform_fees()
        self._check_everything_matches_stripe()

    # ---- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def _attempt(fn, *args) -> None:
        """A person's action: a refusal (4xx with a reason) is fine; anything else fails the test."""
        try:
            fn(*args)
            db.session.commit()
        except ServiceError:
            db.session.rollback()

    def _check_everything_matches_stripe(self) -> None:
        fake = self.flow.fake
        for payment in self._payments(CardPaymentStatus.CAPTURED):
            charge = fake.objects[payment.charge_id]
            order_id = payment.order_id
            assert _ledger_amount(LedgerKind.CHARGE, order_id=order_id) == charge["amount_captured"]
            refunded = sum(r["amount"] for r in fake.objects_of("refund")
                           if r["charge"] == charge["id"] and r["balance_transaction"] and r["status"] != "failed")
            assert reconciliation._refunded_through_stripe(order_id) == refunded
            reference = payment.order.reference
            transfers = [t for t in fake.objects_of("transfer") if t["transfer_group"] == reference]
            assert _ledger_amount(LedgerKind.TRANSFER, order_id=order_id) + \
                _ledger_amount(LedgerKind.COURIER_TRANSFER, order_id=order_id) == sum(t["amount"] for t in transfers)
            assert _ledger_amount(LedgerKind.REVERSAL, order_id=order_id) == \
                sum(t["amount_reversed"] for t in transfers)
        stripe_fees = sum(balances.fee_cents(t) for t in balances.balance_transactions())
        assert _ledger_amount(LedgerKind.FEE) == stripe_fees
        wrong = [b for b in reconciliation.reconcile(check_stripe=True) if not b.ok]
        assert wrong == [], _explain(wrong)
        assert reconciliation.reconcile_platform() == []

    # ---- after every step ----------------------------------------------------------------------------------

    @invariant()
    def ledger_rows_match_the_stripe_objects_they_name(self) -> None:
        if not hasattr(self, "coop"):
            return
        objects = self.flow.fake.objects
        for entry in db.session.query(LedgerEntry).filter(LedgerEntry.stripe_id.is_not(None)):
            obj = objects[entry.stripe_id]
            if entry.kind == LedgerKind.CHARGE:
                assert entry.amount_cents == obj["amount_captured"]
            elif entry.kind == LedgerKind.FEE:
                assert entry.amount_cents == balances.fee_cents(obj)
            elif entry.kind == LedgerKind.REFUND_FAILED:
                assert entry.amount_cents == obj["amount"]
            else:
                assert entry.amount_cents == obj["amount"], entry.kind

    @invariant()
    def the_shops_own_movements_are_in_the_ledger_at_once(self) -> None:
        """Captures, transfers, reversals and refunds the shop makes are ledgered in the same task, to the cent
        (what Stripe or the bank do by themselves, such as chargebacks and Connect fees, may wait for a sync)."""
        if not hasattr(self, "coop"):
            return
        fake = self.flow.fake
        captured = sum(c["amount_captured"] for c in fake.objects_of("charge"))
        assert _ledger_amount(LedgerKind.CHARGE) == captured
        assert _ledger_amount(LedgerKind.TRANSFER) + _ledger_amount(LedgerKind.COURIER_TRANSFER) == \
            sum(t["amount"] for t in fake.objects_of("transfer"))
        assert _ledger_amount(LedgerKind.REVERSAL) == sum(r["amount"] for r in fake.objects_of("transfer_reversal"))
        made = sum(r["amount"] for r in fake.objects_of("refund") if r["balance_transaction"])
        assert int(db.session.query(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).filter(
            LedgerEntry.kind == LedgerKind.REFUND, LedgerEntry.stripe_id.is_not(None)).scalar()) == made

    @invariant()
    def no_order_pays_out_more_than_came_in(self) -> None:
        if hasattr(self, "coop"):
            wrong = [b for b in reconciliation.reconcile(check_stripe=False) if not b.ok]
            assert wrong == [], _explain(wrong)

    @invariant()
    def nothing_is_stuck_without_an_alert(self) -> None:
        if not hasattr(self, "coop"):
            return
        for payout in db.session.query(Payout).filter(Payout.status.in_([PayoutStatus.WAITING,
                                                                         PayoutStatus.BLOCKED])):
            assert _open_alert(f"payout-waiting:{payout.id}") or _open_alert(f"payout:{payout.id}"), payout.error
        for credit in db.session.query(Credit).filter_by(status=CreditStatus.FAILED):
            assert _open_alert(f"refund:{credit.id}")
        for credit in db.session.query(Credit).filter(Credit.status == CreditStatus.PENDING,
                                                      Credit.reversal_attempts > 0,
                                                      Credit.stripe_reversal_id.is_(None)):
            assert _open_alert(f"reversal:{credit.id}")
        for payment in self._payments(CardPaymentStatus.LAPSED):
            assert _open_alert(f"lapsed:{payment.order_id}")

    def teardown(self) -> None:
        if hasattr(self, "coop"):
            self.catch_up()
            if os.environ.get("MONEY_FLOW_DEBUG"):
                kinds = db.session.query(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind).all()
                print(sorted((k.value, n) for k, n in kinds),
                      sorted(p.status.value for p in db.session.query(CardPayment)),
                      [d["status"] for d in self.flow.fake.objects_of("dispute")])
            fake = self.flow.fake
            assert [p for o in fake.objects.values() for p in object_problems(o)] == []
            assert [p for r in fake.requests for p in param_problems(r.method, r.path, r.params)] == []
        db.session.rollback()


def test_the_money_flow_holds_whatever_happens(app, fake_stripe, monkeypatch):
    flow = MoneyFlow(app, fake_stripe)
    flow.follow_stripes_clock(monkeypatch)

    class Machine(MoneyFlowMachine):
        pass

    Machine.flow = flow
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
        derandomize=not os.environ.get("MONEY_FLOW_RANDOM"),
        suppress_health_check=list(HealthCheck)))
