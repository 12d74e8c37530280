"""Two neighbouring sites, one regional picture: real flights crossing both radars (issue 17).

The question (issue 17): two neighbouring sites with overlapping coverage; a drone crossing both is
*one* regional track carrying both sites' identities, and two different objects are never merged.
Here it is asked of real recorded motion (``--flights``, default ``/work/shared/data/flights``, see
that folder's README.md), not of ``dronewatch.sim``: the flights, their windows, the radar model and
the WGS-84 arithmetic are those of ``bench_real_flights.py`` (imported, not copied), the lines are
written in the scenario JSON Lines format, read back by dronewatch's ``ScenarioReader``, tracked by
one ``Tracker`` per site (``track_records``) and merged by ``RegionalFusion`` as the region's worker
does (``service/region.py``).

Method:

1. **Two sites, radar only.** Site "west": a radar on a 10 m mast at the site origin of
   ``bench_real_flights`` (``SITE_LAT``, ``SITE_LON``). Site "east": an identical radar at
   ``--baseline-m`` D (default 4000 m) east of it; its sensor line carries the geodetic position of
   (D, 0, 10 m) in the west site's frame. Each radar has the model of ``bench_real_flights``, in its
   own frame: 1 Hz scans, Pd 0.9 within 3000 m and -2..60 degrees elevation, noise 5 m in range and
   0.5 degrees in azimuth and elevation, Poisson false plots (mean 10 a scan) uniform over its
   coverage volume, no ``clutter_per_scan`` declared. With D = 4000 m the overlap is 1000..3000 m
   east of west. The east radar scans 0.5 s after the west one (real radars are not synchronised).
   The objects move in the west site's frame; the east radar measures them in its own ENU frame,
   converted exactly (``Site.in_frame_of``). (Treating the east frame as the west one shifted by D
   would be off by at most 3.1 m within the east radar's 3 km, mostly meridian convergence: far
   below its 26 m of azimuth noise at that range, but the exact conversion costs nothing.) No RF
   direction finders: radar tracks are what the region merges, and two sensors per site would blur
   which site contributed what.
2. **Placements.** Each flight gets ``--placements`` runs. Its window: ``choose_window`` of 600 s
   (240 s with ``--quick``) for a longer flight, the whole flight otherwise, positions interpolated
   and gaps "not visible" as in ``bench_real_flights``. A random rotation, then a translation putting
   the path's horizontal centroid (mean of the 1-s samples where the object is present) at a random
   point 0.35 D..0.65 D along the baseline and within +-500 m north of it: the middle of the flight
   is seen by both radars, and a long flight also leaves one radar's cover (a hand-over).
3. **A second object.** Every run also places *another* flight, the next file in sorted order
   (wrapping): its own window, as long as the first flight's window (or the whole of it if shorter,
   then started at a random time within the run), its own rotation and centroid drawn the same way.
   Both objects' plots go into both radars' scans; the false plots are drawn once a scan. A run lasts
   as long as its first flight's window. All draws come from RNGs seeded by ``--seed``; nothing is
   tuned to a file or a seed.
4. **The region.** Each site's lines go through their own ``Tracker`` (``track_records``); each
   snapshot becomes ``TrackReport`` s with ``snapshot.reports(frame)``, ``frame`` at the site's radar
   (as ``dronewatch run`` does). The two sites' snapshots are merged in time order; at each one,
   ``fusion.set_picture(site, reports)`` then ``fusion.step(snapshot.t)`` (``RegionalFusion`` with its
   default configuration). Measures are taken at the steps that follow the west radar's scans (whole
   seconds); the east picture then is the one of 0.5 s before, which the fusion predicts forward.
5. **Measures**, per run and object, once a second. A track (a site's or a regional one) is *the
   object's* when it is within the gate of it and nearer to it than to the other object; a site's
   track is compared with the object where it was at that site's snapshot time, a regional track
   with where it is at the step. *both radars*: the object is present (not in a gap) and inside the
   west radar's cover and the east radar's (at its last scan). *both tracked* (``both_s``): both
   radars, and each site's nearest confirmed track within 50 m (3-D) is the object's. *one regional
   track* (``one_s``, of ``both_s``): exactly one regional track of the object's within 50 m, and its
   members include a track of each site. *duplicate* (of ``both_s``): two or more regional tracks of
   the object's within 150 m. *regionally tracked*: present and a regional track of the object's
   within 50 m; *ids*: the distinct ids of the nearest such track over the run (1 is ideal), and of
   the extra ones those that began *after a gap*, more than 5 s since the object last had a regional
   track (out of both radars' cover or a gap in the recording: the fusion keeps a lost id for 5 s
   only, by design, so such an id is expected); *id changes while tracked*: changes of that id between
   regionally tracked seconds at most 5 s apart (a flicker back and forth counts each time). *False
   merge* (per run): a second at which a regional track has among its members a site track of one
   object and a site track of the other; the run's *closest approach* (3-D, both present) shows how
   hard that was. *Clutter-born*: distinct regional ids never within 150 m of either object at any
   step, per hour of run time.
6. **Goals** (issue 17), reported PASS/MISS on the totals, not tuned for: one regional track >= 90 %
   of the both-tracked seconds; 0 false-merge seconds; at most 1 extra id per object per 10 minutes
   of regional tracking.

Run: ``python3 dev.py bench benchmarks/bench_regional.py [--flights DIR] [--seed S] [--placements N]
[--baseline-m D] [--quick] [--workers W] [--output FILE]``; writes ``benchmarks/results/bench_regional.md``
(``--quick``: one placement a flight, 240 s windows, ``bench_regional_quick.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import bench_real_flights as real
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor, TrackReport
from dronewatch.tracking import Tracker, track_records
from dronewatch.tracking.regional import RegionalConfig, RegionalFusion

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
HERE = Path(__file__).resolve().parent

REGION_ID = "border"
SITES = ("west", "east")
DEFAULT_BASELINE_M = 4000.0
EAST_DELAY_S = 0.5
WINDOW_S, QUICK_WINDOW_S = 600.0, 240.0
CENTROID_ALONG = (0.35, 0.65)  # of the baseline
CENTROID_ACROSS_M = 500.0
GATE_M = real.GATE_M  # 50 m
NEAR_M = real.ATTRIBUTION_M  # 150 m
ID_HOLD_S = RegionalConfig().stale_s  # the fusion forgets a lost regional id after this
GOAL_ONE, GOAL_FALSE_MERGE_S, GOAL_EXTRA_IDS_PER_10_MIN = 0.90, 0, 1.0
SITE = real.Site(np.zeros((2, 3)))  # the west site's frame and our own WGS-84 (its direction finders unused)


# ---------------------------------------------------------------- placements
@dataclass(frozen=True, slots=True)
class Placed:
    """One object of a run: a placement of a (windowed) flight, present from ``start_s`` into the run."""

    placement: real.Placement
    start_s: float

    @property
    def flight(self) -> real.Flight:
        return self.placement.flight

    def truth(self, times: FloatArray) -> tuple[FloatArray, BoolArray]:
        return self.placement.truth(times - self.start_s)


def centred_placement(index: int, flight: real.Flight, baseline_m: float, rng: np.random.Generator) -> real.Placement:
    """A random rotation, and the horizontal centroid of the path at a random point near the middle of the baseline."""
    rotation = rng.uniform(0.0, 2.0 * math.pi)
    target = np.array([rng.uniform(*CENTROID_ALONG) * baseline_m, rng.uniform(-CENTROID_ACROSS_M, CENTROID_ACROSS_M)])
    position, present = flight.sample(np.arange(0.0, flight.duration_s + 1e-9, 1.0))
    centroid = real.Placement(index, "out", flight, rotation, (0.0, 0.0)).place(position[present])[:, :2].mean(axis=0)
    offset = target - centroid
    # "out": not aimed at a zone (the kind is only a label here)
    return real.Placement(index, "out", flight, rotation, (float(offset[0]), float(offset[1])))


@dataclass(frozen=True, slots=True)
class Job:
    flight_index: int
    index: int
    first: Placed
    second: Placed
    baseline_m: float
    seed: int

    @property
    def duration_s(self) -> float:
        return self.first.flight.duration_s


def jobs_for(flights: list[real.Flight], seed: int, count: int, window_s: float, baseline_m: float) -> list[Job]:
    jobs = []
    for n, flight in enumerate(flights):
        rng = np.random.default_rng([seed, 21, n])
        partner = flights[(n + 1) % len(flights)]
        for k in range(count):
            first = real.choose_window(flight, window_s, rng)
            a = centred_placement(k, first, baseline_m, rng)
            second = real.choose_window(partner, first.duration_s, rng)
            b = centred_placement(k, second, baseline_m, rng)
            start = rng.uniform(0.0, max(0.0, first.duration_s - second.duration_s))
            jobs.append(Job(n, k, Placed(a, 0.0), Placed(b, float(start)), baseline_m, seed))
    return jobs


# ---------------------------------------------------------------- the radars and their lines
def _line(obj: dict[str, object]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def radar_scans_of(truths: Sequence[tuple[FloatArray, BoolArray]], times: FloatArray,
                   rng: np.random.Generator) -> list[list[str]]:
    """``bench_real_flights.radar_scans`` for several objects at once: per scan time (seconds since
    ``BASE_EPOCH``), the radar's plots of every object it detects and its false plots (drawn once a
    scan), shuffled, then its scan line. ``truths``: each object's positions at ``times`` in the radar's
    own ENU frame (origin on the ground below the radar) and whether it is present."""
    detections = []
    for position, present in truths:
        rel = position - np.array([0.0, 0.0, real.RADAR_MAST_M])
        slant = np.linalg.norm(rel, axis=1)
        azimuth = np.degrees(np.arctan2(rel[:, 0], rel[:, 1]))
        elevation = np.degrees(np.arcsin(np.clip(rel[:, 2] / np.maximum(slant, 1e-9), -1.0, 1.0)))
        detected = present & real.radar_visible(position) & (rng.uniform(size=times.size) < real.RADAR_PD)
        noisy = np.column_stack([slant + rng.normal(0.0, real.RADAR_SIGMA["range_m"], times.size),
                                 azimuth + rng.normal(0.0, real.RADAR_SIGMA["azimuth_deg"], times.size),
                                 elevation + rng.normal(0.0, real.RADAR_SIGMA["elevation_deg"], times.size)])
        detections.append((detected, noisy))
    # false plots uniform in the coverage volume: range ~ r^2, elevation ~ cos(el)
    n_false = rng.poisson(real.CLUTTER_PER_SCAN, times.size)
    total = int(n_false.sum())
    sin_lo, sin_hi = math.sin(math.radians(real.RADAR_MIN_EL_DEG)), math.sin(math.radians(real.RADAR_MAX_EL_DEG))
    false_plots = np.column_stack([real.RADAR_MAX_RANGE_M * np.cbrt(rng.uniform(size=total)),
                                   rng.uniform(0.0, 360.0, total),
                                   np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, total)))])
    bounds = np.concatenate([[0], np.cumsum(n_false)])
    scans: list[list[str]] = []
    for k, t_rel in enumerate(times):
        t = round(real.BASE_EPOCH + float(t_rel), 3)
        plots = np.vstack([false_plots[bounds[k]:bounds[k + 1]],
                           *(noisy[k:k + 1] for detected, noisy in detections if detected[k])])
        plots = plots[rng.permutation(len(plots))]
        lines = [_line({"type": "detection", "t": t, "sensor": real.RADAR_ID, "range_m": round(float(r), 2),
                        "azimuth_deg": round(float(a) % 360.0, 4), "elevation_deg": round(float(e), 4)})
                 for r, a, e in plots if r > 0.0]
        lines.append(_line({"type": "scan", "t": t, "sensor": real.RADAR_ID}))
        scans.append(lines)
    return scans


def site_lines(site: str, radar_enu: FloatArray, scans: list[list[str]], job: Job) -> list[str]:
    """A site's scenario: its radar (at ``radar_enu`` in the west site's frame) and its scans."""
    lat, lon, alt = SITE.to_geodetic(radar_enu)
    lines = [_line({"type": "scenario", "name": f"regional {site} {job.first.flight.name} + {job.second.flight.name}",
                    "seed": job.seed}),
             _line({"type": "sensor", "id": real.RADAR_ID, "kind": "radar", "lat": round(float(lat), 8),
                    "lon": round(float(lon), 8), "alt": round(float(alt), 3), "sigma": real.RADAR_SIGMA,
                    "pd": real.RADAR_PD, "period_s": 1.0, "max_range_m": real.RADAR_MAX_RANGE_M,
                    "min_elevation_deg": real.RADAR_MIN_EL_DEG, "max_elevation_deg": real.RADAR_MAX_EL_DEG})]
    for scan in scans:
        lines += scan
    return lines


Picture = tuple[float, list[TrackReport]]


def site_pictures(lines: list[str], source: str) -> tuple[Sensor, list[Picture], int]:
    """The site's radar, its confirmed tracks at every update (``TrackReport`` s, as a site publishes them),
    and how many tracks its tracker confirmed."""
    records = list(ScenarioReader(lines, source=source, on_error="raise"))
    sensor = next(r for r in records if isinstance(r, Sensor))
    frame = LocalFrame(sensor.lat, sensor.lon, sensor.alt)  # as dronewatch run: the first sensor's site
    tracker = Tracker()
    pictures = [(snapshot.t, snapshot.reports(frame)) for snapshot in track_records(records, tracker)]
    return sensor, pictures, tracker.stats.tracks_confirmed


# ---------------------------------------------------------------- one run, measured
@dataclass
class ObjectResult:
    flight: str
    cls: str
    role: str  # "A": the run's flight, "B": the other object
    present_s: int = 0
    one_radar_s: int = 0
    both_radars_s: int = 0
    both_s: int = 0
    one_s: int = 0
    duplicate_s: int = 0
    regional_s: int = 0
    ids: list[str] = field(default_factory=list)
    ids_after_gap: int = 0
    """Of the ids after the first, those that began after the object had no regional track for more than 5 s."""
    id_changes: int = 0

    @property
    def extra_ids(self) -> int:
        return max(0, len(self.ids) - 1)


@dataclass
class RunResult:
    flight: str
    partner: str
    index: int
    duration_s: float
    objects: list[ObjectResult]
    false_merge_s: int = 0
    closest_m: float = math.inf
    clutter_tracks: int = 0
    regional_tracks: int = 0
    site_tracks: tuple[int, int] = (0, 0)
    wall_s: float = 0.0


def _positions(reports: Sequence[TrackReport]) -> FloatArray:
    if not reports:
        return np.zeros((0, 3))
    return SITE.from_geodetic(np.array([r.lat for r in reports]), np.array([r.lon for r in reports]),
                              np.array([r.alt for r in reports]))


def _owned(distance: FloatArray, radius_m: float) -> list[BoolArray]:
    """Per object: which tracks are within ``radius_m`` of it and nearer to it than to the other object.
    ``distance``: (objects, tracks)."""
    return [(distance[o] <= radius_m) & (distance[o] <= distance[1 - o]) for o in range(2)]


def _site_tracks_of(site: str, reports: list[TrackReport], truth: FloatArray) -> list[str | None]:
    """Per object: the member name of the site's nearest track within the gate, when it is the object's."""
    if not reports:
        return [None, None]
    distance = np.linalg.norm(_positions(reports)[None, :, :] - truth[:, None, :], axis=2)
    out: list[str | None] = []
    for o, owned in enumerate(_owned(distance, GATE_M)):
        nearest = int(np.argmin(distance[o]))
        out.append(f"{site}/{reports[nearest].id}" if owned[nearest] else None)
    return out


def run_job(job: Job) -> RunResult:
    start = time.perf_counter()
    objects = (job.first, job.second)
    n = int(job.duration_s) + 1  # west scans at 0, 1, ... n - 1 s; east at 0.5, 1.5, ...
    grid: FloatArray = np.arange(2 * n + 2, dtype=np.float64) / 2.0  # every half second of the run
    east_origin = np.array([job.baseline_m, 0.0, 0.0])
    truth = np.zeros((2, grid.size, 3))
    present = np.zeros((2, grid.size), dtype=bool)
    seen = np.zeros((2, 2, grid.size), dtype=bool)  # object, site (west, east), half second
    in_east = np.zeros((2, grid.size, 3))
    for o, placed in enumerate(objects):
        truth[o], present[o] = placed.truth(grid)
        in_east[o] = SITE.in_frame_of(truth[o], east_origin)
        seen[o, 0] = present[o] & real.radar_visible(truth[o])
        seen[o, 1] = present[o] & real.radar_visible(in_east[o])
    west_k = np.arange(0, 2 * n, 2)
    east_k = west_k + round(2 * EAST_DELAY_S)
    rng_tag = [job.seed, 22, job.flight_index, job.index]
    west_scans = radar_scans_of([(truth[o, west_k], present[o, west_k]) for o in range(2)], grid[west_k],
                                np.random.default_rng([*rng_tag, 0]))
    east_scans = radar_scans_of([(in_east[o, east_k], present[o, east_k]) for o in range(2)], grid[east_k],
                                np.random.default_rng([*rng_tag, 1]))
    name = f"{job.first.flight.name}_p{job.index}"
    west_sensor, west_pictures, west_tracks = site_pictures(
        site_lines("west", np.array([0.0, 0.0, real.RADAR_MAST_M]), west_scans, job), f"{name}_west")
    _, east_pictures, east_tracks = site_pictures(
        site_lines("east", east_origin + np.array([0.0, 0.0, real.RADAR_MAST_M]), east_scans, job), f"{name}_east")

    result = RunResult(job.first.flight.name, job.second.flight.name, job.index, job.duration_s,
                       [ObjectResult(p.flight.name, p.flight.cls, role) for p, role in zip(objects, "AB", strict=True)],
                       site_tracks=(west_tracks, east_tracks))
    both_present = present[0] & present[1]
    if both_present.any():
        result.closest_m = float(np.linalg.norm(truth[0, both_present] - truth[1, both_present], axis=1).min())

    def half_second(t: float) -> int:
        return min(max(round(2.0 * (t - real.BASE_EPOCH)), 0), grid.size - 1)

    fusion = RegionalFusion(REGION_ID, SITES)
    fusion.place(west_sensor)
    events = sorted([(t, 0, reports) for t, reports in west_pictures]
                    + [(t, 1, reports) for t, reports in east_pictures], key=lambda event: (event[0], event[1]))
    latest: dict[int, Picture] = {}
    all_ids: set[str] = set()
    near_ids: set[str] = set()
    last_tracked: list[tuple[int, str] | None] = [None, None]  # per object: (second, nearest regional id)
    for t, s, reports in events:
        fusion.set_picture(SITES[s], reports)
        latest[s] = (t, reports)
        regional = fusion.step(t)
        g = half_second(t)
        positions = _positions(regional)
        distance = np.linalg.norm(positions[None, :, :] - truth[:, g][:, None, :], axis=2)  # (objects, tracks)
        all_ids.update(r.id for r in regional)
        near_ids.update(r.id for r, near in zip(regional, (distance <= NEAR_M).any(axis=0), strict=True) if near)
        k = round(t - real.BASE_EPOCH)
        if s != 0 or abs(t - real.BASE_EPOCH - k) > 0.05 or not 0 <= k < n:
            continue  # measured at the steps after the west radar's scans only
        # each site's tracks of each object, compared where the object was at that site's snapshot
        site_of: list[list[str | None]] = []  # site, object
        for site_index, site in enumerate(SITES):
            picture = latest.get(site_index)
            if picture is None:
                site_of.append([None, None])
            else:
                site_of.append(_site_tracks_of(site, picture[1], truth[:, half_second(picture[0])]))
        members = [set(r.members or ()) for r in regional]
        a_tracks = {m for m in (site_of[0][0], site_of[1][0]) if m is not None}
        b_tracks = {m for m in (site_of[0][1], site_of[1][1]) if m is not None}
        if any(m & a_tracks and m & b_tracks for m in members):
            result.false_merge_s += 1
        close = _owned(distance, GATE_M)
        near = _owned(distance, NEAR_M)
        for o, measured in enumerate(result.objects):
            if not present[o, g]:
                continue
            measured.present_s += 1
            east_g = g - round(2 * EAST_DELAY_S)
            radars = int(seen[o, 0, g]) + int(seen[o, 1, east_g]) if east_g >= 0 else 0  # east: its last scan
            measured.one_radar_s += radars == 1
            measured.both_radars_s += radars == 2
            mine = np.flatnonzero(close[o])
            if mine.size:
                measured.regional_s += 1
                nearest = regional[int(mine[np.argmin(distance[o, mine])])].id
                before = last_tracked[o]
                if nearest not in measured.ids:
                    if measured.ids and (before is None or k - before[0] > ID_HOLD_S):
                        measured.ids_after_gap += 1
                    measured.ids.append(nearest)
                if before is not None and k - before[0] <= ID_HOLD_S and before[1] != nearest:
                    measured.id_changes += 1
                last_tracked[o] = (k, nearest)
            if radars == 2 and site_of[0][o] is not None and site_of[1][o] is not None:
                measured.both_s += 1
                if mine.size == 1 and {m.split("/", 1)[0] for m in members[int(mine[0])]} >= set(SITES):
                    measured.one_s += 1
                if int(near[o].sum()) >= 2:
                    measured.duplicate_s += 1
    result.regional_tracks = len(all_ids)
    result.clutter_tracks = len(all_ids - near_ids)
    result.wall_s = time.perf_counter() - start
    return result


# ---------------------------------------------------------------- the report
def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _per_10_min(extra: int, seconds: int) -> float:
    return extra / (seconds / 600.0) if seconds else math.nan


def _totals_row(label: str, objects: list[ObjectResult]) -> str:
    both = sum(o.both_s for o in objects)
    regional = sum(o.regional_s for o in objects)
    extra = sum(o.extra_ids for o in objects)
    after_gap = sum(o.ids_after_gap for o in objects)
    return (f"| {label} | {len(objects)} | {sum(o.both_radars_s for o in objects)} | {both} | "
            f"{_share(sum(o.one_s for o in objects), both)} | {sum(o.duplicate_s for o in objects)} | {regional} | "
            f"{extra} ({after_gap}) | {_per_10_min(extra, regional):.2f} | "
            f"{_per_10_min(extra - after_gap, regional):.2f} | {sum(o.id_changes for o in objects)} |")


def command_line(args: argparse.Namespace) -> str:
    words = ["python3 dev.py bench benchmarks/bench_regional.py"]
    if Path(args.flights).resolve() != real.DEFAULT_FLIGHTS.resolve():
        words.append(f"--flights {args.flights}")
    words.append(f"--seed {args.seed}")
    if args.quick:
        words.append("--quick")
    else:
        words.append(f"--placements {args.placements}")
    words += [f"--baseline-m {args.baseline_m:g}", f"--workers {args.workers}"]
    return " ".join(words)


def report(results: list[RunResult], flights: list[real.Flight], args: argparse.Namespace, wall_s: float,
           started: datetime) -> str:
    objects = [o for r in results for o in r.objects]
    hours = sum(r.duration_s for r in results) / 3600.0
    lines = [f"# Two sites, one regional picture: real flights (seed {args.seed}, {args.placements} placement"
             f"{'s' if args.placements != 1 else ''} a flight, baseline {args.baseline_m:g} m"
             f"{', quick' if args.quick else ''})", "",
             f"`{command_line(args)}` (dev.py's `bench` runs `.venv/bin/python benchmarks/bench_regional.py ...` "
             "from the repository root: the same as that command with the virtualenv active)", "",
             f"Run {started:%Y-%m-%d %H:%M} UTC, {wall_s:.0f} s wall time on {args.workers} worker processes: "
             f"{len(results)} runs, {hours:.2f} h of run time, two objects in each. Method: the script's docstring "
             "(issue 17: a drone crossing two sites is one regional track carrying both identities; two different "
             "objects are never merged).", "",
             "**What this does not show.** Radar only: no RF, Remote ID or ADS-B, so no shared identity ever "
             "helps the fusion and no angle-only track with its large uncertainty takes part. The two radars are "
             "identical (same noise, Pd, clutter rate), have no survey bias (each knows exactly where it stands "
             "and north) and share one clock (their scans are 0.5 s apart, but their time stamps are exact); real "
             "sites disagree by metres and milliseconds at least, which the fusion's 15 m allowance is meant to "
             "absorb and which is not tested here. Two sites and two objects at a time (each flight with the next "
             "file): a crowded border is not measured, and the objects seldom come close (closest approaches "
             "below), so zero false merges here says little about objects flying close together. The sensor "
             "model, the clutter and the placements are ours (real motion, our radar): a real radar's clutter is "
             "not uniform and its misses are not independent. The flights are small drones and one gannet, mostly "
             "slow; only the fixed-wing file flies fast.", "",
             "## Totals", "",
             "| objects | n | both radars s | both tracked s | one regional track (both identities) | "
             "duplicate s | regionally tracked s | extra ids (after a gap) | extra ids per 10 min | "
             "the same, not after a gap | id changes while tracked |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             _totals_row("all", objects)]
    lines += [_totals_row(label, chosen) for label, chosen in (("drones", [o for o in objects if o.cls == "drone"]),
                                                              ("bird", [o for o in objects if o.cls == "bird"]))
              if chosen]
    false_merge = sum(r.false_merge_s for r in results)
    clutter = sum(r.clutter_tracks for r in results)
    merged_runs = [r for r in results if r.false_merge_s]
    lines += ["", f"False-merge seconds: {false_merge} in {len(merged_runs)} of {len(results)} runs. "
                  f"Clutter-born regional tracks (never within {NEAR_M:.0f} m of either object): {clutter} in "
                  f"{hours:.2f} h, {clutter / hours if hours else 0.0:.1f} per hour. Closest approach of the two "
                  f"objects: under 150 m in {sum(r.closest_m < NEAR_M for r in results)} runs, under 50 m in "
                  f"{sum(r.closest_m < GATE_M for r in results)}."]
    both = sum(o.both_s for o in objects)
    one = sum(o.one_s for o in objects)
    regional = sum(o.regional_s for o in objects)
    extra = sum(o.extra_ids for o in objects)
    rate = _per_10_min(extra, regional)
    over = [o for o in objects if o.extra_ids > math.ceil(o.regional_s / 600.0)]
    checks = [("one regional track carrying both identities, share of the both-tracked seconds",
               f"{_share(one, both)} ({one} of {both} s)", f">= {GOAL_ONE:.0%}", both > 0 and one / both >= GOAL_ONE),
              ("false-merge seconds (a regional track with site tracks of both objects)", str(false_merge),
               str(GOAL_FALSE_MERGE_S), false_merge <= GOAL_FALSE_MERGE_S),
              ("extra regional ids per object per 10 min of regional tracking",
               f"{rate:.2f} ({extra} extra in {regional / 60.0:.0f} min; {len(over)} of {len(objects)} objects over "
               "their own allowance)", f"<= {GOAL_EXTRA_IDS_PER_10_MIN:g}",
               regional > 0 and rate <= GOAL_EXTRA_IDS_PER_10_MIN)]
    lines += ["", "## Goals (issue 17; reported, not tuned for)", "", "| figure | value | goal | result |",
              "|---|---|---|---|"]
    lines += [f"| {figure} | {value} | {goal} | {'PASS' if ok else 'MISS'} |" for figure, value, goal, ok in checks]
    after_gap = sum(o.ids_after_gap for o in objects)
    lines += ["", f"Of the {extra} extra ids, {after_gap} began after the object had had no regional track for more "
                  f"than {ID_HOLD_S:g} s (the fusion keeps a lost id that long only, by design); the other "
                  f"{extra - after_gap} are {_per_10_min(extra - after_gap, regional):.2f} per object per 10 min."]
    lines += ["", "## Per flight (its runs as object A and as object B)", "",
              "| flight | class | n | both radars s | both tracked s | one regional track (both identities) | "
              "duplicate s | regionally tracked s | extra ids (after a gap) | extra ids per 10 min | "
              "the same, not after a gap | id changes while tracked |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for flight in flights:
        mine = [o for o in objects if o.flight == flight.name]
        if mine:
            lines.append(_totals_row(f"{flight.name} | {flight.cls}", mine))
    lines += ["", "## Per run and object", "",
              "Placement p of flight A, with B (the next file) in the region at the same time. *both radars*: "
              "seconds inside both radars' cover; *one radar*: inside exactly one (a hand-over happens there). "
              "*ids (after a gap)*: distinct regional ids, and of the extra ones how many began after more than "
              "5 s without a regional track. False-merge seconds, closest approach (3-D, both present) and "
              "clutter-born regional tracks are per run.", "",
              "| run | object | flight | duration s | present s | one radar s | both radars s | both tracked s | "
              "one regional % | duplicate s | regionally tracked s | ids (after a gap) | id changes | false merge s | "
              "closest m | clutter tracks | site tracks (W/E) | wall s |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in results:
        for o in r.objects:
            per_run = (f"{r.false_merge_s} | {r.closest_m:.0f} | {r.clutter_tracks} | "
                       f"{r.site_tracks[0]}/{r.site_tracks[1]} | {r.wall_s:.1f}") if o.role == "A" else " |  |  |  | "
            lines.append(f"| {r.flight} p{r.index} | {o.role} | {o.flight} | {r.duration_s:.0f} | {o.present_s} | "
                         f"{o.one_radar_s} | {o.both_radars_s} | {o.both_s} | {_share(o.one_s, o.both_s)} | "
                         f"{o.duplicate_s} | {o.regional_s} | {len(o.ids)} ({o.ids_after_gap}) | {o.id_changes} | "
                         f"{per_run} |")
    lines += ["", "## Flights as read", "", "| flight | class | fixes | duration s | heights | max height m |",
              "|---|---|---:|---:|---|---:|"]
    lines += [f"| {f.name} | {f.cls} | {f.t.size} | {f.duration_s:.0f} | {f.height_note} | {f.enu[:, 2].max():.0f} |"
              for f in flights]
    return "\n".join(lines) + "\n"


def _progress(k: int, total: int, r: RunResult) -> str:
    parts = [f"{o.role} {o.flight}: one {_share(o.one_s, o.both_s)} of {o.both_s} s, dup {o.duplicate_s} s, "
             f"ids {len(o.ids)}" for o in r.objects]
    return (f"[{k}/{total}] {r.flight} p{r.index}: " + "; ".join(parts)
            + f"; false merge {r.false_merge_s} s, closest {r.closest_m:.0f} m ({r.wall_s:.0f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flights", default=str(real.DEFAULT_FLIGHTS), help="folder of t,lat,lon,alt CSV files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--placements", type=int, default=3, help="runs (placements) per flight")
    parser.add_argument("--baseline-m", type=float, default=DEFAULT_BASELINE_M,
                        help="distance from the west radar to the east one")
    parser.add_argument("--quick", action="store_true", help="one placement a flight, 4-minute windows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", help="report file (default benchmarks/results/bench_regional[_quick].md)")
    args = parser.parse_args()
    if args.quick:
        args.placements = 1
    started = datetime.now(UTC)
    start = time.perf_counter()
    paths = sorted(Path(args.flights).glob("*.csv"))
    if not paths:
        print(f"no flight files in {args.flights}", file=sys.stderr)
        return 2
    flights = [real.load_flight(p) for p in paths]
    jobs = jobs_for(flights, args.seed, args.placements, QUICK_WINDOW_S if args.quick else WINDOW_S, args.baseline_m)
    jobs.sort(key=lambda job: -job.duration_s)  # the longest first, so that the workers finish together
    print(f"{len(flights)} flights, {len(jobs)} runs, baseline {args.baseline_m:g} m", file=sys.stderr)
    results: list[RunResult] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for k, result in enumerate(pool.map(run_job, jobs), start=1):
            results.append(result)
            print(_progress(k, len(jobs), result), file=sys.stderr)
    order = {f.name: n for n, f in enumerate(flights)}
    results.sort(key=lambda r: (order[r.flight], r.index))
    text = report(results, flights, args, time.perf_counter() - start, started)
    output = Path(args.output) if args.output else \
        HERE / "results" / ("bench_regional_quick.md" if args.quick else "bench_regional.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
