"""Where new tracks start: one radar plot, or two bearings of different sites that cross.

**The prior.** A new track's position and its covariance come from what started it; its velocity
is unknown: 0 with a standard deviation of ``init_speed_sigma_mps`` east and north and
``init_climb_sigma_mps`` up, uncorrelated with the position.

**A radar plot** ``(azimuth, elevation, range)`` gives the position ``f(z)`` (see
:func:`.models.polar_to_site`) and, to first order, the covariance ``J R J'`` of the
measurement noise ``R`` through the Jacobian ``J`` of ``f``.

**Two bearings** of sites ``p1``, ``p2`` with horizontal unit directions ``d1``, ``d2`` cross
where ``p1 + s1 d1 = p2 + s2 d2``. They start a track when they cross in front of both sensors
(``0 < s <= max_range``) at more than ``min_crossing_angle_deg`` (``|d1 x d2| >= sin``) within the
triangulation window. The horizontal covariance is the inverse of the information of the two lines,
each ``n n' / (sigma_az s)^2`` with ``n`` the normal of its direction and ``sigma_az s`` (at least
1 m) the bearing's cross-range error; the height comes from the better elevation if either has
one (``p_up + s tan(el)``, sigma ``sigma_el s``), else from an assumed height.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dronewatch.tracking.sites import SensorSite

FloatArray = NDArray[np.float64]


def prior(positions: FloatArray, position_covariances: FloatArray, speed_sigma_mps: float,
          climb_sigma_mps: float) -> tuple[FloatArray, FloatArray]:
    """States ``(N, 6)`` at ``positions`` ``(N, 3)``, at rest, and covariances ``(N, 6, 6)``: the
    position's and the velocity prior's blocks."""
    n = positions.shape[0]
    x = np.zeros((n, 6))
    x[:, :3] = positions
    p = np.zeros((n, 6, 6))
    p[:, :3, :3] = position_covariances
    p[:, 3, 3] = p[:, 4, 4] = speed_sigma_mps**2
    p[:, 5, 5] = climb_sigma_mps**2
    return x, p


def plot_covariances(jacobians: FloatArray, noise: FloatArray) -> FloatArray:
    """``J R J'`` ``(N, 3, 3)``: the site-ENU covariance of plots whose position Jacobians are
    ``jacobians`` ``(N, 3, 3)``, with the measurement noise ``noise`` (its first 3x3 block:
    azimuth, elevation, range)."""
    return np.asarray(jacobians @ noise[:3, :3] @ jacobians.transpose(0, 2, 1), dtype=np.float64)


@dataclass(slots=True)
class LooseBearing:
    """A bearing no track took, waiting for one of another site to cross it."""

    t: float
    site: SensorSite
    azimuth_rad: float
    elevation_rad: float | None


@dataclass(slots=True)
class Crossing:
    """Two bearings that start a track: the earlier one, and the position they give."""

    partner: LooseBearing
    position: FloatArray
    covariance: FloatArray


def crossing(a: LooseBearing, b: LooseBearing, min_sin: float, height_m: float, height_sigma_m: float
             ) -> tuple[float, FloatArray, FloatArray] | None:
    """Where two bearings cross: (sine of the crossing angle, position, covariance), or None.
    Without an elevation, the track is placed at ``height_m`` (sigma ``height_sigma_m``)."""
    directions = []
    for bearing in (a, b):
        # the bearing's horizontal direction, rotated from the sensor's ENU into the site's
        local = np.array([math.sin(bearing.azimuth_rad), math.cos(bearing.azimuth_rad), 0.0])
        directions.append(local @ bearing.site.pose[0])
    d1, d2 = directions[0][:2], directions[1][:2]
    sin_angle = abs(d1[0] * d2[1] - d1[1] * d2[0])
    if sin_angle < min_sin:
        return None
    p1, p2 = a.site.position, b.site.position
    s1, s2 = np.linalg.solve(np.column_stack([d1, -d2]), (p2 - p1)[:2])
    for s, bearing in ((s1, a), (s2, b)):
        max_range = bearing.site.sensor.max_range_m
        if s <= 0 or (max_range is not None and s > max_range):
            return None
    horizontal = p1[:2] + s1 * d1
    information = np.zeros((2, 2))
    for s, d, bearing in ((s1, d1, a), (s2, d2, b)):
        normal = np.array([-d[1], d[0]])
        sigma = math.radians(bearing.site.sigma["azimuth_deg"]) * s
        information += np.outer(normal, normal) / max(sigma, 1.0) ** 2
    cov = np.zeros((3, 3))
    cov[:2, :2] = np.linalg.inv(information)
    heights = [(bearing.site.position[2] + s * math.tan(bearing.elevation_rad),
                s * math.radians(bearing.site.sigma["elevation_deg"]))
               for s, bearing in ((s1, a), (s2, b)) if bearing.elevation_rad is not None]
    if heights:
        up, up_sigma = min(heights, key=lambda h: h[1])
    else:
        up, up_sigma = height_m, height_sigma_m
    cov[2, 2] = max(up_sigma, 1.0) ** 2
    return sin_angle, np.array([horizontal[0], horizontal[1], up]), cov


def pair_bearings(loose: Sequence[LooseBearing], bearings: Sequence[LooseBearing], min_sin: float,
                  height_m: float, height_sigma_m: float) -> tuple[list[LooseBearing], list[Crossing]]:
    """Pair each of ``bearings`` (in order) with the loose bearing of another site it crosses at the
    widest angle. Returns the loose bearings after (the unpaired new ones added, the partners
    taken out) and the crossings, in the order of ``bearings``."""
    pending = list(loose)
    crossings: list[Crossing] = []
    for new in bearings:
        best: tuple[float, int, FloatArray, FloatArray] | None = None
        for k, other in enumerate(pending):
            if other.site is new.site:
                continue
            found = crossing(new, other, min_sin, height_m, height_sigma_m)
            # the widest crossing angle gives the best-conditioned position
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], k, found[1], found[2])
        if best is None:
            pending.append(new)
        else:
            crossings.append(Crossing(pending.pop(best[1]), best[2], best[3]))
    return pending, crossings
