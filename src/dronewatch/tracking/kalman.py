"""Extended Kalman filter innovation and update, vectorised over (track, detection) pairs.

For pairs ``k`` with predicted measurement ``h_k``, Jacobian ``H_k`` and noise ``R_k``:

    nu = z - h           (angles wrapped)
    S  = H P H' + R
    d2 = nu' S^-1 nu     (squared Mahalanobis distance, used for gating)
    K  = P H' S^-1
    x <- x + K nu
    P <- P - K S K'      (symmetrised)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dronewatch.tracking.models import Model, Pose

FloatArray = NDArray[np.float64]


@dataclass(slots=True)
class Innovations:
    """Innovation statistics of candidate pairs; ``tracks`` and ``detections`` index the pairs."""

    tracks: NDArray[np.intp]
    detections: NDArray[np.intp]
    nu: FloatArray          # (K, m)
    jacobian: FloatArray    # (K, m, 6)
    s: FloatArray           # (K, m, m)
    d2: FloatArray          # (K,)
    log_det_s: FloatArray   # (K,)

    def select(self, mask: NDArray[np.bool_] | NDArray[np.intp]) -> Innovations:
        return Innovations(self.tracks[mask], self.detections[mask], self.nu[mask], self.jacobian[mask],
                           self.s[mask], self.d2[mask], self.log_det_s[mask])


def innovations(
    model: Model,
    pose: Pose,
    states: FloatArray,
    covariances: FloatArray,
    measurements: FloatArray,
    noise: FloatArray,
    tracks: NDArray[np.intp],
    detections: NDArray[np.intp],
    offsets_s: FloatArray | None = None,
    offset_noise: FloatArray | None = None,
) -> Innovations:
    """Innovations of the pairs ``(tracks[k], detections[k])``.

    ``noise`` is ``(m, m)`` or per detection ``(M, m, m)``. ``offsets_s`` (per
    detection, <= 0) retrodicts the state to a detection older than the tracks'
    time: ``h(F x)`` with Jacobian ``H F`` and the process noise of the offset
    (``offset_noise``, per detection ``(M, 6, 6)``) added to ``S``.
    """
    x = states[tracks]
    p = covariances[tracks]
    dt = None if offsets_s is None else offsets_s[detections]
    if dt is not None and np.any(dt != 0.0):
        x = x.copy()
        x[:, :3] += x[:, 3:] * dt[:, None]
    else:
        dt = None
    predicted, jac = model.function(x, pose)
    nu = model.residual(measurements[detections], predicted)
    r = noise[detections] if noise.ndim == 3 else noise
    extra: FloatArray | float = 0.0
    if dt is not None:
        assert offset_noise is not None
        extra = jac @ offset_noise[detections] @ jac.transpose(0, 2, 1)
        # the state enters through F = [[I, dt I], [0, I]]: H F
        jac[:, :, 3:] += jac[:, :, :3] * dt[:, None, None]
    s = jac @ p @ jac.transpose(0, 2, 1) + r + extra
    s_inv_nu = np.linalg.solve(s, nu[..., None])[..., 0]
    d2 = np.einsum("ki,ki->k", nu, s_inv_nu)
    _, log_det = np.linalg.slogdet(s)
    return Innovations(tracks, detections, nu, jac, s, d2, log_det)


def update(states: FloatArray, covariances: FloatArray, pairs: Innovations) -> None:
    """Apply the EKF update of ``pairs`` (one detection per track) to the tracker's arrays in place."""
    if pairs.tracks.size == 0:
        return
    rows = pairs.tracks
    p = covariances[rows]
    # K' = S^-1 H P (S and P symmetric)
    gain_t = np.linalg.solve(pairs.s, pairs.jacobian @ p)
    states[rows] += np.einsum("kji,kj->ki", gain_t, pairs.nu)
    new_p = p - gain_t.transpose(0, 2, 1) @ pairs.s @ gain_t
    covariances[rows] = 0.5 * (new_p + new_p.transpose(0, 2, 1))
