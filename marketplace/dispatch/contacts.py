"""Who a courier may see on a run: names, street addresses, phones and notes only once the run is theirs.

A run offered to a courier, or open to every courier who fits, shows where it goes at the level of a
postcode and a town (enough to decide), never who lives there: a courier who declines, or is never
given the run, must not have learnt a member's home address.
"""
from __future__ import annotations

from dataclasses import dataclass

from marketplace.dispatch.models import Run, RunStatus, StopKind
from marketplace.members.models import User

HELD = (RunStatus.ACCEPTED, RunStatus.IN_PROGRESS, RunStatus.DONE)


@dataclass(frozen=True)
class Contact:
    """Who to meet at a stop: the buyer at a drop-off, the producer's phone at a pickup."""

    name: str = ""
    address: str = ""
    postcode: str = ""
    town: str = ""
    phone: str = ""
    note: str = ""


def run_is_theirs(user: User, run: Run) -> bool:
    """The courier accepted this run (and it was not given to someone else since)."""
    return run.courier_id is not None and run.courier_id == getattr(user, "id", None) and run.status in HELD


def contacts(user: User, run: Run) -> dict[int, Contact]:
    """Contact details by stop id, for the courier who holds the run; nothing for anyone else."""
    if not run_is_theirs(user, run):
        return {}
    found = {}
    for stop in run.stops:
        if stop.kind == StopKind.DROPOFF:
            order = stop.order
            found[stop.id] = Contact(name=order.buyer.full_name, address=order.delivery_address,
                                     postcode=order.delivery_postcode, town=order.delivery_town,
                                     phone=order.buyer.phone, note=order.note)
        elif stop.producer is not None:
            found[stop.id] = Contact(phone=stop.producer.user.phone)
    return found
