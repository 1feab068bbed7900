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

Modules: :mod:`.model` (inputs, outputs, reasons, settings), :mod:`.zones`
(which courier may serve which delivery), :mod:`.problem` (the preparation,
simulation and final check both back-ends share), :mod:`.vroom_solver` and
:mod:`.greedy` (the back-ends).

Determinism: inputs are sorted by id and VROOM runs with a fixed thread
count, so the same input gives the same plan *as long as no ``timeout_s`` is
set* (with a time limit, the result depends on how far the search got).
"""

from __future__ import annotations

from .greedy import plan_greedy
from .model import (
    DEFAULT_EXPLORATION,
    DEFAULT_PARTITION_SIZE,
    DEFAULT_THREADS,
    PLANNER_REASONS,
    REASON_NO_COURIER,
    REASON_NO_FIT,
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
    default_matrix_factory,
)
from .vroom_solver import plan_runs
from .zones import can_serve

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
    "DEFAULT_EXPLORATION",
    "DEFAULT_PARTITION_SIZE",
    "DEFAULT_THREADS",
    "MatrixFactory",
]
