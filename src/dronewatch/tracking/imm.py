"""Interacting multiple models (Blom and Bar-Shalom 1988), vectorised over tracks.

Each track holds one state per motion mode, ``x_j`` ``(N, M, 6)``, ``P_j``
``(N, M, 6, 6)``, and mode probabilities ``mu`` ``(N, M)``. Here the modes are
nearly-constant-velocity models with different process noise: a quiet one that
smooths straight legs, a manoeuvring one that follows turns and speed changes.

Over a step ``dt`` a track stays in mode ``i`` with probability ``stay_i^dt`` and
otherwise moves to another mode, uniformly: ``Pi_ij``. One cycle:

    c_j       = sum_i Pi_ij mu_i                        (predicted mode probability)
    mu_{i|j}  = Pi_ij mu_i / c_j                        (mixing weights)
    x0_j      = sum_i mu_{i|j} x_i
    P0_j      = sum_i mu_{i|j} (P_i + (x_i - x0_j)(x_i - x0_j)')
    predict each mode from (x0_j, P0_j) with its own process noise
    update each mode with the detection; L_j = N(nu_j; 0, S_j)
    mu_j      = L_j c_j / sum_k L_k c_k

The tracker gates and assigns on the moment-matched combination of the modes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def transition_matrix(stay_per_s: FloatArray, dt_s: float) -> FloatArray:
    """``Pi`` ``(M, M)`` for a step of ``dt_s``: row ``i`` is where mode ``i`` goes."""
    m = stay_per_s.size
    stay = stay_per_s**dt_s
    if m == 1:
        return np.ones((1, 1))
    pi = np.repeat(((1.0 - stay) / (m - 1))[:, None], m, axis=1)
    np.fill_diagonal(pi, stay)
    return pi


def mix(states: FloatArray, covariances: FloatArray, mu: FloatArray, pi: FloatArray
        ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mixed initial states and covariances per mode, and the predicted mode probabilities ``c``."""
    joint = mu[:, :, None] * pi[None, :, :]                      # (N, i, j)
    c = joint.sum(axis=1)                                        # (N, j)
    weights = joint / np.maximum(c[:, None, :], 1e-300)          # mu_{i|j}
    mixed = np.einsum("nij,nik->njk", weights, states)
    spread = states[:, :, None, :] - mixed[:, None, :, :]        # (N, i, j, 6)
    mixed_cov = np.einsum("nij,nikl->njkl", weights, covariances) + np.einsum(
        "nij,nijk,nijl->njkl", weights, spread, spread)
    return mixed, mixed_cov, c


def combine(states: FloatArray, covariances: FloatArray, mu: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The moment-matched single Gaussian of the modes: ``(N, 6)``, ``(N, 6, 6)``."""
    x = np.einsum("nj,njk->nk", mu, states)
    spread = states - x[:, None, :]
    p = np.einsum("nj,njkl->nkl", mu, covariances) + np.einsum("nj,njk,njl->nkl", mu, spread, spread)
    return x, p


def posterior(mu: FloatArray, log_likelihood: FloatArray) -> FloatArray:
    """Mode probabilities after an update with per-mode log-likelihoods ``(K, M)``."""
    weighted = np.log(np.maximum(mu, 1e-300)) + log_likelihood
    weighted -= weighted.max(axis=1, keepdims=True)
    out = np.exp(weighted)
    return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64)
