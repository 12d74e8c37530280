"""Scoring tracks against ground truth: GOSPA and track-quality metrics.

Evaluation
----------
Everything happens in one site ENU frame (:func:`site_frame_from_records`: the
first sensor's site). The evaluation times are the distinct ``t`` of the truth
records, in order. At a truth time ``t``:

- the **truth set** ``X`` is the truth records with that ``t``;
- the **track set** ``Y`` holds, for every track id, its latest report with
  ``report.t <= t + 1e-6``, provided ``t - report.t <= max_track_age_s``, moved to
  ``t`` along its velocity: ``y = y_report + v_enu * (t - report.t)``. A track id
  whose last report is older than that is gone (trackers stop writing a deleted
  track's lines). ``vel_enu`` is in the ENU frame at the track's own position; it
  is used as if it were site ENU, which over a few seconds and a few kilometres
  errs by well under a metre.

GOSPA
-----
Generalised OSPA (Rahmathullah, García-Fernández, Svensson 2017) with exponent
``p >= 1``, cut-off ``c > 0`` and ``0 < alpha <= 2``, for ``|X| = n <= m = |Y|``
(swap the roles otherwise)::

    d_c(x, y) = min(||x - y||, c)
    GOSPA(X, Y) = ( min over injections pi: X -> Y   sum_i d_c(x_i, y_pi(i))^p  +  c^p / alpha * (m - n) )^(1/p)

The minimising ``pi`` is one ``linear_sum_assignment`` on the ``n x m`` matrix
of ``d_c^p``. With ``alpha = 2`` (the default, and the one the paper recommends)
a pair at or beyond ``c`` costs ``c^p = c^p/2 + c^p/2``, exactly what leaving
both unassigned costs, so (Proposition 1 of the paper)::

    GOSPA^p = sum_{assigned, d < c} d^p  +  c^p/2 * missed  +  c^p/2 * false

where ``missed`` counts truths and ``false`` counts tracks without a partner
closer than ``c``. These three terms are the reported *localisation*, *missed*
and *false* parts (in units of ``metres^p``; with ``p = 1`` they add up to the
total). For ``alpha < 2`` a pair at or beyond ``c`` still costs ``c^p``, split
half-and-half between the missed and false parts, and each unpaired element costs
``c^p / alpha``. Every part and the total ``GOSPA`` are averaged over evaluation
times.

Track quality
-------------
From the same per-time assignment (only the pairs closer than ``c``), per truth
object, with its samples in time order:

- **ID switches**: the assigned track id differs from the previous *assigned*
  id (a gap in between does not reset it);
- **fragmentations**: an assigned run resumes after unassigned samples
  (assigned -> unassigned -> assigned counts one);
- **first-track latency**: first assigned time minus first truth time;
- **coverage**: the share of its samples that are assigned.

Totals, per class (truth ``cls``) coverage, the position RMSE over all
assigned pairs (3-D and horizontal), the mean over times of live tracks per
truth and the ratio of distinct track ids to distinct truth ids complete the
:class:`ScoreReport`.
"""

from __future__ import annotations

import logging
import math
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
from dronewatch.model import Record, Sensor, TrackReport, Truth

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

# A report written "at t" may carry a float t a hair after the truth's t.
TIME_TOLERANCE_S = 1e-6


@dataclass(frozen=True, slots=True)
class GospaParts:
    """GOSPA of one pair of sets: the parts (each in ``metres^p``) and the pairs closer than ``c``.

    ``truth_index[k]`` and ``track_index[k]`` are assigned, ``distance_m[k]`` apart (``< c``).
    """

    localisation: float
    missed: float
    false: float
    truth_index: IntArray
    track_index: IntArray
    distance_m: FloatArray


def gospa(truth_enu: FloatArray, track_enu: FloatArray, cutoff_m: float, p: float = 1.0,
          alpha: float = 2.0) -> tuple[float, GospaParts]:
    """GOSPA between ``(n, 3)`` truth and ``(m, 3)`` track positions, and its parts.

    Returns ``(GOSPA, parts)`` with ``GOSPA = (parts.localisation + parts.missed + parts.false)^(1/p)``.
    """
    parts = gospa_parts(truth_enu, track_enu, cutoff_m, p, alpha)
    return (parts.localisation + parts.missed + parts.false) ** (1.0 / p), parts


def gospa_parts(truth_enu: FloatArray, track_enu: FloatArray, cutoff_m: float, p: float = 1.0,
                alpha: float = 2.0) -> GospaParts:
    """The localisation, missed and false parts of GOSPA (see the module docstring)."""
    n, m = truth_enu.shape[0], track_enu.shape[0]
    c_p = cutoff_m**p
    empty = np.zeros(0, dtype=np.intp)
    if n == 0 or m == 0:
        return GospaParts(0.0, c_p / alpha * n, c_p / alpha * m, empty, empty, np.zeros(0))
    # (n, m) distances in one broadcast; the assignment pairs min(n, m) of them
    distance = np.sqrt(np.sum((truth_enu[:, None, :] - track_enu[None, :, :]) ** 2, axis=2))
    rows, cols = linear_sum_assignment(np.minimum(distance, cutoff_m) ** p)
    paired = distance[rows, cols]
    close = paired < cutoff_m
    far = int(np.count_nonzero(~close))
    k = rows.size  # = min(n, m)
    # a far pair costs c^p: half to each side, so the parts add up for any alpha
    missed = c_p / 2.0 * far + c_p / alpha * (n - k)
    false = c_p / 2.0 * far + c_p / alpha * (m - k)
    d = paired[close]
    return GospaParts(float(np.sum(d**p)), missed, false, rows[close].astype(np.intp),
                      cols[close].astype(np.intp), d)


@dataclass(frozen=True, slots=True)
class ObjectScore:
    """How one truth object was tracked (see the module docstring)."""

    cls: str
    samples: int
    assigned: int
    coverage: float
    id_switches: int
    fragmentations: int
    latency_s: float | None
    track_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoreReport:
    """All metrics of one scoring run; ``None`` where a metric is undefined (e.g. nothing was tracked).

    GOSPA parts are means over evaluation times in ``metres^p`` (metres for ``p = 1``).
    """

    cutoff_m: float
    p: float
    alpha: float
    max_track_age_s: float
    times: int
    truth_samples: int
    truth_objects: int
    track_ids: int
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
        """A JSON-serialisable dict of every metric (objects nested, track ids as lists)."""
        body = asdict(self)
        for obj in body["objects"].values():
            obj["track_ids"] = list(obj["track_ids"])
        return body

    def format_table(self) -> str:
        """A readable multi-line summary for a terminal."""

        def num(value: float | None, unit: str = "", digits: int = 2) -> str:
            return "n/a" if value is None else f"{value:.{digits}f}{unit}"

        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100.0 * value:.1f}%"

        classes = ", ".join(f"{cls} {pct(share)}" for cls, share in sorted(self.coverage_by_class.items()))
        unit = " m" if self.p == 1.0 else f" m^{self.p:g}"
        rows = [
            ("truth times / samples", f"{self.times} / {self.truth_samples}"),
            ("truth objects / track ids", f"{self.truth_objects} / {self.track_ids}"),
            (f"GOSPA (c={self.cutoff_m:g} m, p={self.p:g}, alpha={self.alpha:g}), mean", num(self.gospa, " m")),
            ("  localisation / missed / false",
             f"{self.gospa_localisation:.2f} / {self.gospa_missed:.2f} / {self.gospa_false:.2f}{unit}"),
            ("live tracks per truth (mean over times)", num(self.tracks_per_truth)),
            ("track ids per truth object", num(self.track_ids_per_truth_object)),
            ("ID switches / fragmentations", f"{self.id_switches} / {self.fragmentations}"),
            ("first-track latency mean / max",
             f"{num(self.latency_mean_s, ' s', 1)} / {num(self.latency_max_s, ' s', 1)}"),
            ("objects never tracked", f"{self.never_tracked}"),
            ("position RMSE 3-D / horizontal", f"{num(self.rmse_m, ' m')} / {num(self.rmse_horizontal_m, ' m')}"),
            ("coverage", pct(self.coverage) + (f" ({classes})" if classes else "")),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _enu(frame: LocalFrame, records: Sequence[Truth] | Sequence[TrackReport]) -> FloatArray:
    if not records:
        return np.zeros((0, 3))
    geodetic = np.array([(r.lat, r.lon, r.alt) for r in records], dtype=np.float64)
    return frame.from_geodetic(geodetic[:, 0], geodetic[:, 1], geodetic[:, 2])


def score_tracks(truths: Iterable[Truth], tracks: Iterable[TrackReport], frame: LocalFrame, *,
                 cutoff_m: float = 50.0, p: float = 1.0, alpha: float = 2.0,
                 max_track_age_s: float = 5.0) -> ScoreReport:
    """Score ``tracks`` against ``truths`` in ``frame`` at every truth time (see the module docstring)."""
    if not cutoff_m > 0.0:
        raise ValueError(f"cutoff_m must be > 0, got {cutoff_m}")
    if not p >= 1.0:
        raise ValueError(f"p must be >= 1, got {p}")
    if not 0.0 < alpha <= 2.0:
        raise ValueError(f"alpha must be in (0, 2], got {alpha}")
    if not max_track_age_s >= 0.0:
        raise ValueError(f"max_track_age_s must be >= 0, got {max_track_age_s}")

    # stable sorts: among equal times, file order decides which report is the latest
    truth_list = sorted(truths, key=lambda r: r.t)
    track_list = sorted(tracks, key=lambda r: r.t)
    truth_enu = _enu(frame, truth_list)
    truth_t = np.array([r.t for r in truth_list], dtype=np.float64)
    track_enu = _enu(frame, track_list)
    track_vel = np.array([r.vel_enu for r in track_list], dtype=np.float64).reshape(-1, 3)
    track_t = np.array([r.t for r in track_list], dtype=np.float64)
    track_names, track_code = np.unique(np.array([r.id for r in track_list], dtype=object), return_inverse=True)
    track_code = track_code.astype(np.intp)

    times, truth_start = np.unique(truth_t, return_index=True)
    truth_stop = np.append(truth_start[1:], truth_t.size)
    # per truth sample: the code of its assigned track (-1: none) and the error vector to it
    assigned = np.full(truth_t.size, -1, dtype=np.intp)
    error = np.zeros((truth_t.size, 3))
    sums = np.zeros(4)  # total, localisation, missed, false
    live_ratio = np.zeros(times.size)

    # streaming merge: `latest` maps a track code to the index of its latest report so far
    latest: dict[int, int] = {}
    cursor = 0
    for k, (t, a, b) in enumerate(zip(times.tolist(), truth_start.tolist(), truth_stop.tolist(), strict=True)):
        while cursor < track_t.size and track_t[cursor] <= t + TIME_TOLERANCE_S:
            latest[int(track_code[cursor])] = cursor
            cursor += 1
        # time only moves forward, so a stale id stays stale until it reports again: forget it
        stale = [code for code, i in latest.items() if t - track_t[i] > max_track_age_s]
        for code in stale:
            del latest[code]
        live = np.fromiter(latest.values(), dtype=np.intp, count=len(latest))
        positions = track_enu[live] + track_vel[live] * (t - track_t[live])[:, None]
        total, parts = gospa(truth_enu[a:b], positions, cutoff_m, p, alpha)
        sums += (total, parts.localisation, parts.missed, parts.false)
        live_ratio[k] = live.size / (b - a)
        rows = a + parts.truth_index
        assigned[rows] = track_code[live[parts.track_index]]
        error[rows] = truth_enu[rows] - positions[parts.track_index]

    n_times = max(times.size, 1)
    objects = _object_scores(truth_list, truth_t, assigned, track_names)
    hit = assigned >= 0
    squared = np.sum(error[hit] ** 2, axis=1)
    squared_h = np.sum(error[hit, :2] ** 2, axis=1)
    latencies = [o.latency_s for o in objects.values() if o.latency_s is not None]
    truth_cls = np.array([r.cls for r in truth_list], dtype=object)
    coverage_by_class = {
        str(cls): float(np.mean(hit[truth_cls == cls])) for cls in sorted(set(truth_cls.tolist()))
    }
    return ScoreReport(
        cutoff_m=float(cutoff_m),
        p=float(p),
        alpha=float(alpha),
        max_track_age_s=float(max_track_age_s),
        times=int(times.size),
        truth_samples=int(truth_t.size),
        truth_objects=len(objects),
        track_ids=int(track_names.size),
        gospa=float(sums[0]) / n_times,
        gospa_localisation=float(sums[1]) / n_times,
        gospa_missed=float(sums[2]) / n_times,
        gospa_false=float(sums[3]) / n_times,
        tracks_per_truth=float(np.mean(live_ratio)) if times.size else None,
        track_ids_per_truth_object=int(track_names.size) / len(objects) if objects else None,
        id_switches=sum(o.id_switches for o in objects.values()),
        fragmentations=sum(o.fragmentations for o in objects.values()),
        latency_mean_s=float(np.mean(latencies)) if latencies else None,
        latency_max_s=float(np.max(latencies)) if latencies else None,
        never_tracked=sum(1 for o in objects.values() if o.latency_s is None),
        rmse_m=math.sqrt(float(np.mean(squared))) if squared.size else None,
        rmse_horizontal_m=math.sqrt(float(np.mean(squared_h))) if squared_h.size else None,
        coverage=float(np.mean(hit)) if hit.size else None,
        coverage_by_class=coverage_by_class,
        objects=objects,
    )


def _object_scores(truth_list: Sequence[Truth], truth_t: FloatArray, assigned: IntArray,
                   track_names: NDArray[np.object_]) -> dict[str, ObjectScore]:
    """Per truth object: switches, fragmentations, latency and coverage from the per-sample assignment.

    Works on all samples at once: sort by (object, time), then compare each sample with the previous one.
    """
    if not truth_list:
        return {}
    names, obj = np.unique(np.array([r.id for r in truth_list], dtype=object), return_inverse=True)
    obj = obj.astype(np.intp)
    order = np.lexsort((truth_t, obj))
    obj, t, code = obj[order], truth_t[order], assigned[order]
    n_obj = names.size
    hit = code >= 0
    first = np.ones(obj.size, dtype=bool)
    first[1:] = obj[1:] != obj[:-1]
    samples = np.bincount(obj, minlength=n_obj)
    hits = np.bincount(obj, weights=hit, minlength=n_obj).astype(np.intp)

    # an assigned run starts where a hit follows a miss (or opens the object); every run but the first
    # of an object is a fragmentation
    run_start = hit & (first | ~np.roll(hit, 1))
    fragmentations = np.maximum(np.bincount(obj[run_start], minlength=n_obj) - 1, 0)

    # among assigned samples only, so that a gap between two different ids still counts as a switch
    h_obj, h_code, h_t = obj[hit], code[hit], t[hit]
    switch = (h_obj[1:] == h_obj[:-1]) & (h_code[1:] != h_code[:-1])
    id_switches = np.bincount(h_obj[1:][switch], minlength=n_obj)

    first_t = t[first]  # objects come in code order, each starting with its earliest sample
    h_first = np.ones(h_obj.size, dtype=bool)
    h_first[1:] = h_obj[1:] != h_obj[:-1]
    latency = np.full(n_obj, np.nan)
    latency[h_obj[h_first]] = h_t[h_first] - first_t[h_obj[h_first]]

    # the assigned track ids of each object in order of first assignment
    pairs, pair_first = np.unique(np.stack([h_obj, h_code], axis=1), axis=0, return_index=True)
    ids: list[list[str]] = [[] for _ in range(n_obj)]
    for row in np.argsort(pair_first, kind="stable").tolist():
        ids[int(pairs[row, 0])].append(str(track_names[pairs[row, 1]]))

    cls_of = {r.id: r.cls for r in reversed(truth_list)}  # the class of an object's first sample
    return {
        str(name): ObjectScore(
            cls=cls_of[str(name)],
            samples=int(samples[i]),
            assigned=int(hits[i]),
            coverage=float(hits[i] / samples[i]),
            id_switches=int(id_switches[i]),
            fragmentations=int(fragmentations[i]),
            latency_s=None if np.isnan(latency[i]) else float(latency[i]),
            track_ids=tuple(ids[i]),
        )
        for i, name in enumerate(names.tolist())
    }


def site_frame_from_records(records: Iterable[Record]) -> LocalFrame:
    """The scoring frame: ENU at the first sensor's site, else at the first truth position.

    Raises :class:`FormatError` when there is neither a sensor nor a truth record.
    """
    first_truth: Truth | None = None
    for record in records:
        if isinstance(record, Sensor):
            return LocalFrame(record.lat, record.lon, record.alt)
        if first_truth is None and isinstance(record, Truth):
            first_truth = record
    if first_truth is None:
        raise FormatError("no sensor and no truth lines: no site to score in")
    return LocalFrame(first_truth.lat, first_truth.lon, first_truth.alt)


def score_files(scenario_path: str | Path, tracks_path: str | Path, *, cutoff_m: float = 50.0, p: float = 1.0,
                alpha: float = 2.0, max_track_age_s: float = 5.0) -> ScoreReport:
    """Score the track lines of ``tracks_path`` against the truth lines of ``scenario_path``.

    Malformed lines are skipped and counted in a warning; the frame is :func:`site_frame_from_records`
    of the scenario file.
    """
    first_sensor: list[Sensor] = []
    truths: list[Truth] = []
    scenario = open_scenario(scenario_path, on_error="skip")
    for record in scenario:
        if isinstance(record, Truth):
            truths.append(record)
        elif isinstance(record, Sensor) and not first_sensor:
            first_sensor.append(record)
    track_reader = open_scenario(tracks_path, on_error="skip")
    tracks = [r for r in track_reader if isinstance(r, TrackReport)]
    for reader in (scenario, track_reader):
        if reader.stats.bad_lines:
            log.warning("score_skipped_lines source=%s bad_lines=%d first=%s", reader.source,
                        reader.stats.bad_lines, reader.stats.errors[0] if reader.stats.errors else None)
    frame = site_frame_from_records([*first_sensor, *truths[:1]])
    return score_tracks(truths, tracks, frame, cutoff_m=cutoff_m, p=p, alpha=alpha,
                        max_track_age_s=max_track_age_s)
