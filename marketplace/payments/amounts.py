"""What a card order may cost and when its amount is final; the payment statuses payments may set."""
from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _

from marketplace.money import weighed_amount_cents
from marketplace.orders.models import Order, OrderEvent, OrderLine, OrderPart
from marketplace.orders.services.account_payment import card_due_cents
from marketplace.orders.states import LineStatus, PartStatus, PaymentStatus
from marketplace.payments import stripe_gateway as gateway

# Parts whose final amount is known (the producer has weighed and packed).
SETTLED_PART_STATES = {PartStatus.READY, PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED}

# Order.payment_status changes made by payments: the allowed ones.
PAYMENT_TRANSITIONS: dict[PaymentStatus, set[PaymentStatus]] = {
    PaymentStatus.AWAITING: {PaymentStatus.AUTHORISED, PaymentStatus.PAID, PaymentStatus.CANCELLED},
    # A hold that lapsed before capture leaves the amount due another way (pay at pickup, bank transfer).
    PaymentStatus.AUTHORISED: {PaymentStatus.PAID, PaymentStatus.CANCELLED, PaymentStatus.DUE},
    PaymentStatus.PAID: {PaymentStatus.REFUNDED},
    PaymentStatus.REFUNDED: set(),
    PaymentStatus.CANCELLED: set(),
    PaymentStatus.DUE: set(),
}


def set_payment_status(order: Order, target: PaymentStatus, amount_cents: int | None = None) -> bool:
    if order.payment_status == target or target not in PAYMENT_TRANSITIONS[order.payment_status]:
        return False
    order.payment_status = target
    order.events.append(OrderEvent(kind=f"payment_{target.value}", amount_cents=amount_cents))
    return True


def line_hold_cents(line: OrderLine) -> int:
    """The most a line can cost: weighed price if known, else estimate plus the published margin."""
    if line.status != LineStatus.ACTIVE:
        return 0
    if not line.is_weight_priced:
        return line.estimated_cents
    if line.weighed_grams is not None:
        return line.final_cents
    from marketplace.orders.services import weight_bounds_g

    return weighed_amount_cents(weight_bounds_g(line)[1], line.unit_price_cents)


def live_parts(order: Order) -> list[OrderPart]:
    return [p for p in order.parts if p.status != PartStatus.CANCELLED]


def hold_cents(order: Order) -> int:
    """What the card is authorised for: every live line at its maximum, plus the delivery fee."""
    goods = sum(line_hold_cents(line) for part in live_parts(order) for line in part.lines)
    return goods + (order.delivery_fee_cents if goods > 0 else 0)


def card_hold_cents(order: Order) -> int:
    """What the card is held for: the hold less what the buyer's member account already paid."""
    return card_due_cents(order, hold_cents(order))


def is_final(order: Order) -> bool:
    """Every live part weighed and packed: the amount due is final."""
    return statuses_final([part.status for part in order.parts])


def statuses_final(part_statuses: Iterable[PartStatus]) -> bool:
    """`is_final` of an order whose parts have these statuses."""
    live = [status for status in part_statuses if status != PartStatus.CANCELLED]
    return bool(live) and all(status in SETTLED_PART_STATES for status in live)


def checkout_line_items(order: Order) -> list[dict]:
    """One Checkout line per product (weight-priced ones at their maximum), the delivery fee apart; one line
    for the rest when the member account paid part of the order (Stripe takes no negative line)."""
    cur = gateway.currency()
    if card_hold_cents(order) != hold_cents(order):
        name = _("Order %(ref)s: the rest after your account balance, held at most, charged as weighed",
                 ref=order.reference)
        return [{"quantity": 1, "price_data": {"currency": cur, "unit_amount": card_hold_cents(order),
                                               "product_data": {"name": name[:250]}}}]
    items = []
    for part in live_parts(order):
        for line in part.lines:
            if line.status != LineStatus.ACTIVE:
                continue
            if line.is_weight_priced:
                name = _("%(product)s × %(n)d (~%(g)d g) — %(producer)s, held at most, charged as weighed",
                         product=line.product_name, n=line.quantity, g=line.estimated_weight_total_g,
                         producer=part.producer.name)
                items.append({"quantity": 1, "price_data": {"currency": cur, "unit_amount": line_hold_cents(line),
                                                            "product_data": {"name": name[:250]}}})
            else:
                name = f"{line.product_name} — {part.producer.name}"
                items.append({"quantity": line.quantity, "price_data": {
                    "currency": cur, "unit_amount": line.unit_price_cents, "product_data": {"name": name[:250]}}})
    if order.delivery_fee_cents and items:
        name = _("Home delivery (courier's pay at cost)")
        items.append({"quantity": 1, "price_data": {"currency": cur, "unit_amount": order.delivery_fee_cents,
                                                    "product_data": {"name": name}}})
    return items

