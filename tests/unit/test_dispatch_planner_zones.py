"""Planner: couriers only get deliveries in the zones they cover (VROOM skills and greedy alike)."""
from __future__ import annotations

import pytest

from marketplace.dispatch.geo import Coordinates
from marketplace.dispatch.planner import REASON_NO_ZONE, Courier, Delivery, plan_greedy, plan_runs

T0 = 1_767_272_400
CENTRE = Coordinates(47.2184, -1.5536)
FARM = Coordinates(47.225, -1.545)


def _courier(cid, zones):
    return Courier(id=cid, start=CENTRE, end=CENTRE, shift=(T0, T0 + 4 * 3600), capacity_g=50_000,
                   capacity_parcels=20, max_stops=30, speed_kmh=15.0, skills=zones)


def _delivery(did, zone):
    return Delivery(id=did, pickups=[(FARM, "farm")], dropoff=Coordinates(47.21 + did / 1000, -1.55),
                    weight_g=2_000, parcels=1, window=(T0, T0 + 4 * 3600), skills=frozenset({zone}))


@pytest.mark.parametrize("plan", [plan_runs, plan_greedy])
def test_each_delivery_goes_to_a_courier_covering_its_zone(plan):
    deliveries = [_delivery(i, 1 + i % 2) for i in range(1, 9)] + [_delivery(20, 3)]
    couriers = [_courier(1, frozenset({1})), _courier(2, frozenset({2}))]
    result = plan(deliveries, couriers)
    zone_of = {d.id: next(iter(d.skills)) for d in deliveries}
    for run in result.runs:
        assert {zone_of[i] for i in run.delivery_ids} == {run.courier_id}
    assert [(u.delivery_id, u.reason) for u in result.unassigned] == [(20, REASON_NO_ZONE)]
    assert result.assigned_ids == set(range(1, 9))


def test_courier_without_zone_restriction_serves_any_zone():
    result = plan_runs([_delivery(1, 5)], [_courier(1, None)])
    assert result.assigned_ids == {1}


def test_negative_or_text_skills_are_refused():
    with pytest.raises(ValueError):
        _courier(1, frozenset({-1}))
    with pytest.raises(ValueError):
        _courier(1, "zone")
