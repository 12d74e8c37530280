"""Gating and global-nearest-neighbour assignment.

Costs are negative log-likelihoods up to a constant, ``d2 + ln|S|``; a track may
instead stay unassigned at the cost of the gate, ``gate + ln|S|`` of its best pair,
so any gated detection is preferred to a miss. Most pairs in a real scan are
uncontested (one track, one detection in its gate): those are assigned directly
and only the contested remainder goes to ``linear_sum_assignment``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_EMPTY = np.zeros(0, dtype=np.intp)


def spatial_candidates(track_positions: FloatArray, radii_m: FloatArray, detection_positions: FloatArray
                       ) -> tuple[IntArray, IntArray]:
    """Pairs (track, detection) with the detection within the track's radius: a coarse pre-gate.

    A k-d tree over the detections keeps the cost near ``(N + M) log M`` instead of ``N x M``.
    """
    if track_positions.shape[0] == 0 or detection_positions.shape[0] == 0:
        return _EMPTY, _EMPTY
    tree = cKDTree(detection_positions)
    hits = tree.query_ball_point(track_positions, r=radii_m, return_sorted=False)
    counts = np.fromiter((len(h) for h in hits), dtype=np.intp, count=len(hits))
    if counts.sum() == 0:
        return _EMPTY, _EMPTY
    tracks = np.repeat(np.arange(len(hits), dtype=np.intp), counts)
    detections = np.fromiter((j for h in hits for j in h), dtype=np.intp, count=int(counts.sum()))
    return tracks, detections


def all_pairs(n_tracks: int, n_detections: int) -> tuple[IntArray, IntArray]:
    """Every (track, detection) pair: for sensors with few detections (bearings)."""
    tracks, detections = np.meshgrid(np.arange(n_tracks, dtype=np.intp), np.arange(n_detections, dtype=np.intp),
                                     indexing="ij")
    return tracks.ravel(), detections.ravel()


def assign(tracks: IntArray, detections: IntArray, costs: FloatArray, miss_costs: FloatArray) -> IntArray:
    """Indices of the chosen pairs: each track and each detection at most once, least total cost.

    ``miss_costs`` is per pair (the cost for that pair's track to stay unassigned).
    """
    if tracks.size == 0:
        return _EMPTY
    _, track_slot, track_count = np.unique(tracks, return_inverse=True, return_counts=True)
    _, det_slot, det_count = np.unique(detections, return_inverse=True, return_counts=True)
    lone = (track_count[track_slot] == 1) & (det_count[det_slot] == 1)
    chosen = [np.flatnonzero(lone)]
    contested = np.flatnonzero(~lone)
    if contested.size:
        t_ids, t_local = np.unique(tracks[contested], return_inverse=True)
        d_ids, d_local = np.unique(detections[contested], return_inverse=True)
        n_t, n_d = t_ids.size, d_ids.size
        big = float(np.max(costs[contested]) + np.max(miss_costs[contested])) * 10.0 + 1e6
        matrix = np.full((n_t, n_d + n_t), big)
        matrix[t_local, d_local] = costs[contested]
        miss = np.full(n_t, big)
        np.minimum.at(miss, t_local, miss_costs[contested])
        matrix[np.arange(n_t), n_d + np.arange(n_t)] = miss
        rows, cols = linear_sum_assignment(matrix)
        real = cols < n_d
        pair_index = np.full((n_t, n_d), -1, dtype=np.intp)
        pair_index[t_local, d_local] = contested
        picked = pair_index[rows[real], cols[real]]
        chosen.append(picked[picked >= 0])
    return np.sort(np.concatenate(chosen))
