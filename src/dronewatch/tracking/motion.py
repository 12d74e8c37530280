"""Nearly-constant-velocity motion, vectorised over tracks.

State ``x = [e, n, u, ve, vn, vu]`` in the site ENU frame (metres, m/s). Over a
step ``dt`` each axis follows the continuous white-noise-acceleration model

    F = [[I, dt I], [0, I]]
    Q = q * [[dt^3/3 I, dt^2/2 I], [dt^2/2 I, dt I]]

with a power spectral density ``q`` (m^2/s^3) per axis (horizontal and vertical
may differ). Because ``Q`` is the integral of the continuous noise, two steps of
``dt/2`` give exactly one step of ``dt``: the tracker may predict all tracks to
every batch time without inflating covariances.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

STATE_DIM = 6
POSITION = slice(0, 3)
VELOCITY = slice(3, 6)


def process_noise(dt_s: FloatArray | float, q_horizontal: float, q_vertical: float) -> FloatArray:
    """``(K, 6, 6)`` process-noise covariances for the time steps ``dt_s`` ``(K,)``."""
    dt = np.abs(np.asarray(dt_s, dtype=np.float64))
    q_axis = np.array([q_horizontal, q_horizontal, q_vertical])
    out = np.zeros((*dt.shape, STATE_DIM, STATE_DIM))
    for axis in range(3):
        q = q_axis[axis]
        out[..., axis, axis] = q * dt**3 / 3.0
        out[..., axis, axis + 3] = out[..., axis + 3, axis] = q * dt**2 / 2.0
        out[..., axis + 3, axis + 3] = q * dt
    return out


def predict(
    states: FloatArray, covariances: FloatArray, dt_s: FloatArray | float, q_horizontal: float, q_vertical: float
) -> tuple[FloatArray, FloatArray]:
    """Predict states ``(N, 6)`` and covariances ``(N, 6, 6)`` by ``dt_s`` (scalar or ``(N,)``).

    Returns new arrays; the inputs are not changed.
    """
    dt = np.broadcast_to(np.asarray(dt_s, dtype=np.float64), (states.shape[0],))
    new_states = states.copy()
    new_states[:, POSITION] += states[:, VELOCITY] * dt[:, None]
    # F P F' written out by blocks: four times faster than two batched matmuls.
    d = dt[:, None, None]
    p_pp, p_pv = covariances[:, POSITION, POSITION], covariances[:, POSITION, VELOCITY]
    p_vp, p_vv = covariances[:, VELOCITY, POSITION], covariances[:, VELOCITY, VELOCITY]
    new_cov = np.empty_like(covariances)
    new_cov[:, POSITION, POSITION] = p_pp + d * (p_pv + p_vp) + d * d * p_vv
    new_cov[:, POSITION, VELOCITY] = p_pv + d * p_vv
    new_cov[:, VELOCITY, POSITION] = p_vp + d * p_vv
    new_cov[:, VELOCITY, VELOCITY] = p_vv
    new_cov += process_noise(dt, q_horizontal, q_vertical)
    return new_states, new_cov
