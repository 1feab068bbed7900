"""What both planners share: the validated, sorted problem with its integer matrices and fixed pickup tours,
the simulation of a run, and the final check that turns routes into a :class:`Plan`."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..geo import Coordinates
from .model import (
    REASON_NO_COURIER,
    REASON_NO_SINGLE_VEHICLE,
    REASON_NO_ZONE,
    REASON_OUTSIDE_SHIFTS,
    REASON_REPAIR,
    REASON_STOP_LIMIT,
    REASON_TOO_HEAVY,
    REASON_TOO_MANY_PARCELS,
    REASON_TOO_MANY_STOPS,
    Courier,
    Delivery,
    MatrixFactory,
    Pickup,
    Plan,
    PlannedRun,
    PlannedStop,
    Unassigned,
    _as_coordinates,
)
from .zones import can_serve


@dataclass(slots=True)
class _Task:
    delivery: Delivery
    pickups: tuple[Pickup, ...]  # in tour order
    pickup_idx: tuple[int, ...]  # point indices, tour order
    drop_idx: int


# A planner's routes before the final check: courier id -> (start second, [("pickup"|"dropoff", task), ...]).
_Routes = dict[int, tuple[int, list[tuple[str, _Task]]]]


class _Problem:
    """Validated, sorted inputs + integer matrices shared by both planners."""

    def __init__(
        self,
        deliveries: Sequence[Delivery],
        couriers: Sequence[Courier],
        matrix_factory: MatrixFactory,
        hub: Coordinates | None,
        hub_for: str,
    ) -> None:
        hub = _check_inputs(deliveries, couriers, hub, hub_for)
        self.deliveries = sorted(deliveries, key=lambda d: d.id)
        self.couriers = sorted(couriers, key=lambda c: c.id)
        raw_pickups = _consolidated_pickups(self.deliveries, hub, hub_for)
        self.candidates, self.unassigned = self._screen(raw_pickups)
        self.points: list[Coordinates] = self._points(raw_pickups)
        self.index = {p: i for i, p in enumerate(self.points)}
        # Matrices: one duration matrix per distinct speed ("profile").
        self.speeds = sorted({c.speed_kmh for c in self.couriers})
        self.profile_of = {s: f"speed_{i}" for i, s in enumerate(self.speeds)}
        self.durations, self.distances = self._matrices(matrix_factory)
        # Tasks (pickup tour order fixed here).
        self.tasks: list[_Task] = [self._task(d, raw_pickups[d.id]) for d in self.candidates]

    def _screen(self, raw_pickups: dict[int, tuple[Pickup, ...]]) -> tuple[list[Delivery], dict[int, str]]:
        """Up-front infeasibility, reported with a precise reason; the other deliveries are candidates."""
        if not self.couriers:
            return [], {d.id: REASON_NO_COURIER for d in self.deliveries}
        max_g = max(c.capacity_g for c in self.couriers)
        max_p = max(c.capacity_parcels for c in self.couriers)
        max_stops = max(c.max_stops for c in self.couriers)
        candidates: list[Delivery] = []
        unassigned: dict[int, str] = {}
        for d in self.deliveries:
            reason = self._infeasibility(d, len(raw_pickups[d.id]), max_g, max_p, max_stops)
            if reason is None:
                candidates.append(d)
            else:
                unassigned[d.id] = reason
        return candidates, unassigned

    def _infeasibility(self, d: Delivery, pickups: int, max_g: int, max_p: int, max_stops: int) -> str | None:
        serving = [c for c in self.couriers if can_serve(c, d)]
        if not serving:
            return REASON_NO_ZONE
        if d.weight_g > max_g:
            return REASON_TOO_HEAVY
        if d.parcels > max_p:
            return REASON_TOO_MANY_PARCELS
        if not any(d.weight_g <= c.capacity_g and d.parcels <= c.capacity_parcels for c in serving):
            return REASON_NO_SINGLE_VEHICLE
        if pickups + 1 > max_stops:
            return REASON_TOO_MANY_STOPS
        if not any(c.shift[0] <= d.window[1] and d.window[0] <= c.shift[1] for c in self.couriers):
            return REASON_OUTSIDE_SHIFTS
        return None

    def _points(self, raw_pickups: dict[int, tuple[Pickup, ...]]) -> list[Coordinates]:
        """Physical points, deterministic order."""
        pts: set[Coordinates] = set()
        for c in self.couriers:
            pts.add(c.start)
            if c.end is not None:
                pts.add(c.end)
        for d in self.candidates:
            pts.add(d.dropoff)
            pts.update(p.location for p in raw_pickups[d.id])
        return sorted(pts)

    def _matrices(self, matrix_factory: MatrixFactory) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A duration matrix per profile; distances from the first profile's matrix."""
        n = len(self.points)
        durations: dict[str, np.ndarray] = {}
        distances: np.ndarray = np.zeros((n, n), dtype=np.int64)
        for i, s in enumerate(self.speeds):
            m = matrix_factory(s)
            durations[self.profile_of[s]] = _square(
                m.durations_array(self.points) if hasattr(m, "durations_array") else m.durations(self.points),
                n,
                "durations",
            )
            if i == 0:
                distances = _square(
                    m.distances_array(self.points) if hasattr(m, "distances_array") else m.distances(self.points),
                    n,
                    "distances",
                )
        return durations, distances

    def _task(self, d: Delivery, pk: tuple[Pickup, ...]) -> _Task:
        drop = self.index[d.dropoff]
        order = self._tour_order([self.index[p.location] for p in pk], drop)
        return _Task(
            delivery=d,
            pickups=tuple(pk[i] for i in order),
            pickup_idx=tuple(self.index[pk[i].location] for i in order),
            drop_idx=drop,
        )

    def _tour_order(self, idx: list[int], drop: int) -> list[int]:
        k = len(idx)
        if k == 1:
            return [0]
        dist = self.distances

        def cost(order: Sequence[int]) -> int:
            total = 0
            for a, b in zip(order, order[1:], strict=False):
                total += int(dist[idx[a], idx[b]])
            return total + int(dist[idx[order[-1]], drop])

        if k <= 6:
            return list(min(itertools.permutations(range(k)), key=lambda o: (cost(o), o)))
        # Nearest neighbour backwards from the drop-off, then reversed.
        remaining = set(range(k))
        order: list[int] = []
        cur = drop
        while remaining:
            nxt = min(remaining, key=lambda j: (int(dist[idx[j], cur]), j))
            order.append(nxt)
            remaining.remove(nxt)
            cur = idx[nxt]
        return order[::-1]

    # -- simulation -------------------------------------------------------- #

    def simulate(self, courier: Courier, events: list[tuple[str, _Task]], start_s: int) -> _SimResult:
        """Walk a run (events = ("pickup"|"dropoff", task)) from ``start_s``.

        Returns the physical stops with service start times and the checks."""
        dur = self.durations[self.profile_of[courier.speed_kmh]]
        dist = self.distances
        pos = self.index[courier.start]
        t = start_s
        distance = 0
        load_g = load_p = 0
        stops: list[PlannedStop] = []
        violations: list[tuple[str, int]] = []  # (kind, delivery_id)
        for kind, task in events:
            d = task.delivery
            if kind == "pickup":
                for p, pi in zip(task.pickups, task.pickup_idx, strict=False):
                    t += int(dur[pos, pi])
                    distance += int(dist[pos, pi])
                    pos = pi
                    stops.append(PlannedStop("pickup", d.id, p.location, t, p.producer, 0))
                    t += d.pickup_service_s
                load_g += d.weight_g
                load_p += d.parcels
                if load_g > courier.capacity_g or load_p > courier.capacity_parcels:
                    violations.append(("capacity", d.id))
            else:
                di = task.drop_idx
                t += int(dur[pos, di])
                distance += int(dist[pos, di])
                pos = di
                wait = max(0, d.window[0] - t)
                t += wait
                if t > d.window[1]:
                    violations.append(("window", d.id))
                if not can_serve(courier, d):
                    violations.append(("zone", d.id))
                stops.append(PlannedStop("dropoff", d.id, d.dropoff, t, None, wait))
                t += d.service_s
                load_g -= d.weight_g
                load_p -= d.parcels
        if courier.end is not None:
            ei = self.index[courier.end]
            t += int(dur[pos, ei])
            distance += int(dist[pos, ei])
        if start_s < courier.shift[0] or t > courier.shift[1]:
            last = next((task.delivery.id for kind, task in reversed(events) if kind == "dropoff"), None)
            if last is not None:
                violations.append(("shift", last))
        if len(stops) > courier.max_stops:
            multi = [task.delivery.id for kind, task in reversed(events) if kind == "dropoff" and len(task.pickups) > 1]
            last = multi[0] if multi else next(
                (task.delivery.id for kind, task in reversed(events) if kind == "dropoff"), None
            )
            if last is not None:
                violations.append(("stops", last))
        return _SimResult(stops, distance, start_s, t, violations)


@dataclass(slots=True)
class _SimResult:
    stops: list[PlannedStop]
    distance_m: int
    start_s: int
    end_s: int
    violations: list[tuple[str, int]]


def _check_inputs(
    deliveries: Sequence[Delivery], couriers: Sequence[Courier], hub: Coordinates | None, hub_for: str
) -> Coordinates | None:
    """Validate every input (raising ValueError); return the hub as Coordinates."""
    for d in deliveries:
        if not isinstance(d, Delivery):
            raise ValueError(f"expected Delivery, got {type(d).__name__}")
        d.validate()
    for c in couriers:
        if not isinstance(c, Courier):
            raise ValueError(f"expected Courier, got {type(c).__name__}")
        c.validate()
    _check_unique((d.id for d in deliveries), "delivery")
    _check_unique((c.id for c in couriers), "courier")
    if hub_for not in ("multi", "all"):
        raise ValueError(f"hub_for must be 'multi' or 'all', got {hub_for!r}")
    if hub is not None:
        hub = _as_coordinates(hub, "hub")
    return hub


def _consolidated_pickups(
    deliveries: list[Delivery], hub: Coordinates | None, hub_for: str
) -> dict[int, tuple[Pickup, ...]]:
    """Each delivery's pickups after hub consolidation."""
    raw_pickups: dict[int, tuple[Pickup, ...]] = {}
    for d in deliveries:
        if hub is not None and (hub_for == "all" or len(d.pickups) > 1):
            raw_pickups[d.id] = (Pickup(hub, "hub"),)
        else:
            raw_pickups[d.id] = tuple(d.pickups)
    return raw_pickups


def _check_unique(ids: Iterable[int], what: str) -> None:
    seen: set[int] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} id {i}")
        seen.add(i)


def _square(matrix: object, n: int, what: str) -> np.ndarray:
    arr = np.asarray(matrix)
    if arr.shape != (n, n):
        raise ValueError(f"travel-time matrix returned {what} of shape {arr.shape}, expected ({n}, {n})")
    if n and (not np.issubdtype(arr.dtype, np.number) or arr.min() < 0):
        raise ValueError(f"travel-time matrix {what} must be non-negative numbers")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _finalise(
    problem: _Problem,
    routes: _Routes,
    unassigned: dict[int, str],
) -> Plan:
    """Simulate each run, drop deliveries that break a constraint (never
    happens with a metric matrix unless a stop limit is exceeded) and build the
    :class:`Plan`."""
    courier_by_id = {c.id: c for c in problem.couriers}
    runs: list[PlannedRun] = []
    for cid in sorted(routes):
        start_s, events = routes[cid]
        courier = courier_by_id[cid]
        while True:
            sim = problem.simulate(courier, events, start_s)
            if not sim.violations:
                break
            kind, bad = sim.violations[0]
            unassigned[bad] = REASON_STOP_LIMIT if kind == "stops" else REASON_REPAIR
            events = [(k, t) for k, t in events if t.delivery.id != bad]
        if not events:
            continue
        runs.append(
            PlannedRun(
                courier_id=cid,
                stops=sim.stops,
                distance_m=sim.distance_m,
                duration_s=sim.end_s - sim.start_s,
                start_s=sim.start_s,
                end_s=sim.end_s,
            )
        )
    return Plan(
        runs=runs,
        unassigned=[Unassigned(did, reason) for did, reason in sorted(unassigned.items())],
    )
