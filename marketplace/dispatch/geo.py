"""Geography for the courier-run planner: coordinates, great-circle distances,
travel-time matrices and postcode centroids.

Pure Python + numpy (numpy is used to vectorise the all-pairs matrices, which
matters from a few hundred points on: 3 000 points is 9 million pairs).

The :class:`TravelTimeMatrix` protocol is what the planner consumes, so a road
router (OSRM, Valhalla, ...) can replace :class:`HaversineMatrix` later without
touching the planner.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

__all__ = [
    "Coordinates",
    "EARTH_RADIUS_M",
    "HaversineMatrix",
    "TravelTimeMatrix",
    "haversine_m",
    "load_postcode_centroids",
]


@dataclass(frozen=True, slots=True, order=True)
class Coordinates:
    """A WGS84 point. ``lat`` in [-90, 90], ``lon`` in [-180, 180] (degrees)."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        for name in ("lat", "lon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude {self.lat} is out of range: it must be between -90 and 90")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude {self.lon} is out of range: it must be between -180 and 180")
        # Normalise ints to floats so equal points hash equal.
        object.__setattr__(self, "lat", float(self.lat))
        object.__setattr__(self, "lon", float(self.lon))


def haversine_m(a: Coordinates, b: Coordinates) -> float:
    """Great-circle distance between two points, in metres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _haversine_matrix_m(points: Sequence[Coordinates], block: int = 1024) -> np.ndarray:
    """All-pairs great-circle distances (float64 metres), computed by row blocks
    to bound peak memory (a 3 000-point matrix is 72 MB of float64)."""
    n = len(points)
    lat = np.radians(np.fromiter((p.lat for p in points), dtype=np.float64, count=n))
    lon = np.radians(np.fromiter((p.lon for p in points), dtype=np.float64, count=n))
    cos_lat = np.cos(lat)
    out = np.empty((n, n), dtype=np.float64)
    for s in range(0, n, block):
        e = min(n, s + block)
        dlat = lat[None, :] - lat[s:e, None]
        dlon = lon[None, :] - lon[s:e, None]
        h = np.sin(dlat / 2) ** 2 + cos_lat[s:e, None] * cos_lat[None, :] * np.sin(dlon / 2) ** 2
        np.clip(h, 0.0, 1.0, out=h)
        out[s:e] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h))
    return out


@runtime_checkable
class TravelTimeMatrix(Protocol):
    """Anything that can give all-pairs travel durations and distances.

    Both methods return square ``len(points) x len(points)`` matrices of
    non-negative integers (seconds, metres) with a zero diagonal, as
    ``list[list[int]]`` or an integer numpy array (the planner accepts both).
    Row = origin, column = destination; matrices may be asymmetric.
    """

    def durations(self, points: Sequence[Coordinates]) -> list[list[int]]: ...

    def distances(self, points: Sequence[Coordinates]) -> list[list[int]]: ...


class HaversineMatrix:
    """Crow-flies distance x ``detour_factor`` at a constant ``speed_kmh``.

    Values are rounded *up* to whole seconds/metres: ceil keeps the triangle
    inequality for the integer matrix, which the planner relies on when it
    removes a stop from a run (the rest of the run can only get earlier).

    :meth:`durations_array` / :meth:`distances_array` return numpy ``int64``
    arrays; the list-returning methods satisfy :class:`TravelTimeMatrix`.
    """

    def __init__(self, speed_kmh: float, detour_factor: float = 1.3) -> None:
        if not (isinstance(speed_kmh, (int, float)) and math.isfinite(speed_kmh) and speed_kmh > 0):
            raise ValueError(f"speed_kmh must be a positive number, got {speed_kmh!r}")
        if not (isinstance(detour_factor, (int, float)) and math.isfinite(detour_factor) and detour_factor >= 1):
            raise ValueError(f"detour_factor must be a number >= 1, got {detour_factor!r}")
        self.speed_kmh = float(speed_kmh)
        self.detour_factor = float(detour_factor)
        self._cache_key: tuple[Coordinates, ...] | None = None
        self._cache_m: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"HaversineMatrix(speed_kmh={self.speed_kmh}, detour_factor={self.detour_factor})"

    def _road_m(self, points: Sequence[Coordinates]) -> np.ndarray:
        key = tuple(points)
        if self._cache_key != key:
            self._cache_m = _haversine_matrix_m(key) * self.detour_factor
            self._cache_key = key
        assert self._cache_m is not None
        return self._cache_m

    def distances_array(self, points: Sequence[Coordinates]) -> np.ndarray:
        return np.ceil(self._road_m(points) - 1e-9).astype(np.int64)

    def durations_array(self, points: Sequence[Coordinates]) -> np.ndarray:
        speed_ms = self.speed_kmh / 3.6
        return np.ceil(self._road_m(points) / speed_ms - 1e-9).astype(np.int64)

    def distances(self, points: Sequence[Coordinates]) -> list[list[int]]:
        return self.distances_array(points).tolist()

    def durations(self, points: Sequence[Coordinates]) -> list[list[int]]:
        return self.durations_array(points).tolist()


def load_postcode_centroids(source: str | os.PathLike[str]) -> dict[str, Coordinates]:
    """Parse a ``postcode,lat,lon[,town]`` CSV into ``{postcode: Coordinates}``.

    ``source`` is either CSV text (anything containing a newline or a comma) or
    a path to a CSV file. A header row is optional (detected when its second
    column is not a number). Blank lines are skipped. Malformed rows (missing
    columns, non-numeric or out-of-range coordinates, empty or duplicated
    postcode with different coordinates) raise ``ValueError`` naming the line.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source and "," not in source):
        text = Path(source).read_text(encoding="utf-8-sig")
    elif isinstance(source, str):
        text = source.lstrip("\ufeff")
    else:
        raise TypeError(f"expected CSV text or a path, got {type(source).__name__}")

    result: dict[str, Coordinates] = {}
    reader = csv.reader(io.StringIO(text))
    first_data_seen = False
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if not first_data_seen:
            first_data_seen = True
            if len(cells) >= 3 and cells[0].lower() == "postcode":
                try:
                    float(cells[1])
                except ValueError:
                    continue  # header row
        if len(cells) < 3 or len(cells) > 4:
            raise ValueError(f"line {line}: expected postcode,lat,lon[,town], got {len(cells)} column(s)")
        postcode, lat_text, lon_text = cells[0], cells[1], cells[2]
        if not postcode:
            raise ValueError(f"line {line}: empty postcode")
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            raise ValueError(f"line {line}: lat/lon must be numbers, got {lat_text!r}, {lon_text!r}") from None
        try:
            point = Coordinates(lat, lon)
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from None
        previous = result.get(postcode)
        if previous is not None and previous != point:
            raise ValueError(f"line {line}: postcode {postcode!r} appears twice with different coordinates")
        result[postcode] = point
    return result
