"""Which truth lines a sensor's plots (detections) were of, and detection probability by range.

Detection lines do not name the object they came from, so a plot is counted **of a truth** when,
in the site ENU frame, it lies within a gate of where that truth was at the plot's time::

    gate = max(gate_m, 3 * sigma)

``sigma`` the sensor's widest one-sigma position error at the plot (a radar's cross-range
``range * max(sigma_azimuth, sigma_elevation)`` or its range sigma; a Remote ID or ADS-B
receiver's ``lat``/``lon``/``alt`` sigma in metres). The truth's position at the plot time is its
line's position moved along its ``vel_enu`` (or, without one, the finite difference of its own
lines). Only sensors that place a plot in 3-D take part (``radar``, ``remoteid``, ``adsb``): a
bearing alone (``rf``, ``acoustic``, ``camera``) cannot tell which of two objects on one line
of sight it saw.

A truth line at ``t`` was **seen** by a sensor when one of the sensor's plots from the revisit
period ending at ``t`` (``t - period_s < t_plot <= t``; ``period_s`` from the sensor line, else the
median gap between its plots) was of it. Plot Pd by range is the share of truth lines seen, per
bin of slant range from that sensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from dronewatch.geo import LocalFrame
from dronewatch.geo.frames import aer2enu
from dronewatch.model import Detection, Sensor

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

PLOT_SENSOR_KINDS = ("radar", "remoteid", "adsb")
_EPS_S = 1e-6


def sensor_plots(sensor: Sensor, detections: Sequence[Detection], frame: LocalFrame, gate_m: float
                 ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(t, site ENU positions, gate radius m)`` of one 3-D sensor's plots, sorted by time."""
    mine = sorted((d for d in detections if d.sensor == sensor.id), key=lambda d: d.t)
    t = np.array([d.t for d in mine], dtype=np.float64)
    if sensor.kind == "radar":
        polar = np.array([(d.azimuth_deg, d.elevation_deg, d.range_m) for d in mine], dtype=np.float64).reshape(-1, 3)
        local = np.stack(aer2enu(polar[:, 0], polar[:, 1], polar[:, 2]), axis=-1)
        rotation, offset = LocalFrame(sensor.lat, sensor.lon, sensor.alt).transform_to(frame)
        positions = local @ rotation.T + offset
        angle_rad = np.radians(max(sensor.sigma.get("azimuth_deg", 1.0), sensor.sigma.get("elevation_deg", 1.0)))
        sigma = np.maximum(polar[:, 2] * angle_rad, sensor.sigma.get("range_m", 0.0))
    else:
        geodetic = np.array([(d.lat, d.lon, d.alt) for d in mine], dtype=np.float64).reshape(-1, 3)
        positions = frame.from_geodetic(geodetic[:, 0], geodetic[:, 1], geodetic[:, 2]).reshape(-1, 3)
        sigma = np.full(t.size, max((sensor.sigma.get(k, 0.0) for k in ("lat", "lon", "alt")), default=0.0))
    return t, positions, np.maximum(gate_m, 3.0 * sigma)


def revisit_period_s(sensor: Sensor, plot_t: FloatArray) -> float:
    """The sensor's revisit period: its ``period_s``, else the median gap between its plot times, else 1 s."""
    if sensor.period_s:
        return sensor.period_s
    gaps = np.diff(np.unique(plot_t))
    return float(np.median(gaps)) if gaps.size else 1.0


def seen_by_plots(truth_t: FloatArray, truth_enu: FloatArray, truth_vel: FloatArray, plot_t: FloatArray,
                  plot_enu: FloatArray, plot_gate_m: FloatArray, period_s: float) -> tuple[BoolArray, FloatArray]:
    """Per truth line (sorted by time): seen in the revisit period ending at its time, and the
    earliest time of a plot of it in that period (``inf`` if none). See the module docstring."""
    n = truth_t.size
    seen = np.zeros(n, dtype=bool)
    earliest = np.full(n, np.inf)
    if n == 0 or plot_t.size == 0:
        return seen, earliest
    times, starts = np.unique(truth_t, return_index=True)
    stops = np.append(starts[1:], n)
    plot_lo = np.searchsorted(plot_t, times - period_s + _EPS_S, side="left")
    plot_hi = np.searchsorted(plot_t, times + _EPS_S, side="right")
    pairs = (stops - starts) * (plot_hi - plot_lo)
    # small truth-time groups all at once (every truth line against every plot of its window), crowded
    # ones through a k-d tree: a thousand targets against a thousand plots is a million pairs a scan
    small = np.flatnonzero((pairs > 0) & (pairs <= _ALL_PAIRS_MAX))
    for chunk in np.array_split(small, max(1, int(pairs[small].sum() // _BATCH_PAIRS) + 1)):
        lines, plots = _all_pairs(starts[chunk], stops[chunk], plot_lo[chunk], plot_hi[chunk])
        _mark(seen, earliest, lines, plots, truth_t, truth_enu, truth_vel, plot_t, plot_enu, plot_gate_m)
    speed = np.linalg.norm(truth_vel, axis=1)
    for g in np.flatnonzero(pairs > _ALL_PAIRS_MAX):
        a, b, lo, hi = starts[g], stops[g], plot_lo[g], plot_hi[g]
        # candidates within a radius that allows for the fastest truth's motion; _mark tests exactly
        reach = plot_gate_m[lo:hi] + float(speed[a:b].max()) * np.abs(plot_t[lo:hi] - times[g])
        neighbours = cKDTree(truth_enu[a:b]).query_ball_point(plot_enu[lo:hi], reach, return_sorted=False)
        counts = np.fromiter((len(x) for x in neighbours), dtype=np.intp, count=hi - lo)
        if counts.any():
            lines = a + np.concatenate([np.asarray(x, dtype=np.intp) for x in neighbours if x])
            _mark(seen, earliest, lines, lo + np.repeat(np.arange(hi - lo), counts), truth_t, truth_enu, truth_vel,
                  plot_t, plot_enu, plot_gate_m)
    return seen, earliest


_ALL_PAIRS_MAX = 4_096
_BATCH_PAIRS = 2_000_000


def _all_pairs(a: IntArray, b: IntArray, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
    """Every (truth line, plot) pair of the groups ``[a, b) x [lo, hi)``."""
    n, m = b - a, hi - lo
    sizes = n * m
    group = np.repeat(np.arange(sizes.size), sizes)
    k = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return a[group] + k // m[group], lo[group] + k % m[group]


def _mark(seen: BoolArray, earliest: FloatArray, lines: IntArray, plots: IntArray, truth_t: FloatArray,
          truth_enu: FloatArray, truth_vel: FloatArray, plot_t: FloatArray, plot_enu: FloatArray,
          plot_gate_m: FloatArray) -> None:
    """Mark the truth lines of the candidate pairs whose plot lies within the gate of the moved truth."""
    moved = truth_enu[lines] + truth_vel[lines] * (plot_t[plots] - truth_t[lines])[:, None]
    close = np.linalg.norm(plot_enu[plots] - moved, axis=1) <= plot_gate_m[plots]
    seen[lines[close]] = True
    np.minimum.at(earliest, lines[close], plot_t[plots[close]])


def pd_by_range(range_m: FloatArray, detected: BoolArray, edges_m: Sequence[float]
                ) -> list[dict[str, float | int | None]]:
    """Share of truth lines ``detected`` per range bin ``[edges[i], edges[i+1])``, and one bin beyond the last edge.

    Each bin: ``from_m``, ``to_m`` (``None`` for the last, open bin), ``truth_times``, ``detected``,
    ``pd`` (``None`` for an empty bin)."""
    edges = np.asarray(edges_m, dtype=np.float64)
    bins = np.searchsorted(edges, range_m, side="right") - 1  # -1: closer than the first edge
    out: list[dict[str, float | int | None]] = []
    for i in range(edges.size):
        inside = bins == i
        total, hit = int(inside.sum()), int(detected[inside].sum())
        out.append({"from_m": float(edges[i]), "to_m": float(edges[i + 1]) if i + 1 < edges.size else None,
                    "truth_times": total, "detected": hit, "pd": hit / total if total else None})
    return out
