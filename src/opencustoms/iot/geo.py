"""Geometry on a local metric plane, vectorised.

pyproj is not a dependency, so distances are computed on a local *equirectangular* projection centred on the
geometry being checked (a corridor, a zone): ``x = R·cos(φ0)·(λ − λ0)``, ``y = R·(φ − φ0)`` with R the mean
Earth radius (6,371,008.8 m). North-south distances are exact on the sphere; east-west distances are scaled by
``cos φ / cos φ0``, so the relative error of a distance measured at latitude φ is at most
``|cos φ / cos φ0 − 1|`` (plus the sphere-versus-ellipsoid difference, under 0.5 %). ``LocalProjection.error_bound``
computes that bound over a latitude range; e.g. a corridor spanning 2° of latitude around 45° N measures a
500 m deviation to within about 9 m. Long corridors are therefore cut into pieces of at most
``MAX_SPAN_DEG`` of latitude, each with its own projection (see ``Corridor``), which keeps the bound under 1 % at
latitudes below 60°.

Longitudes are wrapped relative to the centre, so geometry across the antimeridian works. Shapely's x is the
longitude (unlike Traccar's latitude-first WKT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

EARTH_RADIUS_M = 6_371_008.8
MAX_SPAN_DEG = 1.0


@dataclass(frozen=True)
class LocalProjection:
    lat0: float
    lon0: float

    @property
    def _kx(self) -> float:
        return EARTH_RADIUS_M * math.cos(math.radians(self.lat0)) * math.pi / 180.0

    _ky = EARTH_RADIUS_M * math.pi / 180.0

    def forward(self, lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        lon_a = np.asarray(lon, dtype=float)
        lat_a = np.asarray(lat, dtype=float)
        dlon = (lon_a - self.lon0 + 180.0) % 360.0 - 180.0
        return dlon * self._kx, (lat_a - self.lat0) * self._ky

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon = np.asarray(x) / self._kx + self.lon0
        return (lon + 180.0) % 360.0 - 180.0, np.asarray(y) / self._ky + self.lat0

    def error_bound(self, lat_min: float, lat_max: float) -> float:
        """Largest relative distance error of this projection between two latitudes."""
        c0 = math.cos(math.radians(self.lat0))
        return max(abs(math.cos(math.radians(lat)) / c0 - 1.0) for lat in (lat_min, lat_max, self.lat0))


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def check_coordinates(lat: float, lon: float) -> str | None:
    """Why a fix is impossible, or None."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "latitude/longitude must be finite numbers"
    if not -90.0 <= lat <= 90.0:
        return f"latitude {lat} is outside -90..90"
    if not -180.0 <= lon <= 180.0:
        return f"longitude {lon} is outside -180..180"
    if lat == 0.0 and lon == 0.0:
        return "position 0,0 ('null island') is a receiver default, not a fix"
    return None


# --- zones (geofences) ---------------------------------------------------------------------------------------


@dataclass
class Zone:
    """A circle (centre + radius in metres) or a polygon ([[lon, lat], ...]) on its own local projection."""

    zone_id: str
    geometry: dict[str, Any]
    projection: LocalProjection = field(init=False)
    shape: Any = field(init=False)

    def __post_init__(self) -> None:
        g = self.geometry
        if g.get("type") == "circle":
            self.projection = LocalProjection(float(g["latitude"]), float(g["longitude"]))
            self.shape = Point(0.0, 0.0).buffer(float(g["radius_m"]), quad_segs=32)
        elif g.get("type") == "polygon":
            coords = np.asarray(g["coordinates"], dtype=float)
            self.projection = LocalProjection(float(coords[:, 1].mean()), float(coords[:, 0].mean()))
            x, y = self.projection.forward(coords[:, 0], coords[:, 1])
            self.shape = Polygon(np.column_stack([x, y]))
        else:
            raise ValueError("zone geometry type must be 'circle' or 'polygon'")
        shapely.prepare(self.shape)

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        x, y = self.projection.forward(lon, lat)
        return np.asarray(shapely.contains_xy(self.shape, x, y))


def zone_geometry(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a zone geometry and return it normalised; raises ValueError naming the problem."""
    kind = data.get("type")
    if kind == "circle":
        lat, lon, radius = float(data["latitude"]), float(data["longitude"]), float(data["radius_m"])
        problem = check_coordinates(lat, lon)
        if problem:
            raise ValueError(problem)
        if not 1.0 <= radius <= 200_000.0:
            raise ValueError(f"radius_m {radius} must be between 1 and 200000 metres")
        return {"type": "circle", "latitude": lat, "longitude": lon, "radius_m": radius}
    if kind == "polygon":
        coords = [[float(p[0]), float(p[1])] for p in data["coordinates"]]
        if len(coords) < 3:
            raise ValueError("a polygon needs at least 3 [longitude, latitude] points")
        for lon, lat in coords:
            problem = check_coordinates(lat, lon)
            if problem:
                raise ValueError(problem + " (polygon points are [longitude, latitude])")
        zone = Zone("check", {"type": "polygon", "coordinates": coords})
        if not zone.shape.is_valid:
            raise ValueError("the polygon crosses itself; list its points in order around the boundary")
        return {"type": "polygon", "coordinates": coords}
    raise ValueError("zone type must be 'circle' (latitude, longitude, radius_m) or 'polygon' (coordinates)")


# --- corridors -----------------------------------------------------------------------------------------------


@dataclass
class _Piece:
    projection: LocalProjection
    line: LineString
    buffer: Any
    lat_min: float
    lat_max: float


class Corridor:
    """A route (points [[lon, lat], ...]) with a tolerance in metres.

    ``inside(lat, lon)`` and ``distance_m(lat, lon)`` are vectorised: points are projected with numpy, and
    containment in the tolerance buffer uses shapely 2's prepared ``contains_xy``. The route is cut into pieces of at
    most ``MAX_SPAN_DEG`` of latitude and longitude, each on its own projection; a point is inside the corridor when it
    is inside any piece's buffer.
    """

    def __init__(self, coordinates: list[list[float]], tolerance_m: float) -> None:
        coords = np.asarray(coordinates, dtype=float)
        if coords.ndim != 2 or coords.shape[0] < 2 or coords.shape[1] != 2:
            raise ValueError("a corridor needs at least two [longitude, latitude] points")
        for lon, lat in coords:
            problem = check_coordinates(lat, lon)
            if problem:
                raise ValueError(problem + " (corridor points are [longitude, latitude])")
        if not 10.0 <= tolerance_m <= 50_000.0:
            raise ValueError(f"tolerance_m {tolerance_m} must be between 10 and 50000 metres")
        self.tolerance_m = float(tolerance_m)
        self.coordinates = coords
        self.pieces = [self._piece(chunk) for chunk in self._chunks(coords)]
        self.error_bound = max(p.projection.error_bound(p.lat_min, p.lat_max) for p in self.pieces)

    @staticmethod
    def _chunks(coords: np.ndarray) -> list[np.ndarray]:
        """Densify long segments, then cut into runs spanning at most MAX_SPAN_DEG (consecutive runs share a point)."""
        dense = [coords[0]]
        for a, b in zip(coords[:-1], coords[1:], strict=True):
            steps = max(1, int(np.ceil(np.max(np.abs(b - a)) / (MAX_SPAN_DEG / 2))))
            for k in range(1, steps + 1):
                dense.append(a + (b - a) * k / steps)
        pts = np.asarray(dense)
        chunks, start = [], 0
        for i in range(1, len(pts)):
            span = pts[start : i + 1]
            if np.ptp(span[:, 0]) > MAX_SPAN_DEG or np.ptp(span[:, 1]) > MAX_SPAN_DEG:
                chunks.append(pts[start:i])
                start = i - 1
        chunks.append(pts[start:])
        return chunks

    def _piece(self, chunk: np.ndarray) -> _Piece:
        lat_min, lat_max = float(chunk[:, 1].min()), float(chunk[:, 1].max())
        projection = LocalProjection((lat_min + lat_max) / 2, float(chunk[:, 0].mean()))
        x, y = projection.forward(chunk[:, 0], chunk[:, 1])
        line = LineString(np.column_stack([x, y]))
        buffer = line.buffer(self.tolerance_m, quad_segs=16)
        shapely.prepare(buffer)
        pad = self.tolerance_m / 111_000.0
        return _Piece(projection, line, buffer, lat_min - pad, lat_max + pad)

    def inside(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        result = np.zeros(lat.shape, dtype=bool)
        for piece in self.pieces:
            todo = ~result
            if not todo.any():
                break
            x, y = piece.projection.forward(lon[todo], lat[todo])
            result[todo] = shapely.contains_xy(piece.buffer, x, y)
        return result

    def distance_m(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Distance to the route in metres (the smallest over the pieces)."""
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        best = np.full(lat.shape, np.inf)
        for piece in self.pieces:
            x, y = piece.projection.forward(lon, lat)
            best = np.minimum(best, shapely.distance(piece.line, shapely.points(x, y)))
        return best

    @property
    def length_m(self) -> float:
        return float(sum(p.line.length for p in self.pieces))
