"""Courier-run planner: group deliveries into courier runs with VROOM (pyvroom).

Pure Python (no Flask, no database). Inputs and outputs are dataclasses.

Model
-----
* A :class:`Delivery` is an order's goods collected at one or more producers
  (``pickups``) and dropped at a buyer (``dropoff``) inside ``window``.
* A :class:`Courier` is a coop member's availability slot: start/end place,
  shift, capacities (grams and parcels), a stop limit and a speed.
* :func:`plan_runs` solves a pickup-and-delivery problem with time windows
  with VROOM; :func:`plan_greedy` is a naive baseline with the same signature.

Multi-pickup deliveries are never split
---------------------------------------
VROOM has no "these shipments must share a vehicle" constraint, so a delivery
with k > 1 pickups is given to VROOM as *one* shipment whose pickup is a
virtual location standing for a fixed pickup tour P1 -> P2 -> ... -> Pk
(order chosen to minimise the tour plus the leg to the buyer). The virtual
location's matrix row is Pk's row (you leave from Pk) and its column is P1's
column (you arrive at P1); its service time, per vehicle type, is the tour's
internal travel time plus k pickup services. So all parts are in the same run,
before the drop-off, by construction; the plan then reports the k physical
pickup stops with their real arrival times. The price: other stops cannot be
interleaved inside that tour, and VROOM counts the tour as one task, so
``max_stops`` (VROOM ``max_tasks``) is checked again on the physical stops and
repaired (one re-solve with tighter ``max_tasks`` for the offending couriers,
then, if still needed, the delivery is reported unassigned).

Alternatively pass ``hub=Coordinates(...)``: multi-pickup deliveries (or all
deliveries with ``hub_for="all"``) are then assumed pre-consolidated at the
hub and have a single pickup there.

Times are integer epoch seconds; arrival times in the plan are the moment
service starts at the stop (after any waiting for a window to open).

Determinism: inputs are sorted by id and VROOM runs with a fixed thread
count, so the same input gives the same plan *as long as no ``timeout_s`` is
set* (with a time limit, the result depends on how far the search got).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

from .geo import Coordinates, HaversineMatrix, TravelTimeMatrix

__all__ = [
    "Courier",
    "Delivery",
    "Pickup",
    "Plan",
    "PlannedRun",
    "PlannedStop",
    "Unassigned",
    "default_matrix_factory",
    "plan_greedy",
    "plan_runs",
    "REASON_TOO_HEAVY",
    "REASON_TOO_MANY_PARCELS",
    "REASON_NO_SINGLE_VEHICLE",
    "REASON_TOO_MANY_STOPS",
    "REASON_OUTSIDE_SHIFTS",
    "REASON_NO_COURIER",
    "REASON_NO_FIT",
    "REASON_STOP_LIMIT",
    "REASON_REPAIR",
    "REASON_NO_ZONE",
    "PLANNER_REASONS",
    "can_serve",
]

REASON_TOO_HEAVY = "heavier than any available vehicle"
REASON_TOO_MANY_PARCELS = "more parcels than any available vehicle can carry"
REASON_NO_SINGLE_VEHICLE = "no single vehicle can carry both its weight and its parcels"
REASON_TOO_MANY_STOPS = "needs more stops than any courier's max_stops"
REASON_OUTSIDE_SHIFTS = "drop-off window is outside every courier's shift"
REASON_NO_COURIER = "no courier available"
REASON_NO_FIT = "no courier could fit it in their window/capacity"
REASON_STOP_LIMIT = "no courier could fit all its pickups within their max_stops"
REASON_REPAIR = "could not be kept in a feasible run"
REASON_NO_ZONE = "no available courier covers its delivery zone"
# Every reason above: the board translates these, and shows any other text (a courier's) as typed.
PLANNER_REASONS = frozenset({REASON_TOO_HEAVY, REASON_TOO_MANY_PARCELS, REASON_NO_SINGLE_VEHICLE, REASON_TOO_MANY_STOPS,
                             REASON_OUTSIDE_SHIFTS, REASON_NO_COURIER, REASON_NO_FIT, REASON_STOP_LIMIT, REASON_REPAIR,
                             REASON_NO_ZONE})

DEFAULT_EXPLORATION: int | None = None  # None: chosen from the problem size, see _auto_exploration


def _auto_exploration(n_shipments: int) -> int:
    """VROOM's construction phase, which its ``timeout`` does not bound, grows
    quickly with the exploration level; measured on a 2-core machine
    (bench/dispatch.py) these levels keep planning around 1-4 s."""
    if n_shipments <= 150:
        return 5
    if n_shipments <= 400:
        return 2
    if n_shipments <= 700:
        return 1
    return 0
DEFAULT_THREADS = 2
DEFAULT_PARTITION_SIZE = 1000


# --------------------------------------------------------------------------- #
# Input dataclasses
# --------------------------------------------------------------------------- #


def _as_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{what} must be an integer, got {value!r}")


def _as_coordinates(value: object, what: str) -> Coordinates:
    if isinstance(value, Coordinates):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Coordinates(*value)  # (lat, lon); validates
    raise ValueError(f"{what} must be Coordinates or a (lat, lon) pair, got {value!r}")


def _as_skills(value: object, what: str) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{what}: skills must be a set of integers")
    out = frozenset(_as_int(v, f"{what} skill") for v in value)
    if any(v < 0 for v in out):
        raise ValueError(f"{what}: skills must be non-negative integers")
    return out


def can_serve(courier: "Courier", delivery: "Delivery") -> bool:
    """The courier covers every skill (zone) the delivery needs."""
    return courier.skills is None or delivery.skills <= courier.skills


@dataclass(frozen=True, slots=True)
class Pickup:
    """Where one part of a delivery is collected, and from whom."""

    location: Coordinates
    producer: int | str

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", _as_coordinates(self.location, "pickup location"))


@dataclass(slots=True)
class Delivery:
    """An order's goods: picked up at ``pickups`` (one per producer part, or
    one hub), dropped at ``dropoff`` with service starting inside ``window``
    (``(start_epoch_s, end_epoch_s)``, both inclusive).

    ``pickups`` items may be :class:`Pickup` or ``(Coordinates, producer)``
    tuples. ``weight_g``/``parcels`` are the whole delivery's totals.
    ``service_s`` is the time spent at the drop-off, ``pickup_service_s`` the
    time spent at each pickup.
    """

    id: int
    pickups: Sequence[Pickup]
    dropoff: Coordinates
    weight_g: int
    parcels: int
    window: tuple[int, int]
    service_s: int = 120
    pickup_service_s: int = 60
    skills: frozenset[int] = frozenset()  # e.g. the delivery zone: only couriers covering it

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.id = _as_int(self.id, "Delivery.id")
        self.skills = _as_skills(self.skills, f"delivery {self.id}")
        label = f"delivery {self.id}"
        pickups = []
        if isinstance(self.pickups, (Pickup, str, bytes)) or not isinstance(self.pickups, Iterable):
            raise ValueError(f"{label}: pickups must be a list of Pickup or (Coordinates, producer) pairs")
        for p in self.pickups:
            if isinstance(p, Pickup):
                pickups.append(p)
            elif isinstance(p, (tuple, list)) and len(p) == 2:
                pickups.append(Pickup(p[0], p[1]))
            else:
                raise ValueError(f"{label}: a pickup must be Pickup or a (Coordinates, producer) pair, got {p!r}")
        if not pickups:
            raise ValueError(f"{label}: needs at least one pickup")
        self.pickups = tuple(pickups)
        self.dropoff = _as_coordinates(self.dropoff, f"{label} drop-off")
        self.weight_g = _as_int(self.weight_g, f"{label} weight_g")
        if self.weight_g < 0:
            raise ValueError(f"{label}: weight_g must not be negative (got {self.weight_g})")
        self.parcels = _as_int(self.parcels, f"{label} parcels")
        if self.parcels < 0:
            raise ValueError(f"{label}: parcels must not be negative (got {self.parcels})")
        if not isinstance(self.window, (tuple, list)) or len(self.window) != 2:
            raise ValueError(f"{label}: window must be a (start_epoch_s, end_epoch_s) pair")
        start = _as_int(self.window[0], f"{label} window start")
        end = _as_int(self.window[1], f"{label} window end")
        if end < start:
            raise ValueError(f"{label}: window ends ({end}) before it starts ({start})")
        if start < 0:
            raise ValueError(f"{label}: window start must be a non-negative epoch (got {start})")
        self.window = (start, end)
        self.service_s = _as_int(self.service_s, f"{label} service_s")
        self.pickup_service_s = _as_int(self.pickup_service_s, f"{label} pickup_service_s")
        if self.service_s < 0 or self.pickup_service_s < 0:
            raise ValueError(f"{label}: service times must not be negative")


@dataclass(slots=True)
class Courier:
    """A courier's availability slot. ``end=None``: the run ends at its last
    stop. ``shift`` = ``(start_epoch_s, end_epoch_s)``; the whole run
    (leaving ``start`` to reaching ``end``) must fit in it. ``speed_kmh`` is
    chosen by the caller (bike ~15, cargo bike ~13, van ~25 in town)."""

    id: int
    start: Coordinates
    end: Coordinates | None
    shift: tuple[int, int]
    capacity_g: int
    capacity_parcels: int
    max_stops: int
    speed_kmh: float
    skills: frozenset[int] | None = None  # None: can serve any delivery; else must cover its skills

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.id = _as_int(self.id, "Courier.id")
        if self.skills is not None:
            self.skills = _as_skills(self.skills, f"courier {self.id}")
        label = f"courier {self.id}"
        self.start = _as_coordinates(self.start, f"{label} start")
        if self.end is not None:
            self.end = _as_coordinates(self.end, f"{label} end")
        if not isinstance(self.shift, (tuple, list)) or len(self.shift) != 2:
            raise ValueError(f"{label}: shift must be a (start_epoch_s, end_epoch_s) pair")
        start = _as_int(self.shift[0], f"{label} shift start")
        end = _as_int(self.shift[1], f"{label} shift end")
        if end <= start:
            raise ValueError(f"{label}: shift must end after it starts (start {start}, end {end})")
        if start < 0:
            raise ValueError(f"{label}: shift start must be a non-negative epoch (got {start})")
        self.shift = (start, end)
        self.capacity_g = _as_int(self.capacity_g, f"{label} capacity_g")
        if self.capacity_g <= 0:
            raise ValueError(f"{label}: capacity_g must be positive (got {self.capacity_g})")
        self.capacity_parcels = _as_int(self.capacity_parcels, f"{label} capacity_parcels")
        if self.capacity_parcels <= 0:
            raise ValueError(f"{label}: capacity_parcels must be positive (got {self.capacity_parcels})")
        self.max_stops = _as_int(self.max_stops, f"{label} max_stops")
        if self.max_stops <= 0:
            raise ValueError(f"{label}: max_stops must be positive (got {self.max_stops})")
        if (
            isinstance(self.speed_kmh, bool)
            or not isinstance(self.speed_kmh, (int, float))
            or not math.isfinite(self.speed_kmh)
            or self.speed_kmh <= 0
        ):
            raise ValueError(f"{label}: speed_kmh must be a positive number (got {self.speed_kmh!r})")
        self.speed_kmh = float(self.speed_kmh)


# --------------------------------------------------------------------------- #
# Output dataclasses
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """``arrival_s``: epoch second at which service starts at this stop (after
    ``wait_s`` seconds of waiting for the window to open, if any)."""

    kind: Literal["pickup", "dropoff"]
    delivery_id: int
    location: Coordinates
    arrival_s: int
    producer: int | str | None = None
    wait_s: int = 0


@dataclass(frozen=True, slots=True)
class PlannedRun:
    courier_id: int
    stops: list[PlannedStop]
    distance_m: int
    duration_s: int
    start_s: int = 0  # leaves the courier's start
    end_s: int = 0  # reaches the courier's end (or finishes the last stop if end is None)

    @property
    def delivery_ids(self) -> list[int]:
        return sorted({s.delivery_id for s in self.stops})


@dataclass(frozen=True, slots=True)
class Unassigned:
    delivery_id: int
    reason: str


@dataclass(slots=True)
class Plan:
    runs: list[PlannedRun] = field(default_factory=list)
    unassigned: list[Unassigned] = field(default_factory=list)

    @property
    def total_distance_m(self) -> int:
        return sum(r.distance_m for r in self.runs)

    @property
    def assigned_ids(self) -> set[int]:
        return {d for r in self.runs for d in r.delivery_ids}


MatrixFactory = Callable[[float], TravelTimeMatrix]


def default_matrix_factory(speed_kmh: float) -> TravelTimeMatrix:
    """Crow-flies x 1.3 detour at the courier's speed."""
    return HaversineMatrix(speed_kmh)


# --------------------------------------------------------------------------- #
# Shared preparation
# --------------------------------------------------------------------------- #


@dataclass(slots=True)
class _Task:
    delivery: Delivery
    pickups: tuple[Pickup, ...]  # in tour order
    pickup_idx: tuple[int, ...]  # point indices, tour order
    drop_idx: int


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

        self.deliveries = sorted(deliveries, key=lambda d: d.id)
        self.couriers = sorted(couriers, key=lambda c: c.id)
        self.unassigned: dict[int, str] = {}

        # Pickups after hub consolidation.
        raw_pickups: dict[int, tuple[Pickup, ...]] = {}
        for d in self.deliveries:
            if hub is not None and (hub_for == "all" or len(d.pickups) > 1):
                raw_pickups[d.id] = (Pickup(hub, "hub"),)
            else:
                raw_pickups[d.id] = tuple(d.pickups)

        # Up-front infeasibility (reported with a precise reason).
        self.candidates: list[Delivery] = []
        if not self.couriers:
            for d in self.deliveries:
                self.unassigned[d.id] = REASON_NO_COURIER
        else:
            max_g = max(c.capacity_g for c in self.couriers)
            max_p = max(c.capacity_parcels for c in self.couriers)
            max_stops = max(c.max_stops for c in self.couriers)
            for d in self.deliveries:
                reason = None
                serving = [c for c in self.couriers if can_serve(c, d)]
                if not serving:
                    reason = REASON_NO_ZONE
                elif d.weight_g > max_g:
                    reason = REASON_TOO_HEAVY
                elif d.parcels > max_p:
                    reason = REASON_TOO_MANY_PARCELS
                elif not any(d.weight_g <= c.capacity_g and d.parcels <= c.capacity_parcels for c in serving):
                    reason = REASON_NO_SINGLE_VEHICLE
                elif len(raw_pickups[d.id]) + 1 > max_stops:
                    reason = REASON_TOO_MANY_STOPS
                elif not any(c.shift[0] <= d.window[1] and d.window[0] <= c.shift[1] for c in self.couriers):
                    reason = REASON_OUTSIDE_SHIFTS
                if reason is None:
                    self.candidates.append(d)
                else:
                    self.unassigned[d.id] = reason

        # Physical points, deterministic order.
        pts: set[Coordinates] = set()
        for c in self.couriers:
            pts.add(c.start)
            if c.end is not None:
                pts.add(c.end)
        for d in self.candidates:
            pts.add(d.dropoff)
            pts.update(p.location for p in raw_pickups[d.id])
        self.points: list[Coordinates] = sorted(pts)
        self.index = {p: i for i, p in enumerate(self.points)}

        # Matrices: one duration matrix per distinct speed ("profile").
        self.speeds = sorted({c.speed_kmh for c in self.couriers})
        self.profile_of = {s: f"speed_{i}" for i, s in enumerate(self.speeds)}
        self.durations: dict[str, np.ndarray] = {}
        self.distances: np.ndarray = np.zeros((len(self.points), len(self.points)), dtype=np.int64)
        n = len(self.points)
        for i, s in enumerate(self.speeds):
            m = matrix_factory(s)
            self.durations[self.profile_of[s]] = _square(
                m.durations_array(self.points) if hasattr(m, "durations_array") else m.durations(self.points),
                n,
                "durations",
            )
            if i == 0:
                self.distances = _square(
                    m.distances_array(self.points) if hasattr(m, "distances_array") else m.distances(self.points),
                    n,
                    "distances",
                )

        # Tasks (pickup tour order fixed here).
        self.tasks: list[_Task] = []
        for d in self.candidates:
            pk = raw_pickups[d.id]
            drop = self.index[d.dropoff]
            order = self._tour_order([self.index[p.location] for p in pk], drop)
            self.tasks.append(
                _Task(
                    delivery=d,
                    pickups=tuple(pk[i] for i in order),
                    pickup_idx=tuple(self.index[pk[i].location] for i in order),
                    drop_idx=drop,
                )
            )

    def _tour_order(self, idx: list[int], drop: int) -> list[int]:
        k = len(idx)
        if k == 1:
            return [0]
        dist = self.distances

        def cost(order: Sequence[int]) -> int:
            total = 0
            for a, b in zip(order, order[1:]):
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

    def simulate(self, courier: Courier, events: list[tuple[str, _Task]], start_s: int) -> "_SimResult":
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
                for p, pi in zip(task.pickups, task.pickup_idx):
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
    routes: dict[int, tuple[int, list[tuple[str, _Task]]]],
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


# --------------------------------------------------------------------------- #
# VROOM planner
# --------------------------------------------------------------------------- #


def plan_runs(
    deliveries: Sequence[Delivery],
    couriers: Sequence[Courier],
    matrix_factory: MatrixFactory = default_matrix_factory,
    exploration: int | None = DEFAULT_EXPLORATION,
    threads: int = DEFAULT_THREADS,
    *,
    timeout_s: float | None = None,
    hub: Coordinates | None = None,
    hub_for: Literal["multi", "all"] = "multi",
    partition_size: int | None = DEFAULT_PARTITION_SIZE,
) -> Plan:
    """Plan courier runs with VROOM.

    ``exploration`` is VROOM's exploration level (0-5; higher = better and
    slower; ``None`` = by problem size: 5 up to 150 deliveries, 2 up to 400, 1
    up to 700, else 0). ``timeout_s`` is passed to VROOM as its time limit: it
    bounds the local search but *not* the construction heuristics, so a large
    instance can overrun it (and a time limit makes results timing
    dependent); with partitions it is shared among them in proportion to
    their size. ``partition_size``: above that many deliveries the instance
    is split into angular sectors solved one after the other (``None``: never
    split). ``hub``: consolidate multi-pickup deliveries (``hub_for="all"``:
    every delivery) at that location.
    """

    if exploration is not None:
        exploration = _as_int(exploration, "exploration")
        if not 0 <= exploration <= 5:
            raise ValueError(f"exploration must be between 0 and 5, got {exploration}")
    threads = _as_int(threads, "threads")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if partition_size is not None and _as_int(partition_size, "partition_size") < 1:
        raise ValueError(f"partition_size must be >= 1, got {partition_size!r}")

    problem = _Problem(deliveries, couriers, matrix_factory, hub, hub_for)
    unassigned = dict(problem.unassigned)
    if not problem.tasks:
        return _finalise(problem, {}, unassigned)

    routes: dict[int, tuple[int, list[tuple[str, _Task]]]] = {}
    for tasks, couriers_part in _partitions(problem, partition_size):
        part_timeout = None
        if timeout_s is not None:
            part_timeout = timeout_s * len(tasks) / len(problem.tasks)
        part_routes, part_unassigned = _solve_vroom(
            problem,
            tasks,
            couriers_part,
            _auto_exploration(len(tasks)) if exploration is None else exploration,
            threads,
            part_timeout,
        )
        routes.update(part_routes)
        for did in part_unassigned:
            unassigned[did] = REASON_NO_FIT
    return _finalise(problem, routes, unassigned)


def _vroom_skills(courier: Courier, all_skills: frozenset[int]) -> set[int]:
    # VROOM has no "any skill" vehicle: a courier without restriction gets every skill in use.
    return set(all_skills) if courier.skills is None else set(courier.skills)


def _canonical(events: list[tuple[str, _Task]]) -> list[tuple[str, _Task]]:
    """Sort runs of consecutive single pickups at the same place by delivery
    id. VROOM's threads can return equal-cost solutions that differ only in
    that order; pickups have no time window and the block's total time and
    final load are unchanged, so this is always safe and makes plans
    reproducible."""
    out: list[tuple[str, _Task]] = []
    i = 0
    while i < len(events):
        kind, task = events[i]
        if kind == "pickup" and len(task.pickup_idx) == 1:
            j = i
            while (
                j < len(events)
                and events[j][0] == "pickup"
                and len(events[j][1].pickup_idx) == 1
                and events[j][1].pickup_idx[0] == task.pickup_idx[0]
                and events[j][1].delivery.pickup_service_s == task.delivery.pickup_service_s
            ):
                j += 1
            out.extend(sorted(events[i:j], key=lambda e: e[1].delivery.id))
            i = j
        else:
            out.append(events[i])
            i += 1
    return out


def _partitions(problem: _Problem, partition_size: int | None) -> list[tuple[list[_Task], list[Courier]]]:
    """Split a large instance into angular sectors around the drop-offs'
    centroid (deliveries by drop-off bearing, couriers by start bearing, equal
    counts), solved independently. VROOM's construction time grows faster than
    linearly and is not bounded by its timeout, so this is what keeps 3 000+
    deliveries tractable; it costs some quality at sector borders."""
    tasks, couriers = problem.tasks, problem.couriers
    if partition_size is None or len(tasks) <= partition_size or len(couriers) < 2:
        return [(tasks, couriers)]
    k = min(len(couriers), math.ceil(len(tasks) / partition_size))
    lat0 = sum(t.delivery.dropoff.lat for t in tasks) / len(tasks)
    lon0 = sum(t.delivery.dropoff.lon for t in tasks) / len(tasks)
    coslat = math.cos(math.radians(lat0))

    def bearing(p: Coordinates) -> float:
        return math.atan2(p.lat - lat0, (p.lon - lon0) * coslat)

    ts = sorted(tasks, key=lambda t: (bearing(t.delivery.dropoff), t.delivery.id))
    cs = sorted(couriers, key=lambda c: (bearing(c.start), c.id))
    parts = []
    for i in range(k):
        parts.append(
            (
                sorted(ts[i * len(ts) // k : (i + 1) * len(ts) // k], key=lambda t: t.delivery.id),
                sorted(cs[i * len(cs) // k : (i + 1) * len(cs) // k], key=lambda c: c.id),
            )
        )
    return parts


def _solve_vroom(
    problem: _Problem,
    tasks: list[_Task],
    couriers: list[Courier],
    exploration: int,
    threads: int,
    timeout_s: float | None,
) -> tuple[dict[int, tuple[int, list[tuple[str, _Task]]]], list[int]]:
    """One VROOM solve; returns ``{courier_id: (start_s, events)}`` and the
    ids of the deliveries VROOM left unassigned."""
    import vroom

    t0 = min(
        min(c.shift[0] for c in couriers),
        min(t.delivery.window[0] for t in tasks),
    )

    # Local matrix: the physical points this sub-problem uses, then one
    # virtual node per multi-pickup tour (arrive at its first pickup, leave
    # from its last).
    used: set[int] = set()
    for c in couriers:
        used.add(problem.index[c.start])
        if c.end is not None:
            used.add(problem.index[c.end])
    for task in tasks:
        used.add(task.drop_idx)
        used.update(task.pickup_idx)
    phys = sorted(used)
    local = {g: i for i, g in enumerate(phys)}
    in_idx = list(phys)
    out_idx = list(phys)
    virtual: dict[int, int] = {}  # task position -> local node index
    for pos, task in enumerate(tasks):
        if len(task.pickup_idx) > 1:
            virtual[pos] = len(in_idx)
            in_idx.append(task.pickup_idx[0])
            out_idx.append(task.pickup_idx[-1])
    ix = np.ix_(np.asarray(out_idx), np.asarray(in_idx))

    courier_by_id = {c.id: c for c in couriers}
    max_tasks = {c.id: c.max_stops for c in couriers}
    all_skills = frozenset().union(*(t.delivery.skills for t in tasks))
    routes: dict[int, tuple[int, list[tuple[str, _Task]]]] = {}
    vroom_unassigned: set[int] = set()
    for _round in range(2):
        inp = vroom.Input()
        for profile in sorted({problem.profile_of[c.speed_kmh] for c in couriers}):
            ext = problem.durations[profile][ix]
            np.fill_diagonal(ext, 0)
            inp.set_durations_matrix(profile, ext.astype(np.uint32))
        for c in couriers:
            inp.add_vehicle(
                vroom.Vehicle(
                    c.id,
                    start=local[problem.index[c.start]],
                    end=None if c.end is None else local[problem.index[c.end]],
                    profile=problem.profile_of[c.speed_kmh],
                    type=problem.profile_of[c.speed_kmh],
                    capacity=vroom.Amount([c.capacity_g, c.capacity_parcels]),
                    time_window=vroom.TimeWindow(c.shift[0] - t0, c.shift[1] - t0),
                    max_tasks=max(1, max_tasks[c.id]),
                    skills=_vroom_skills(c, all_skills),
                )
            )
        for pos, task in enumerate(tasks):
            d = task.delivery
            if pos in virtual:
                per_type = {}
                for profile, dur in problem.durations.items():
                    internal = sum(int(dur[a, b]) for a, b in zip(task.pickup_idx, task.pickup_idx[1:]))
                    per_type[profile] = internal + d.pickup_service_s * len(task.pickup_idx)
                pickup = vroom.ShipmentStep(
                    pos,
                    location=virtual[pos],
                    default_service=max(per_type.values()),
                    service_per_type=per_type,
                )
            else:
                pickup = vroom.ShipmentStep(
                    pos, location=local[task.pickup_idx[0]], default_service=d.pickup_service_s
                )
            drop = vroom.ShipmentStep(
                pos,
                location=local[task.drop_idx],
                default_service=d.service_s,
                time_windows=[vroom.TimeWindow(d.window[0] - t0, d.window[1] - t0)],
            )
            inp.add_job(vroom.Shipment(pickup, drop, amount=vroom.Amount([d.weight_g, d.parcels]),
                                       skills=set(d.skills)))

        solution = inp.solve(
            exploration_level=exploration,
            nb_threads=threads,
            timeout=None if timeout_s is None else timedelta(seconds=timeout_s),
        )
        result = solution.to_dict()
        routes = {}
        for route in result.get("routes", []):
            steps = route["steps"]
            events: list[tuple[str, _Task]] = []
            for step in steps:
                if step["type"] == "pickup":
                    events.append(("pickup", tasks[int(step["id"])]))
                elif step["type"] == "delivery":
                    events.append(("dropoff", tasks[int(step["id"])]))
            if events:
                # The first step is the "start" step: when the courier leaves.
                routes[int(route["vehicle"])] = (t0 + int(steps[0]["arrival"]), _canonical(events))
        vroom_unassigned = {int(u["id"]) for u in result.get("unassigned", [])}

        # VROOM counts a pickup tour as one task; re-solve once with tighter
        # max_tasks for couriers whose physical stop count is too high (any
        # remaining excess is repaired in _finalise).
        excess = {}
        for cid, (_, events) in routes.items():
            physical = sum(len(t.pickup_idx) if k == "pickup" else 1 for k, t in events)
            if physical > courier_by_id[cid].max_stops:
                excess[cid] = physical - courier_by_id[cid].max_stops
        if not excess or _round == 1:
            break
        for cid, extra in excess.items():
            max_tasks[cid] = max(1, max_tasks[cid] - extra)

    return routes, [tasks[pos].delivery.id for pos in sorted(vroom_unassigned)]


# --------------------------------------------------------------------------- #
# Greedy baseline
# --------------------------------------------------------------------------- #


def plan_greedy(
    deliveries: Sequence[Delivery],
    couriers: Sequence[Courier],
    matrix_factory: MatrixFactory = default_matrix_factory,
    exploration: int | None = DEFAULT_EXPLORATION,
    threads: int = DEFAULT_THREADS,
    *,
    timeout_s: float | None = None,
    hub: Coordinates | None = None,
    hub_for: Literal["multi", "all"] = "multi",
    partition_size: int | None = None,
) -> Plan:
    """Naive baseline (same signature as :func:`plan_runs`; ``exploration``,
    ``threads``, ``timeout_s`` and ``partition_size`` are ignored): deliveries in time order
    (window start, window end, id); each one is appended (its pickups then its
    drop-off) to the end of the run of the courier with the least added
    distance that can still take it (capacity, stops, window and shift checked
    by simulation)."""
    problem = _Problem(deliveries, couriers, matrix_factory, hub, hub_for)
    unassigned = dict(problem.unassigned)
    dist = problem.distances

    # Per-courier state: position, time, stops used, events.
    state = {
        c.id: {
            "pos": problem.index[c.start],
            "t": c.shift[0],
            "stops": 0,
            "events": [],
            "end": None if c.end is None else problem.index[c.end],
            "dur": problem.durations[problem.profile_of[c.speed_kmh]],
        }
        for c in problem.couriers
    }
    order = sorted(problem.tasks, key=lambda t: (t.delivery.window[0], t.delivery.window[1], t.delivery.id))
    for task in order:
        d = task.delivery
        best: tuple[int, int, int, int] | None = None  # (added distance, courier id, new t, new pos)
        for c in problem.couriers:
            if d.weight_g > c.capacity_g or d.parcels > c.capacity_parcels or not can_serve(c, d):
                continue
            st = state[c.id]
            if st["stops"] + len(task.pickup_idx) + 1 > c.max_stops:
                continue
            dur = st["dur"]
            pos, t, added = st["pos"], st["t"], 0
            for pi in task.pickup_idx:
                t += int(dur[pos, pi]) + d.pickup_service_s
                added += int(dist[pos, pi])
                pos = pi
            t += int(dur[pos, task.drop_idx])
            added += int(dist[pos, task.drop_idx])
            pos = task.drop_idx
            t = max(t, d.window[0])
            if t > d.window[1]:
                continue
            t += d.service_s
            end = st["end"]
            back = t + (int(dur[pos, end]) if end is not None else 0)
            if back > c.shift[1]:
                continue
            if end is not None:
                added += int(dist[pos, end]) - int(dist[st["pos"], end])
            if best is None or (added, c.id) < (best[0], best[1]):
                best = (added, c.id, t, pos)
        if best is None:
            unassigned[d.id] = REASON_NO_FIT
            continue
        _, cid, t, pos = best
        st = state[cid]
        st["pos"], st["t"] = pos, t
        st["stops"] += len(task.pickup_idx) + 1
        st["events"].extend([("pickup", task), ("dropoff", task)])

    routes = {
        c.id: (c.shift[0], state[c.id]["events"]) for c in problem.couriers if state[c.id]["events"]
    }
    return _finalise(problem, routes, unassigned)
