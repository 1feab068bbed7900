"""The buyer's member account at checkout and at the handover: the balance pays first, card or pickup the rest.

At checkout the account pays up to the order's estimate (ORDER_PAYMENT). Once the order is final
(weighed and packed), what the account paid beyond the final amount goes back to it (REFUND_TO_ACCOUNT).
For a card order the card is held and captured only for the rest (marketplace.payments asks
`card_due_cents`). Nothing here commits.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from flask_babel import gettext as _

from marketplace.accounts import services as accounts
from marketplace.accounts.models import AccountMovement, Means, MemberAccount, MovementKind
from marketplace.core.errors import Conflict, ServiceError
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import format_money
from marketplace.orders.models import Order
from marketplace.orders.services.lifecycle import _record
from marketplace.orders.states import PartStatus, PaymentMethod, PaymentStatus


@dataclass(frozen=True)
class AccountUse:
    """What the review page shows: the balance available, what it pays, what card or pickup covers."""

    balance_cents: int
    applied_cents: int
    rest_cents: int

    @property
    def available_cents(self) -> int:
        return max(self.balance_cents, 0)


def account_use(user: User, total_cents: int, use_account: bool = True) -> AccountUse:
    """The checkout review's figures for a basket of `total_cents` (the buyer may choose not to use the balance)."""
    balance = accounts.balance_cents(user.id)
    applied = min(max(balance, 0), max(total_cents, 0)) if use_account else 0
    return AccountUse(balance, applied, total_cents - applied)


def pay_from_account(order: Order) -> int:
    """At checkout: the account pays the order's estimate as far as its balance goes (locked: never twice).

    A balance of zero or less pays nothing: read first without the lock, the usual case costs one statement
    (a movement committed meanwhile is one this order did not see, as if it came after)."""
    estimate = order.goods_estimated_cents + order.delivery_fee_cents
    if estimate <= 0 or accounts.balance_cents(order.buyer_id) <= 0:
        return 0
    accounts.account_row(order.buyer_id, lock=True)
    applied = min(max(accounts.balance_cents(order.buyer_id), 0), estimate)
    if applied > 0:
        accounts.post_movement(order.buyer_id, MovementKind.ORDER_PAYMENT, -applied, order_id=order.id,
                               key=f"order-payment:{order.id}")
        _record(order, "paid_from_account", format_money(applied))
    return applied


def final_due_cents(order: Order) -> int:
    """The order's final amount (what the goods and delivery cost once weighed), 0 once nothing is live."""
    if all(part.status == PartStatus.CANCELLED for part in order.parts):
        return 0
    return order.total_due_cents


def return_account_excess(order: Order) -> int:
    """Once the order is final (or cancelled): what the account paid beyond the final amount goes back to it."""
    excess = accounts.order_share_cents(order.id) - final_due_cents(order)
    if excess <= 0:
        return 0
    returned = db.session.query(db.func.count()).select_from(AccountMovement).filter(
        AccountMovement.order_id == order.id,
        AccountMovement.kind == MovementKind.REFUND_TO_ACCOUNT).scalar()
    accounts.post_movement(order.buyer_id, MovementKind.REFUND_TO_ACCOUNT, excess, order_id=order.id,
                           key=f"order-excess:{order.id}:{returned}")
    return excess


def carry_over(order: Order, amount_cents: int) -> bool:
    """A weighing difference on a card order, within the coop's carry-over limit, goes to the buyer's account
    instead of a new charge (negative: the buyer owes it) or a refund (positive). False: too large, or the
    account may not go that low; the caller charges or refunds as before."""
    if not 0 < abs(amount_cents) <= accounts.carry_over_limit_cents():
        return False
    carried = db.session.query(db.func.count()).select_from(AccountMovement).filter(
        AccountMovement.order_id == order.id, AccountMovement.kind == MovementKind.CARRY_OVER).scalar()
    try:
        accounts.post_movement(order.buyer_id, MovementKind.CARRY_OVER, amount_cents, order_id=order.id,
                               key=f"carry-over:{order.id}:{carried}")
    except Conflict:
        return False
    return True


def card_due_cents(order: Order, amount_cents: int) -> int:
    """What the card covers of `amount_cents` (a hold, or the final amount) once the account's share is paid."""
    return max(amount_cents - accounts.order_share_cents(order.id), 0)


@dataclass(frozen=True)
class Handover:
    """What the volunteer at the pickup (or the courier) settles with the buyer, account included."""

    order_rest_cents: int   # the order's final amount the account has not paid (pay at pickup; 0 for card)
    balance_cents: int      # the buyer's balance now (a credit reduces what to collect, a debt adds to it)
    payback_requested: bool

    @property
    def to_collect_cents(self) -> int:
        return max(self.order_rest_cents - self.balance_cents, 0)

    @property
    def balance_after_cents(self) -> int:
        """The balance left on the account once the order is paid and `to_collect_cents` received."""
        return self.balance_cents - self.order_rest_cents + self.to_collect_cents


class Payable(Protocol):
    """What a handover reads of an order: an `Order`, or a row of these columns of it."""

    id: int
    buyer_id: int
    payment_method: PaymentMethod
    payment_status: PaymentStatus


def handover_due(order: Order) -> Handover:
    """The pickup sheet's and the courier stop's "to pay / to hand back" for an order."""
    return handovers_due([order])[order.id]


def handovers_due(orders: Sequence[Payable], final_cents: dict[int, int] | None = None) -> dict[int, Handover]:
    """`handover_due` of several orders in at most three statements whatever their number: {order id: handover}.
    `final_cents`: their final amounts when the caller has them (`total_due_cents_by_order`), else they are
    `Order`s and `final_due_cents` reads each one's parts and lines."""
    owed = [o for o in orders if o.payment_method == PaymentMethod.PAY_AT_PICKUP
            and o.payment_status == PaymentStatus.DUE]
    shares = accounts.order_shares_cents(o.id for o in owed)
    rests = {o.id: max((final_due_cents(cast(Order, o)) if final_cents is None else final_cents[o.id])
                       - shares[o.id], 0) for o in owed}
    buyers = {o.buyer_id for o in orders}
    balances = accounts.balances_cents(buyers)
    asked = {user_id for (user_id,) in db.session.query(MemberAccount.user_id).filter(
        MemberAccount.user_id.in_(buyers), MemberAccount.payback_requested_at.is_not(None))} if buyers else set()
    return {o.id: Handover(rests.get(o.id, 0), balances[o.buyer_id], o.buyer_id in asked) for o in orders}


def settle_at_handover(order: Order, actor: User, received_cents: int | None = None,
                       means: Means = Means.CASH) -> int:
    """At the pickup or the door: record what the buyer handed over (by default the amount to collect) into
    the account, then let the account pay the order's rest. A shortfall below the carry-over limit is carried
    over; a larger one is refused (collect more). Returns what was received."""
    due = handover_due(order)
    received = due.to_collect_cents if received_cents is None else received_cents
    if received < 0:
        raise ServiceError(_("The amount received cannot be negative."), "received")
    if received > 0:
        accounts.post_movement(order.buyer_id, MovementKind.TOP_UP, received, order_id=order.id, actor=actor,
                               means=Means(means), key=f"handover:{order.id}")
    if due.order_rest_cents <= 0:
        return received
    from_balance = min(max(accounts.balance_cents(order.buyer_id), 0), due.order_rest_cents)
    if from_balance:
        accounts.post_movement(order.buyer_id, MovementKind.ORDER_PAYMENT, -from_balance, order_id=order.id,
                               actor=actor, key=f"order-payment-handover:{order.id}")
    shortfall = due.order_rest_cents - from_balance
    if shortfall:
        try:
            accounts.post_movement(order.buyer_id, MovementKind.CARRY_OVER, -shortfall, order_id=order.id,
                                   actor=actor, key=f"carry-handover:{order.id}")
        except Conflict:
            raise Conflict(_("%(amount)s is still due for order %(ref)s: collect it.", ref=order.reference,
                             amount=format_money(shortfall))) from None
    return received
