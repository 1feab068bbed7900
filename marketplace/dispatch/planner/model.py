"""The planner's vocabulary: its inputs (deliveries, couriers), its outputs (a plan of runs and the
deliveries left unassigned, with a reason), the checks every input passes, and its default settings."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..geo import Coordinates, HaversineMatrix, TravelTimeMatrix

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
DEFAULT_THREADS = 2
DEFAULT_PARTITION_SIZE = 1000


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
