"""Cart, checkout and the order lifecycle: the shop's rules, one module per seam.

Callers import from here (`from marketplace.orders import services`). Nothing here commits or
rolls back: the request or the task around a call commits once.

- stock: quantities, stock reserved and released atomically
- cart: the buyer's cart for one open distribution
- account_payment: the buyer's member account pays first, card or pickup the rest
- placing: checkout (the cart becomes an order), and undoing a card order never paid
- lifecycle: the order's history and its parts' transitions (shared by the steps below)
- buyer: the buyer's changes before the cut-off
- producer_desk: accept, reject a line, weigh, mark ready
- handover: collected at the pickup, or handed to a courier and delivered
- cutoff: closing ordering for a distribution, harvest lists
"""
from marketplace.orders.models import Order  # read from here by callers (`orders.Order`) before the split
from marketplace.orders.services.account_payment import (
                                                         AccountUse,
                                                         Handover,
                                                         account_use,
                                                         card_due_cents,
                                                         handover_due,
                                                         settle_at_handover,
)
from marketplace.orders.services.buyer import buyer_order, cancel_order, change_line_quantity
from marketplace.orders.services.cart import (
                                                         CartSummary,
                                                         ProducerGroup,
                                                         add_to_cart,
                                                         choose_distribution,
                                                         get_cart,
                                                         set_cart_quantity,
                                                         summarise_cart,
)
from marketplace.orders.services.cutoff import (
                                                         HarvestLine,
                                                         close_distribution,
                                                         close_due_distributions,
                                                         due_distribution_ids,
                                                         harvest_totals,
                                                         producer_totals,
)
from marketplace.orders.services.handover import delivery_failed, hand_to_courier, mark_collected, mark_delivered
from marketplace.orders.services.placing import CheckoutInput, available_payment_methods, cancel_unpaid_order, checkout
from marketplace.orders.services.producer_desk import (
                                                         accept_part,
                                                         mark_ready,
                                                         record_weight,
                                                         reject_line,
                                                         weight_bounds_g,
)
from marketplace.orders.services.stock import MAX_QUANTITY, OutOfStock, parse_quantity, release_stock, reserve_stock
from marketplace.orders.services.summary import (
                                                         AmountsChanged,
                                                         CheckoutSummary,
                                                         ProducerAmount,
                                                         checkout_summary,
                                                         order_summary,
)
from marketplace.orders.services.totals import total_due_cents_by_order

__all__ = [
    "MAX_QUANTITY",
    "AmountsChanged", "CheckoutSummary", "ProducerAmount", "checkout_summary", "order_summary",
    "AccountUse", "CartSummary", "CheckoutInput", "Handover", "HarvestLine", "Order", "OutOfStock", "ProducerGroup",
    "accept_part", "account_use", "add_to_cart", "available_payment_methods", "buyer_order", "cancel_order",
    "cancel_unpaid_order", "card_due_cents", "change_line_quantity", "checkout", "choose_distribution",
    "close_distribution", "close_due_distributions", "delivery_failed", "due_distribution_ids", "get_cart",
    "hand_to_courier", "handover_due", "harvest_totals", "mark_collected", "mark_delivered", "mark_ready",
    "parse_quantity", "producer_totals", "record_weight", "reject_line", "release_stock", "reserve_stock",
    "set_cart_quantity", "settle_at_handover", "summarise_cart", "total_due_cents_by_order", "weight_bounds_g",
]
