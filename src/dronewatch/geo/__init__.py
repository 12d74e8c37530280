"""Geodesy: WGS-84 frames and conversions."""

from dronewatch.geo.frames import (
    LocalFrame,
    aer2enu,
    ecef2enu,
    ecef2geodetic,
    ecef_vectors2enu,
    enu2aer,
    enu2ecef,
    enu2geodetic,
    geodetic2ecef,
    geodetic2enu,
)

__all__ = [
    "LocalFrame",
    "aer2enu",
    "ecef2enu",
    "ecef2geodetic",
    "ecef_vectors2enu",
    "enu2aer",
    "enu2ecef",
    "enu2geodetic",
    "geodetic2ecef",
    "geodetic2enu",
]
