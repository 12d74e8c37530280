"""Interacting multiple models (Blom and Bar-Shalom 1988), vectorised over tracks.

Each track holds one state per motion mode, ``x_j`` ``(N, M, 6)``, ``P_j``
``(N, M, 6, 6)``, and mode probabilities ``mu`` ``(N, M)``. Here the modes are
nearly-constant-velocity models with different process noise: a quiet one that
smooths straight legs, a manoeuvring one that follows turns and speed changes, and
an agile one for accelerations above 1 g that is off until a detection calls for it.

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


def transition_matrix(stay_per_s: FloatArray, dt_s: float, on_demand: NDArray[np.bool_] | None = None) -> FloatArray:
    """``Pi`` ``(M, M)`` for a step of ``dt_s``: row ``i`` is where mode ``i`` goes.

    No mode moves into an ``on_demand`` one: the tracker switches such a mode on itself, when only
    that mode's gate takes a track's plot (see ``Tracker._process_plots``)."""
    m = stay_per_s.size
    on_demand = np.zeros(m, dtype=bool) if on_demand is None else on_demand
    stay = stay_per_s**dt_s
    targets = np.broadcast_to(~on_demand, (m, m)) & ~np.eye(m, dtype=bool)
    count = targets.sum(axis=1)
    stay = np.where(count > 0, stay, 1.0)
    pi = np.where(targets, ((1.0 - stay) / np.maximum(count, 1))[:, None], 0.0)
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


def switch_on(mu: FloatArray, on_demand: NDArray[np.bool_], entry: float) -> FloatArray:
    """Prior mode probabilities ``(K, M)`` with the ``on_demand`` modes, where they are off, switched
    on: together they get ``entry``, the others what is left in their proportions."""
    switch = mu[:, on_demand].sum(axis=1) == 0.0
    if not switch.any():
        return mu
    out = mu.copy()
    out[switch] *= 1.0 - entry
    out[np.ix_(switch, on_demand)] = entry / on_demand.sum()
    return out


def switch_off(mu: FloatArray, on_demand: NDArray[np.bool_], floor: float) -> FloatArray:
    """Mode probabilities ``(K, M)`` with the ``on_demand`` modes under ``floor`` switched off (0)."""
    low = on_demand & (mu < floor)
    if not low.any():
        return mu
    out = np.where(low, 0.0, mu)
    return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64)
