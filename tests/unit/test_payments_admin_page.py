"""The admins' payments page: its reconciliation of card orders paginated, each order's figures and flag as the
ledger, payouts, credits and chargebacks give them, in as many statements (SQL) for many orders as for few."""
from __future__ import annotations

import re
from itertools import cycle, islice

from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.money import format_money
from marketplace.orders.models import Order
from marketplace.orders.states import PaymentMethod, PaymentStatus
from marketplace.payments import reconciliation
from marketplace.payments.models import (
    CardPayment,
    CardPaymentStatus,
    Chargeback,
    Credit,
    CreditKind,
    CreditStatus,
    LedgerEntry,
    LedgerKind,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from tests.admin_fixtures import complete_order, coop, place_order  # noqa: F401
from tests.factories import login, make_member
from tests.unit.test_catalogue_querycount import _queries

ROW = re.compile(r'<tr><td><a href="/orders/(\d+)">([^<]*)</a></td>((?:<td class="num">[^<]*</td>){7})\n'
                 r'<td>(.*?)</td></tr>')
KINDS = ["balanced", "mismatch", "in progress", "chargeback open", "refund pending", "part refunded"]


def _ledger(order: Order, kind: LedgerKind, cents: int) -> None:
    db.session.add(LedgerEntry(kind=kind, amount_cents=cents, order_id=order.id,
                               reference=f"{kind.value}:{order.id}:{cents}"))


def _paid(order: Order, part_index: int, transferred: int, withheld: int = 0) -> None:
    part = order.parts[part_index]
    db.session.add(Payout(kind=PayoutKind.PRODUCER, reference=f"transfer:{part.id}", user_id=part.producer.user_id,
                          order_id=order.id, part_id=part.id, gross_cents=transferred + withheld,
                          withheld_cents=withheld, status=PayoutStatus.PAID))
    _ledger(order, LedgerKind.TRANSFER, transferred)
    if withheld:
        _ledger(order, LedgerKind.WITHHOLDING, withheld)


def _card_order(shop: dict, i: int, kind: str) -> Order:
    """A card order of carrots (2.80, Ferme du Marais) and goat cheese (3.50, Chèvrerie), charged 6.30, as `kind`."""
    buyer = make_member(f"card{i:03d}@test.coop", College.BUYER, name=f"Card {i:03d}")
    order = place_order(buyer, [(shop["carrots"], 1), (shop["cheese"], 1)])
    order.payment_method, order.payment_status = PaymentMethod.CARD, PaymentStatus.PAID
    db.session.add(CardPayment(order_id=order.id, payment_intent_id=f"pi_{i}", charge_id=f"ch_{i}",
                               status=CardPaymentStatus.CAPTURED, authorised_cents=630, captured_cents=630))
    if kind != "in progress":
        complete_order(order, [shop["ferme"], shop["chevre"]])
    _ledger(order, LedgerKind.CHARGE, 630)
    carrots = order.parts[0].lines[0]
    if kind == "part refunded":  # the carrots refunded in full: nothing left to pay the farm
        db.session.add(Credit(kind=CreditKind.DISPUTE, order_id=order.id, part_id=carrots.part_id,
                              line_id=carrots.id, amount_cents=280, status=CreditStatus.DONE))
        _ledger(order, LedgerKind.REFUND, 280)
        _paid(order, 1, 350)
        return order
    if kind in ("balanced", "mismatch", "chargeback open", "refund pending"):
        _paid(order, 0, 250, withheld=30)
        _paid(order, 1, 300 if kind == "mismatch" else 350)
    if kind == "chargeback open":
        db.session.add(Chargeback(stripe_dispute_id=f"dp_{i}", order_id=order.id, charge_id=f"ch_{i}",
                                  amount_cents=630))
        _ledger(order, LedgerKind.DISPUTE, 630)
    if kind == "refund pending":  # refunded on the card; the farm's transfer still to reverse
        db.session.add(Credit(kind=CreditKind.DISPUTE, order_id=order.id, part_id=carrots.part_id,
                              line_id=carrots.id, amount_cents=100, stripe_refund_id=f"re_{i}"))
        _ledger(order, LedgerKind.REFUND, 100)
    return order


def _card_orders(shop: dict, count: int, start: int) -> list[Order]:
    orders = [_card_order(shop, start + n, kind) for n, kind in enumerate(islice(cycle(KINDS), count))]
    db.session.commit()
    return orders


def _rows(client, url: str = "/payments/admin") -> list[tuple]:
    """(order id, reference, the seven amounts, the flag) of each reconciled order shown."""
    return [(int(order_id), reference, *re.findall(r'<td class="num">([^<]*)</td>', amounts), flag)
            for order_id, reference, amounts, flag in ROW.findall(client.get(url).get_data(as_text=True))]


def test_each_orders_figures_and_flag_are_those_of_its_ledger(coop, client):  # noqa: F811
    orders = _card_orders(coop, len(KINDS), 0)
    mismatch = '<strong class="error">mismatch</strong>'
    expected = {  # charged, transferred, refunded, withheld, chargebacks, borne by the coop, difference; the flag
        "balanced": (630, 600, 0, 30, 0, 0, 0, "balanced"),
        "mismatch": (630, 550, 0, 30, 0, 0, 50, mismatch),
        "in progress": (630, 0, 0, 0, 0, 0, 630, "in progress"),
        "chargeback open": (630, 600, 0, 30, 630, 0, -630, "in progress"),
        "refund pending": (630, 600, 100, 30, 0, 0, -100, "in progress"),
        "part refunded": (630, 350, 280, 0, 0, 0, 0, "balanced")}
    login(client, coop["admin"])
    assert _rows(client) == [(order.id, order.reference, *(format_money(c) for c in expected[kind][:7]),
                              expected[kind][7]) for order, kind in zip(orders, KINDS, strict=True)]
    # `flask payments reconcile` (and the nightly task) read the same balances.
    settled = {"balanced", "mismatch", "part refunded"}
    assert [(b.order_id, b.difference, b.ok, b.settled) for b in reconciliation.reconcile(check_stripe=False)] == [
        (order.id, expected[kind][6], expected[kind][7] != mismatch, kind in settled)
        for order, kind in zip(orders, KINDS, strict=True)]


def test_reconciliation_statement_count_does_not_follow_the_orders(coop, client):  # noqa: F811
    _card_orders(coop, 3, 0)
    login(client, coop["admin"])
    few = _queries(client, "/payments/admin")
    assert len(_rows(client)) == 3
    _card_orders(coop, 27, 3)
    many = _queries(client, "/payments/admin")
    assert len(_rows(client)) == 30
    assert many == few, f"{few} statements for 3 card orders, {many} for 30"
    # The member, the events to check and their count, the page's count and its orders, their parts' amounts
    # (summed by the database), the ledger summed by order and kind, the payouts, the pending credits, the
    # chargebacks, the line refunds by part, what member accounts paid, the site's settings. (The ledger's last
    # 300 entries were shown here too: they are a page of their own, /payments/admin/ledger.)
    assert many == 13


def test_reconciliation_is_paginated(coop, client, monkeypatch):  # noqa: F811
    orders = _card_orders(coop, 7, 0)
    monkeypatch.setattr(reconciliation, "BALANCES_PER_PAGE", 5)
    login(client, coop["admin"])
    first, second = _rows(client), _rows(client, "/payments/admin?page=2")
    assert [row[0] for row in first] == [o.id for o in orders[:5]]
    assert [row[0] for row in second] == [o.id for o in orders[5:]]
    page = client.get("/payments/admin").get_data(as_text=True)
    assert "Page 1 of 2" in page and "/payments/admin?page=2" in page
    assert _rows(client, "/payments/admin?page=3") == []
    assert _queries(client, "/payments/admin?page=2") == _queries(client, "/payments/admin")


def test_the_events_to_check_are_paginated_none_hidden_behind_a_cut(coop, client, monkeypatch):  # noqa: F811
    """It showed the 100 newest events the webhook could not match or process, and no older one."""
    from marketplace.payments.models import EventStatus, StripeEvent

    statuses = [EventStatus.UNMATCHED, EventStatus.FAILED, EventStatus.PROCESSED] * 3
    db.session.add_all(StripeEvent(event_id=f"evt_{n:02d}", type="charge.refunded", payload="{}", status=status,
                                   note=f"note {n:02d}") for n, status in enumerate(statuses))
    db.session.commit()
    flagged = [f"evt_{n:02d}" for n, status in enumerate(statuses) if status != EventStatus.PROCESSED]
    monkeypatch.setattr(reconciliation, "EVENTS_PER_PAGE", 4)
    login(client, coop["admin"])
    first, second = (client.get(f"/payments/admin?events={n}").get_data(as_text=True) for n in (1, 2))
    assert [event in first for event in flagged] == [False, False, True, True, True, True]
    assert [event in second for event in flagged] == [True, True, False, False, False, False]
    assert "evt_02" not in first + second and "evt_05" not in first + second  # processed: nothing to check
    assert "/payments/admin?events=2&amp;page=1" in first or "/payments/admin?page=1&amp;events=2" in first
    assert _queries(client, "/payments/admin?events=2") == _queries(client, "/payments/admin")
