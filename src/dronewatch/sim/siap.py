"""SIAP track metrics (Votruba et al. 2001, as Stone Soup's ``SIAPMetrics``) on a gate-based association.

The association is **many-to-one**, as SIAP's: at each truth time every track is associated with
the truth nearest to it if that truth is closer than the gate (so several tracks may hold one
truth; a track holds at most one). With ``J`` truths, ``JT`` of them associated, ``N`` tracks and
``NA`` of them associated, summed over truth times::

    completeness  C = sum JT / sum J         (share of truth-time with at least one track)
    ambiguity     A = sum NA / sum JT        (tracks per truth, when it has any)
    spuriousness  S = sum (N - NA) / sum N   (share of tracks-at-a-time on no truth)

A **segment** is a maximal run of consecutive truth lines of one object associated with one
track id. Per truth object ``j`` with life ``T_j`` (last minus first truth time):

- longest segment ``TL_j``: the duration of its longest segment; its share ``TL_j / T_j``
  (an object with a single truth line: 1 if associated, else 0); SIAP's pooled figure is
  ``sum TL_j / sum T_j``;
- track-number changes ``NU_j - 1`` (0 if never associated), ``NU_j`` the fewest segments that
  cover every associated truth line (greedy: from the first line not yet covered, take the
  segment through it that reaches furthest). Their rate is per hour of tracked time
  ``TT_j`` (the time between consecutive truth lines that one track holds at both ends), as
  SIAP's ``R``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def gate_association(distance_m: FloatArray, gate_m: float) -> IntArray:
    """For each track (a column of ``distance_m``, truths by tracks), its nearest truth closer than
    ``gate_m`` (a row index), or -1."""
    n_truths, n_tracks = distance_m.shape
    if n_truths == 0:
        return np.full(n_tracks, -1, dtype=np.intp)
    nearest = distance_m.argmin(axis=0)
    close = distance_m[nearest, np.arange(n_tracks)] < gate_m
    return np.where(close, nearest, -1).astype(np.intp)


@dataclass(frozen=True, slots=True)
class Continuity:
    """Per truth object (arrays indexed by object code) and pooled SIAP figures."""

    completeness: FloatArray
    """Per object: share of its truth lines with at least one track associated."""
    longest_segment_s: FloatArray
    longest_segment_share: FloatArray
    track_number_changes: IntArray
    tracked_s: FloatArray
    pooled_completeness: float | None
    ambiguity: float | None
    spuriousness: float | None
    longest_segment: float | None
    """SIAP's LS: ``sum TL_j / sum T_j``."""
    changes_per_tracked_hour: float | None


def continuity(truth_object: IntArray, truth_t: FloatArray, pair_line: IntArray, pair_track: IntArray,
               tracks_total: int) -> Continuity:
    """SIAP figures (module docstring) from the association pairs.

    ``truth_object``, ``truth_t``: per truth line, its object code (``0 .. n-1``) and time (s);
    ``pair_line``, ``pair_track``: one entry per (truth line, track code) associated;
    ``tracks_total``: tracks summed over truth times (``sum N``).
    """
    n_lines = truth_object.size
    n_objects = int(truth_object.max()) + 1 if n_lines else 0
    order = np.lexsort((truth_t, truth_object))  # object by object, each in time order
    position = np.empty(n_lines, dtype=np.intp)
    position[order] = np.arange(n_lines)
    obj_sorted, t_sorted = truth_object[order], truth_t[order]
    objects = np.arange(n_objects)
    first = np.searchsorted(obj_sorted, objects, side="left")
    last = np.searchsorted(obj_sorted, objects, side="right") - 1
    life = t_sorted[last] - t_sorted[first]
    lines = np.bincount(truth_object, minlength=n_objects)

    associated_line = np.bincount(pair_line, minlength=n_lines) > 0
    hits = np.bincount(truth_object, weights=associated_line, minlength=n_objects)

    p = position[pair_line]
    by_run = np.lexsort((p, pair_track, obj_sorted[p]))
    p, k = p[by_run], pair_track[by_run]
    o = obj_sorted[p]
    starts = np.ones(p.size, dtype=bool)
    starts[1:] = (o[1:] != o[:-1]) | (k[1:] != k[:-1]) | (p[1:] != p[:-1] + 1)
    run_of = np.cumsum(starts) - 1
    ends = np.append(starts[1:], True) if p.size else starts
    run_start, run_end = p[starts], p[ends]
    longest = np.zeros(n_objects)
    np.maximum.at(longest, o[starts], t_sorted[run_end] - t_sorted[run_start])

    # tracked time: each gap between consecutive lines that one track spans, counted once
    spanned = np.unique(p[:-1][~starts[1:]])
    tracked = np.bincount(obj_sorted[spanned], weights=t_sorted[spanned + 1] - t_sorted[spanned],
                          minlength=n_objects).astype(np.float64)

    reach = np.full(n_lines + 1, -1, dtype=np.intp)
    np.maximum.at(reach, p, run_end[run_of])
    candidates = np.where(reach >= 0, np.arange(n_lines + 1), n_lines)
    candidates[n_lines] = n_lines
    next_covered = np.minimum.accumulate(candidates[::-1])[::-1]
    needed = np.zeros(n_objects, dtype=np.intp)
    for j in np.flatnonzero(hits):
        i = next_covered[first[j]]
        while i <= last[j]:
            needed[j] += 1
            i = next_covered[reach[i] + 1]
    changes = np.maximum(needed - 1, 0)

    share = np.where(life > 0, longest / np.where(life > 0, life, 1.0), (hits > 0).astype(np.float64))
    n_associated = int(associated_line.sum())
    return Continuity(
        completeness=hits / np.maximum(lines, 1),
        longest_segment_s=longest,
        longest_segment_share=share,
        track_number_changes=changes,
        tracked_s=tracked,
        pooled_completeness=n_associated / n_lines if n_lines else None,
        ambiguity=pair_line.size / n_associated if n_associated else None,
        spuriousness=(tracks_total - pair_line.size) / tracks_total if tracks_total else None,
        longest_segment=float(longest.sum() / life.sum()) if life.sum() > 0 else None,
        changes_per_tracked_hour=float(changes.sum() / tracked.sum() * 3600.0) if tracked.sum() > 0 else None,
    )
