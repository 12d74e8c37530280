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


def angular_candidates(track_azimuth_rad: FloatArray, half_width_rad: FloatArray, detection_azimuth_rad: FloatArray
                       ) -> tuple[IntArray, IntArray]:
    """Pairs (track, detection) with the detection's azimuth within the track's window: the pre-gate of
    bearing sensors, by binary search in the sorted azimuths (copies at -2 pi and +2 pi handle north)."""
    n, m = track_azimuth_rad.size, detection_azimuth_rad.size
    if n == 0 or m == 0:
        return _EMPTY, _EMPTY
    two_pi = 2.0 * np.pi
    detection_azimuth_rad = np.mod(detection_azimuth_rad, two_pi)
    track_azimuth_rad = np.mod(track_azimuth_rad, two_pi)
    order = np.argsort(detection_azimuth_rad)
    ring = detection_azimuth_rad[order]
    extended = np.concatenate([ring - two_pi, ring, ring + two_pi])
    index = np.concatenate([order, order, order])
    # a window under 2 pi wide meets each detection at most once
    half = np.minimum(half_width_rad, np.pi * (1.0 - 1e-9))
    low = np.searchsorted(extended, track_azimuth_rad - half, side="left")
    high = np.searchsorted(extended, track_azimuth_rad + half, side="right")
    counts = high - low
    total = int(counts.sum())
    if total == 0:
        return _EMPTY, _EMPTY
    starts = np.repeat(low - (np.cumsum(counts) - counts), counts)
    return np.repeat(np.arange(n, dtype=np.intp), counts), index[starts + np.arange(total)].astype(np.intp)


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
