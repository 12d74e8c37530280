"""Measurement models of every sensor kind, with analytic Jacobians, vectorised over pairs.

Each model maps site-ENU states ``x = [e, n, u, ve, vn, vu]`` ``(K, 6)`` to predicted
measurements ``(K, m)`` and Jacobians ``(K, m, 6)``. A sensor's own ENU frame is
reached by the exact rigid transform ``rel = p @ R.T + t`` (see
:meth:`dronewatch.geo.LocalFrame.transform_to`), so ``d rel / d p = R``.

Angles are radians inside the tracker; azimuth is clockwise from north.
With ``rel = (e, n, u)``, ``rho = sqrt(e^2 + n^2)`` and ``r = |rel|``:

=================  ==========================  =====================================
quantity           h                           d h / d rel
=================  ==========================  =====================================
azimuth            atan2(e, n)                 (n, -e, 0) / rho^2
elevation          atan2(u, rho)               (-e u / rho, -n u / rho, rho) / r^2
range              r                           rel / r
radial speed       rel . w / r  (w = R v)      w / r - (rel . w) rel / r^3;  d/dw = rel / r
=================  ==========================  =====================================

Self-reported positions (Remote ID, ADS-B) are converted to site ENU before they
reach the tracker, so their model is linear: ``z = p`` (and ``z = (p, ve, vn)``
when the report carries ground speed and track).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# (rotation site->sensor, translation): rel = p @ R.T + t
Pose = tuple[FloatArray, FloatArray]
ModelFunction = Callable[[FloatArray, Pose], tuple[FloatArray, FloatArray]]


def _relative(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    rot, offset = pose
    return states[:, :3] @ rot.T + offset, states[:, 3:] @ rot.T


def _angle_rows(rel: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    e, n, u = rel[:, 0], rel[:, 1], rel[:, 2]
    rho2 = np.maximum(e * e + n * n, 1e-12)
    rho = np.sqrt(rho2)
    r2 = rho2 + u * u
    azimuth = np.arctan2(e, n)
    elevation = np.arctan2(u, rho)
    d_az = np.stack([n / rho2, -e / rho2, np.zeros_like(e)], axis=-1)
    d_el = np.stack([-e * u / (rho * r2), -n * u / (rho * r2), rho / r2], axis=-1)
    return azimuth, elevation, d_az, d_el, np.sqrt(r2), rho


def _assemble(values: list[FloatArray], d_rel: list[FloatArray], rot: FloatArray,
              d_w: list[FloatArray] | None = None) -> tuple[FloatArray, FloatArray]:
    z = np.stack(values, axis=-1)
    jac = np.zeros((z.shape[0], len(values), 6))
    jac[:, :, :3] = np.stack(d_rel, axis=1) @ rot
    if d_w is not None:
        jac[:, :, 3:] = np.stack(d_w, axis=1) @ rot
    return z, jac


def radar(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Azimuth, elevation (rad) and slant range (m) from the sensor."""
    rel, _ = _relative(states, pose)
    azimuth, elevation, d_az, d_el, r, _ = _angle_rows(rel)
    d_r = rel / np.maximum(r, 1e-9)[:, None]
    return _assemble([azimuth, elevation, r], [d_az, d_el, d_r], pose[0])


def radar_doppler(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Azimuth, elevation, slant range and radial speed (m/s, positive receding)."""
    rel, w = _relative(states, pose)
    azimuth, elevation, d_az, d_el, r, _ = _angle_rows(rel)
    r_safe = np.maximum(r, 1e-9)[:, None]
    d_r = rel / r_safe
    radial = np.einsum("ki,ki->k", rel, w) / r_safe[:, 0]
    d_radial_rel = w / r_safe - radial[:, None] * rel / (r_safe * r_safe)
    zeros = np.zeros_like(rel)
    return _assemble([azimuth, elevation, r, radial], [d_az, d_el, d_r, d_radial_rel], pose[0],
                     [zeros, zeros, zeros, d_r])


def azimuth_only(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Azimuth (rad) only: RF direction finders, acoustic arrays without elevation."""
    rel, _ = _relative(states, pose)
    azimuth, _, d_az, _, _, _ = _angle_rows(rel)
    return _assemble([azimuth], [d_az], pose[0])


def azimuth_elevation(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Azimuth and elevation (rad): cameras, acoustic arrays with elevation."""
    rel, _ = _relative(states, pose)
    azimuth, elevation, d_az, d_el, _, _ = _angle_rows(rel)
    return _assemble([azimuth, elevation], [d_az, d_el], pose[0])


_POSITION_JACOBIAN = np.hstack([np.eye(3), np.zeros((3, 3))])
_POSITION_VELOCITY_JACOBIAN = np.vstack([_POSITION_JACOBIAN, np.eye(6)[3:5]])


def position(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Site-ENU position (m): self-reported positions, already converted."""
    return states[:, :3].copy(), np.broadcast_to(_POSITION_JACOBIAN, (states.shape[0], 3, 6)).copy()


def position_velocity(states: FloatArray, pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Site-ENU position (m) and horizontal velocity east, north (m/s)."""
    z = np.concatenate([states[:, :3], states[:, 3:5]], axis=1)
    return z, np.broadcast_to(_POSITION_VELOCITY_JACOBIAN, (states.shape[0], 5, 6)).copy()


@dataclass(frozen=True, slots=True)
class Model:
    """A measurement function and which of its components are angles (wrapped to (-pi, pi])."""

    name: str
    function: ModelFunction
    angles: tuple[bool, ...]

    @property
    def dim(self) -> int:
        return len(self.angles)

    def residual(self, measured: FloatArray, predicted: FloatArray) -> FloatArray:
        """``measured - predicted`` with angle components wrapped (due north is where bugs live)."""
        nu = measured - predicted
        for index, is_angle in enumerate(self.angles):
            if is_angle:
                nu[..., index] = (nu[..., index] + np.pi) % (2.0 * np.pi) - np.pi
        return nu


RADAR = Model("radar", radar, (True, True, False))
RADAR_DOPPLER = Model("radar_doppler", radar_doppler, (True, True, False, False))
AZIMUTH = Model("azimuth", azimuth_only, (True,))
AZIMUTH_ELEVATION = Model("azimuth_elevation", azimuth_elevation, (True, True))
POSITION = Model("position", position, (False, False, False))
POSITION_VELOCITY = Model("position_velocity", position_velocity, (False,) * 5)


def polar_to_site(azimuth_rad: FloatArray, elevation_rad: FloatArray, range_m: FloatArray,
                  pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Radar plots to site-ENU positions ``(M, 3)`` and the Jacobian ``(M, 3, 3)`` of that map."""
    rot, offset = pose
    ca, sa = np.cos(azimuth_rad), np.sin(azimuth_rad)
    ce, se = np.cos(elevation_rad), np.sin(elevation_rad)
    rel = np.stack([range_m * ce * sa, range_m * ce * ca, range_m * se], axis=-1)
    jac_rel = np.stack([
        np.stack([range_m * ce * ca, -range_m * se * sa, ce * sa], axis=-1),
        np.stack([-range_m * ce * sa, -range_m * se * ca, ce * ca], axis=-1),
        np.stack([np.zeros_like(range_m), range_m * ce, se], axis=-1),
    ], axis=1)
    # rel = p R' + t  =>  p = (rel - t) R
    return (rel - offset) @ rot, rot.T @ jac_rel
