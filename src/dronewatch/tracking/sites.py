"""The sensors a tracker knows: where each stands in the site frame, its noise, Pd and clutter."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dronewatch.geo import enu2aer
from dronewatch.geo.coverage import in_coverage
from dronewatch.model import Sensor
from dronewatch.tracking import models
from dronewatch.tracking.clutter import DEFAULT_MAX_RANGE_M, ClutterMap

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# One standard deviation per measured quantity when a sensor line gives none.
DEFAULT_SIGMA: dict[str, dict[str, float]] = {
    "radar": {"range_m": 10.0, "azimuth_deg": 1.0, "elevation_deg": 1.0, "radial_speed_mps": 1.0},
    "rf": {"azimuth_deg": 3.0},
    "acoustic": {"azimuth_deg": 5.0, "elevation_deg": 5.0},
    "camera": {"azimuth_deg": 0.3, "elevation_deg": 0.3},
    "remoteid": {"lat": 5.0, "lon": 5.0, "alt": 10.0, "speed_mps": 1.0},
    "adsb": {"lat": 20.0, "lon": 20.0, "alt": 30.0, "speed_mps": 2.0},
}
# False alarms per scan when a sensor line gives no clutter_per_scan: where a radar's estimate starts.
DEFAULT_CLUTTER_PER_SCAN = 1.0
# Extents of measurement space where a sensor line gives no coverage limits.
_RADIAL_SPEED_SPAN_MPS = 100.0
DEFAULT_PD = {"radar": 0.9, "rf": 0.8, "acoustic": 0.7, "camera": 0.8, "remoteid": 0.9, "adsb": 0.95}
COOPERATIVE_KINDS = ("remoteid", "adsb")


@dataclass(slots=True)
class SensorSite:
    """A declared sensor and where it stands in the site frame."""

    sensor: Sensor
    index: int
    pose: models.Pose
    position: FloatArray
    sigma: dict[str, float]
    pd: float
    clutter_per_scan: float = DEFAULT_CLUTTER_PER_SCAN
    """False alarms per scan: the sensor line's figure at first (or the default); for a radar, then its
    clutter map's estimate. Real radars do not report it, and it varies."""
    clutter_map: ClutterMap | None = None
    """A radar's: where its false alarms fall (see :mod:`.clutter`)."""

    @property
    def limited(self) -> bool:
        s = self.sensor
        return any(v is not None for v in (s.min_range_m, s.max_range_m, s.min_elevation_deg,
                                            s.max_elevation_deg, s.azimuth_min_deg))

    def log_clutter_density(self, model: models.Model, z: FloatArray) -> FloatArray | float:
        """ln of the false-alarm density per unit of ``model``'s measurement space (rad, m, m/s) at
        each measurement ``z``: a radar's from its clutter map, any other sensor's uniform over the
        coverage in measurement space, ``clutter_per_scan / (azimuth x elevation x range extents)``.
        """
        if self.clutter_map is not None and model.dim >= 3 and model.angles[:2] == (True, True):
            return self.clutter_map.log_density(z) - (math.log(_RADIAL_SPEED_SPAN_MPS) if model.dim == 4 else 0.0)
        s = self.sensor
        clutter = self.clutter_per_scan
        volume = 2.0 * math.pi
        if s.azimuth_min_deg is not None and s.azimuth_max_deg is not None:
            volume = math.radians((s.azimuth_max_deg - s.azimuth_min_deg) % 360.0 or 360.0)
        if model.dim >= 2 and model.angles[1]:
            low = s.min_elevation_deg if s.min_elevation_deg is not None else 0.0
            high = s.max_elevation_deg if s.max_elevation_deg is not None else 90.0
            volume *= math.radians(max(high - low, 1.0))
        if model.dim >= 3:
            high_r = s.max_range_m if s.max_range_m is not None else DEFAULT_MAX_RANGE_M
            volume *= max(high_r - (s.min_range_m or 0.0), 1.0)
        if model.dim == 4:
            volume *= _RADIAL_SPEED_SPAN_MPS
        return math.log(max(clutter, 1e-6) / volume)

    def covers(self, positions: FloatArray) -> BoolArray:
        """Which site-ENU positions ``(N, 3)`` lie inside this sensor's coverage."""
        rot, offset = self.pose
        rel = positions @ rot.T + offset
        return in_coverage(self.sensor, *enu2aer(rel[:, 0], rel[:, 1], rel[:, 2]))
