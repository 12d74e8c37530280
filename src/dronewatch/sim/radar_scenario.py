"""Single-radar scenarios with drone-like targets, clutter and ground truth: the tracker benchmark corpus.

One radar at the site scans every ``period_s``. Targets fly legs of 10-60 s:
between legs they turn toward a new heading at their own turn-rate limit
(3-15 deg/s) and change speed (5-25 m/s) at their own acceleration limit
(1-3 m/s^2), climbing or sinking gently between 20 and 500 m above the site.
Near the edge of coverage most legs turn back inwards, some leave. Targets are
born (entering at the edge, or taking off inside) and die (landing after an
exponential lifetime, or leaving), so that about ``n_targets`` are alive.

Per scan: each target inside coverage is detected with probability ``pd`` and
measured with Gaussian noise of the sensor's sigmas; Poisson(``clutter_per_scan``)
false alarms fall uniformly in range, azimuth and elevation over the coverage;
optionally, non-uniform ones as well: Poisson(``ground_clutter_per_scan``) in the
ground clutter close in (range up to ``ground_clutter_range_m``, the lowest 2 deg of
elevation) and Poisson(``hot_spot_clutter_per_scan``) around each of ``hot_spots``
fixed points on the ground 800-2500 m out (a road, a wind farm), within
``hot_spot_radius_m``;
the detections come shuffled, all stamped with the scan time, followed by a
``scan`` line and the ``truth`` lines of the targets inside coverage.
Same configuration, same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.geo import LocalFrame, ecef_vectors2enu, enu2aer
from dronewatch.model import Detection, Record, Scan, ScenarioInfo, Sensor, Truth

FloatArray = NDArray[np.float64]

_SUBSTEP_S = 0.1
_MIN_HEIGHT_M, _MAX_HEIGHT_M = 20.0, 500.0


@dataclass(slots=True, frozen=True)
class RadarScenarioConfig:
    """What to simulate; the defaults are the benchmark's 20-target case."""

    n_targets: int = 20
    clutter_per_scan: float = 10.0
    pd: float = 0.9
    duration_s: float = 120.0
    period_s: float = 1.0
    seed: int = 0
    site_lat: float = 31.7775
    site_lon: float = -106.5290
    site_alt: float = 1130.0
    min_range_m: float = 100.0
    max_range_m: float = 3000.0
    min_elevation_deg: float = 0.0
    max_elevation_deg: float = 30.0
    sigma_range_m: float = 5.0
    sigma_azimuth_deg: float = 0.5
    sigma_elevation_deg: float = 0.5
    sigma_radial_speed_mps: float = 0.5
    min_speed_mps: float = 5.0
    max_speed_mps: float = 25.0
    mean_lifetime_s: float = 300.0
    radial_speed: bool = False
    ground_clutter_per_scan: float = 0.0
    ground_clutter_range_m: float = 800.0
    hot_spots: int = 0
    hot_spot_clutter_per_scan: float = 0.0
    hot_spot_radius_m: float = 100.0
    t0: float = 1_764_000_000.0
    name: str = "radar-benchmark"


@dataclass(slots=True)
class _Targets:
    """Every live target's kinematics and limits, one row each."""

    ids: NDArray[np.int64]
    position: FloatArray      # (K, 3) site ENU
    heading: FloatArray       # rad, clockwise from north
    speed: FloatArray
    climb: FloatArray
    heading_goal: FloatArray
    speed_goal: FloatArray
    climb_goal: FloatArray
    turn_rate: FloatArray     # rad/s limit
    accel: FloatArray         # m/s^2 limit
    leg_left_s: FloatArray
    life_left_s: FloatArray

    def keep(self, mask: NDArray[np.bool_]) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name)[mask])

    def extend(self, other: _Targets) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    @property
    def velocity(self) -> FloatArray:
        return np.stack([self.speed * np.sin(self.heading), self.speed * np.cos(self.heading), self.climb], axis=-1)


class DroneCrowd:
    """Drone-like targets moved together, with births and deaths (also the `stress` scenario's crowd)."""

    def __init__(self, config: RadarScenarioConfig) -> None:
        self.c = config
        self.rng = np.random.default_rng(config.seed)
        self.next_id = 1
        self.targets = self._born(config.n_targets, initial=True)

    def _born(self, n: int, *, initial: bool = False) -> _Targets:
        c, rng = self.c, self.rng
        speed = rng.uniform(c.min_speed_mps, c.max_speed_mps, n)
        azimuth = rng.uniform(0.0, 2 * math.pi, n)
        entering = np.zeros(n, dtype=bool) if initial else rng.random(n) < 0.5
        ground = np.where(entering, 0.97 * c.max_range_m, rng.uniform(300.0, 0.93 * c.max_range_m, n))
        height = np.where(initial, rng.uniform(30.0, 400.0, n), np.where(entering, rng.uniform(30.0, 300.0, n),
                                                                           _MIN_HEIGHT_M))
        position = np.stack([ground * np.sin(azimuth), ground * np.cos(azimuth), height], axis=-1)
        # entering targets head inwards (towards the site, give or take 40 deg); others anywhere
        inward = (azimuth + math.pi + rng.uniform(-0.7, 0.7, n)) % (2 * math.pi)
        heading = np.where(entering, inward, rng.uniform(0.0, 2 * math.pi, n))
        climb = np.where(initial | entering, 0.0, rng.uniform(1.0, 3.0, n))
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        return _Targets(ids, position, heading, speed, climb, heading.copy(), speed.copy(), climb.copy(),
                        np.radians(rng.uniform(3.0, 15.0, n)), rng.uniform(1.0, 3.0, n),
                        rng.uniform(10.0, 60.0, n), rng.exponential(c.mean_lifetime_s, n))

    def _new_legs(self) -> None:
        c, rng, tg = self.c, self.rng, self.targets
        due = np.flatnonzero(tg.leg_left_s <= 0.0)
        if due.size == 0:
            return
        pos = tg.position[due]
        ground = np.hypot(pos[:, 0], pos[:, 1])
        turn = rng.normal(0.0, math.radians(60.0), due.size)
        goal = tg.heading[due] + turn
        # near the edge, most legs turn back towards the middle; a few go on and leave
        near_edge = (ground > 0.8 * c.max_range_m) & (rng.random(due.size) < 0.8)
        home = np.arctan2(-pos[:, 0], -pos[:, 1]) + rng.uniform(-0.8, 0.8, due.size)
        tg.heading_goal[due] = np.where(near_edge, home, goal) % (2 * math.pi)
        tg.speed_goal[due] = rng.uniform(c.min_speed_mps, c.max_speed_mps, due.size)
        height = pos[:, 2]
        climb = rng.uniform(-2.0, 2.0, due.size)
        climb = np.where(height < 60.0, np.abs(climb), np.where(height > 420.0, -np.abs(climb), climb))
        tg.climb_goal[due] = climb
        tg.leg_left_s[due] = rng.uniform(10.0, 60.0, due.size)

    def step(self, dt: float) -> None:
        tg = self.targets
        self._new_legs()
        # turn the short way round, no faster than the target's turn-rate limit
        error = (tg.heading_goal - tg.heading + math.pi) % (2 * math.pi) - math.pi
        tg.heading = (tg.heading + np.clip(error, -tg.turn_rate * dt, tg.turn_rate * dt)) % (2 * math.pi)
        tg.speed = tg.speed + np.clip(tg.speed_goal - tg.speed, -tg.accel * dt, tg.accel * dt)
        tg.climb = tg.climb + np.clip(tg.climb_goal - tg.climb, -1.0 * dt, 1.0 * dt)
        tg.position = tg.position + tg.velocity * dt
        low, high = tg.position[:, 2] < _MIN_HEIGHT_M, tg.position[:, 2] > _MAX_HEIGHT_M
        tg.climb_goal[low], tg.climb_goal[high] = 1.0, -1.0
        tg.leg_left_s = tg.leg_left_s - dt
        tg.life_left_s = tg.life_left_s - dt

    def in_coverage(self, aer: tuple[FloatArray, FloatArray, FloatArray]) -> NDArray[np.bool_]:
        c = self.c
        _, elevation, slant = aer
        return ((slant >= c.min_range_m) & (slant <= c.max_range_m)
                & (elevation >= c.min_elevation_deg) & (elevation <= c.max_elevation_deg))

    def births_and_deaths(self) -> None:
        c, tg = self.c, self.targets
        ground = np.hypot(tg.position[:, 0], tg.position[:, 1])
        alive = (tg.life_left_s > 0.0) & (ground < c.max_range_m + 300.0)
        tg.keep(alive)
        shortfall = max(0, c.n_targets - tg.ids.size)
        births = self.rng.poisson(c.n_targets / c.mean_lifetime_s * c.period_s + 0.1 * shortfall)
        if births:
            tg.extend(self._born(int(births)))


def generate_radar_scenario(config: RadarScenarioConfig) -> Iterator[Record]:
    """The scenario's records in file order, one scan at a time."""
    c = config
    frame = LocalFrame(c.site_lat, c.site_lon, c.site_alt)
    sigma = {"range_m": c.sigma_range_m, "azimuth_deg": c.sigma_azimuth_deg, "elevation_deg": c.sigma_elevation_deg}
    if c.radial_speed:
        sigma["radial_speed_mps"] = c.sigma_radial_speed_mps
    fields = {key: value for key, value in asdict(c).items() if key in (
        "name", "seed", "duration_s", "n_targets", "clutter_per_scan", "pd")}
    yield ScenarioInfo(fields)
    yield Sensor(id="radar-1", kind="radar", lat=c.site_lat, lon=c.site_lon, alt=c.site_alt, sigma=sigma, pd=c.pd,
                 period_s=c.period_s, clutter_per_scan=c.clutter_per_scan + c.ground_clutter_per_scan
                 + c.hot_spots * c.hot_spot_clutter_per_scan, min_range_m=c.min_range_m,
                 max_range_m=c.max_range_m, min_elevation_deg=c.min_elevation_deg,
                 max_elevation_deg=c.max_elevation_deg)
    sim = DroneCrowd(c)
    rng = sim.rng
    hot_spots = np.zeros((0, 3))
    if c.hot_spots:  # fixed points on the ground: east, north, up of each
        ground = rng.uniform(800.0, min(2500.0, c.max_range_m), c.hot_spots)
        bearing = rng.uniform(0.0, 2 * math.pi, c.hot_spots)
        hot_spots = np.stack([ground * np.sin(bearing), ground * np.cos(bearing),
                              ground * np.tan(np.radians(c.min_elevation_deg + 0.5))], axis=-1)
    substeps = max(1, round(c.period_s / _SUBSTEP_S))
    detection_number = 0
    for k in range(int(c.duration_s / c.period_s) + 1):
        t = c.t0 + k * c.period_s
        if k:
            for _ in range(substeps):
                sim.step(c.period_s / substeps)
            sim.births_and_deaths()
        tg = sim.targets
        aer = enu2aer(tg.position[:, 0], tg.position[:, 1], tg.position[:, 2])
        visible = sim.in_coverage(aer)
        seen = np.flatnonzero(visible & (rng.random(tg.ids.size) < c.pd))
        n_clutter = int(rng.poisson(c.clutter_per_scan))
        azimuth = np.concatenate([aer[0][seen] + rng.normal(0.0, c.sigma_azimuth_deg, seen.size),
                                  rng.uniform(0.0, 360.0, n_clutter)]) % 360.0
        elevation = np.concatenate([aer[1][seen] + rng.normal(0.0, c.sigma_elevation_deg, seen.size),
                                    rng.uniform(c.min_elevation_deg, c.max_elevation_deg, n_clutter)])
        slant = np.concatenate([aer[2][seen] + rng.normal(0.0, c.sigma_range_m, seen.size),
                                rng.uniform(c.min_range_m, c.max_range_m, n_clutter)])
        if c.ground_clutter_per_scan or c.hot_spots:  # drawn last: the uniform cases keep their bytes
            lumpy = _lumpy_clutter(c, hot_spots, rng)
            n_clutter += lumpy[0].size
            azimuth, elevation, slant = (np.concatenate([a, b]) for a, b in zip((azimuth, elevation, slant), lumpy,
                                                                                 strict=True))
        radial = None
        if c.radial_speed:
            velocity = tg.velocity[seen]
            true_radial = np.einsum("ki,ki->k", tg.position[seen], velocity) / np.maximum(aer[2][seen], 1e-9)
            radial = np.concatenate([true_radial + rng.normal(0.0, c.sigma_radial_speed_mps, seen.size),
                                     rng.uniform(-c.max_speed_mps, c.max_speed_mps, n_clutter)])
        order = rng.permutation(seen.size + n_clutter)
        for j in order:
            detection_number += 1
            yield Detection(t=t, sensor="radar-1", range_m=float(slant[j]), azimuth_deg=float(azimuth[j]),
                            elevation_deg=float(elevation[j]),
                            radial_speed_mps=None if radial is None else float(radial[j]),
                            id=f"d{detection_number}")
        yield Scan(t=t, sensor="radar-1")
        inside = np.flatnonzero(visible)
        if inside.size:
            lat, lon, alt = frame.to_geodetic(tg.position[inside])
            velocity = ecef_vectors2enu(tg.velocity[inside] @ frame.rotation, lat, lon)
            for i, row in enumerate(inside):
                yield Truth(t=t, id=f"drone-{tg.ids[row]}", cls="drone", lat=float(lat[i]), lon=float(lon[i]),
                            alt=float(alt[i]), vel_enu=(float(velocity[i, 0]), float(velocity[i, 1]),
                                                        float(velocity[i, 2])))


def _lumpy_clutter(c: RadarScenarioConfig, hot_spots: FloatArray, rng: np.random.Generator
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One scan's ground-clutter and hot-spot false alarms: azimuth, elevation (deg), slant range (m)."""
    n_ground = int(rng.poisson(c.ground_clutter_per_scan))
    azimuth = [rng.uniform(0.0, 360.0, n_ground)]
    elevation = [rng.uniform(c.min_elevation_deg, c.min_elevation_deg + 2.0, n_ground)]
    slant = [rng.uniform(c.min_range_m, c.ground_clutter_range_m, n_ground)]
    for centre in hot_spots:
        n = int(rng.poisson(c.hot_spot_clutter_per_scan))
        radius = c.hot_spot_radius_m * np.sqrt(rng.random(n))
        angle = rng.uniform(0.0, 2 * math.pi, n)
        points = centre + np.stack([radius * np.sin(angle), radius * np.cos(angle), rng.uniform(-5.0, 15.0, n)],
                                   axis=-1)
        a, e, r = enu2aer(points[:, 0], points[:, 1], points[:, 2])
        azimuth.append(np.asarray(a))
        elevation.append(np.asarray(e))
        slant.append(np.asarray(r))
    return np.concatenate(azimuth), np.concatenate(elevation), np.concatenate(slant)


def write_radar_scenario(config: RadarScenarioConfig, path: str | Path) -> dict[str, int]:
    """Write the scenario to ``path``; return how many detections, scans and truth lines it holds."""
    counts = {"detections": 0, "scans": 0, "truths": 0}
    names = {Detection: "detections", Scan: "scans", Truth: "truths"}
    with open(path, "w", encoding="utf-8") as out:
        writer = ScenarioWriter(out)
        for record in generate_radar_scenario(config):
            writer.write(record)
            name = names.get(type(record))
            if name:
                counts[name] += 1
    return counts
