"""Dispatch rules: courier availability, planning ready deliveries into runs, fair offers, the courier's
stops, courier pay, and the dispatcher's overrides. Every rule of the dispatch domain lives in this package:

- rules: the coop's dispatch rules and courier pay;
- coordinates: checked coordinates, postcode centroids, where a drop-off, producer or courier is;
- availability: courier profiles and the times they can ride;
- offers: a run offered to one courier at a time, accepted, declined or expired;
- planning: ready deliveries of a slot planned into runs;
- stops: the courier's day, runs and stops;
- dispatcher: the dispatcher's board and overrides.

Callers use the names re-exported here (``from marketplace.dispatch import services``).
"""
from __future__ import annotations

from marketplace.dispatch.services.availability import (
    MAX_AVAILABILITY_HOURS,
    MAX_CAPACITY_KG,
    MAX_STOPS_LIMIT,
    CourierProfileInput,
    add_availability,
    availability_of,
    remove_availability,
    save_courier_profile,
)
from marketplace.dispatch.services.coordinates import (
    DEMO_POSTCODES_CSV,
    PROJECT_ROOT,
    centroid,
    check_coordinates,
    courier_home,
    import_postcode_centroids,
    locate_dropoff,
    locate_producer,
)
from marketplace.dispatch.services.dispatcher import (
    Board,
    board,
    reassign_run,
    replan,
    reset_code_attempts,
    set_job_coordinates,
    split_run,
)
from marketplace.dispatch.services.offers import (
    accept_run,
    can_take,
    decline_run,
    expire_due_offers,
    expire_offer,
    next_candidates,
)
from marketplace.dispatch.services.planning import (
    DEFAULT_ITEM_WEIGHT_G,
    order_weight_g,
    plan_for_order,
    plan_key_for,
    plan_slot,
    plannable_keys,
    request_planning,
)
from marketplace.dispatch.services.rules import (
    courier_pay_by_member,
    get_rules,
    offered_pay_cents,
    pay_rule_text,
    record_payable,
    run_pay_cents,
    update_rules,
)
from marketplace.dispatch.services.stops import (
    CourierDay,
    confirm_delivery,
    courier_day,
    courier_run,
    mark_picked_up,
    next_stop,
    report_failure,
    stops_in_turn,
)

__all__ = [
    "Board",
    "CourierDay",
    "CourierProfileInput",
    "DEFAULT_ITEM_WEIGHT_G",
    "DEMO_POSTCODES_CSV",
    "MAX_AVAILABILITY_HOURS",
    "MAX_CAPACITY_KG",
    "MAX_STOPS_LIMIT",
    "PROJECT_ROOT",
    "accept_run",
    "add_availability",
    "availability_of",
    "board",
    "can_take",
    "centroid",
    "check_coordinates",
    "confirm_delivery",
    "courier_day",
    "next_stop",
    "stops_in_turn",
    "courier_home",
    "courier_pay_by_member",
    "courier_run",
    "decline_run",
    "expire_due_offers",
    "expire_offer",
    "get_rules",
    "import_postcode_centroids",
    "locate_dropoff",
    "locate_producer",
    "mark_picked_up",
    "next_candidates",
    "offered_pay_cents",
    "order_weight_g",
    "pay_rule_text",
    "plan_for_order",
    "plan_key_for",
    "plan_slot",
    "plannable_keys",
    "reassign_run",
    "record_payable",
    "remove_availability",
    "replan",
    "report_failure",
    "request_planning",
    "reset_code_attempts",
    "run_pay_cents",
    "save_courier_profile",
    "set_job_coordinates",
    "split_run",
    "update_rules",
]
