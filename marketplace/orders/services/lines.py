"""An order line made from a variant as sold at a distribution, with every snapshot the buyer agreed to."""
from __future__ import annotations

from marketplace.catalog.variants import SaleTerms
from marketplace.orders.models import OrderLine


def new_order_line(terms: SaleTerms, quantity: int, reservation_offer_id: int | None) -> OrderLine:
    """The line's product name, variant label, unit, price (the offer's, if any), VAT and weight estimate,
    frozen now: later edits of the product or the offer never change it."""
    variant = terms.variant
    product = variant.product
    return OrderLine(
        product_id=product.id, variant_id=variant.id, offer_id=reservation_offer_id, product_name=product.name,
        variant_label=variant.label, unit=variant.unit.value, unit_price_cents=terms.unit_price_cents,
        vat_rate_bp=variant.vat_rate_bp, quantity=quantity, is_weight_priced=variant.is_weight_priced,
        estimated_weight_g=variant.estimated_weight_g)
