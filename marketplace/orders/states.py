"""The order lifecycle: every allowed status change, in one place."""
from __future__ import annotations

import enum


class PartStatus(str, enum.Enum):
    """Status of one producer's part of an order."""

    PLACED = "placed"
    ACCEPTED = "accepted"
    READY = "ready"
    HANDED_TO_COURIER = "handed_to_courier"
    COLLECTED = "collected"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class LineStatus(str, enum.Enum):
    ACTIVE = "active"
    REJECTED = "rejected"


class Fulfilment(str, enum.Enum):
    PICKUP = "pickup"
    DELIVERY = "delivery"


class PaymentMethod(str, enum.Enum):
    PAY_AT_PICKUP = "pay_at_pickup"
    CARD = "card"


class PaymentStatus(str, enum.Enum):
    DUE = "due"                # pay at pickup / on delivery
    AWAITING = "awaiting"      # card: checkout started, no verified webhook yet
    AUTHORISED = "authorised"  # card held, captured for the final amount after weighing
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


PART_TRANSITIONS: dict[PartStatus, set[PartStatus]] = {
    PartStatus.PLACED: {PartStatus.ACCEPTED, PartStatus.CANCELLED},
    PartStatus.ACCEPTED: {PartStatus.READY, PartStatus.CANCELLED},
    # Ready -> cancelled: every line turned out unsuppliable after packing (spoiled, broken).
    PartStatus.READY: {PartStatus.COLLECTED, PartStatus.HANDED_TO_COURIER, PartStatus.ACCEPTED,
                       PartStatus.CANCELLED},
    # A failed delivery puts the goods back in the dispatcher's hands, ready again.
    PartStatus.HANDED_TO_COURIER: {PartStatus.DELIVERED, PartStatus.READY},
    PartStatus.COLLECTED: set(),
    PartStatus.DELIVERED: set(),
    PartStatus.CANCELLED: set(),
}

TERMINAL = {PartStatus.COLLECTED, PartStatus.DELIVERED, PartStatus.CANCELLED}
# The buyer may cancel or change a part only before the producer accepts it.
BUYER_EDITABLE = {PartStatus.PLACED}


class InvalidTransition(ValueError):
    def __init__(self, current: PartStatus, target: PartStatus):
        super().__init__(f"An order part cannot go from '{current.value}' to '{target.value}'.")
        self.current, self.target = current, target


def check_transition(current: PartStatus, target: PartStatus) -> None:
    """Raise InvalidTransition unless current -> target is allowed."""
    if target not in PART_TRANSITIONS[current]:
        raise InvalidTransition(current, target)


def order_status(part_statuses: list[PartStatus]) -> str:
    """Summary status of an order from its parts (for lists and the buyer's page)."""
    live = [s for s in part_statuses if s != PartStatus.CANCELLED]
    if not live:
        return "cancelled"
    if all(s in (PartStatus.COLLECTED, PartStatus.DELIVERED) for s in live):
        return "delivered" if PartStatus.DELIVERED in live else "collected"
    if all(s == PartStatus.PLACED for s in live):
        return "placed"
    if all(s in (PartStatus.READY, PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED)
           for s in live):
        return "out_for_delivery" if PartStatus.HANDED_TO_COURIER in live else "ready"
    return "in_progress"
