"""Contracts reacting to orders: the cut-off first makes the subscription orders still missing, and the
producer's packing list asks who is absent or handed their basket over."""
from __future__ import annotations

from datetime import datetime

from marketplace.contracts import services
from marketplace.distributions.models import Distribution
from marketplace.orders import signals


@signals.distribution_closing.connect
def make_missing_orders(distribution: Distribution, now: datetime | None = None, **_kwargs) -> None:
    # A beat that was down until the cut-off: the baskets still go into the harvest list.
    services.create_subscription_orders(distribution.id, now=now)


@signals.packing_notes.connect
def absences_on_packing_list(distribution_id: int, producer_id: int | None = None,
                             **_kwargs) -> list[tuple[int, str, str]]:
    return services.absences_for(distribution_id, producer_id)

