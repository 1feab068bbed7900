"""Every euro reconciles: each card order's ledger balances, matches Stripe, and so does the platform balance.

For an order: charged − refunded − taken by a chargeback + borne by the coop
= transferred (net of reversals) + withheld for fees (net of what was given back),
to the cent once it is settled. Stripe's figures are compared like with like: after a partial
capture Stripe counts the released remainder in ``amount_refunded``, which is no refund of money.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select

from marketplace.accounts.services import order_shares_cents
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order
from marketplace.orders.services.totals import final_cents_by_part
from marketplace.orders.states import PartStatus, PaymentStatus
from marketplace.payments import emails
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.amounts import statuses_final
from marketplace.payments.balances import platform_problems, sync_platform_fees
from marketplace.payments.common import attr, commit_step, raise_alert
from marketplace.payments.models import (
    CardPayment,
    CardPaymentStatus,
    Chargeback,
    Credit,
    CreditKind,
    CreditStatus,
    EventStatus,
    LedgerEntry,
    LedgerKind,
    Payout,
    PayoutKind,
    PayoutStatus,
    StripeEvent,
)
from marketplace.payments.services import disputed_cents_by_part

PAGE = 100  # Stripe's largest page


@dataclass
class OrderBalance:
    order_id: int
    reference: str
    charged: int
    transferred: int
    refunded: int
    withheld: int
    settled: bool
    stripe_problems: list[str]
    chargebacks: int = 0   # taken by the bank, net of what was reinstated
    coop_cost: int = 0     # losses the coop bore (lost chargebacks, reversals it took on)
    # Refunded to the buyer (or taken by a chargeback) and still to take back from a producer: the refund
    # is not final yet, or Stripe refused the reversal. The coop fronts it meanwhile.
    reversals_due: int = 0
    in_dispute: int = 0    # taken by a chargeback still open: the bank has not decided yet
    # Paid from the buyer's member account (net of what went back to it): money the coop already held, so its
    # producers are paid beyond the charge, from the coop's balance (marketplace.accounts).
    from_account: int = 0

    @property
    def difference(self) -> int:
        return (self.charged + self.from_account - self.refunded - self.chargebacks + self.coop_cost
                - self.transferred - self.withheld)

    @property
    def ok(self) -> bool:
        if self.stripe_problems or self.difference < -(self.reversals_due + self.in_dispute):
            return False
        return self.difference == 0 or not self.settled


@dataclass(frozen=True)
class _Order:
    """What an order's balance reads of the order itself, and its parts as (id, status, final_cents) rows."""

    id: int
    reference: str
    payment_status: PaymentStatus
    delivery_fee_cents: int
    parts: list

    @property
    def live_parts(self) -> list:
        """Its parts not cancelled (payments.amounts.live_parts, on these rows)."""
        return [part for part in self.parts if part.status != PartStatus.CANCELLED]


@dataclass(frozen=True)
class _Rows:
    """What the balances of some orders read, each kind of row loaded once for all of them, as columns."""

    sums: dict[int, dict[LedgerKind, int]]  # the ledger, summed by order and kind
    payouts: dict[int, list]  # (order_id, part_id, kind, status)
    pending_credits: dict[int, list]  # the _reversals_due columns
    chargebacks: dict[int, list]  # (order_id, amount_cents, closed_at)
    disputed: dict[int, int]  # by live part: payments.services.disputed_cents
    from_account: dict[int, int]


def _by_order(rows, order_ids: list[int]) -> dict[int, list]:
    grouped: dict[int, list] = {order_id: [] for order_id in order_ids}
    for row in rows:
        grouped[row.order_id].append(row)
    return grouped


def _load(orders: Sequence[_Order]) -> _Rows:
    """Six statements whatever the number of orders."""
    ids = [order.id for order in orders]
    sums: dict[int, dict[LedgerKind, int]] = {order_id: {} for order_id in ids}
    for order_id, kind, total in (db.session.query(LedgerEntry.order_id, LedgerEntry.kind,
                                                   func.sum(LedgerEntry.amount_cents))
                                  .filter(LedgerEntry.order_id.in_(ids))
                                  .group_by(LedgerEntry.order_id, LedgerEntry.kind)):
        sums[order_id][kind] = int(total or 0)
    payouts = db.session.query(Payout.order_id, Payout.part_id, Payout.kind, Payout.status).filter(
        Payout.order_id.in_(ids))
    credits = db.session.query(Credit.order_id, Credit.kind, Credit.stripe_reversal_id, Credit.stripe_refund_id,
                               Credit.refund_status, Credit.amount_cents, Credit.withholding_released_cents).filter(
        Credit.order_id.in_(ids), Credit.status == CreditStatus.PENDING)
    chargebacks = db.session.query(Chargeback.order_id, Chargeback.amount_cents, Chargeback.closed_at).filter(
        Chargeback.order_id.in_(ids))
    live_part_ids = [part.id for order in orders for part in order.live_parts]
    return _Rows(sums, _by_order(payouts, ids), _by_order(credits, ids), _by_order(chargebacks, ids),
                 disputed_cents_by_part(live_part_ids), order_shares_cents(ids))


def _settled(order: _Order, rows: _Rows) -> bool:
    payouts = rows.payouts[order.id]
    live = order.live_parts
    parts_paid = all(any(p.part_id == part.id and p.status == PayoutStatus.PAID for p in payouts)
                     for part in live if part.final_cents - rows.disputed[part.id] > 0)
    courier_done = (not order.delivery_fee_cents or not sum(part.final_cents for part in live)
                    or any(p.kind == PayoutKind.COURIER and p.status == PayoutStatus.PAID for p in payouts))
    credits_done = not rows.pending_credits[order.id]
    open_chargeback = any(c.closed_at is None for c in rows.chargebacks[order.id])
    return (order.payment_status in (PaymentStatus.PAID, PaymentStatus.REFUNDED)
            and statuses_final(part.status for part in order.parts)
            and parts_paid and courier_done and credits_done and not open_chargeback)


def order_balance(order: Order, check_stripe: bool = False) -> OrderBalance:
    """The order's balance from the ledger (and, if asked, Stripe's objects compared with it)."""
    return order_balances([order.id], check_stripe)[0]


def order_balances(order_ids: Sequence[int], check_stripe: bool = False) -> list[OrderBalance]:
    """`order_balance` of each order, in order, in a fixed number of statements whatever their number (and, if
    asked, Stripe's objects compared, order by order)."""
    heads = db.session.execute(select(Order.id, Order.reference, Order.payment_status, Order.delivery_fee_cents)
                               .where(Order.id.in_(list(order_ids))).order_by(Order.id))
    return _balances(_orders(list(heads)), check_stripe)


def _orders(heads: list) -> list[_Order]:
    """The orders these rows name (id, reference, payment status, delivery fee), with their parts."""
    parts: dict[int, list] = {head.id: [] for head in heads}
    for part in final_cents_by_part(list(parts)):
        parts[part.order_id].append(part)
    return [_Order(head.id, head.reference, head.payment_status, head.delivery_fee_cents, parts[head.id])
            for head in heads]


def _balances(orders: list[_Order], check_stripe: bool = False) -> list[OrderBalance]:
    if not orders:
        return []
    rows = _load(orders)
    balances = [_balance(order, rows) for order in orders]
    if check_stripe:
        for balance in balances:
            order = db.session.get(Order, balance.order_id)
            if order is not None and order.card_payment and order.card_payment.charge_id:
                balance.stripe_problems = _stripe_problems(order, balance)
    return balances


def _balance(order: _Order, rows: _Rows) -> OrderBalance:
    s = rows.sums[order.id]
    get = lambda kind: s.get(kind, 0)  # noqa: E731
    transferred = get(LedgerKind.TRANSFER) + get(LedgerKind.COURIER_TRANSFER) - get(LedgerKind.REVERSAL)
    return OrderBalance(
        order.id, order.reference, get(LedgerKind.CHARGE), transferred,
        get(LedgerKind.REFUND) - get(LedgerKind.REFUND_FAILED),
        get(LedgerKind.WITHHOLDING) - get(LedgerKind.WITHHOLDING_RELEASED), _settled(order, rows), [],
        chargebacks=get(LedgerKind.DISPUTE) - get(LedgerKind.DISPUTE_REINSTATED), coop_cost=get(LedgerKind.COOP_COST),
        reversals_due=_reversals_due(rows.pending_credits[order.id]),
        in_dispute=sum(c.amount_cents for c in rows.chargebacks[order.id] if c.closed_at is None),
        from_account=rows.from_account[order.id])


def _reversals_due(pending_credits: list) -> int:
    """What the order's pending credits will still take back from producers' transfers."""
    due = 0
    for credit in pending_credits:
        if credit.kind not in (CreditKind.DISPUTE, CreditKind.CHARGEBACK) or credit.stripe_reversal_id is not None:
            continue
        if credit.kind == CreditKind.CHARGEBACK or credit.stripe_refund_id or credit.refund_status:
            due += credit.amount_cents - credit.withholding_released_cents
    return due


def _refunded_through_stripe(order_id: int) -> int:
    """Refunds made on the card (not those given back another way), net of failed ones."""
    made = db.session.query(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).filter(
        LedgerEntry.order_id == order_id, LedgerEntry.kind == LedgerKind.REFUND,
        LedgerEntry.stripe_id.is_not(None)).scalar()
    failed = db.session.query(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).filter(
        LedgerEntry.order_id == order_id, LedgerEntry.kind == LedgerKind.REFUND_FAILED).scalar()
    return int(made) - int(failed)


def transfers_of(reference: str) -> list:
    """Every transfer of an order's transfer group, page after page."""
    client = gateway.client()
    params: dict = {"transfer_group": reference, "limit": PAGE}
    rows: list = []
    while True:
        page = client.v1.transfers.list(params)
        rows += page.data
        if not page.has_more or not page.data:
            return rows
        params = {**params, "starting_after": page.data[-1].id}


def _stripe_problems(order: Order, balance: OrderBalance) -> list[str]:
    charge = gateway.client().v1.charges.retrieve(order.card_payment.charge_id)
    captured = attr(charge, "amount_captured") or 0
    # amount_refunded counts the remainder a partial capture released: not money given back.
    refunded = (attr(charge, "amount_refunded") or 0) - ((attr(charge, "amount") or 0) - captured)
    problems = []
    if captured != balance.charged:
        problems.append(f"charge {charge.id}: Stripe {captured} vs ledger {balance.charged}")
    if refunded != _refunded_through_stripe(order.id):
        problems.append(f"refunds: Stripe {refunded} vs ledger {_refunded_through_stripe(order.id)}")
    # Courier transfers carry the order's transfer_group too, so they are in both sums.
    stripe_net = sum(t.amount - t.amount_reversed for t in transfers_of(order.reference))
    if stripe_net != balance.transferred:
        problems.append(f"transfers: Stripe {stripe_net} vs ledger {balance.transferred}")
    return problems


BALANCES_PER_PAGE = 200


@dataclass(frozen=True)
class BalancesPage:
    """One page of the card orders that have money on them (pages.items: their id, reference, payment status and
    delivery fee), with their balances."""

    pages: Pagination
    balances: list[OrderBalance]


def _card_orders():
    """The card orders that have money on them (captured), in order, as the columns their balance reads."""
    return (db.session.query(Order.id, Order.reference, Order.payment_status, Order.delivery_fee_cents)
            .join(CardPayment, CardPayment.order_id == Order.id)
            .filter(CardPayment.status == CardPaymentStatus.CAPTURED).order_by(Order.id))


def balances_page(admin: User, page: int = 1, per_page: int | None = None) -> BalancesPage:
    """The admin's reconciliation, a page of card orders at a time, each order's balance from the ledger (not
    Stripe): a count and a fixed number of statements whatever the page's size."""
    require_admin(admin)
    pages = _card_orders().paginate(page=page, per_page=per_page or BALANCES_PER_PAGE, error_out=False)
    return BalancesPage(pages, _balances(_orders(pages.items)))


LEDGER_PER_PAGE = 200
EVENTS_PER_PAGE = 100


def events_to_check(admin: User, page: int = 1, per_page: int | None = None) -> Pagination:
    """The Stripe events the webhook could not match or process, newest first, a page at a time (none hidden behind
    a cut), read as columns without their payloads."""
    require_admin(admin)
    return (db.session.query(StripeEvent.event_id, StripeEvent.type, StripeEvent.object_id, StripeEvent.note)
            .filter(StripeEvent.status.in_([EventStatus.UNMATCHED, EventStatus.FAILED]))
            .order_by(StripeEvent.id.desc())
            .paginate(page=page, per_page=per_page or EVENTS_PER_PAGE, error_out=False))


def ledger_page(admin: User, page: int = 1, per_page: int | None = None) -> Pagination:
    """The admins' ledger, newest first, a page at a time (every entry can be reached, not only the latest ones):
    each entry as columns with its order's reference, one statement and a count whatever the page's size."""
    require_admin(admin)
    query = (db.session.query(LedgerEntry.created_at, LedgerEntry.kind, LedgerEntry.amount_cents,
                              LedgerEntry.stripe_id, LedgerEntry.reference, LedgerEntry.note,
                              Order.reference.label("order_reference"))
             .outerjoin(Order, Order.id == LedgerEntry.order_id).order_by(LedgerEntry.id.desc()))
    return query.paginate(page=page, per_page=per_page or LEDGER_PER_PAGE, error_out=False)


def reconcile(check_stripe: bool = True) -> list[OrderBalance]:
    """The balance of every card order that has money on it, read BALANCES_PER_PAGE orders at a time."""
    check = check_stripe and gateway.is_configured()
    balances: list[OrderBalance] = []
    last_id = 0
    while True:
        orders = _orders(_card_orders().filter(Order.id > last_id).limit(BALANCES_PER_PAGE).all())
        if not orders:
            return balances
        balances += _balances(orders, check_stripe=check)
        last_id = orders[-1].id


def reconcile_platform() -> list[str]:
    """Record Stripe's fees as coop costs, then list the platform's movements the ledger does not match."""
    if not gateway.is_configured():
        return []
    sync_platform_fees()
    return platform_problems()


def describe(b: OrderBalance) -> dict:
    """An order that does not balance, as values (payments.emails.not_reconciled words them)."""
    return {"ref": b.reference, "charged": b.charged, "transferred": b.transferred, "refunded": b.refunded,
            "withheld": b.withheld, "chargebacks": b.chargebacks, "coop_cost": b.coop_cost,
            "difference": b.difference, "problems": list(b.stripe_problems)}


def reconcile_and_alert(check_stripe: bool = True) -> tuple[list[OrderBalance], list[str]]:
    """Run the reconciliation; alert the admins about every order, and every Stripe movement, that does not balance."""
    wrong = [b for b in reconcile(check_stripe) if not b.ok]
    platform = reconcile_platform() if check_stripe else []
    if wrong or platform:
        raise_alert(emails.not_reconciled, orders=[describe(b) for b in wrong], platform=list(platform))
    commit_step()
    return wrong, platform
