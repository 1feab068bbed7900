"""The greedy back-end: a naive baseline with the same signature as the VROOM one, to measure it against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..geo import Coordinates
from .model import (
    DEFAULT_EXPLORATION,
    DEFAULT_THREADS,
    REASON_NO_FIT,
    Courier,
    Delivery,
    MatrixFactory,
    Plan,
    default_matrix_factory,
)
from .problem import _finalise, _Problem, _Routes, _Task
from .zones import can_serve


@dataclass(slots=True)
class _Route:
    """A courier's run as the greedy planner builds it: where and when it ends so far, and what it holds."""

    pos: int
    t: int
    end: int | None
    dur: np.ndarray
    stops: int = 0
    events: list[tuple[str, _Task]] = field(default_factory=list)


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
    state = {
        c.id: _Route(
            pos=problem.index[c.start],
            t=c.shift[0],
            end=None if c.end is None else problem.index[c.end],
            dur=problem.durations[problem.profile_of[c.speed_kmh]],
        )
        for c in problem.couriers
    }
    order = sorted(problem.tasks, key=lambda t: (t.delivery.window[0], t.delivery.window[1], t.delivery.id))
    for task in order:
        best = _best_courier(problem, state, task)
        if best is None:
            unassigned[task.delivery.id] = REASON_NO_FIT
            continue
        _, cid, t, pos = best
        st = state[cid]
        st.pos, st.t = pos, t
        st.stops += len(task.pickup_idx) + 1
        st.events.extend([("pickup", task), ("dropoff", task)])

    routes: _Routes = {c.id: (c.shift[0], state[c.id].events) for c in problem.couriers if state[c.id].events}
    return _finalise(problem, routes, unassigned)


def _best_courier(problem: _Problem, state: dict[int, _Route], task: _Task) -> tuple[int, int, int, int] | None:
    """(added distance, courier id, new t, new pos) for the courier whose run grows least by taking the task."""
    d = task.delivery
    best: tuple[int, int, int, int] | None = None
    for c in problem.couriers:
        if d.weight_g > c.capacity_g or d.parcels > c.capacity_parcels or not can_serve(c, d):
            continue
        st = state[c.id]
        if st.stops + len(task.pickup_idx) + 1 > c.max_stops:
            continue
        appended = _append(problem, c, st, task)
        if appended is None:
            continue
        added, t, pos = appended
        if best is None or (added, c.id) < (best[0], best[1]):
            best = (added, c.id, t, pos)
    return best


def _append(problem: _Problem, c: Courier, st: _Route, task: _Task) -> tuple[int, int, int] | None:
    """(added distance, new t, new pos) once the task's pickups and drop-off end the run; None if it cannot."""
    d = task.delivery
    dist, dur = problem.distances, st.dur
    pos, t, added = st.pos, st.t, 0
    for pi in task.pickup_idx:
        t += int(dur[pos, pi]) + d.pickup_service_s
        added += int(dist[pos, pi])
        pos = pi
    t += int(dur[pos, task.drop_idx])
    added += int(dist[pos, task.drop_idx])
    pos = task.drop_idx
    t = max(t, d.window[0])
    if t > d.window[1]:
        return None
    t += d.service_s
    end = st.end
    back = t + (int(dur[pos, end]) if end is not None else 0)
    if back > c.shift[1]:
        return None
    if end is not None:
        added += int(dist[pos, end]) - int(dist[st.pos, end])
    return added, t, pos
