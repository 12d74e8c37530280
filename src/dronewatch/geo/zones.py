"""Protected zones in the site's ENU frame: point-in-zone and predicted-entry tests, vectorised.

A zone is a polygon (GeoJSON ``[lon, lat]`` ring) with a floor and a ceiling in metres above
the ellipsoid. Polygons are projected once into the site's east-north plane (metres; a zone
spans a few km at most, where the projection error is centimetres); heights are compared as
``up`` in the site frame plus the site's own ellipsoid height, which is exact enough over the
same few km (Earth curvature drops 0.3 m at 2 km).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.validation import explain_validity

from dronewatch.errors import ConfigError
from dronewatch.geo import LocalFrame
from dronewatch.model import Zone

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def check_zone(zone: Zone) -> None:
    """Raise :class:`ConfigError` naming the zone when its volume is not a simple polygon prism."""
    if not zone.floor_m < zone.ceiling_m:
        raise ConfigError(f"zone {zone.id!r}: floor_m {zone.floor_m} must be below ceiling_m {zone.ceiling_m}")
    ring = list(zone.polygon)
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(set(ring)) < 3:
        raise ConfigError(f"zone {zone.id!r}: a polygon needs at least 3 distinct points")
    polygon = shapely.Polygon(ring)
    if not polygon.is_valid:
        raise ConfigError(f"zone {zone.id!r}: polygon is not simple: {explain_validity(polygon)}")


@dataclass(frozen=True, slots=True)
class ZoneSet:
    """The site's zones, projected into ``frame``."""

    zones: tuple[Zone, ...]
    frame: LocalFrame
    polygons: tuple[shapely.Polygon, ...]
    floors_up: FloatArray
    ceilings_up: FloatArray

    @classmethod
    def build(cls, zones: Sequence[Zone], frame: LocalFrame) -> ZoneSet:
        ids = [z.id for z in zones]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ConfigError(f"zone id(s) {', '.join(duplicated)} declared more than once")
        polygons = []
        for zone in zones:
            check_zone(zone)
            lon, lat = np.array(zone.polygon).T
            enu = frame.from_geodetic(lat, lon, np.full(lat.shape, frame.alt0_m))
            polygon = shapely.Polygon(enu[:, :2])
            shapely.prepare(polygon)
            polygons.append(polygon)
        return cls(tuple(zones), frame, tuple(polygons),
                   np.array([z.floor_m - frame.alt0_m for z in zones]),
                   np.array([z.ceiling_m - frame.alt0_m for z in zones]))

    def __len__(self) -> int:
        return len(self.zones)

    def inside(self, points: FloatArray, margin_m: FloatArray | float = 0.0) -> BoolArray:
        """``(N, Z)``: point ``n`` (site ENU) lies in zone ``z``, or within ``margin_m`` of it."""
        points = np.atleast_2d(points)
        margin = np.broadcast_to(np.asarray(margin_m, dtype=float), points.shape[:1])
        return np.column_stack([self._inside(k, points, margin) for k in range(len(self.zones))]) if self.zones \
            else np.zeros((points.shape[0], 0), dtype=bool)

    def _inside(self, k: int, points: FloatArray, margin: FloatArray) -> BoolArray:
        """``(N,)``: each point in zone ``k`` or within its ``margin``."""
        polygon = self.polygons[k]
        west, south, east, north = polygon.bounds
        x, y, up = points[:, 0], points[:, 1], points[:, 2]
        # the floor, the ceiling and the bounding box first: the exact tests are for the few points left
        near = ((up >= self.floors_up[k] - margin) & (up <= self.ceilings_up[k] + margin)
                & (x >= west - margin) & (x <= east + margin) & (y >= south - margin) & (y <= north + margin))
        out = np.zeros(points.shape[0], dtype=bool)
        idx = np.flatnonzero(near)
        if idx.size == 0:
            return out
        flat = shapely.contains_xy(polygon, x[idx], y[idx])
        edge = ~flat & (margin[idx] > 0)
        if edge.any():
            outside = idx[edge]
            # a margin a point: the stubs type dwithin's distance as one float
            flat[edge] = shapely.dwithin(polygon, shapely.points(points[outside, :2]), cast(Any, margin[outside]))
        out[idx] = flat
        return out

    def distances_m(self, point: FloatArray) -> FloatArray:
        """``(Z,)``: horizontal distance from ``point`` (site ENU) to each zone, 0 inside."""
        flat = shapely.Point(float(point[0]), float(point[1]))
        return np.array([shapely.distance(polygon, flat) for polygon in self.polygons], dtype=float)

    def entry_times(self, position: FloatArray, velocity: FloatArray, sigma_m: FloatArray, horizon_s: float,
                    step_s: float = 1.0, velocity_sigma_mps: FloatArray | float = 1.0,
                    turn_rate_rps: FloatArray | None = None) -> FloatArray:
        """``(N, Z)`` seconds until each track's predicted path enters each zone (``inf``: not within
        the horizon; 0: inside now). The path keeps the current speed and climb, and turns at
        ``turn_rate_rps`` (counter-clockwise seen from above; straight when not given): an
        orbiting drone's path is a circle, not the tangent. A point counts as inside when within
        one standard deviation of the predicted position, which grows with time from ``sigma_m``
        by ``velocity_sigma_mps``."""
        n = position.shape[0]
        if n == 0 or not self.zones:
            return np.full((n, len(self.zones)), np.inf)
        times = np.arange(0.0, horizon_s + step_s / 2, step_s)
        path = predicted_path(position, velocity, times,
                              np.zeros(n) if turn_rate_rps is None else np.asarray(turn_rate_rps))
        spread = np.sqrt(np.asarray(sigma_m)[:, None] ** 2
                         + (np.asarray(velocity_sigma_mps) * np.ones(n))[:, None] ** 2 * times[None, :] ** 2)
        out = np.full((n, len(self.zones)), np.inf)
        for k in range(len(self.zones)):
            now = self._inside(k, position, spread[:, 0])
            out[now, k] = 0.0
            rest = np.flatnonzero(~now)  # only the paths of the tracks not inside already
            if rest.size:
                hit = self._inside(k, path[rest].reshape(-1, 3), spread[rest].reshape(-1)).reshape(rest.size, -1)
                entered = hit.any(axis=1)
                out[rest[entered], k] = times[np.argmax(hit[entered], axis=1)]
        return out


def predicted_path(position: FloatArray, velocity: FloatArray, times: FloatArray, turn_rate_rps: FloatArray
                   ) -> FloatArray:
    """``(N, T, 3)`` positions at ``times`` on a constant-speed, constant-turn-rate path.

    In the east-north plane, with ``v = ve + i vn`` and turn rate ``w``, the displacement after
    ``t`` is ``v (exp(i w t) - 1) / (i w)``, which tends to ``v t`` as ``w`` tends to 0.
    """
    horizontal = velocity[:, 0] + 1j * velocity[:, 1]
    w = turn_rate_rps[:, None]
    tt = times[None, :]
    turning = np.abs(w) > 1e-6
    safe_w = np.where(turning, w, 1.0)
    arc = np.where(turning, (np.exp(1j * safe_w * tt) - 1.0) / (1j * safe_w), tt)
    displacement = horizontal[:, None] * arc
    return np.stack([position[:, None, 0] + displacement.real, position[:, None, 1] + displacement.imag,
                     position[:, None, 2] + velocity[:, None, 2] * tt], axis=-1)
