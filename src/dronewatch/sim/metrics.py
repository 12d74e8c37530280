"""Scoring tracks against ground truth: GOSPA and track-quality metrics.

At every truth time ``t`` (the distinct ``t`` of the truth lines), in the site
ENU frame (the first sensor's site):

- the **truth set** is the truth records at ``t``;
- the **track set** is the tracker's latest output at or before ``t`` (all
  tracks it reported at that time: trackers write every confirmed track at every
  update time, coasting ones included), each moved to ``t`` along its
  ``vel_enu``; output older than ``max_track_age_s`` counts as no tracks.

GOSPA (Rahmathullah, García-Fernández, Svensson 2017) with exponent ``p``,
cut-off ``c`` and ``alpha = 2``::

    GOSPA = ( min over assignments  sum_{assigned, d<c} d^p  +  c^p / 2 * (missed + false) )^(1/p)

computed by ``linear_sum_assignment`` on ``min(d, c)^p`` (a pair at or beyond
``c`` is one missed truth and one false track). The total and its localisation,
missed and false parts (these in units of ``d^p``, so with ``p = 1`` they add up
to the total) are each averaged over truth times.

From the same per-time assignment (pairs closer than ``c``), per truth object:
**ID switches** (the assigned track id changes), **fragmentations** (an assigned
run resumes after a gap), **first-track latency** (first assigned time minus first
truth time), coverage (share of its truth times assigned), and the position RMSE
over all assigned pairs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from dronewatch.errors import FormatError
from dronewatch.formats.scenario import open_scenario
from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor, TrackReport, Truth

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ObjectScore:
    """How one truth object was tracked."""

    cls: str
    samples: int
    coverage: float
    id_switches: int
    fragmentations: int
    latency_s: float | None
    track_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoreReport:
    """All metrics of one scoring run; ``None`` where a metric is undefined (e.g. nothing tracked)."""

    times: int
    truth_objects: int
    track_ids: int
    cutoff_m: float
    gospa: float
    gospa_localisation: float
    gospa_missed: float
    gospa_false: float
    tracks_per_truth: float | None
    track_ids_per_truth_object: float | None
    id_switches: int
    fragmentations: int
    latency_mean_s: float | None
    latency_max_s: float | None
    never_tracked: int
    rmse_m: float | None
    rmse_horizontal_m: float | None
    coverage: float | None
    coverage_by_class: dict[str, float] = field(default_factory=dict)
    objects: dict[str, ObjectScore] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every metric."""
        return asdict(self)

    def format_table(self) -> str:
        """A readable summary for a terminal."""

        def number(value: float | None, unit: str = "", digits: int = 2) -> str:
            return "n/a" if value is None else f"{value:.{digits}f}{unit}"

        classes = ", ".join(f"{cls} {share:.0%}" for cls, share in sorted(self.coverage_by_class.items()))
        rows = [
            ("truth times", f"{self.times}"),
            ("truth objects / track ids", f"{self.truth_objects} / {self.track_ids}"),
            (f"GOSPA (c={self.cutoff_m:g} m), mean", number(self.gospa, " m")),
            ("  localisation / missed / false",
             f"{self.gospa_localisation:.2f} / {self.gospa_missed:.2f} / {self.gospa_false:.2f} m"),
            ("tracks per truth (per time)", number(self.tracks_per_truth)),
            ("track ids per truth object", number(self.track_ids_per_truth_object)),
            ("ID switches / fragmentations", f"{self.id_switches} / {self.fragmentations}"),
            ("first-track latency mean / max", f"{number(self.latency_mean_s, ' s', 1)} / "
                                               f"{number(self.latency_max_s, ' s', 1)}"),
            ("objects never tracked", f"{self.never_tracked}"),
            ("position RMSE 3-D / horizontal", f"{number(self.rmse_m, ' m')} / {number(self.rmse_horizontal_m, ' m')}"),
            ("coverage", f"{number(self.coverage and 100 * self.coverage, '%', 1)}" + (f" ({classes})" if classes
                                                                                          else "")),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def gospa_assignment(truth: FloatArray, tracks: FloatArray, cutoff_m: float, p: float = 1.0
                     ) -> tuple[float, float, float, NDArray[np.intp], NDArray[np.intp], FloatArray]:
    """GOSPA parts (localisation, missed, false; each already ``^p``) and the pairs closer than ``c``.

    Returns ``(localisation, missed, false, truth_index, track_index, distances)``.
    """
    n, m = truth.shape[0], tracks.shape[0]
    half = cutoff_m**p / 2.0
    empty = np.zeros(0, dtype=np.intp)
    if n == 0 or m == 0:
        return 0.0, half * n, half * m, empty, empty, np.zeros(0)
    distance = np.linalg.norm(truth[:, None, :] - tracks[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(np.minimum(distance, cutoff_m) ** p)
    close = distance[rows, cols] < cutoff_m
    rows, cols = rows[close], cols[close]
    d = distance[rows, cols]
    k = rows.size
    return float(np.sum(d**p)), half * (n - k), half * (m - k), rows, cols, d


def score_tracks(truths: Iterable[Truth], tracks: Iterable[TrackReport], frame: LocalFrame, *,
                 cutoff_m: float = 50.0, p: float = 1.0, max_track_age_s: float = 5.0) -> ScoreReport:
    """Score ``tracks`` against ``truths`` in ``frame`` (see the module docstring)."""
    truth_list = sorted(truths, key=lambda r: r.t)
    track_list = sorted(tracks, key=lambda r: r.t)
    truth_enu = frame.positions_of(truth_list)
    track_enu = frame.positions_of(track_list)
    track_vel = np.array([r.vel_enu for r in track_list], dtype=np.float64).reshape(-1, 3)
    track_t = np.array([r.t for r in track_list], dtype=np.float64)
    truth_t = np.array([r.t for r in truth_list], dtype=np.float64)

    times = np.unique(truth_t)
    loc_sum = missed_sum = false_sum = total_sum = 0.0
    ratio: list[float] = []
    squared: list[FloatArray] = []
    horizontal: list[FloatArray] = []
    assigned: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
    truth_class: dict[str, str] = {}
    truth_start = np.searchsorted(truth_t, times, side="left")
    truth_stop = np.searchsorted(truth_t, times, side="right")
    for t, a, b in zip(times, truth_start, truth_stop, strict=True):
        # the latest output time at or before t: every track reported then
        last = int(np.searchsorted(track_t, t + 1e-6, side="right"))
        lo = hi = last
        if last > 0 and t - track_t[last - 1] <= max_track_age_s:
            lo = int(np.searchsorted(track_t, track_t[last - 1], side="left"))
        positions = track_enu[lo:hi] + track_vel[lo:hi] * (t - track_t[lo:hi])[:, None]
        loc, missed, false, rows, cols, _ = gospa_assignment(truth_enu[a:b], positions, cutoff_m, p)
        loc_sum, missed_sum, false_sum = loc_sum + loc, missed_sum + missed, false_sum + false
        total_sum += (loc + missed + false) ** (1.0 / p)
        ratio.append((hi - lo) / (b - a))
        error = truth_enu[a:b][rows] - positions[cols]
        squared.append(np.sum(error**2, axis=1))
        horizontal.append(np.sum(error[:, :2] ** 2, axis=1))
        track_of = dict(zip(rows.tolist(), cols.tolist(), strict=True))
        for i in range(b - a):
            truth = truth_list[a + i]
            truth_class[truth.id] = truth.cls
            col = track_of.get(i)
            assigned[truth.id].append((float(t), track_list[lo + col].id if col is not None else None))

    n_times = max(len(times), 1)
    objects = {truth_id: _object_score(truth_class[truth_id], history) for truth_id, history in assigned.items()}
    latencies = [o.latency_s for o in objects.values() if o.latency_s is not None]
    all_sq = np.concatenate(squared) if squared else np.zeros(0)
    all_h = np.concatenate(horizontal) if horizontal else np.zeros(0)
    by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in objects.values():
        by_class[o.cls][0] += round(o.coverage * o.samples)
        by_class[o.cls][1] += o.samples
    samples = sum(o.samples for o in objects.values())
    track_ids = len({r.id for r in track_list})
    return ScoreReport(
        times=len(times),
        truth_objects=len(objects),
        track_ids=track_ids,
        cutoff_m=cutoff_m,
        gospa=total_sum / n_times,
        gospa_localisation=loc_sum / n_times,
        gospa_missed=missed_sum / n_times,
        gospa_false=false_sum / n_times,
        tracks_per_truth=float(np.mean(ratio)) if ratio else None,
        track_ids_per_truth_object=track_ids / len(objects) if objects else None,
        id_switches=sum(o.id_switches for o in objects.values()),
        fragmentations=sum(o.fragmentations for o in objects.values()),
        latency_mean_s=float(np.mean(latencies)) if latencies else None,
        latency_max_s=float(np.max(latencies)) if latencies else None,
        never_tracked=sum(1 for o in objects.values() if o.latency_s is None),
        rmse_m=math.sqrt(float(np.mean(all_sq))) if all_sq.size else None,
        rmse_horizontal_m=math.sqrt(float(np.mean(all_h))) if all_h.size else None,
        coverage=all_sq.size / samples if samples else None,
        coverage_by_class={cls: hit / total for cls, (hit, total) in by_class.items() if total},
        objects=objects,
    )


def _object_score(cls: str, history: list[tuple[float, str | None]]) -> ObjectScore:
    switches = fragments = 0
    previous_id: str | None = None
    was_assigned = False
    first_assigned: float | None = None
    ids: list[str] = []
    for t, track_id in history:
        if track_id is not None:
            if first_assigned is None:
                first_assigned = t
            elif not was_assigned:
                fragments += 1
            if previous_id is not None and track_id != previous_id:
                switches += 1
            if track_id not in ids:
                ids.append(track_id)
            previous_id = track_id
        was_assigned = track_id is not None
    hits = sum(1 for _, track_id in history if track_id is not None)
    return ObjectScore(
        cls=cls, samples=len(history), coverage=hits / len(history), id_switches=switches,
        fragmentations=fragments, latency_s=None if first_assigned is None else first_assigned - history[0][0],
        track_ids=tuple(ids),
    )


def site_frame(sensors: Sequence[Sensor], truths: Sequence[Truth] = ()) -> LocalFrame:
    """The scoring frame: the first sensor's site, else the first truth position."""
    if sensors:
        return LocalFrame(sensors[0].lat, sensors[0].lon, sensors[0].alt)
    if truths:
        return LocalFrame(truths[0].lat, truths[0].lon, truths[0].alt)
    raise FormatError("no sensor and no truth lines: nothing to score against")


def score_files(scenario_path: str | Path, tracks_path: str | Path, **options: Any) -> ScoreReport:
    """Score the track lines of ``tracks_path`` against the truth lines of ``scenario_path``."""
    sensors: list[Sensor] = []
    truths: list[Truth] = []
    for record in open_scenario(scenario_path):
        if isinstance(record, Truth):
            truths.append(record)
        elif isinstance(record, Sensor):
            sensors.append(record)
    tracks = [r for r in open_scenario(tracks_path) if isinstance(r, TrackReport)]
    return score_tracks(truths, tracks, site_frame(sensors, truths), **options)


class TruthIndex:
    """Where each true object was at any time (linear between its truth lines), for labelling tracks."""

    def __init__(self, truths: Iterable[Truth], frame: LocalFrame, max_gap_s: float = 2.0, hold_s: float = 0.5
                 ) -> None:
        grouped: dict[str, list[Truth]] = {}
        for truth in truths:
            grouped.setdefault(truth.id, []).append(truth)
        self.ids = list(grouped)
        self.classes = [grouped[i][0].cls for i in self.ids]
        self._times = [np.array([r.t for r in grouped[i]]) for i in self.ids]
        self._positions = [frame.positions_of(grouped[i]) for i in self.ids]
        self.max_gap_s = max_gap_s
        self.hold_s = hold_s
        """How long an object stays where its truth lines end (a drone that landed out of coverage)."""

    def at(self, t: float) -> tuple[list[int], FloatArray]:
        """Indices of the objects known at ``t`` and their site ENU positions there."""
        known, points = [], []
        for k, times in enumerate(self._times):
            i = int(np.searchsorted(times, t))
            if (i == 0 and times[0] - t > 0.5) or (i == times.size and t - times[-1] > self.hold_s):
                continue
            lo, hi = max(i - 1, 0), min(i, times.size - 1)
            if times[hi] - times[lo] > self.max_gap_s:
                continue
            w = 0.0 if hi == lo else (t - times[lo]) / (times[hi] - times[lo])
            known.append(k)
            points.append((1.0 - w) * self._positions[k][lo] + w * self._positions[k][hi])
        return known, np.array(points).reshape(-1, 3)

    def label(self, t: float, positions: FloatArray, gate_m: float = 50.0) -> list[int | None]:
        """For each position, the nearest object within ``gate_m`` at ``t`` (an index into ``ids``)."""
        known, points = self.at(t)
        if not known or positions.shape[0] == 0:
            return [None] * positions.shape[0]
        distance = np.linalg.norm(positions[:, None, :] - points[None, :, :], axis=2)
        nearest = distance.argmin(axis=1)
        return [known[j] if distance[n, j] <= gate_m else None for n, j in enumerate(nearest)]
