"""Every amount the buyer pays, computed once: shown before placing, used by checkout, shown on the order.

`checkout_summary` is what the review step shows and what `checkout` itself applies (delivery zone and
fee), so the two cannot differ; `order_summary` gives the same figures for a placed order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from marketplace.core.errors import Conflict, ServiceError
from marketplace.core.services import get_int_setting
from marketplace.distributions.models import DeliverySlot, DeliveryZone, Distribution
from marketplace.distributions.services import delivery_fee_cents, zone_for_postcode
from marketplace.money import weighed_amount_cents
from marketplace.orders.models import Cart, Order
from marketplace.orders.services.cart import CartLine, cart_lines
from marketplace.orders.states import Fulfilment, LineStatus, PartStatus, PaymentMethod

if TYPE_CHECKING:
    from marketplace.orders.services.placing import CheckoutInput


@dataclass(frozen=True)
class ProducerAmount:
    producer_name: str
    goods_cents: int
    margin_cents: int = 0   # the most weighed products may add (held on a card until weighed)


@dataclass(frozen=True)
class CheckoutSummary:
    producers: tuple[ProducerAmount, ...]
    delivery_fee_cents: int = 0
    delivery_zone: DeliveryZone | None = None
    delivery_slot: DeliverySlot | None = None
    payment_method: PaymentMethod = PaymentMethod.PAY_AT_PICKUP

    @property
    def goods_cents(self) -> int:
        return sum(p.goods_cents for p in self.producers)

    @property
    def margin_cents(self) -> int:
        return sum(p.margin_cents for p in self.producers)

    @property
    def total_cents(self) -> int:
        """What the buyer pays if weighed products weigh as estimated (delivery only with goods to deliver)."""
        goods = self.goods_cents
        return goods + (self.delivery_fee_cents if goods > 0 else 0)

    @property
    def most_cents(self) -> int:
        """The most the buyer can pay: the total plus the weighing margin (what a card is authorised for)."""
        return self.total_cents + self.margin_cents


class AmountsChanged(Conflict):
    """The amounts the buyer was shown are not those of the order they are placing."""


def _margin_cents(estimated_weight_g: int, price_cents: int, estimate_cents: int) -> int:
    margin = get_int_setting("weight_margin_percent")
    return weighed_amount_cents(estimated_weight_g * (100 + margin) // 100, price_cents) - estimate_cents


def _delivery(distribution: Distribution, data: CheckoutInput) -> tuple[DeliveryZone, DeliverySlot | None]:
    if not distribution.home_delivery:
        raise ServiceError(_("This distribution offers no home delivery."), "fulfilment")
    zone = zone_for_postcode(data.delivery_postcode)
    if zone is None:
        raise ServiceError(_("Sorry, the coop's couriers do not deliver to this postcode yet."), "delivery_postcode")
    slot = next((s for s in distribution.slots if s.id == data.delivery_slot_id), None)
    return zone, slot


def checkout_summary(cart: Cart, distribution: Distribution, data: CheckoutInput,
                     lines: list[CartLine] | None = None) -> CheckoutSummary:
    """The amounts of this cart for these choices: goods per producer, delivery fee for the postcode,
    weighing margin, total. With `data.expected_total_cents`, refuse if that is not the total (the buyer
    saw other amounts). `lines`: the cart's lines as the caller just read them (`cart_lines(cart)`)."""
    producers: dict[str, list[int]] = {}
    for line in cart_lines(cart) if lines is None else lines:
        variant = line.variant
        goods = line.line_cents
        margin = (_margin_cents(line.quantity * (variant.estimated_weight_g or 0), line.unit_price_cents, goods)
                  if variant.is_weight_priced else 0)
        amounts = producers.setdefault(line.product.producer.name, [0, 0])
        amounts[0] += goods
        amounts[1] += margin
    zone = slot = None
    if data.fulfilment == Fulfilment.DELIVERY:
        zone, slot = _delivery(distribution, data)
    summary = CheckoutSummary(tuple(ProducerAmount(name, g, m) for name, (g, m) in sorted(producers.items())),
                              delivery_fee_cents(zone) if zone else 0, zone, slot, data.payment_method)
    expected = data.expected_total_cents
    if expected is not None and expected != summary.total_cents:
        raise AmountsChanged(_("The amounts changed with your choices: check them below, then place your order."))
    return summary


def order_summary(order: Order) -> CheckoutSummary:
    """The same figures for a placed order: final amounts where weighed, the margin still open elsewhere."""
    producers = []
    for part in order.parts:
        if part.status == PartStatus.CANCELLED:
            continue
        margin = sum(_margin_cents(line.estimated_weight_total_g, line.unit_price_cents, line.estimated_cents)
                     for line in part.lines
                     if line.is_weight_priced and line.weighed_grams is None and line.status == LineStatus.ACTIVE)
        producers.append(ProducerAmount(part.producer.name, part.final_cents, margin))
    producers.sort(key=lambda p: p.producer_name)
    return CheckoutSummary(tuple(producers), order.delivery_fee_cents, order.delivery_zone, order.delivery_slot,
                           order.payment_method)


def require_summary_matches(order: Order, summary: CheckoutSummary) -> None:
    """The order placed is the one reviewed (a safety net: both come from the same cart and rules)."""
    if order_summary(order).total_cents != summary.total_cents:
        raise Conflict(_("The amounts changed while you were ordering: check them, then place your order."))
