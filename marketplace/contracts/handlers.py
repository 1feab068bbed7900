"""Contracts reacting to orders and distributions: the cut-off first makes the subscription orders still
missing, the producer's packing list asks who is absent or handed their basket over, and a cancelled
distribution recomputes its series' schedules."""
from __future__ import annotations

from datetime import datetime

from marketplace.contracts import services
from marketplace.distributions import signals as distribution_signals
from marketplace.distributions.models import Distribution
from marketplace.orders import signals


@signals.distribution_closing.connect
def make_missing_orders(distribution: Distribution, now: datetime | None = None, **_kwargs) -> None:
    # A beat that was down until the cut-off: the baskets still go into the harvest list.
    services.create_subscription_orders(distribution.id, now=now)


@distribution_signals.distribution_cancelled.connect
def reschedule_on_cancellation(distribution: Distribution, **_kwargs) -> None:
    # A cancelled distribution is nobody's delivery (contracts.rules): the instalments still to pay shrink now,
    # not at the subscriber's next change.
    services.cancel_subscription_orders(distribution.id)
    services.refresh_series_schedules(distribution.series_key)


@signals.packing_notes.connect
def absences_on_packing_list(distribution_id: int, producer_id: int | None = None,
                             **_kwargs) -> list[tuple[int, str, str]]:
    return services.absences_for(distribution_id, producer_id)


@signals.packing_notes_by_distribution.connect
def absences_on_order_desk(distribution_ids: tuple[int, ...], producer_id: int | None = None,
                           **_kwargs) -> dict[int, list[tuple[int, str, str]]]:
    return services.absences_by_distribution(list(distribution_ids), producer_id)

