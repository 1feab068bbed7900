"""Unit tests for the courier-run planner (pure Python, no Flask, no DB)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.dispatch.geo import Coordinates, HaversineMatrix, haversine_m, load_postcode_centroids
from marketplace.dispatch.planner import (
    REASON_NO_COURIER,
    REASON_NO_FIT,
    REASON_OUTSIDE_SHIFTS,
    REASON_TOO_HEAVY,
    REASON_TOO_MANY_PARCELS,
    REASON_TOO_MANY_STOPS,
    Courier,
    Delivery,
    Pickup,
    Plan,
    plan_greedy,
    plan_runs,
)
from tests.thorough import examples

T0 = 1_767_272_400  # fixed epoch (13:00)
H = 3600
NANTES = Coordinates(47.2184, -1.5536)
PLANNERS = [plan_runs, plan_greedy]


def near(dlat_km: float, dlon_km: float) -> Coordinates:
    return Coordinates(
        NANTES.lat + dlat_km / 111.32,
        NANTES.lon + dlon_km / (111.32 * math.cos(math.radians(NANTES.lat))),
    )


FARM_A = Pickup(near(3, 0), "farm-a")
FARM_B = Pickup(near(0, 3), "farm-b")
FARM_C = Pickup(near(-3, 0), "farm-c")


def courier(cid=1, *, start=None, end="same", shift=(T0, T0 + 4 * H), cap_g=50_000, cap_p=20, max_stops=30, speed=15.0):
    start = start or NANTES
    return Courier(
        id=cid,
        start=start,
        end=start if end == "same" else end,
        shift=shift,
        capacity_g=cap_g,
        capacity_parcels=cap_p,
        max_stops=max_stops,
        speed_kmh=speed,
    )


def delivery(did, *, pickups=(FARM_A,), drop=None, weight=3_000, parcels=1, window=(T0, T0 + 4 * H), service=120):
    return Delivery(
        id=did,
        pickups=list(pickups),
        dropoff=drop or near(0.5 * (did % 5), -0.5 * (did % 3)),
        weight_g=weight,
        parcels=parcels,
        window=window,
        service_s=service,
    )


def travel(a: Coordinates, b: Coordinates, speed: float) -> int:
    return int(HaversineMatrix(speed).durations_array([a, b])[0, 1])


def check_plan(plan: Plan, deliveries: list[Delivery], couriers: list[Courier], *, hub: Coordinates | None = None,
               hub_for: str = "multi") -> None:
    """All invariants a plan must satisfy, whatever the planner."""
    by_id = {d.id: d for d in deliveries}
    cby_id = {c.id: c for c in couriers}

    # Each delivery exactly once: in one run or unassigned, never both, never missing.
    in_runs = Counter()
    for run in plan.runs:
        for did in {s.delivery_id for s in run.stops}:
            in_runs[did] += 1
    unassigned = Counter(u.delivery_id for u in plan.unassigned)
    assert all(n == 1 for n in in_runs.values()), f"delivery split across runs: {in_runs}"
    assert all(n == 1 for n in unassigned.values())
    assert not set(in_runs) & set(unassigned), "a delivery is both planned and unassigned"
    assert set(in_runs) | set(unassigned) == set(by_id), "a delivery is missing from the plan"
    assert all(u.reason for u in plan.unassigned)
    assert len({r.courier_id for r in plan.runs}) == len(plan.runs), "a courier has two runs"

    for run in plan.runs:
        c = cby_id[run.courier_id]
        assert run.stops, "empty run reported"
        assert len(run.stops) <= c.max_stops, f"max_stops exceeded for courier {c.id}"
        assert c.shift[0] <= run.start_s <= run.end_s <= c.shift[1], "run outside the courier's shift"
        assert run.duration_s == run.end_s - run.start_s
        assert run.distance_m >= 0

        # Loads: a delivery's whole amount is counted from its first pickup
        # (an upper bound on the real load) until its drop-off.
        load_g = load_p = 0
        seen_pickups: dict[int, list[Pickup | tuple]] = {}
        dropped: set[int] = set()
        t_prev, pos, service_prev = run.start_s, c.start, 0
        for s in run.stops:
            d = by_id[s.delivery_id]
            # Times are consistent with the travel-time matrix.
            assert s.arrival_s >= t_prev + service_prev + travel(pos, s.location, c.speed_kmh), "arrival too early"
            assert s.wait_s >= 0
            if s.kind == "pickup":
                assert s.delivery_id not in dropped, "pickup after the drop-off"
                if s.delivery_id not in seen_pickups:
                    load_g += d.weight_g
                    load_p += d.parcels
                seen_pickups.setdefault(s.delivery_id, []).append((s.location, s.producer))
                service_prev = d.pickup_service_s
            else:
                assert s.kind == "dropoff"
                assert s.delivery_id not in dropped, "two drop-offs for one delivery"
                assert s.location == d.dropoff
                assert d.window[0] <= s.arrival_s <= d.window[1], "drop-off outside its window"
                load_g -= d.weight_g
                load_p -= d.parcels
                dropped.add(s.delivery_id)
                service_prev = d.service_s
            assert 0 <= load_g <= c.capacity_g, "weight capacity exceeded"
            assert 0 <= load_p <= c.capacity_parcels, "parcel capacity exceeded"
            t_prev, pos = s.arrival_s, s.location
        last_done = t_prev + service_prev
        if c.end is not None:
            last_done += travel(pos, c.end, c.speed_kmh)
        assert run.end_s >= last_done
        assert load_g == 0 and load_p == 0
        # Every delivery in the run: all of its pickups, then its drop-off.
        assert set(seen_pickups) == dropped
        for did, got in seen_pickups.items():
            d = by_id[did]
            if hub is not None and (hub_for == "all" or len(d.pickups) > 1):
                expected = [(hub, "hub")]
            else:
                expected = [(p.location, p.producer) for p in d.pickups]
            assert Counter(got) == Counter(expected), f"delivery {did} pickups incomplete: {got} vs {expected}"


# --------------------------------------------------------------------------- #
# geo
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("lat,lon", [(91, 0), (-90.01, 0), (0, 180.5), (0, -181), (float("nan"), 0), ("47", 1)])
def test_coordinates_validation(lat, lon):
    with pytest.raises(ValueError):
        Coordinates(lat, lon)


def test_coordinates_bounds_are_inclusive():
    assert Coordinates(90, 180) == Coordinates(90.0, 180.0)
    Coordinates(-90, -180)


def test_haversine_known_distances():
    assert haversine_m(NANTES, NANTES) == 0
    one_degree = haversine_m(Coordinates(0, 0), Coordinates(1, 0))
    assert one_degree == pytest.approx(111_195, rel=1e-3)
    paris = Coordinates(48.8566, 2.3522)
    assert haversine_m(NANTES, paris) == pytest.approx(342_500, rel=0.01)
    assert haversine_m(NANTES, paris) == pytest.approx(haversine_m(paris, NANTES))


def test_haversine_matrix():
    pts = [NANTES, near(3, 0), near(0, 4)]
    m = HaversineMatrix(15, detour_factor=1.3)
    dist, dur = m.distances(pts), m.durations(pts)
    assert all(dist[i][i] == 0 and dur[i][i] == 0 for i in range(3))
    assert dist[0][1] == dist[1][0] == math.ceil(haversine_m(pts[0], pts[1]) * 1.3)
    assert dur[0][1] == math.ceil(haversine_m(pts[0], pts[1]) * 1.3 / (15 / 3.6))
    assert all(isinstance(x, int) for row in dur for x in row)
    # Triangle inequality holds for the rounded-up integer matrix.
    for i in range(3):
        for j in range(3):
            for k in range(3):
                assert dur[i][k] <= dur[i][j] + dur[j][k]
    with pytest.raises(ValueError):
        HaversineMatrix(0)


def test_postcode_csv_text_and_file(tmp_path):
    text = "postcode,lat,lon,town\n44000,47.2184,-1.5536,Nantes\n\n44100,47.21,-1.59\n"
    got = load_postcode_centroids(text)
    assert got == {"44000": Coordinates(47.2184, -1.5536), "44100": Coordinates(47.21, -1.59)}
    path = tmp_path / "pc.csv"
    path.write_text("44000,47.2184,-1.5536\n44300,47.25,-1.52,Nantes\n", encoding="utf-8")
    assert load_postcode_centroids(path)["44300"] == Coordinates(47.25, -1.52)
    assert load_postcode_centroids(str(path))["44000"] == NANTES


@pytest.mark.parametrize(
    "bad",
    [
        "postcode,lat,lon\n44000,47.2,-1.5\n44100,abc,-1.5\n",
        "postcode,lat,lon\n44000,47.2,-1.5\n44100,95,-1.5\n",
        "postcode,lat,lon\n44000,47.2,-1.5\n44100,47.2\n",
        "postcode,lat,lon\n44000,47.2,-1.5\n,47.2,-1.5\n",
    ],
)
def test_postcode_csv_bad_row_names_line(bad):
    with pytest.raises(ValueError, match="line 3"):
        load_postcode_centroids(bad)


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="capacity_g"):
        courier(cap_g=0)
    with pytest.raises(ValueError, match="capacity_parcels"):
        courier(cap_p=-1)
    with pytest.raises(ValueError, match="shift"):
        courier(shift=(T0, T0))
    with pytest.raises(ValueError, match="max_stops"):
        courier(max_stops=0)
    with pytest.raises(ValueError, match="speed"):
        courier(speed=0)
    with pytest.raises(ValueError, match="window"):
        delivery(1, window=(T0 + 10, T0))
    with pytest.raises(ValueError, match="weight_g"):
        delivery(1, weight=-1)
    with pytest.raises(ValueError, match="pickup"):
        delivery(1, pickups=())
    with pytest.raises(ValueError):
        delivery(1, drop=(100.0, 0.0))


def test_invalid_inputs_mutated_after_construction_are_caught_by_planners():
    c = courier()
    c.capacity_g = -5
    d = delivery(1)
    d.window = (T0 + 100, T0)
    for planner in PLANNERS:
        with pytest.raises(ValueError, match="capacity_g"):
            planner([delivery(1)], [c])
        with pytest.raises(ValueError, match="window"):
            planner([d], [courier()])


def test_duplicate_ids_raise():
    with pytest.raises(ValueError, match="duplicate delivery"):
        plan_runs([delivery(1), delivery(1)], [courier()])
    with pytest.raises(ValueError, match="duplicate courier"):
        plan_runs([delivery(1)], [courier(1), courier(1)])


def test_pickups_accept_tuples():
    d = Delivery(1, [(FARM_A.location, "farm-a")], near(1, 1), 1000, 1, (T0, T0 + H))
    assert d.pickups == (FARM_A,)


# --------------------------------------------------------------------------- #
# Fixed instances
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("planner", PLANNERS)
def test_simple_instance_all_assigned(planner):
    deliveries = [delivery(i, pickups=[[FARM_A, FARM_B, FARM_C][i % 3]]) for i in range(1, 9)]
    couriers = [courier(1), courier(2, start=near(1, 1), speed=25.0)]
    plan = planner(deliveries, couriers)
    check_plan(plan, deliveries, couriers)
    assert plan.unassigned == []


def test_empty_inputs():
    assert plan_runs([], [courier()]) == Plan([], [])
    plan = plan_runs([delivery(1)], [])
    assert [(u.delivery_id, u.reason) for u in plan.unassigned] == [(1, REASON_NO_COURIER)]


@pytest.mark.parametrize("planner", PLANNERS)
def test_multi_pickup_in_one_run_pickups_first(planner):
    multi = delivery(1, pickups=[FARM_A, FARM_B, FARM_C], weight=9_000, parcels=3)
    others = [delivery(i, pickups=[FARM_B]) for i in range(2, 6)]
    couriers = [courier(1), courier(2, start=near(2, 2))]
    plan = planner([multi, *others], couriers)
    check_plan(plan, [multi, *others], couriers)
    run = next(r for r in plan.runs if 1 in r.delivery_ids)
    kinds = [s.kind for s in run.stops if s.delivery_id == 1]
    assert kinds == ["pickup", "pickup", "pickup", "dropoff"]
    assert {s.producer for s in run.stops if s.delivery_id == 1 and s.kind == "pickup"} == {"farm-a", "farm-b", "farm-c"}


@pytest.mark.parametrize("planner", PLANNERS)
def test_multi_pickup_only_fits_one_vehicle_is_not_split(planner):
    # 2 x 15 kg parts: only the van can carry the whole delivery.
    multi = delivery(1, pickups=[FARM_A, FARM_B], weight=30_000, parcels=2)
    couriers = [courier(1, cap_g=20_000), courier(2, cap_g=20_000), courier(3, cap_g=100_000, speed=25.0)]
    plan = planner([multi], couriers)
    check_plan(plan, [multi], couriers)
    assert [r.courier_id for r in plan.runs] == [3]


@pytest.mark.parametrize("planner", PLANNERS)
def test_multi_pickup_infeasible_is_unassigned_whole(planner):
    # Window too early to visit both farms: the whole delivery is unassigned.
    far = Pickup(near(9, 9), "far-farm")
    multi = delivery(1, pickups=[FARM_A, far], window=(T0, T0 + 20 * 60))
    single = delivery(2, pickups=[FARM_A])
    plan = planner([multi, single], [courier()])
    check_plan(plan, [multi, single], [courier()])
    assert [u.delivery_id for u in plan.unassigned] == [1]
    assert plan.unassigned[0].reason == REASON_NO_FIT


@pytest.mark.parametrize("planner", PLANNERS)
def test_impossible_deliveries_unassigned_with_reason(planner):
    deliveries = [
        delivery(1),
        delivery(2, weight=200_000),  # heavier than any vehicle
        delivery(3, parcels=99),  # more parcels than any vehicle
        delivery(4, window=(T0 - 5 * H, T0 - 4 * H)),  # window in the past (before every shift)
        delivery(5, window=(T0, T0 + 60)),  # cannot reach the buyer in one minute
    ]
    couriers = [courier(1), courier(2, cap_g=80_000)]
    plan = planner(deliveries, couriers)
    check_plan(plan, deliveries, couriers)
    reasons = {u.delivery_id: u.reason for u in plan.unassigned}
    assert reasons == {
        2: REASON_TOO_HEAVY,
        3: REASON_TOO_MANY_PARCELS,
        4: REASON_OUTSIDE_SHIFTS,
        5: REASON_NO_FIT,
    }
    assert REASON_TOO_HEAVY == "heavier than any available vehicle"
    assert REASON_NO_FIT == "no courier could fit it in their window/capacity"


@pytest.mark.parametrize("planner", PLANNERS)
def test_capacity_forces_several_runs(planner):
    deliveries = [delivery(i, weight=8_000, parcels=2) for i in range(1, 7)]
    couriers = [courier(c, cap_g=20_000, cap_p=4) for c in (1, 2, 3)]
    plan = planner(deliveries, couriers)
    check_plan(plan, deliveries, couriers)
    assert not plan.unassigned


@pytest.mark.parametrize("planner", PLANNERS)
def test_max_stops_honoured(planner):
    deliveries = [delivery(i) for i in range(1, 6)]
    couriers = [courier(1, max_stops=4)]
    plan = planner(deliveries, couriers)
    check_plan(plan, deliveries, couriers)
    assert len(plan.runs[0].stops) <= 4
    assert len(plan.assigned_ids) == 2
    assert len(plan.unassigned) == 3


@pytest.mark.parametrize("planner", PLANNERS)
def test_max_stops_counts_every_pickup_of_a_multi_pickup_delivery(planner):
    multi = delivery(1, pickups=[FARM_A, FARM_B, FARM_C])  # 4 physical stops
    single = delivery(2, pickups=[FARM_A])  # 2 stops
    couriers = [courier(1, max_stops=5)]
    plan = planner([multi, single], couriers)
    check_plan(plan, [multi, single], couriers)
    assert len(plan.assigned_ids) == 1
    # Needs more stops than any courier allows:
    plan = planner([multi], [courier(1, max_stops=3)])
    assert [(u.delivery_id, u.reason) for u in plan.unassigned] == [(1, REASON_TOO_MANY_STOPS)]


@pytest.mark.parametrize("planner", PLANNERS)
def test_hub_consolidation(planner):
    hub = near(0.2, 0.2)
    multi = delivery(1, pickups=[FARM_A, FARM_B, FARM_C])
    single = delivery(2, pickups=[FARM_C])
    plan = planner([multi, single], [courier()], hub=hub)
    check_plan(plan, [multi, single], [courier()], hub=hub)
    stops = plan.runs[0].stops
    assert [(s.location, s.producer) for s in stops if s.delivery_id == 1 and s.kind == "pickup"] == [(hub, "hub")]
    assert [s.producer for s in stops if s.delivery_id == 2 and s.kind == "pickup"] == ["farm-c"]
    plan = planner([multi, single], [courier()], hub=hub, hub_for="all")
    check_plan(plan, [multi, single], [courier()], hub=hub, hub_for="all")


def test_courier_without_end_and_mixed_speeds():
    deliveries = [delivery(i, pickups=[[FARM_A, FARM_B][i % 2]], window=(T0 + H, T0 + 3 * H)) for i in range(1, 7)]
    couriers = [courier(1, end=None, speed=13.0), courier(2, end=near(1, 0), speed=25.0)]
    for planner in PLANNERS:
        plan = planner(deliveries, couriers)
        check_plan(plan, deliveries, couriers)
        assert not plan.unassigned


def test_vroom_beats_or_matches_greedy_distance_on_fixed_instance():
    deliveries = [delivery(i, pickups=[[FARM_A, FARM_B, FARM_C][i % 3]]) for i in range(1, 13)]
    couriers = [courier(1), courier(2, start=near(-1, -1))]
    v, g = plan_runs(deliveries, couriers), plan_greedy(deliveries, couriers)
    assert not v.unassigned and not g.unassigned
    assert v.total_distance_m <= g.total_distance_m


def test_deterministic():
    deliveries = [delivery(i, pickups=[[FARM_A, FARM_B, FARM_C][i % 3]], weight=1_000 * i) for i in range(1, 13)]
    couriers = [courier(2, cap_g=30_000), courier(1, cap_g=30_000, start=near(-1, -1))]
    a = plan_runs(deliveries, couriers)
    b = plan_runs(list(reversed(deliveries)), list(reversed(couriers)))
    assert a == b
    assert plan_greedy(deliveries, couriers) == plan_greedy(list(reversed(deliveries)), list(reversed(couriers)))


# --------------------------------------------------------------------------- #
# Property test
# --------------------------------------------------------------------------- #

PRODUCERS = [Pickup(near(3 * math.cos(a), 3 * math.sin(a)), f"farm-{i}") for i, a in enumerate((0, 1.3, 2.6, 3.9, 5.2))]


@st.composite
def instances(draw):
    n_c = draw(st.integers(1, 4))
    couriers = []
    for cid in range(1, n_c + 1):
        start = draw(st.integers(0, 3 * H))
        length = draw(st.integers(H // 2, 4 * H))
        home = near(draw(st.floats(-2, 2)), draw(st.floats(-2, 2)))
        couriers.append(
            Courier(
                id=cid,
                start=home,
                end=draw(st.sampled_from([home, None, NANTES])),
                shift=(T0 + start, T0 + start + length),
                capacity_g=draw(st.integers(5_000, 60_000)),
                capacity_parcels=draw(st.integers(1, 10)),
                max_stops=draw(st.integers(1, 12)),
                speed_kmh=draw(st.sampled_from([13.0, 15.0, 25.0])),
            )
        )
    n_d = draw(st.integers(0, 15))
    deliveries = []
    for did in range(1, n_d + 1):
        k = draw(st.integers(1, 3))
        start = draw(st.integers(0, 5 * H))
        deliveries.append(
            Delivery(
                id=did * 7,  # ids need not be contiguous
                pickups=draw(st.lists(st.sampled_from(PRODUCERS), min_size=k, max_size=k)),
                dropoff=near(draw(st.floats(-3, 3)), draw(st.floats(-3, 3))),
                weight_g=draw(st.integers(0, 40_000)),
                parcels=draw(st.integers(0, 4)),
                window=(T0 + start, T0 + start + draw(st.integers(0, 3 * H))),
                service_s=draw(st.sampled_from([0, 60, 120])),
            )
        )
    return deliveries, couriers


@pytest.mark.parametrize("planner", PLANNERS)
@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances())
def test_property_invariants(planner, instance):
    deliveries, couriers = instance
    plan = planner(deliveries, couriers)
    check_plan(plan, deliveries, couriers)
