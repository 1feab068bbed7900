"""Points where other domains (dispatch, payments) react to order events, via the task outbox."""
from __future__ import annotations

from marketplace.orders.models import Order
from marketplace.orders.states import Fulfilment


def order_ready(order: Order) -> None:
    """Every part is packed. Home deliveries go to the dispatch planner (after commit)."""
    if order.fulfilment == Fulfilment.DELIVERY:
        from flask import current_app

        if "dispatch.plan_for_order" in current_app.extensions["celery"].tasks:
            from marketplace.tasking import enqueue_after_commit

            enqueue_after_commit("dispatch.plan_for_order", [order.id], dedup_key=f"plan-order:{order.id}")
