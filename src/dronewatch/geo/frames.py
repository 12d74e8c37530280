"""WGS-84 geodetic <-> ECEF <-> local ENU <-> sensor AER, vectorised, exact through ECEF.

Names follow ``<from>2<to>`` with arguments in name order (as pymap3d does).
Angles are degrees, lengths metres, altitudes above the WGS-84 ellipsoid (HAE).
Azimuth is clockwise from north in [0, 360); elevation is up from the local
horizontal (ellipsoid normal); range is the slant range. No refraction.

ECEF -> geodetic uses Heikkinen's closed form (as in Zhu 1994), which is exact
to well below a millimetre everywhere outside the Earth's core. An ENU frame at
origin (lat0, lon0, h0) is ``enu = R(lat0, lon0) @ (ecef - ecef0)`` with

    R = [[-sin lon0,            cos lon0,           0       ],
         [-sin lat0 cos lon0,  -sin lat0 sin lon0,  cos lat0],
         [ cos lat0 cos lon0,   cos lat0 sin lon0,  sin lat0]]

so moving between two ENU frames is one rotation and one translation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_EP2 = WGS84_E2 / (1.0 - WGS84_E2)


class Located(Protocol):
    """Anything with a geodetic position: track reports, truth, sensors."""

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...

    @property
    def alt(self) -> float: ...


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


Triple = tuple[FloatArray, FloatArray, FloatArray]


def geodetic2ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike) -> Triple:
    """Geodetic (degrees, metres HAE) to ECEF x, y, z in metres."""
    lat, lon, alt = np.radians(_f(lat_deg)), np.radians(_f(lon_deg)), _f(alt_m)
    sin_lat = np.sin(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    cos_lat = np.cos(lat)
    x = (n + alt) * cos_lat * np.cos(lon)
    y = (n + alt) * cos_lat * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + alt) * sin_lat
    return x, y, z


def ecef2geodetic(x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF metres to geodetic latitude, longitude (degrees) and altitude (metres HAE)."""
    x, y, z = _f(x_m), _f(y_m), _f(z_m)
    a, b, e2, ep2 = WGS84_A, WGS84_B, WGS84_E2, WGS84_EP2
    p = np.hypot(x, y)
    z2 = z * z
    f = 54.0 * b * b * z2
    g = p * p + (1.0 - e2) * z2 - e2 * (a * a - b * b)
    c = e2 * e2 * f * p * p / (g * g * g)
    s = np.cbrt(1.0 + c + np.sqrt(c * c + 2.0 * c))
    k = s + 1.0 + 1.0 / s
    big_p = f / (3.0 * k * k * g * g)
    q = np.sqrt(1.0 + 2.0 * e2 * e2 * big_p)
    r0 = -(big_p * e2 * p) / (1.0 + q) + np.sqrt(
        np.maximum(
            0.5 * a * a * (1.0 + 1.0 / q) - big_p * (1.0 - e2) * z2 / (q * (1.0 + q)) - 0.5 * big_p * p * p,
            0.0,
        )
    )
    u = np.sqrt((p - e2 * r0) ** 2 + z2)
    v = np.sqrt((p - e2 * r0) ** 2 + (1.0 - e2) * z2)
    z0 = b * b * z / (a * v)
    alt = u * (1.0 - b * b / (a * v))
    lat = np.arctan2(z + ep2 * z0, p)
    lon = np.arctan2(y, x)
    return np.degrees(lat), np.degrees(lon), alt


def enu_rotation(lat0_deg: float, lon0_deg: float) -> FloatArray:
    """The 3x3 rotation taking ECEF difference vectors into ENU at (lat0, lon0)."""
    lat, lon = np.radians(lat0_deg), np.radians(lon0_deg)
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def ecef2enu(
    x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike, lat0_deg: float, lon0_deg: float, alt0_m: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF to east, north, up metres at origin (lat0, lon0, alt0)."""
    x0, y0, z0 = geodetic2ecef(lat0_deg, lon0_deg, alt0_m)
    rot = enu_rotation(lat0_deg, lon0_deg)
    d = np.stack(np.broadcast_arrays(_f(x_m) - x0, _f(y_m) - y0, _f(z_m) - z0), axis=-1)
    enu = d @ rot.T
    return enu[..., 0], enu[..., 1], enu[..., 2]


def enu2ecef(
    e_m: ArrayLike, n_m: ArrayLike, u_m: ArrayLike, lat0_deg: float, lon0_deg: float, alt0_m: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """East, north, up metres at origin (lat0, lon0, alt0) to ECEF."""
    x0, y0, z0 = geodetic2ecef(lat0_deg, lon0_deg, alt0_m)
    rot = enu_rotation(lat0_deg, lon0_deg)
    enu = np.stack(np.broadcast_arrays(_f(e_m), _f(n_m), _f(u_m)), axis=-1)
    d = enu @ rot
    return d[..., 0] + x0, d[..., 1] + y0, d[..., 2] + z0


def geodetic2enu(
    lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike, lat0_deg: float, lon0_deg: float, alt0_m: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Geodetic to east, north, up metres at origin (lat0, lon0, alt0)."""
    return ecef2enu(*geodetic2ecef(lat_deg, lon_deg, alt_m), lat0_deg, lon0_deg, alt0_m)


def enu2geodetic(
    e_m: ArrayLike, n_m: ArrayLike, u_m: ArrayLike, lat0_deg: float, lon0_deg: float, alt0_m: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """East, north, up metres at origin (lat0, lon0, alt0) to geodetic."""
    return ecef2geodetic(*enu2ecef(e_m, n_m, u_m, lat0_deg, lon0_deg, alt0_m))


def enu2aer(e_m: ArrayLike, n_m: ArrayLike, u_m: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ENU to azimuth (clockwise from north, [0, 360)), elevation (degrees) and slant range (m)."""
    e, n, u = _f(e_m), _f(n_m), _f(u_m)
    horizontal = np.hypot(e, n)
    azimuth = np.degrees(np.arctan2(e, n)) % 360.0
    elevation = np.degrees(np.arctan2(u, horizontal))
    return azimuth, elevation, np.hypot(horizontal, u)


def aer2enu(azimuth_deg: ArrayLike, elevation_deg: ArrayLike, range_m: ArrayLike) -> Triple:
    """Azimuth, elevation (degrees), slant range (m) to ENU metres."""
    az, el, r = np.radians(_f(azimuth_deg)), np.radians(_f(elevation_deg)), _f(range_m)
    horizontal = r * np.cos(el)
    return horizontal * np.sin(az), horizontal * np.cos(az), r * np.sin(el)


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """An ENU frame at a geodetic origin, with array conversions in and out of it.

    Positions are ``(..., 3)`` arrays of east, north, up metres.
    """

    lat0_deg: float
    lon0_deg: float
    alt0_m: float

    @property
    def rotation(self) -> FloatArray:
        """ECEF -> ENU rotation of this frame."""
        return enu_rotation(self.lat0_deg, self.lon0_deg)

    @property
    def origin_ecef(self) -> FloatArray:
        return np.array([float(c) for c in geodetic2ecef(self.lat0_deg, self.lon0_deg, self.alt0_m)])

    def from_geodetic(self, lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike) -> FloatArray:
        """Geodetic to ``(..., 3)`` ENU metres in this frame."""
        return np.stack(geodetic2enu(lat_deg, lon_deg, alt_m, self.lat0_deg, self.lon0_deg, self.alt0_m), axis=-1)

    def positions_of(self, records: Sequence[Located]) -> FloatArray:
        """``(N, 3)`` ENU metres in this frame of records with ``lat``, ``lon``, ``alt`` (tracks, truth)."""
        if not records:
            return np.zeros((0, 3))
        geodetic = np.array([(r.lat, r.lon, r.alt) for r in records], dtype=np.float64)
        return self.from_geodetic(geodetic[:, 0], geodetic[:, 1], geodetic[:, 2])

    def to_geodetic(self, enu_m: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(..., 3)`` ENU metres in this frame to latitude, longitude, altitude."""
        enu = _f(enu_m)
        return enu2geodetic(enu[..., 0], enu[..., 1], enu[..., 2], self.lat0_deg, self.lon0_deg, self.alt0_m)

    def transform_to(self, other: LocalFrame) -> tuple[FloatArray, FloatArray]:
        """``(R, t)`` with ``enu_other = enu_self @ R.T + t``: exact, as both are affine in ECEF."""
        rot_self, rot_other = self.rotation, other.rotation
        rot = rot_other @ rot_self.T
        offset = rot_other @ (self.origin_ecef - other.origin_ecef)
        return rot, offset



def ecef_vectors2enu(vectors_ecef: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Rotate ECEF vectors ``(..., 3)`` into the ENU frame at each (lat, lon), element-wise."""
    v = _f(vectors_ecef)
    lat, lon = np.radians(_f(lat_deg)), np.radians(_f(lon_deg))
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    east = -so * x + co * y
    north = -sl * co * x - sl * so * y + cl * z
    up = cl * co * x + cl * so * y + sl * z
    return np.stack([east, north, up], axis=-1)
