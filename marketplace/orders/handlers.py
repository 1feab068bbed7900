"""Orders settling their own account share: once an order is final (or wholly cancelled), what the buyer's
member account paid beyond its final amount goes back to the account; a cancelled distribution cancels the
orders made for it. Same contract as signals.py."""
from __future__ import annotations

from marketplace.distributions import signals as distribution_signals
from marketplace.orders import signals
from marketplace.orders.services.account_payment import return_account_excess
from marketplace.orders.services.cutoff import cancel_orders_of
from marketplace.orders.states import PartStatus


@signals.order_ready.connect
def return_excess_when_final(order, **_kwargs) -> None:
    return_account_excess(order)


@signals.part_cancelled.connect
def return_share_when_cancelled(part, **_kwargs) -> None:
    if all(p.status == PartStatus.CANCELLED for p in part.order.parts):
        return_account_excess(part.order)


@distribution_signals.distribution_cancelled.connect
def cancel_orders_with_their_distribution(distribution, **_kwargs) -> None:
    cancel_orders_of(distribution)
