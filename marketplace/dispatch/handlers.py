"""Dispatch reacts to order events: a ready home-delivery order is planned after the commit."""
from __future__ import annotations

from marketplace.orders import signals


@signals.order_ready.connect
def plan_ready_order(order, **_kwargs) -> None:
    from marketplace.dispatch.services import request_planning

    request_planning(order)
