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

C-UAS test metrics (CEN CWA 18150 "COURAGEOUS", SIAP). Which association each uses:

==================================  =========================================================
one-to-one (the GOSPA assignment)   coverage, ID switches, fragmentations, latency, RMSE,
                                    ``track_pd_by_range``, detection-to-track and -to-alert
                                    times, the classification calls
many-to-one gate (:mod:`.siap`)     ``completeness``, ``ambiguity``, ``spuriousness``,
                                    ``longest_segment*``, ``track_number_changes*``
plots within a gate (:mod:`.plots`) ``plot_pd_by_range``, first detection
==================================  =========================================================

The gate is ``association_gate_m`` (the cut-off ``c`` unless given). Keys added to
:meth:`ScoreReport.to_dict` (the older keys are unchanged):

``completeness``, ``ambiguity``, ``spuriousness``
    SIAP's C, A, S (:mod:`.siap`), pooled over truth times.
``longest_segment``, ``longest_segment_share_mean``, ``longest_segment_share_min``
    SIAP's LS (``sum TL_j / sum T_j``), and the mean and least per-object share ``TL_j / T_j``.
``track_number_changes``, ``track_number_changes_per_tracked_hour``
    ``sum (NU_j - 1)`` and SIAP's rate R, per hour of tracked time.
``range_bins_m``, ``track_pd_by_range``
    Track Pd by range: per bin of slant range from the site, the share of truth lines with a
    track assigned (``from_m``, ``to_m``, ``truth_times``, ``detected``, ``pd``).
``plot_pd_by_range``
    Per radar id, the same bins by range from that radar: the share of truth lines its plots
    saw (:mod:`.plots`); ``{}`` without detection lines.
``detection_to_track_mean_s``, ``detection_to_track_max_s``
    Per truth object: the first assigned time minus its **first detection**, the earliest
    plot of it from a 3-D sensor (:mod:`.plots`). A truth line is written only while the object
    is inside some sensor's coverage, so "first truth time" would charge the sensors' misses
    to the tracker; the first plot of it is what the tracker could start from.
``detection_to_alert_mean_s``, ``detection_to_alert_max_s``, ``confusion_matrix``, ``classification_accuracy``
    Only with alert lines (``--alerts``, the ``alerts.jsonl`` of ``dronewatch run`` or the
    output of ``dronewatch assess``); ``None`` otherwise. The first alert line on a track that
    was assigned to the object at the alert's time (the latest truth time at or before it).
    Calls: an alert's ``evidence.class`` and a track line's ``class``, each counted for the
    object its track was assigned to at that time; the object's call is the latest one,
    ``none`` if it has none. ``confusion_matrix[truth class][called class]`` counts objects;
    accuracy is the share of called objects called right. Alert lines carry a class only for
    tracks that raised an alert: objects that never did are in the ``none`` column.
``notes``
    Why a figure above is ``None`` or partial.

Per object (``objects``), also: ``completeness``, ``longest_segment_s``,
``longest_segment_share``, ``track_number_changes``, ``tracked_s``, ``first_detection_t``,
``detection_to_track_s``, ``detection_to_alert_s``, ``called_class``.
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
from dronewatch.model import TRUTH_CLASSES, Alert, Detection, Record, Sensor, TrackReport, Truth
from dronewatch.sim.plots import PLOT_SENSOR_KINDS, pd_by_range, revisit_period_s, seen_by_plots, sensor_plots
from dronewatch.sim.siap import continuity, gate_association

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

RANGE_BINS_M: tuple[float, ...] = (0.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0)
"""Lower edges of the range bins of Pd by range; the last bin is open."""
CALLED_CLASSES: tuple[str, ...] = ("drone", "bird", "aircraft", "other", "unknown", "none")
"""Columns of the confusion matrix (a class outside these gets its own column)."""
_EPS_S = 1e-6


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
    completeness: float = 0.0
    longest_segment_s: float = 0.0
    longest_segment_share: float = 0.0
    track_number_changes: int = 0
    tracked_s: float = 0.0
    first_detection_t: float | None = None
    detection_to_track_s: float | None = None
    detection_to_alert_s: float | None = None
    called_class: str | None = None


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
    association_gate_m: float = 0.0
    completeness: float | None = None
    ambiguity: float | None = None
    spuriousness: float | None = None
    longest_segment: float | None = None
    longest_segment_share_mean: float | None = None
    longest_segment_share_min: float | None = None
    track_number_changes: int = 0
    track_number_changes_per_tracked_hour: float | None = None
    range_bins_m: tuple[float, ...] = RANGE_BINS_M
    track_pd_by_range: list[dict[str, float | int | None]] = field(default_factory=list)
    plot_pd_by_range: dict[str, list[dict[str, float | int | None]]] = field(default_factory=dict)
    detection_to_track_mean_s: float | None = None
    detection_to_track_max_s: float | None = None
    detection_to_alert_mean_s: float | None = None
    detection_to_alert_max_s: float | None = None
    confusion_matrix: dict[str, dict[str, int]] | None = None
    classification_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every metric."""
        return asdict(self)

    def format_table(self) -> str:
        """A readable summary for a terminal."""

        def number(value: float | None, unit: str = "", digits: int = 2) -> str:
            return "n/a" if value is None else f"{value:.{digits}f}{unit}"

        def share(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        classes = ", ".join(f"{cls} {share:.0%}" for cls, share in sorted(self.coverage_by_class.items()))
        rows = [
            ("truth times", f"{self.times}"),
            ("truth objects / track ids", f"{self.truth_objects} / {self.track_ids}"),
            (f"GOSPA (c={self.cutoff_m:g} m), mean", number(self.gospa, " m")),
            ("  localisation / missed / false",
             f"{self.gospa_localisation:.2f} / {self.gospa_missed:.2f} / {self.gospa_false:.2f} m"),
            ("tracks per truth (per time)", number(self.tracks_per_truth)),
            ("track ids per truth object", number(self.track_ids_per_truth_object)),
            ("ID switches / fragmentations (all objects)", f"{self.id_switches} / {self.fragmentations}"
             + (f", {self.id_switches / self.truth_objects:.1f} / {self.fragmentations / self.truth_objects:.1f}"
                " an object" if self.truth_objects else "")),
            ("first-track latency mean / max", f"{number(self.latency_mean_s, ' s', 1)} / "
                                               f"{number(self.latency_max_s, ' s', 1)}"),
            ("objects never tracked", f"{self.never_tracked}"),
            ("position RMSE 3-D / horizontal", f"{number(self.rmse_m, ' m')} / {number(self.rmse_horizontal_m, ' m')}"),
            ("coverage", f"{number(self.coverage and 100 * self.coverage, '%', 1)}" + (f" ({classes})" if classes
                                                                                          else "")),
            (f"SIAP (gate {self.association_gate_m:g} m): completeness", share(self.completeness)),
            ("  ambiguity / spuriousness", f"{number(self.ambiguity)} / {share(self.spuriousness)}"),
            ("  longest segment (pooled / mean / min)",
             f"{share(self.longest_segment)} / {share(self.longest_segment_share_mean)} / "
             f"{share(self.longest_segment_share_min)}"),
            ("  track-number changes (per tracked hour)",
             f"{self.track_number_changes} ({number(self.track_number_changes_per_tracked_hour, '', 1)})"),
            ("detection to track mean / max", f"{number(self.detection_to_track_mean_s, ' s', 1)} / "
                                              f"{number(self.detection_to_track_max_s, ' s', 1)}"),
            ("detection to alert mean / max", f"{number(self.detection_to_alert_mean_s, ' s', 1)} / "
                                              f"{number(self.detection_to_alert_max_s, ' s', 1)}"),
            ("classification accuracy", share(self.classification_accuracy)),
            ("track Pd by range", _format_bins(self.track_pd_by_range)),
        ]
        rows += [(f"plot Pd by range, {sensor}", _format_bins(bins)) for sensor, bins in self.plot_pd_by_range.items()]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        if self.confusion_matrix is not None:
            columns = list(next(iter(self.confusion_matrix.values())))
            lines += ["", "confusion (objects; rows truth, columns called):",
                      f"{'':<10}" + "".join(f"{c:>10}" for c in columns)]
            lines += [f"{row:<10}" + "".join(f"{counts[c]:>10}" for c in columns)
                      for row, counts in self.confusion_matrix.items()]
        lines += [f"note: {note}" for note in self.notes]
        lines += ["", "ID switch: the track nearest an object (within c) changed id, so the object was followed by a",
                  "new track: after a break, a swap with a neighbour, or a duplicate taking over. Fragmentation: its",
                  "tracking resumed after a gap. Both are summed over every object of the scenario."]
        return "\n".join(lines)


def _format_bins(bins: Sequence[dict[str, float | int | None]]) -> str:
    def label(b: dict[str, float | int | None]) -> str:
        return f"{b['from_m']:g}-{b['to_m']:g} m" if b["to_m"] is not None else f">{b['from_m']:g} m"

    return ", ".join(f"{label(b)} {'n/a' if b['pd'] is None else format(b['pd'], '.2f')}" for b in bins
                     if b["truth_times"]) or "n/a"


def _gospa_parts(distance: FloatArray, cutoff_m: float, p: float
                 ) -> tuple[float, float, float, IntArray, IntArray, FloatArray]:
    n, m = distance.shape
    half = cutoff_m**p / 2.0
    empty = np.zeros(0, dtype=np.intp)
    if n == 0 or m == 0:
        return 0.0, half * n, half * m, empty, empty, np.zeros(0)
    rows, cols = linear_sum_assignment(np.minimum(distance, cutoff_m) ** p)
    close = distance[rows, cols] < cutoff_m
    rows, cols = rows[close], cols[close]
    d = distance[rows, cols]
    k = rows.size
    return float(np.sum(d**p)), half * (n - k), half * (m - k), rows, cols, d


def gospa_assignment(truth: FloatArray, tracks: FloatArray, cutoff_m: float, p: float = 1.0
                     ) -> tuple[float, float, float, NDArray[np.intp], NDArray[np.intp], FloatArray]:
    """GOSPA parts (localisation, missed, false; each already ``^p``) and the pairs closer than ``c``.

    Returns ``(localisation, missed, false, truth_index, track_index, distances)``.
    """
    return _gospa_parts(_distances(truth, tracks), cutoff_m, p)


def _distances(truth: FloatArray, tracks: FloatArray) -> FloatArray:
    distance: FloatArray = np.linalg.norm(truth[:, None, :] - tracks[None, :, :], axis=2)
    return distance.reshape(truth.shape[0], tracks.shape[0])


def score_tracks(truths: Iterable[Truth], tracks: Iterable[TrackReport], frame: LocalFrame, *,
                 cutoff_m: float = 50.0, p: float = 1.0, max_track_age_s: float = 5.0,
                 association_gate_m: float | None = None, sensors: Sequence[Sensor] = (),
                 detections: Sequence[Detection] = (), alerts: Sequence[Alert] | None = None,
                 range_bins_m: Sequence[float] = RANGE_BINS_M) -> ScoreReport:
    """Score ``tracks`` against ``truths`` in ``frame`` (see the module docstring).

    ``sensors`` and ``detections`` give the plot-level figures (first detection, plot Pd);
    ``alerts`` (alert lines, ``None``: not given) the alert times and the classification calls.
    """
    gate_m = cutoff_m if association_gate_m is None else association_gate_m
    truth_list = sorted(truths, key=lambda r: r.t)
    track_list = sorted(tracks, key=lambda r: r.t)
    truth_enu = frame.positions_of(truth_list)
    track_enu = frame.positions_of(track_list)
    track_vel = np.array([r.vel_enu for r in track_list], dtype=np.float64).reshape(-1, 3)
    track_t = np.array([r.t for r in track_list], dtype=np.float64)
    truth_t = np.array([r.t for r in truth_list], dtype=np.float64)
    track_names, track_code = np.unique(np.array([r.id for r in track_list], dtype=object), return_inverse=True)
    track_code = track_code.astype(np.intp)
    truth_names, truth_code = np.unique(np.array([r.id for r in truth_list], dtype=object), return_inverse=True)
    truth_code = truth_code.astype(np.intp)

    times = np.unique(truth_t)
    loc_sum = missed_sum = false_sum = total_sum = 0.0
    ratio: list[float] = []
    squared: list[FloatArray] = []
    horizontal: list[FloatArray] = []
    assigned: dict[str, list[tuple[float, str | None]]] = defaultdict(list)
    assigned_code = np.full(truth_t.size, -1, dtype=np.intp)
    pair_line: list[IntArray] = []
    pair_track: list[IntArray] = []
    tracks_total = 0
    truth_class: dict[str, str] = {}
    truth_start = np.searchsorted(truth_t, times, side="left")
    truth_stop = np.searchsorted(truth_t, times, side="right")
    for t, a, b in zip(times, truth_start, truth_stop, strict=True):
        # the latest output time at or before t: every track reported then
        last = int(np.searchsorted(track_t, t + _EPS_S, side="right"))
        lo = hi = last
        if last > 0 and t - track_t[last - 1] <= max_track_age_s:
            lo = int(np.searchsorted(track_t, track_t[last - 1], side="left"))
        positions = track_enu[lo:hi] + track_vel[lo:hi] * (t - track_t[lo:hi])[:, None]
        distance = _distances(truth_enu[a:b], positions)
        loc, missed, false, rows, cols, _ = _gospa_parts(distance, cutoff_m, p)
        loc_sum, missed_sum, false_sum = loc_sum + loc, missed_sum + missed, false_sum + false
        total_sum += (loc + missed + false) ** (1.0 / p)
        ratio.append((hi - lo) / (b - a))
        error = truth_enu[a:b][rows] - positions[cols]
        squared.append(np.sum(error**2, axis=1))
        horizontal.append(np.sum(error[:, :2] ** 2, axis=1))
        assigned_code[a + rows] = track_code[lo + cols]
        held = gate_association(distance, gate_m)
        pair_line.append(a + held[held >= 0])
        pair_track.append(track_code[lo:hi][held >= 0])
        tracks_total += hi - lo
        track_of = dict(zip(rows.tolist(), cols.tolist(), strict=True))
        for i in range(b - a):
            truth = truth_list[a + i]
            truth_class[truth.id] = truth.cls
            col = track_of.get(i)
            assigned[truth.id].append((float(t), track_list[lo + col].id if col is not None else None))

    n_times = max(len(times), 1)
    siap = continuity(truth_code, truth_t, _joined(pair_line), _joined(pair_track), tracks_total)
    notes: list[str] = []
    first_detection, plot_pd = _plot_figures(truth_code, truth_t, truth_enu, truth_list, frame, sensors, detections,
                                             gate_m, range_bins_m, len(truth_names))
    if not any(s.kind in PLOT_SENSOR_KINDS for s in sensors) or not detections:
        notes.append("no radar, Remote ID or ADS-B detection lines: first detection and plot Pd not computed")
    lookup = _Assignment(times, truth_code, assigned_code, len(track_names), max_track_age_s, truth_t)
    code_of_track = {str(name): k for k, name in enumerate(track_names)}
    first_alert = np.full(len(truth_names), np.inf)
    called: list[str | None] = [None] * len(truth_names)
    if alerts is None:
        notes.append("no alert lines given (--alerts): detection-to-alert times and the confusion matrix "
                     "not computed")
    else:
        first_alert, called = _alerts_and_calls(alerts, track_list, code_of_track, lookup, len(truth_names))

    index_of = {str(name): k for k, name in enumerate(truth_names)}
    objects: dict[str, ObjectScore] = {}
    for truth_id, history in assigned.items():
        j = index_of[truth_id]
        base = _object_score(truth_class[truth_id], history)
        detected_t = None if not math.isfinite(first_detection[j]) else float(first_detection[j])
        alerted_t = None if not math.isfinite(first_alert[j]) else float(first_alert[j])
        first_track_t = None if base.latency_s is None else history[0][0] + base.latency_s
        objects[truth_id] = ObjectScore(
            **{name: getattr(base, name) for name in ("cls", "samples", "coverage", "id_switches",
                                                      "fragmentations", "latency_s", "track_ids")},
            completeness=float(siap.completeness[j]),
            longest_segment_s=float(siap.longest_segment_s[j]),
            longest_segment_share=float(siap.longest_segment_share[j]),
            track_number_changes=int(siap.track_number_changes[j]),
            tracked_s=float(siap.tracked_s[j]),
            first_detection_t=detected_t,
            detection_to_track_s=_since(detected_t, first_track_t),
            detection_to_alert_s=_since(detected_t, alerted_t),
            called_class=called[j] if alerts is not None else None,
        )
    latencies = [o.latency_s for o in objects.values() if o.latency_s is not None]
    to_track = [o.detection_to_track_s for o in objects.values() if o.detection_to_track_s is not None]
    to_alert = [o.detection_to_alert_s for o in objects.values() if o.detection_to_alert_s is not None]
    all_sq = np.concatenate(squared) if squared else np.zeros(0)
    all_h = np.concatenate(horizontal) if horizontal else np.zeros(0)
    by_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in objects.values():
        by_class[o.cls][0] += round(o.coverage * o.samples)
        by_class[o.cls][1] += o.samples
    samples = sum(o.samples for o in objects.values())
    track_ids = len(track_names)
    shares = [o.longest_segment_share for o in objects.values()]
    confusion, accuracy = _confusion(objects) if alerts is not None else (None, None)
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
        association_gate_m=gate_m,
        completeness=siap.pooled_completeness,
        ambiguity=siap.ambiguity,
        spuriousness=siap.spuriousness,
        longest_segment=siap.longest_segment,
        longest_segment_share_mean=float(np.mean(shares)) if shares else None,
        longest_segment_share_min=float(np.min(shares)) if shares else None,
        track_number_changes=int(siap.track_number_changes.sum()),
        track_number_changes_per_tracked_hour=siap.changes_per_tracked_hour,
        range_bins_m=tuple(float(edge) for edge in range_bins_m),
        track_pd_by_range=pd_by_range(np.linalg.norm(truth_enu, axis=1), assigned_code >= 0, range_bins_m),
        plot_pd_by_range=plot_pd,
        detection_to_track_mean_s=float(np.mean(to_track)) if to_track else None,
        detection_to_track_max_s=float(np.max(to_track)) if to_track else None,
        detection_to_alert_mean_s=float(np.mean(to_alert)) if to_alert else None,
        detection_to_alert_max_s=float(np.max(to_alert)) if to_alert else None,
        confusion_matrix=confusion,
        classification_accuracy=accuracy,
        notes=notes,
    )


def _joined(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts).astype(np.intp) if parts else np.zeros(0, dtype=np.intp)


def _since(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start


def _truth_velocities(truth_code: IntArray, truth_t: FloatArray, truth_enu: FloatArray,
                      truth_list: Sequence[Truth]) -> FloatArray:
    """Each truth line's ``vel_enu``; without one, the finite difference of its object's lines."""
    order = np.lexsort((truth_t, truth_code))
    pos, t, obj = truth_enu[order], truth_t[order], truth_code[order]
    step = np.zeros_like(pos)
    same = (obj[1:] == obj[:-1]) & (t[1:] > t[:-1])
    rate = (pos[1:] - pos[:-1]) / np.where(same, t[1:] - t[:-1], 1.0)[:, None]
    step[1:][same] = rate[same]  # backwards difference
    first_of_object = np.append(True, ~same)
    following = np.append(same, False)
    step[first_of_object & following] = rate[(first_of_object & following)[:-1]]
    velocity = np.empty_like(step)
    velocity[order] = step
    given = np.array([r.vel_enu is not None for r in truth_list], dtype=bool)
    if given.any():
        velocity[given] = np.array([r.vel_enu for r in truth_list if r.vel_enu is not None], dtype=np.float64)
    return velocity


def _plot_figures(truth_code: IntArray, truth_t: FloatArray, truth_enu: FloatArray, truth_list: Sequence[Truth],
                  frame: LocalFrame, sensors: Sequence[Sensor], detections: Sequence[Detection], gate_m: float,
                  range_bins_m: Sequence[float], n_objects: int
                  ) -> tuple[FloatArray, dict[str, list[dict[str, float | int | None]]]]:
    """Per truth object the time of the first plot of it from any 3-D sensor (``inf``: none), and the
    plot Pd by range of each radar."""
    first = np.full(n_objects, np.inf)
    pd: dict[str, list[dict[str, float | int | None]]] = {}
    used = {d.sensor for d in detections}
    plot_sensors = [s for s in sensors if s.kind in PLOT_SENSOR_KINDS and s.id in used]
    if not plot_sensors or truth_t.size == 0:
        return first, pd
    velocity = _truth_velocities(truth_code, truth_t, truth_enu, truth_list)
    for sensor in plot_sensors:
        plot_t, plot_enu, plot_gate = sensor_plots(sensor, detections, frame, gate_m)
        seen, earliest = seen_by_plots(truth_t, truth_enu, velocity, plot_t, plot_enu, plot_gate,
                                       revisit_period_s(sensor, plot_t))
        np.minimum.at(first, truth_code, earliest)
        if sensor.kind == "radar":
            rotation, offset = frame.transform_to(LocalFrame(sensor.lat, sensor.lon, sensor.alt))
            pd[sensor.id] = pd_by_range(np.linalg.norm(truth_enu @ rotation.T + offset, axis=1), seen, range_bins_m)
    return first, pd


@dataclass(frozen=True, slots=True)
class _Assignment:
    """Which truth object a track was assigned to (one-to-one) at the latest truth time at or before ``t``."""

    times: FloatArray
    truth_code: IntArray
    assigned_code: IntArray
    n_tracks: int
    max_age_s: float
    truth_t: FloatArray

    def objects(self, t: FloatArray, track: IntArray) -> IntArray:
        """Object code per (time, track code), -1 where that track held no truth then."""
        held = self.assigned_code >= 0
        time_index = np.searchsorted(self.times, self.truth_t[held])
        keys = time_index * self.n_tracks + self.assigned_code[held]
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], self.truth_code[held][order]
        at = np.searchsorted(self.times, t + _EPS_S, side="right") - 1
        query = at * self.n_tracks + track
        slot = np.clip(np.searchsorted(keys, query), 0, max(keys.size - 1, 0))
        found = (at >= 0) & (track >= 0) & (keys.size > 0)
        if keys.size:
            found &= keys[slot] == query
            found &= t - self.times[np.maximum(at, 0)] <= self.max_age_s
        return np.where(found, values[slot] if keys.size else -1, -1).astype(np.intp)


def _alerts_and_calls(alerts: Sequence[Alert], track_list: Sequence[TrackReport], code_of_track: dict[str, int],
                      lookup: _Assignment, n_objects: int) -> tuple[FloatArray, list[str | None]]:
    """Per truth object: the time of the first alert line on a track assigned to it, and its latest call."""
    ordered = sorted(alerts, key=lambda a: a.t)
    alert_t = np.array([a.t for a in ordered], dtype=np.float64)
    alert_track = np.array([code_of_track.get(a.track, -1) for a in ordered], dtype=np.intp)
    alert_object = lookup.objects(alert_t, alert_track)
    first_alert = np.full(n_objects, np.inf)
    np.minimum.at(first_alert, alert_object[alert_object >= 0], alert_t[alert_object >= 0])

    calls = [(a.t, code_of_track.get(a.track, -1), str(a.evidence["class"])) for a in ordered
             if a.evidence and isinstance(a.evidence.get("class"), str)]
    calls += [(r.t, code_of_track[r.id], r.cls) for r in track_list if r.cls]
    calls.sort(key=lambda call: call[0])
    call_object = lookup.objects(np.array([c[0] for c in calls], dtype=np.float64),
                                 np.array([c[1] for c in calls], dtype=np.intp))
    called: list[str | None] = [None] * n_objects
    for (_, _, cls), j in zip(calls, call_object.tolist(), strict=True):
        if j >= 0:
            called[j] = cls  # in time order: the latest call stays
    return first_alert, called


def _confusion(objects: dict[str, ObjectScore]) -> tuple[dict[str, dict[str, int]], float | None]:
    columns = list(CALLED_CLASSES) + sorted({o.called_class for o in objects.values()
                                             if o.called_class and o.called_class not in CALLED_CLASSES})
    matrix: dict[str, dict[str, int]] = {row: dict.fromkeys(columns, 0) for row in TRUTH_CLASSES}
    for o in objects.values():
        matrix.setdefault(o.cls, dict.fromkeys(columns, 0))[o.called_class or "none"] += 1
    called = sum(n for counts in matrix.values() for c, n in counts.items() if c != "none")
    right = sum(matrix[row].get(row, 0) for row in matrix)
    return matrix, right / called if called else None


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


def score_files(scenario_path: str | Path, tracks_path: str | Path, alerts_path: str | Path | None = None,
                **options: Any) -> ScoreReport:
    """Score the track lines of ``tracks_path`` against the truth lines of ``scenario_path`` (its sensor and
    detection lines give the plot figures); the alert lines of ``alerts_path``, if given, the alert times and
    classification calls."""
    return score_records(open_scenario(scenario_path), open_scenario(tracks_path),
                         None if alerts_path is None else open_scenario(alerts_path), **options)


def score_records(scenario: Iterable[Record], tracks: Iterable[Record], alerts: Iterable[Record] | None = None,
                  **options: Any) -> ScoreReport:
    """:func:`score_files` on records already being read."""
    sensors: list[Sensor] = []
    truths: list[Truth] = []
    detections: list[Detection] = []
    for record in scenario:
        if isinstance(record, Truth):
            truths.append(record)
        elif isinstance(record, Detection):
            detections.append(record)
        elif isinstance(record, Sensor):
            sensors.append(record)
    reports = [r for r in tracks if isinstance(r, TrackReport)]
    raised = None if alerts is None else [r for r in alerts if isinstance(r, Alert)]
    return score_tracks(truths, reports, site_frame(sensors, truths), sensors=sensors, detections=detections,
                        alerts=raised, **options)


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
