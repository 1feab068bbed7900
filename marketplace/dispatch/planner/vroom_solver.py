"""The VROOM back-end: a pickup-and-delivery problem with time windows, solved by VROOM (pyvroom), large
instances split into angular sectors first. See the package docstring for how multi-pickup deliveries are kept
in one run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np

from ..geo import Coordinates
from .model import (
    DEFAULT_EXPLORATION,
    DEFAULT_PARTITION_SIZE,
    DEFAULT_THREADS,
    REASON_NO_FIT,
    Courier,
    Delivery,
    MatrixFactory,
    Plan,
    _as_int,
    default_matrix_factory,
)
from .problem import _finalise, _Problem, _Routes, _Task
from .zones import _vroom_skills


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

    exploration, threads = _check_options(exploration, threads, timeout_s, partition_size)
    problem = _Problem(deliveries, couriers, matrix_factory, hub, hub_for)
    unassigned = dict(problem.unassigned)
    if not problem.tasks:
        return _finalise(problem, {}, unassigned)

    routes: _Routes = {}
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


def _check_options(
    exploration: int | None, threads: int, timeout_s: float | None, partition_size: int | None
) -> tuple[int | None, int]:
    """Reject bad solver settings with a ValueError; return exploration and threads as integers."""
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
    return exploration, threads


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


@dataclass(slots=True)
class _LocalNodes:
    """A sub-problem's matrix nodes: its physical points, then one virtual node per multi-pickup tour."""

    local: dict[int, int]  # problem point index -> local node index
    virtual: dict[int, int]  # task position -> local node index
    ix: tuple[np.ndarray, ...]  # rows (leave from) x columns (arrive at) of the problem's matrices


def _solve_vroom(
    problem: _Problem,
    tasks: list[_Task],
    couriers: list[Courier],
    exploration: int,
    threads: int,
    timeout_s: float | None,
) -> tuple[_Routes, list[int]]:
    """One VROOM solve; returns ``{courier_id: (start_s, events)}`` and the
    ids of the deliveries VROOM left unassigned."""
    t0 = min(
        min(c.shift[0] for c in couriers),
        min(t.delivery.window[0] for t in tasks),
    )
    nodes = _local_nodes(problem, tasks, couriers)
    max_tasks = {c.id: c.max_stops for c in couriers}
    routes: _Routes = {}
    vroom_unassigned: set[int] = set()
    for _round in range(2):
        inp = _vroom_input(problem, tasks, couriers, nodes, max_tasks, t0)
        solution = inp.solve(
            exploration_level=exploration,
            nb_threads=threads,
            timeout=None if timeout_s is None else timedelta(seconds=timeout_s),
        )
        routes, vroom_unassigned = _read_solution(solution.to_dict(), tasks, t0)

        # VROOM counts a pickup tour as one task; re-solve once with tighter
        # max_tasks for couriers whose physical stop count is too high (any
        # remaining excess is repaired in _finalise).
        excess = _stop_excess(routes, couriers)
        if not excess or _round == 1:
            break
        for cid, extra in excess.items():
            max_tasks[cid] = max(1, max_tasks[cid] - extra)

    return routes, [tasks[pos].delivery.id for pos in sorted(vroom_unassigned)]


def _local_nodes(problem: _Problem, tasks: list[_Task], couriers: list[Courier]) -> _LocalNodes:
    """Local matrix: the physical points this sub-problem uses, then one
    virtual node per multi-pickup tour (arrive at its first pickup, leave
    from its last)."""
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
    virtual: dict[int, int] = {}
    for pos, task in enumerate(tasks):
        if len(task.pickup_idx) > 1:
            virtual[pos] = len(in_idx)
            in_idx.append(task.pickup_idx[0])
            out_idx.append(task.pickup_idx[-1])
    return _LocalNodes(local, virtual, np.ix_(np.asarray(out_idx), np.asarray(in_idx)))


def _vroom_input(
    problem: _Problem,
    tasks: list[_Task],
    couriers: list[Courier],
    nodes: _LocalNodes,
    max_tasks: dict[int, int],
    t0: int,
) -> Any:
    """The VROOM input: a duration matrix per profile, a vehicle per courier, a shipment per task."""
    import vroom

    inp = vroom.Input()
    for profile in sorted({problem.profile_of[c.speed_kmh] for c in couriers}):
        ext = problem.durations[profile][nodes.ix]
        np.fill_diagonal(ext, 0)
        inp.set_durations_matrix(profile, ext.astype(np.uint32))
    all_skills = frozenset().union(*(t.delivery.skills for t in tasks))
    for c in couriers:
        inp.add_vehicle(
            vroom.Vehicle(
                c.id,
                start=nodes.local[problem.index[c.start]],
                end=None if c.end is None else nodes.local[problem.index[c.end]],
                profile=problem.profile_of[c.speed_kmh],
                type=problem.profile_of[c.speed_kmh],
                capacity=vroom.Amount([c.capacity_g, c.capacity_parcels]),
                time_window=vroom.TimeWindow(c.shift[0] - t0, c.shift[1] - t0),
                max_tasks=max(1, max_tasks[c.id]),
                skills=_vroom_skills(c, all_skills),
            )
        )
    for pos, task in enumerate(tasks):
        inp.add_job(_vroom_shipment(problem, pos, task, nodes, t0))
    return inp


def _vroom_shipment(problem: _Problem, pos: int, task: _Task, nodes: _LocalNodes, t0: int) -> Any:
    """A task as a VROOM shipment: its pickup (or its pickup tour's virtual node), then its drop-off."""
    import vroom

    d = task.delivery
    if pos in nodes.virtual:
        per_type = {}
        for profile, dur in problem.durations.items():
            internal = sum(int(dur[a, b]) for a, b in zip(task.pickup_idx, task.pickup_idx[1:], strict=False))
            per_type[profile] = internal + d.pickup_service_s * len(task.pickup_idx)
        pickup = vroom.ShipmentStep(
            pos,
            location=nodes.virtual[pos],
            default_service=max(per_type.values()),
            service_per_type=per_type,
        )
    else:
        pickup = vroom.ShipmentStep(
            pos, location=nodes.local[task.pickup_idx[0]], default_service=d.pickup_service_s
        )
    drop = vroom.ShipmentStep(
        pos,
        location=nodes.local[task.drop_idx],
        default_service=d.service_s,
        time_windows=[vroom.TimeWindow(d.window[0] - t0, d.window[1] - t0)],
    )
    return vroom.Shipment(pickup, drop, amount=vroom.Amount([d.weight_g, d.parcels]), skills=set(d.skills))


def _read_solution(result: dict[str, Any], tasks: list[_Task], t0: int) -> tuple[_Routes, set[int]]:
    """VROOM's routes as ``{courier_id: (start_s, events)}``, and the task positions it left unassigned."""
    routes: _Routes = {}
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
    return routes, {int(u["id"]) for u in result.get("unassigned", [])}


def _stop_excess(routes: _Routes, couriers: list[Courier]) -> dict[int, int]:
    """Physical stops over each courier's max_stops (a pickup tour counts each of its pickups)."""
    courier_by_id = {c.id: c for c in couriers}
    excess = {}
    for cid, (_, events) in routes.items():
        physical = sum(len(t.pickup_idx) if k == "pickup" else 1 for k, t in events)
        if physical > courier_by_id[cid].max_stops:
            excess[cid] = physical - courier_by_id[cid].max_stops
    return excess
