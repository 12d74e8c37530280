"""Identity: the Remote ID or ICAO key a self-reported position carries, and merging the tracks of
one target when one track carries its identity and another, from non-cooperative sensors, does not.

**Merging.** After each batch, a confirmed track with an identity ``a`` and a confirmed track
without one ``b`` are one target when their 6-D states agree,

    d2 = (x_b - x_a)' (P_a + P_b)^-1 (x_b - x_a) < chi2_6(merge_probability)

(each identity track takes the nearest such ``b`` no other has taken; a k-d tree on positions
with a radius of 3 sigma + 100 m finds the candidates). They are fused as two independent
estimates, in information form,

    P = (P_a^-1 + P_b^-1)^-1,     x = P (P_a^-1 x_a + P_b^-1 x_b)

into ``a``, which keeps the older of the two track numbers, the earlier birth, the later updates
and the smaller miss score; ``b`` goes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from dronewatch.model import Detection
from dronewatch.tracking.table import TrackTable

FloatArray = NDArray[np.float64]


def identity_key(detection: Detection) -> str:
    """The identity a self-reported position carries: ``rid:<uas_id>`` or ``icao:<icao>``."""
    return f"rid:{detection.uas_id}" if detection.uas_id else f"icao:{detection.icao}"


def latest_per_identity(detections: Sequence[Detection]) -> list[Detection]:
    """The latest report of each identity (the last of equal times), in the batch's order: older
    reports in the same batch are superseded."""
    latest: dict[str, int] = {}
    for j, d in enumerate(detections):
        key = identity_key(d)
        if key not in latest or d.t >= detections[latest[key]].t:
            latest[key] = j
    return [detections[j] for j in sorted(latest.values())]


def rows_by_identity(tracks: TrackTable) -> dict[str, int]:
    """The row of the track carrying each identity."""
    return {key: row for row, key in enumerate(tracks.identity) if key is not None}


def merge_pairs(tracks: TrackTable, merge_gate: float) -> list[tuple[int, int]]:
    """Pairs ``(a, b)`` to merge: ``a`` a confirmed identity track, ``b`` the confirmed track without
    identity nearest to it (in ``d2``, below ``merge_gate``) that no earlier ``a`` took."""
    has_identity = tracks.has_identity()
    carriers = np.flatnonzero(has_identity & tracks.confirmed)
    others = np.flatnonzero(~has_identity & tracks.confirmed)
    if carriers.size == 0 or others.size == 0:
        return []
    x, p = tracks.x, tracks.p
    tree = cKDTree(x[others, :3])
    radius = 3.0 * np.sqrt(np.trace(p[carriers, :3, :3], axis1=1, axis2=2)) + 100.0
    pairs: list[tuple[int, int]] = []
    taken: set[int] = set()
    for a, near in zip(carriers, tree.query_ball_point(x[carriers, :3], r=radius), strict=True):
        candidates = [int(others[k]) for k in near if int(others[k]) not in taken]
        if not candidates:
            continue
        b_rows = np.array(candidates, dtype=np.intp)
        diff = x[b_rows] - x[a]
        total = p[b_rows] + p[a]
        d2 = np.einsum("ki,ki->k", diff, np.linalg.solve(total, diff[..., None])[..., 0])
        best = int(np.argmin(d2))
        if d2[best] >= merge_gate:
            continue
        b = int(b_rows[best])
        taken.add(b)
        pairs.append((int(a), b))
    return pairs


def fuse(x_a: FloatArray, p_a: FloatArray, x_b: FloatArray, p_b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Two independent estimates ``(6,)``, ``(6, 6)`` of one state fused in information form."""
    info_a, info_b = np.linalg.inv(p_a), np.linalg.inv(p_b)
    p = np.linalg.inv(info_a + info_b)
    x = p @ (info_a @ x_a + info_b @ x_b)
    return x, 0.5 * (p + p.T)


def merge_into(tracks: TrackTable, a: int, b: int) -> None:
    """Fuse track ``b`` into identity track ``a`` (``b`` stays; the caller drops it)."""
    x, p = fuse(tracks.x[a], tracks.p[a], tracks.x[b], tracks.p[b])
    tracks.set_state(np.array([a]), x[None, :], p[None, :, :])
    tracks.id[a] = min(tracks.id[a], tracks.id[b])
    tracks.born[a] = min(tracks.born[a], tracks.born[b])
    tracks.seen_at[a] = np.maximum(tracks.seen_at[a], tracks.seen_at[b])
    tracks.last_noncooperative[a] = max(tracks.last_noncooperative[a], tracks.last_noncooperative[b])
    tracks.last_update[a] = max(tracks.last_update[a], tracks.last_update[b])
    tracks.miss_score[a] = min(tracks.miss_score[a], tracks.miss_score[b])
