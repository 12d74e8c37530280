"""Real recorded flights through a sensor model of our own: tracking, classification and critical alerts (issue 16).

The flights are real (``--flights``, default ``/work/shared/data/flights``: seven small drones and
one Cape gannet, see that folder's README.md). Nothing here comes from ``dronewatch.sim``: the
sensors, the noise and the clutter are modelled below, the lines are written in the scenario JSON
Lines format by this script, read back by dronewatch's own reader (``ScenarioReader``) and run
through its tracker (``track_records``) and assessment (``Assessor``) exactly as
``dronewatch run`` does.

Method:

1. **Trajectories.** Each file becomes a local east-north-up path around its first fix. Heights:
   AMSL and ellipsoid files, height above the file's lowest fix (taken as the take-off ground);
   files whose altitude cell in the folder's README.md says "above home" or "above take-off", as
   given; files without altitude, a constant (60 m for a drone, 15 m for a bird, which flies low
   over the sea). Positions between
   fixes are interpolated linearly; a gap of more than 5 s between a drone's fixes (30 s for a
   bird, whose fixes are 5-18 s apart by nature) is "not visible": no sensor sees the object then.
   The bird is cut to a 20-minute window (4 min with ``--quick``, as are long drone flights),
   chosen at random among the windows that travel at least half as far as the busiest one.
2. **Placements.** A site (one radar on a 10 m mast, a critical zone of radius 150 m from the
   ground to 300 m, a warning zone of radius 600 m, both 32-gons around the radar). Each flight
   gets ``--placements`` placements of two kinds, drawn by a seeded RNG (``--seed``) on general
   principles, never tuned to a file: *through*, a random rotation, then a random fix at least
   30 s into the flight is put at a random point within 0.8 of the zone's radius, kept only when
   the path enters the zone from outside at least 30 s after it is first visible (up to 2000
   draws, else the flight has no through placement); *out*, a random rotation and a translation
   in a random direction so that the closest approach to the site is a random 600-2000 m. The
   judges use other placements (and other seeds).
3. **Sensors** (our own model, our own WGS-84 arithmetic). One 3-D radar at the site: 1 Hz scans,
   Pd 0.9 within 3000 m and -2..60 degrees elevation, noise 5 m in range and 0.5 degrees in
   azimuth and elevation; false plots Poisson with mean 10 a scan, uniform over the coverage
   volume; every scan ends with a ``scan`` line. Two RF direction finders 400-800 m from the site
   (random bearings at least 90 degrees apart): bearing only, noise 2.5 degrees, Pd 0.8 within
   3000 m while the object has an RF link (drones: always; the bird: never), scans 0.3 s and
   0.6 s after the radar's. No sensor line declares ``clutter_per_scan`` (real radars do not
   report it). "With RF" runs have all three sensors; "radar only" runs the same radar lines alone.
4. **Measures** per (flight, placement, RF), once a second at the radar's scan times:
   *visible*: the object is not in a gap and inside the radar's coverage (range and elevation);
   *tracked*: visible, and a confirmed track is within 50 m of the object (3-D); the nearest such
   track's class (``Assessor.classes``) then counts for the confusion row; *entry*: the first
   second the object is inside the critical zone; *critical before entry*: the first second
   before entry at which a ``critical`` alert on the critical zone is open on a track within 50 m
   of the object, lead = entry minus that second, else "miss". Each alert that reaches
   ``critical`` is attributed, when it does, to the object if its track is within 150 m of it
   (positions interpolated across gaps), else it is a *false* critical alert (per hour of runs).
5. **Acceptance** (issue 16), per flight and RF setting over its placements: every drone flight
   tracked >= 90 % of its visible time; called ``drone`` >= 80 % of its tracked time with RF,
   >= 60 % radar only; the bird called ``drone`` <= 5 % of its tracked time; every drone entry
   warned by a ``critical`` alert before it, with and without RF; no critical alert on the bird.

Run: ``python3 dev.py bench benchmarks/bench_real_flights.py [--flights DIR] [--seed S] [--placements N]
[--quick] [--workers W] [--keep DIR]``; writes ``benchmarks/results/bench_real_flights.md``
(``--quick``: ``bench_real_flights_quick.md``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from dronewatch.assessment import Assessor
from dronewatch.assessment.posture import POSTURE_LEVELS, PostureLevel, at_posture
from dronewatch.config import AssessmentConfig
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor, Zone
from dronewatch.tracking import Tracker, track_records

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_FLIGHTS = REPO.parent / "shared" / "data" / "flights"

# ---------------------------------------------------------------- the site
SITE_LAT, SITE_LON, SITE_GROUND_HAE_M = 51.95, 5.25, 45.0
RADAR_MAST_M = 10.0
BASE_EPOCH = 1_764_000_000.0
CRITICAL_ZONE, WARNING_ZONE = "site-critical", "site-warning"
CRITICAL_RADIUS_M, WARNING_RADIUS_M, ZONE_CEILING_M = 150.0, 600.0, 300.0
ZONE_VERTICES = 32
# ---------------------------------------------------------------- the sensors
RADAR_ID = "radar-1"
RADAR_SIGMA = {"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5}
RADAR_PD, RADAR_MAX_RANGE_M, RADAR_MIN_EL_DEG, RADAR_MAX_EL_DEG = 0.9, 3000.0, -2.0, 60.0
CLUTTER_PER_SCAN = 10.0
DF_IDS = ("rf-df-1", "rf-df-2")
DF_SIGMA_DEG, DF_PD, DF_MAX_RANGE_M = 2.5, 0.8, 3000.0
DF_DISTANCE_M = (400.0, 800.0)
DF_DELAY_S = (0.3, 0.6)  # the direction finders scan out of step with the radar, as real ones do
# ---------------------------------------------------------------- the flights and placements
DRONE_GAP_S, BIRD_GAP_S = 5.0, 30.0
NO_ALTITUDE_HEIGHT_M = {"drone": 60.0, "bird": 15.0}
BIRD_WINDOW_S, QUICK_WINDOW_S = 1200.0, 240.0
LEAD_IN_S = 30.0  # a through placement gives the system this long to see the object before it enters
OUT_APPROACH_M = (600.0, 2000.0)
PLACEMENT_DRAWS = 2000
# ---------------------------------------------------------------- the measures
GATE_M = 50.0
ATTRIBUTION_M = 150.0
CLASSES = ("drone", "bird", "aircraft", "unknown")
GOAL_TRACKED, GOAL_DRONE_RF, GOAL_DRONE_RADAR, GOAL_BIRD_AS_DRONE = 0.90, 0.80, 0.60, 0.05

# ---------------------------------------------------------------- WGS-84, our own (independent of dronewatch.geo)
_A = 6378137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)


def geodetic_to_ecef(lat_deg: FloatArray | float, lon_deg: FloatArray | float, alt_m: FloatArray | float) -> FloatArray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    n = _A / np.sqrt(1.0 - _E2 * np.sin(lat) ** 2)
    return np.stack([(n + alt_m) * np.cos(lat) * np.cos(lon), (n + alt_m) * np.cos(lat) * np.sin(lon),
                     (n * (1.0 - _E2) + alt_m) * np.sin(lat)], axis=-1)


def ecef_to_geodetic(xyz: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fixed-point iteration on the latitude: millimetre-exact near the surface after a few rounds."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - _E2))
    alt = np.zeros_like(p)
    for _ in range(6):
        n = _A / np.sqrt(1.0 - _E2 * np.sin(lat) ** 2)
        alt = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - _E2 * n / (n + alt)))
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), alt


def enu_rotation(lat_deg: float, lon_deg: float) -> FloatArray:
    """ECEF -> ENU rotation at a point."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    return np.array([[-math.sin(lon), math.cos(lon), 0.0],
                     [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)],
                     [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]])


@dataclass(frozen=True, slots=True)
class Site:
    """Everything is placed in the ENU frame of the site's ground point: the ground is its tangent plane
    (within 3 km the Earth drops 0.7 m below it, which no measure here can feel)."""

    df_enu: FloatArray  # (2, 3) the direction finders, in the site frame

    @property
    def rotation(self) -> FloatArray:
        return enu_rotation(SITE_LAT, SITE_LON)

    @property
    def origin(self) -> FloatArray:
        return geodetic_to_ecef(SITE_LAT, SITE_LON, SITE_GROUND_HAE_M)

    def to_geodetic(self, enu: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        return ecef_to_geodetic(self.origin + enu @ self.rotation)

    def from_geodetic(self, lat: FloatArray, lon: FloatArray, alt: FloatArray) -> FloatArray:
        return (geodetic_to_ecef(lat, lon, alt) - self.origin) @ self.rotation.T

    def in_frame_of(self, enu: FloatArray, at_enu: FloatArray) -> FloatArray:
        """``enu`` (site frame) as seen from ``at_enu``, in that point's own ENU frame."""
        lat, lon, _ = self.to_geodetic(at_enu)
        return (enu - at_enu) @ self.rotation @ enu_rotation(float(lat), float(lon)).T


def make_site(seed: int) -> Site:
    rng = np.random.default_rng([seed, 0])
    first = rng.uniform(0.0, 2.0 * math.pi)
    second = first + rng.uniform(math.pi / 2.0, 3.0 * math.pi / 2.0)  # at least 90 degrees apart
    distance = rng.uniform(*DF_DISTANCE_M, size=2)
    bearings = np.array([first, second])
    east, north = distance * np.sin(bearings), distance * np.cos(bearings)
    return Site(np.stack([east, north, np.full(2, RADAR_MAST_M)], axis=1))


def zone_ring_enu(radius_m: float) -> FloatArray:
    """Vertices of a regular polygon around the site (counter-clockwise, on the circle)."""
    angle = np.arange(ZONE_VERTICES) * 2.0 * math.pi / ZONE_VERTICES
    return np.stack([radius_m * np.cos(angle), radius_m * np.sin(angle)], axis=1)


def inside_zone(enu: FloatArray, radius_m: float) -> BoolArray:
    """Inside the regular polygon of :func:`zone_ring_enu` (every edge's half-plane), floor to ceiling."""
    normal = (np.arange(ZONE_VERTICES) + 0.5) * 2.0 * math.pi / ZONE_VERTICES
    apothem = radius_m * math.cos(math.pi / ZONE_VERTICES)
    reach = enu[:, :1] * np.cos(normal) + enu[:, 1:2] * np.sin(normal)
    inside: BoolArray = (reach.max(axis=1) <= apothem) & (enu[:, 2] >= 0.0) & (enu[:, 2] <= ZONE_CEILING_M)
    return inside


# ---------------------------------------------------------------- flights
@dataclass(frozen=True, slots=True)
class Flight:
    name: str
    cls: Literal["drone", "bird"]
    t: FloatArray  # seconds since the first fix
    enu: FloatArray  # (n, 3): east, north around the first fix, height above the ground
    max_gap_s: float
    height_note: str

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0])

    def window(self, start_s: float, length_s: float) -> Flight:
        keep = (self.t >= start_s) & (self.t <= start_s + length_s)
        return Flight(self.name, self.cls, self.t[keep] - self.t[keep][0], self.enu[keep], self.max_gap_s,
                      self.height_note)

    def sample(self, times: FloatArray) -> tuple[FloatArray, BoolArray]:
        """Positions at ``times`` (linear between fixes, held at the ends) and whether the object is seen
        then: within the recording and not inside a gap longer than ``max_gap_s``."""
        position = np.stack([np.interp(times, self.t, self.enu[:, k]) for k in range(3)], axis=1)
        after = np.clip(np.searchsorted(self.t, times, side="right"), 1, self.t.size - 1)
        span = self.t[after] - self.t[after - 1]
        on_fix = np.isclose(times, self.t[after - 1]) | np.isclose(times, self.t[after])
        present = (times >= self.t[0]) & (times <= self.t[-1]) & ((span <= self.max_gap_s) | on_fix)
        return position, present

    def path_length(self) -> FloatArray:
        """Cumulative horizontal path over segments that are no gap."""
        step = np.hypot(*np.diff(self.enu[:, :2], axis=0).T)
        step[np.diff(self.t) > self.max_gap_s] = 0.0
        return np.concatenate([[0.0], np.cumsum(step)])


def readme_altitude(flights_dir: Path, file_name: str) -> str:
    """The "altitude" cell of the file's row in the folder's README.md table (its datum), lower case."""
    readme = flights_dir / "README.md"
    if not readme.exists():
        return ""
    column: int | None = None
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().lower() for cell in line.strip().strip("|").split("|")]
        if "altitude" in cells and "file" in cells:
            column = cells.index("altitude")
        elif column is not None and len(cells) > column and f"`{file_name}`" in cells[0]:
            return cells[column]
    return ""


def load_flight(path: Path) -> Flight:
    cls: Literal["drone", "bird"] = "bird" if path.name.startswith("bird") else "drone"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    t = np.array([float(r["t"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    lon = np.array([float(r["lon"]) for r in rows])
    alt_text = [r["alt"].strip() for r in rows]
    first = geodetic_to_ecef(lat[0], lon[0], 0.0)
    local = (geodetic_to_ecef(lat, lon, np.zeros_like(lat)) - first) @ enu_rotation(lat[0], lon[0]).T
    datum = readme_altitude(path.parent, path.name)
    if not all(alt_text):
        height = np.full(t.size, NO_ALTITUDE_HEIGHT_M[cls])
        note = f"no altitude: constant {NO_ALTITUDE_HEIGHT_M[cls]:g} m"
    else:
        alt = np.array([float(a) for a in alt_text])
        if any(words in datum for words in ("above home", "above take-off", "above take\u2011off", "above ground")):
            height, note = alt, "above home, as given"
        else:
            height, note = alt - alt.min(), f"above lowest fix ({alt.min():.1f} m)"
        height = np.maximum(height, 0.0)
    enu = np.stack([local[:, 0], local[:, 1], height], axis=1)
    return Flight(path.stem, cls, t - t[0], enu, BIRD_GAP_S if cls == "bird" else DRONE_GAP_S, note)


def choose_window(flight: Flight, length_s: float, rng: np.random.Generator) -> Flight:
    """A random window among those that travel at least half as far as the busiest (skips long rests)."""
    if flight.duration_s <= length_s:
        return flight
    path = flight.path_length()
    starts = flight.t[flight.t <= flight.t[-1] - length_s]
    travelled = np.interp(starts + length_s, flight.t, path) - np.interp(starts, flight.t, path)
    candidates = starts[travelled >= 0.5 * travelled.max()]
    return flight.window(float(rng.choice(candidates)), length_s)


# ---------------------------------------------------------------- placements
@dataclass(frozen=True, slots=True)
class Placement:
    index: int
    kind: Literal["through", "out"]
    flight: Flight  # the windowed flight this placement uses
    rotation_rad: float
    offset_m: tuple[float, float]

    def place(self, enu: FloatArray) -> FloatArray:
        c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        out = enu.copy()
        out[:, 0] = c * enu[:, 0] - s * enu[:, 1] + self.offset_m[0]
        out[:, 1] = s * enu[:, 0] + c * enu[:, 1] + self.offset_m[1]
        return out

    def scan_times(self) -> FloatArray:
        return np.arange(0.0, self.flight.duration_s + 1e-9, 1.0)

    def truth(self, times: FloatArray) -> tuple[FloatArray, BoolArray]:
        position, present = self.flight.sample(times)
        return self.place(position), present


def _rotate(enu: FloatArray, angle: float) -> FloatArray:
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([c * enu[:, 0] - s * enu[:, 1], s * enu[:, 0] + c * enu[:, 1]], axis=1)


def radar_visible(enu: FloatArray) -> BoolArray:
    rel = enu - np.array([0.0, 0.0, RADAR_MAST_M])
    slant = np.linalg.norm(rel, axis=1)
    elevation = np.degrees(np.arcsin(np.clip(rel[:, 2] / np.maximum(slant, 1e-9), -1.0, 1.0)))
    in_elevation = (elevation >= RADAR_MIN_EL_DEG) & (elevation <= RADAR_MAX_EL_DEG)
    covered: BoolArray = (slant <= RADAR_MAX_RANGE_M) & in_elevation
    return covered


def through_placement(index: int, flight: Flight, rng: np.random.Generator) -> Placement | None:
    times = np.arange(0.0, flight.duration_s + 1e-9, 1.0)
    base, present = flight.sample(times)
    eligible = np.flatnonzero((flight.t >= LEAD_IN_S) & (flight.enu[:, 2] <= ZONE_CEILING_M))
    if eligible.size == 0:
        return None
    for _ in range(PLACEMENT_DRAWS):
        rotation = rng.uniform(0.0, 2.0 * math.pi)
        fix = flight.enu[rng.choice(eligible)][None, :]
        radius, bearing = 0.8 * CRITICAL_RADIUS_M * math.sqrt(rng.uniform()), rng.uniform(0.0, 2.0 * math.pi)
        target = np.array([radius * math.cos(bearing), radius * math.sin(bearing)])
        offset = target - _rotate(fix, rotation)[0]
        placement = Placement(index, "through", flight, rotation, (float(offset[0]), float(offset[1])))
        placed = placement.place(base)
        inside = inside_zone(placed, CRITICAL_RADIUS_M) & present
        seen = radar_visible(placed) & present
        if not inside.any() or not seen.any():
            continue
        entry = int(np.argmax(inside))
        if times[entry] - times[int(np.argmax(seen))] >= LEAD_IN_S:
            return placement
    return None


def out_placement(index: int, flight: Flight, rng: np.random.Generator) -> Placement:
    rotation = rng.uniform(0.0, 2.0 * math.pi)
    approach = rng.uniform(*OUT_APPROACH_M)
    bearing = rng.uniform(0.0, 2.0 * math.pi)
    direction = np.array([math.sin(bearing), math.cos(bearing)])
    rotated = _rotate(flight.enu, rotation)
    offset = approach * direction - rotated.mean(axis=0)
    # push the path out along ``direction`` until its closest approach is the one drawn
    for _ in range(100):
        closest = float(np.hypot(*(rotated + offset).T).min())
        if abs(closest - approach) < 1.0:
            break
        offset = offset + (approach - closest) * direction
    return Placement(index, "out", flight, rotation, (float(offset[0]), float(offset[1])))


def placements_for(flight: Flight, flight_index: int, seed: int, count: int, quick: bool) -> list[Placement]:
    rng = np.random.default_rng([seed, 1, flight_index])
    out: list[Placement] = []
    length = QUICK_WINDOW_S if quick else BIRD_WINDOW_S if flight.cls == "bird" else math.inf
    for k in range(count):
        windowed = choose_window(flight, length, rng)
        through = through_placement(2 * k, windowed, rng)
        if through is not None:
            out.append(through)
        out.append(out_placement(2 * k + 1, choose_window(flight, length, rng), rng))
    return out


# ---------------------------------------------------------------- the sensor model and its lines
def _line(obj: dict[str, object]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def header_lines(site: Site, flight_name: str, seed: int, with_rf: bool) -> list[str]:
    lines = [_line({"type": "scenario", "name": f"real-flight {flight_name}", "seed": seed})]
    lines.append(_line({
        "type": "sensor", "id": RADAR_ID, "kind": "radar", "lat": SITE_LAT, "lon": SITE_LON,
        "alt": SITE_GROUND_HAE_M + RADAR_MAST_M, "sigma": RADAR_SIGMA, "pd": RADAR_PD, "period_s": 1.0,
        "max_range_m": RADAR_MAX_RANGE_M, "min_elevation_deg": RADAR_MIN_EL_DEG,
        "max_elevation_deg": RADAR_MAX_EL_DEG}))
    if with_rf:
        lat, lon, alt = site.to_geodetic(site.df_enu)
        for k, df_id in enumerate(DF_IDS):
            lines.append(_line({
                "type": "sensor", "id": df_id, "kind": "rf", "lat": round(float(lat[k]), 7),
                "lon": round(float(lon[k]), 7), "alt": round(float(alt[k]), 2),
                "sigma": {"azimuth_deg": DF_SIGMA_DEG}, "pd": DF_PD, "period_s": 1.0,
                "max_range_m": DF_MAX_RANGE_M}))
    for zone_id, level, radius in ((CRITICAL_ZONE, "critical", CRITICAL_RADIUS_M),
                                   (WARNING_ZONE, "warning", WARNING_RADIUS_M)):
        ring = zone_ring_enu(radius)
        lat, lon, _ = site.to_geodetic(np.column_stack([ring, np.zeros(len(ring))]))
        lines.append(_line({
            "type": "zone", "id": zone_id, "level": level, "floor_m": SITE_GROUND_HAE_M,
            "ceiling_m": SITE_GROUND_HAE_M + ZONE_CEILING_M,
            "polygon": [[round(float(o), 8), round(float(a), 8)] for o, a in zip(lon, lat, strict=True)]}))
    return lines


def radar_scans(placement: Placement, rng: np.random.Generator) -> list[list[str]]:
    """Per scan second: the radar's detection lines (object and false plots, shuffled) and its scan line."""
    times = placement.scan_times()
    truth, present = placement.truth(times)
    rel = truth - np.array([0.0, 0.0, RADAR_MAST_M])
    slant = np.linalg.norm(rel, axis=1)
    azimuth = np.degrees(np.arctan2(rel[:, 0], rel[:, 1]))
    elevation = np.degrees(np.arcsin(np.clip(rel[:, 2] / np.maximum(slant, 1e-9), -1.0, 1.0)))
    detected = present & radar_visible(truth) & (rng.uniform(size=times.size) < RADAR_PD)
    noisy = np.column_stack([slant + rng.normal(0.0, RADAR_SIGMA["range_m"], times.size),
                             azimuth + rng.normal(0.0, RADAR_SIGMA["azimuth_deg"], times.size),
                             elevation + rng.normal(0.0, RADAR_SIGMA["elevation_deg"], times.size)])
    # false plots uniform in the coverage volume: range ~ r^2, elevation ~ cos(el)
    n_false = rng.poisson(CLUTTER_PER_SCAN, times.size)
    total = int(n_false.sum())
    sin_lo, sin_hi = math.sin(math.radians(RADAR_MIN_EL_DEG)), math.sin(math.radians(RADAR_MAX_EL_DEG))
    false_plots = np.column_stack([RADAR_MAX_RANGE_M * np.cbrt(rng.uniform(size=total)),
                                   rng.uniform(0.0, 360.0, total),
                                   np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, total)))])
    bounds = np.concatenate([[0], np.cumsum(n_false)])
    scans: list[list[str]] = []
    for k, t_rel in enumerate(times):
        t = round(BASE_EPOCH + float(t_rel), 3)
        plots = false_plots[bounds[k]:bounds[k + 1]]
        if detected[k]:
            plots = np.vstack([plots, noisy[k]])
        plots = plots[rng.permutation(len(plots))]
        lines = [_line({"type": "detection", "t": t, "sensor": RADAR_ID, "range_m": round(float(r), 2),
                        "azimuth_deg": round(float(a) % 360.0, 4), "elevation_deg": round(float(e), 4)})
                 for r, a, e in plots if r > 0.0]
        lines.append(_line({"type": "scan", "t": t, "sensor": RADAR_ID}))
        scans.append(lines)
    return scans


def df_scans(placement: Placement, site: Site, rng: np.random.Generator) -> list[list[str]]:
    """Per scan second: both direction finders' bearing lines and scan lines (out of step with the radar)."""
    times = placement.scan_times()
    per_df: list[list[list[str]]] = []
    for k, df_id in enumerate(DF_IDS):
        delayed = times + DF_DELAY_S[k]
        truth, present = placement.truth(delayed)
        local = site.in_frame_of(truth, site.df_enu[k])
        bearing = np.degrees(np.arctan2(local[:, 0], local[:, 1]))
        reachable = np.linalg.norm(local, axis=1) <= DF_MAX_RANGE_M
        has_link = placement.flight.cls == "drone"
        detected = present & reachable & has_link & (rng.uniform(size=times.size) < DF_PD)
        noisy = bearing + rng.normal(0.0, DF_SIGMA_DEG, times.size)
        scans = []
        for n, t_rel in enumerate(delayed):
            t = round(BASE_EPOCH + float(t_rel), 3)
            lines = [_line({"type": "detection", "t": t, "sensor": df_id,
                            "azimuth_deg": round(float(noisy[n]) % 360.0, 4)})] if detected[n] else []
            lines.append(_line({"type": "scan", "t": t, "sensor": df_id}))
            scans.append(lines)
        per_df.append(scans)
    return [first + second for first, second in zip(*per_df, strict=True)]


# ---------------------------------------------------------------- one run through dronewatch, measured
@dataclass
class RunResult:
    flight: str
    cls: str
    placement: int
    kind: str
    with_rf: bool
    duration_s: float
    visible_s: int = 0
    tracked_s: int = 0
    called: Counter[str] = field(default_factory=Counter)
    closest_m: float = 0.0
    entry_s: float | None = None  # since the start of the run
    lead_s: float | None = None
    critical_on_object: int = 0
    false_critical: int = 0
    tracks_confirmed: int = 0
    wall_s: float = 0.0


def run_dronewatch(lines: list[str], placement: Placement, site: Site, with_rf: bool,
                   posture: PostureLevel = "normal") -> RunResult:
    start = time.perf_counter()
    flight = placement.flight
    times = placement.scan_times()
    truth, present = placement.truth(times)
    visible = present & radar_visible(truth)
    inside = inside_zone(truth, CRITICAL_RADIUS_M) & present
    entry = int(np.argmax(inside)) if inside.any() else None
    result = RunResult(flight.name, flight.cls, placement.index, placement.kind, with_rf, flight.duration_s,
                       visible_s=int(visible.sum()),
                       closest_m=float(np.hypot(truth[present, 0], truth[present, 1]).min()),
                       entry_s=float(times[entry]) if entry is not None else None)
    records = list(ScenarioReader(lines, source=flight.name, on_error="raise"))
    sensors = [r for r in records if isinstance(r, Sensor)]
    zones = [r for r in records if isinstance(r, Zone)]
    frame = LocalFrame(sensors[0].lat, sensors[0].lon, sensors[0].alt)  # as dronewatch run: the first sensor's site
    assessor = Assessor(frame, sensors, zones, at_posture(AssessmentConfig(), posture))
    tracker = Tracker()
    open_critical: dict[str, tuple[str, str | None]] = {}  # alert id -> (track, zone)
    attributed: set[str] = set()
    first_warned: float | None = None
    for snapshot in track_records(records, tracker):
        reports = snapshot.reports(frame)
        alerts = assessor.update(snapshot.t, reports)
        if assessor.assessed_at != snapshot.t:
            continue
        k = round(snapshot.t - BASE_EPOCH)
        if abs(snapshot.t - BASE_EPOCH - k) > 0.05 or not 0 <= k < times.size:
            continue  # an assessment off the radar's scan times: not one of the seconds measured
        ids = [r.id for r in reports]
        track_enu = site.from_geodetic(np.array([r.lat for r in reports]), np.array([r.lon for r in reports]),
                                       np.array([r.alt for r in reports])) if reports else np.zeros((0, 3))
        distance = dict(zip(ids, np.linalg.norm(track_enu - truth[k], axis=1).tolist(), strict=True))
        for alert in alerts:
            if alert.level == "critical" and alert.state != "resolved":
                open_critical[alert.id] = (alert.track, alert.zone)
                if alert.id not in attributed:
                    attributed.add(alert.id)
                    if distance.get(alert.track, math.inf) <= ATTRIBUTION_M:
                        result.critical_on_object += 1
                    else:
                        result.false_critical += 1
            else:
                open_critical.pop(alert.id, None)
        if entry is not None and k < entry and first_warned is None and any(
                zone == CRITICAL_ZONE and distance.get(track, math.inf) <= GATE_M
                for track, zone in open_critical.values()):
            first_warned = float(times[k])
        if visible[k] and distance:
            nearest = min(distance, key=distance.__getitem__)
            if distance[nearest] <= GATE_M:
                result.tracked_s += 1
                cls = assessor.classes.get(nearest)
                result.called[cls.cls if cls is not None else "unknown"] += 1
    if entry is not None and first_warned is not None:
        result.lead_s = float(times[entry]) - first_warned
    result.tracks_confirmed = tracker.stats.tracks_confirmed
    result.wall_s = time.perf_counter() - start
    return result


@dataclass(frozen=True, slots=True)
class Job:
    flight_index: int
    placement: Placement
    site: Site
    seed: int
    keep: str | None
    posture: PostureLevel = "normal"


def run_lines(job: Job) -> dict[bool, list[str]]:
    """The job's scenario lines with the direction finders (``True``) and without (``False``): the same
    radar lines in both."""
    placement = job.placement
    radar = radar_scans(placement, np.random.default_rng([job.seed, 2, job.flight_index, placement.index]))
    bearings = df_scans(placement, job.site, np.random.default_rng([job.seed, 3, job.flight_index, placement.index]))
    out = {}
    for with_rf in (True, False):
        lines = header_lines(job.site, placement.flight.name, job.seed, with_rf)
        for k, scan in enumerate(radar):
            lines += scan + (bearings[k] if with_rf else [])
        out[with_rf] = lines
    return out


def run_job(job: Job) -> list[RunResult]:
    placement = job.placement
    results = []
    for with_rf, lines in run_lines(job).items():
        if job.keep:
            name = f"{placement.flight.name}_p{placement.index}_{'rf' if with_rf else 'radar'}.jsonl"
            Path(job.keep, name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        results.append(run_dronewatch(lines, placement, job.site, with_rf, job.posture))
    return results


# ---------------------------------------------------------------- the report
def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _leads(runs: list[RunResult]) -> str:
    entering = [r for r in runs if r.entry_s is not None]
    if not entering:
        return "no entry"
    if runs[0].cls != "drone":  # not a threat: its alerts are counted in the next column
        return f"not judged ({len(entering)} entries)"
    return ", ".join("miss" if r.lead_s is None else f"{r.lead_s:.0f} s" for r in entering)


def _group(results: list[RunResult]) -> Iterator[tuple[str, str, bool, list[RunResult]]]:
    names = list(dict.fromkeys(r.flight for r in results))
    for name in names:
        for with_rf in (True, False):
            runs = [r for r in results if r.flight == name and r.with_rf == with_rf]
            if runs:
                yield name, runs[0].cls, with_rf, runs


def report(results: list[RunResult], flights: list[Flight], args: argparse.Namespace, wall_s: float) -> str:
    rf_name = {True: "with RF", False: "radar only"}
    command = "python3 dev.py bench benchmarks/bench_real_flights.py" + (" --quick" if args.quick else "") + \
        f" --seed {args.seed} --placements {args.placements}" + \
        ("" if args.posture == "normal" else f" --posture {args.posture}")
    hours = sum(r.duration_s for r in results) / 3600.0
    lines = [f"# Real flights through our own sensor model (seed {args.seed}, {args.placements} placements of "
             f"each kind{', quick' if args.quick else ''}; posture {args.posture})", "", f"`{command}`", "",
             f"{len(results)} runs, {hours:.1f} h of flight time, {wall_s:.0f} s wall time on "
             f"{args.workers} worker processes. Method: see the script's docstring. The judges use other "
             "placements and seeds.", "",
             "## Per flight and RF setting (over its placements)", "",
             "| flight | class | RF | runs | visible s | tracked % | drone % | bird % | aircraft % | unknown % | "
             "critical before entry (lead) | critical alerts on it |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    rows: dict[tuple[str, bool], tuple[float, float]] = {}
    for name, cls, with_rf, runs in _group(results):
        visible = sum(r.visible_s for r in runs)
        tracked = sum(r.tracked_s for r in runs)
        called: Counter[str] = Counter()
        for r in runs:
            called.update(r.called)
        rows[(name, with_rf)] = (tracked / visible if visible else 0.0, called["drone"] / tracked if tracked else 0.0)
        lines.append(f"| {name} | {cls} | {rf_name[with_rf]} | {len(runs)} | {visible} | {_share(tracked, visible)} | "
                     + " | ".join(_share(called[c], tracked) for c in CLASSES)
                     + f" | {_leads(runs)} | {sum(r.critical_on_object for r in runs)} |")
    lines += ["", "## Confusion: share of tracked time by the class dronewatch called", "",
              "| true class | RF | tracked s | drone | bird | aircraft | unknown |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for cls in ("drone", "bird"):
        for with_rf in (True, False):
            runs = [r for r in results if r.cls == cls and r.with_rf == with_rf]
            tracked = sum(r.tracked_s for r in runs)
            called = Counter()
            for r in runs:
                called.update(r.called)
            if runs:
                lines.append(f"| {cls} | {rf_name[with_rf]} | {tracked} | "
                             + " | ".join(_share(called[c], tracked) for c in CLASSES) + " |")
    # acceptance
    checks: list[tuple[str, str, str, bool]] = []
    drone_rows = {key: value for key, value in rows.items() if key[0] in {f.name for f in flights if f.cls == "drone"}}
    bird_rows = {key: value for key, value in rows.items() if key not in drone_rows}

    def worst(values: dict[tuple[str, bool], tuple[float, float]], which: int,
              with_rf: bool | None) -> tuple[str, float]:
        chosen = {k: v[which] for k, v in values.items() if with_rf is None or k[1] == with_rf}
        if not chosen:
            return "-", math.nan
        key = min(chosen, key=chosen.__getitem__)
        return f"{key[0]} ({rf_name[key[1]]})", chosen[key]

    where, value = worst(drone_rows, 0, None)
    checks.append(("every drone flight tracked >= 90 % of its visible time", f"lowest {value:.1%}: {where}",
                   ">= 90 %", value >= GOAL_TRACKED))
    for with_rf, goal in ((True, GOAL_DRONE_RF), (False, GOAL_DRONE_RADAR)):
        where, value = worst(drone_rows, 1, with_rf)
        checks.append((f"every drone flight called drone, {rf_name[with_rf]}", f"lowest {value:.1%}: {where}",
                       f">= {goal:.0%}", value >= goal))
    bird_drone = max((v[1] for v in bird_rows.values()), default=math.nan)
    checks.append(("bird called drone (share of tracked time)", "highest " + ", ".join(
        f"{v[1]:.1%} ({rf_name[k[1]]})" for k, v in bird_rows.items()), "<= 5 %", bird_drone <= GOAL_BIRD_AS_DRONE))
    for with_rf in (True, False):
        entering = [r for r in results if r.cls == "drone" and r.with_rf == with_rf and r.entry_s is not None]
        warned = [r for r in entering if r.lead_s is not None]
        checks.append((f"drone entries with a critical alert before, {rf_name[with_rf]}",
                       f"{len(warned)} of {len(entering)}"
                       + (f", shortest lead {min(r.lead_s for r in warned if r.lead_s is not None):.0f} s"
                          if warned else ""),
                       "all", bool(entering) and len(warned) == len(entering)))
    on_bird = sum(r.critical_on_object for r in results if r.cls == "bird")
    checks.append(("critical alerts on the bird", str(on_bird), "0", on_bird == 0))
    lines += ["", "## Acceptance (issue 16)", "", "| figure | value | goal | result |", "|---|---|---|---|"]
    lines += [f"| {figure} | {value_text} | {goal_text} | {'PASS' if ok else 'MISS'} |"
              for figure, value_text, goal_text, ok in checks]
    false_critical = sum(r.false_critical for r in results)
    lines += ["", f"False critical alerts (track more than {ATTRIBUTION_M:.0f} m from the object): {false_critical} "
                  f"in {hours:.1f} h, {false_critical / hours if hours else 0.0:.2f} per hour.", "",
              "## Flights as read", "", "| flight | class | fixes | duration s | heights | max height m |",
              "|---|---|---:|---:|---|---:|"]
    lines += [f"| {f.name} | {f.cls} | {f.t.size} | {f.duration_s:.0f} | {f.height_note} | {f.enu[:, 2].max():.0f} |"
              for f in flights]
    lines += ["", "## Per run", "", "| flight | placement | RF | duration s | closest m | entry s | visible s | "
              "tracked % | drone % | bird % | unknown % | lead | critical on it | false critical | tracks | wall s |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in results:
        entry = "" if r.entry_s is None else f"{r.entry_s:.0f}"
        lead = "" if r.entry_s is None else "miss" if r.lead_s is None else f"{r.lead_s:.0f} s"
        lines.append(f"| {r.flight} | {r.placement} {r.kind} | {rf_name[r.with_rf]} | {r.duration_s:.0f} | "
                     f"{r.closest_m:.0f} | {entry} | {r.visible_s} | {_share(r.tracked_s, r.visible_s)} | "
                     f"{_share(r.called['drone'], r.tracked_s)} | {_share(r.called['bird'], r.tracked_s)} | "
                     f"{_share(r.called['unknown'], r.tracked_s)} | {lead} | {r.critical_on_object} | "
                     f"{r.false_critical} | {r.tracks_confirmed} | {r.wall_s:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flights", default=str(DEFAULT_FLIGHTS), help="folder of t,lat,lon,alt CSV files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--placements", type=int, default=3, help="placements of each kind per flight")
    parser.add_argument("--quick", action="store_true", help="one placement of each kind, 4-minute windows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", metavar="DIR", help="also write every run's scenario JSON Lines here")
    parser.add_argument("--posture", choices=POSTURE_LEVELS, default="normal",
                        help="the threat posture the site is assessed at (assessment/posture.py)")
    parser.add_argument("--output",
                        help="report file (default benchmarks/results/bench_real_flights[_quick][_POSTURE].md)")
    args = parser.parse_args()
    if args.quick:
        args.placements = 1
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    paths = sorted(Path(args.flights).glob("*.csv"))
    if not paths:
        print(f"no flight files in {args.flights}", file=sys.stderr)
        return 2
    flights = [load_flight(p) for p in paths]
    site = make_site(args.seed)
    jobs = [Job(n, placement, site, args.seed, args.keep, args.posture) for n, flight in enumerate(flights)
            for placement in placements_for(flight, n, args.seed, args.placements, args.quick)]
    # the longest first, so that the two workers finish together
    jobs.sort(key=lambda job: -job.placement.flight.duration_s)
    print(f"{len(flights)} flights, {len(jobs)} placements, {2 * len(jobs)} runs", file=sys.stderr)
    results: list[RunResult] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for k, pair in enumerate(pool.map(run_job, jobs), start=1):
            results += pair
            for r in pair:
                lead = "" if r.entry_s is None else f", lead {'miss' if r.lead_s is None else f'{r.lead_s:.0f} s'}"
                print(f"[{k}/{len(jobs)}] {r.flight} p{r.placement} {r.kind} {'rf' if r.with_rf else 'radar'}: "
                      f"visible {r.visible_s} s, tracked {_share(r.tracked_s, r.visible_s)}, drone "
                      f"{_share(r.called['drone'], r.tracked_s)}{lead} ({r.wall_s:.0f} s)", file=sys.stderr)
    order = {f.name: n for n, f in enumerate(flights)}
    results.sort(key=lambda r: (order[r.flight], r.placement, not r.with_rf))
    text = report(results, flights, args, time.perf_counter() - start)
    name = "bench_real_flights" + ("_quick" if args.quick else "") + \
        ("" if args.posture == "normal" else f"_{args.posture}")
    output = Path(args.output) if args.output else HERE / "results" / f"{name}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
