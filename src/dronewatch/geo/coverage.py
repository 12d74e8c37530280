"""Whether points lie inside a sensor's coverage, as its sensor line states it."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dronewatch.model import Sensor


def in_coverage(sensor: Sensor, azimuth_deg: ArrayLike, elevation_deg: ArrayLike, range_m: ArrayLike
                ) -> NDArray[np.bool_]:
    """Inside the range, elevation and azimuth-sector limits the sensor line gives (a limit not given
    does not limit). The sector runs clockwise from ``azimuth_min_deg`` to ``azimuth_max_deg``."""
    azimuth, elevation, slant = (np.asarray(v, dtype=np.float64) for v in (azimuth_deg, elevation_deg, range_m))
    inside = np.ones(np.broadcast(azimuth, elevation, slant).shape, dtype=bool)
    s = sensor
    if s.min_range_m is not None:
        inside &= slant >= s.min_range_m
    if s.max_range_m is not None:
        inside &= slant <= s.max_range_m
    if s.min_elevation_deg is not None:
        inside &= elevation >= s.min_elevation_deg
    if s.max_elevation_deg is not None:
        inside &= elevation <= s.max_elevation_deg
    if s.azimuth_min_deg is not None and s.azimuth_max_deg is not None:
        inside &= (azimuth - s.azimuth_min_deg) % 360.0 <= (s.azimuth_max_deg - s.azimuth_min_deg) % 360.0
    return inside
