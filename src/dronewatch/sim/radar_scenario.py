"""Single-radar scenarios with drone-like targets, clutter and ground truth: the tracker benchmark corpus.

One radar at the site (``radar-1``) scans every ``period_s``; the file holds, in order::

    scenario   name, seed, duration_s, n_targets, clutter_per_scan, pd
    sensor     radar-1 with its sigmas, pd, period, clutter rate and coverage
    per scan k at t = t0 + k * period_s:
      detection ...   shuffled: targets in coverage seen with probability pd, plus clutter; unique ``id``
      scan            radar-1 finished the scan
      truth ...       class drone, vel_enu, for the targets inside coverage at t

Coverage is ``min_range_m <= range <= max_range_m`` and ``min_elevation_deg <=
elevation <= max_elevation_deg``, all azimuths.

Targets (site ENU, integrated every 0.1 s, all targets at once as arrays):

- fly legs that are straight and level in speed for 10-60 s; between legs a
  coordinated turn toward a new heading at the target's own turn rate
  (3-15 deg/s) while the speed moves to a new value in [min_speed_mps,
  max_speed_mps] at the target's own acceleration (1-3 m/s^2). A leg's clock
  runs only once the turn and speed change are done. Near the edge of coverage
  most new legs head back inwards; some go on and leave.
- climb or sink at up to 3 m/s (climb rate changes at 1 m/s^2), kept between
  20 and 500 m above the site: a target turns its climb around when its
  stopping height ``h + vz |vz| / 2`` would cross a limit.
- start as ``n_targets`` spread inside coverage (30-400 m up, range 300-2800 m
  for the default coverage); are born at ``n_targets / mean_lifetime_s`` per
  second plus ``(n_targets - alive) / 10 s`` (the feedback makes up for the
  targets that fly out, so that about ``n_targets`` stay alive), half entering
  at the coverage edge heading inwards, half taking off inside at 20 m; die after
  an exponential lifetime (mean ``mean_lifetime_s``) or once 300 m beyond the
  maximum range.

Measurements: the true site-ENU position gives azimuth (clockwise from north),
elevation and slant range (:func:`dronewatch.geo.enu2aer`); each gets Gaussian
noise of its sigma, the azimuth wrapped to [0, 360). With ``radial_speed`` a
detection also carries ``radial_speed_mps = p . v / |p|`` plus noise. Clutter
is Poisson(``clutter_per_scan``) per scan, uniform in range, azimuth [0, 360)
and elevation over the coverage, radial speed uniform in +-``max_speed_mps``.

One ``numpy.random.default_rng(seed)`` draws everything: same configuration,
same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dronewatch.errors import ConfigError
from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.geo import LocalFrame, ecef_vectors2enu, enu2aer
from dronewatch.model import Detection, Record, Scan, ScenarioInfo, Sensor, Truth

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

SENSOR_ID = "radar-1"

_SUBSTEP_S = 0.1
_MIN_HEIGHT_M, _MAX_HEIGHT_M = 20.0, 500.0
_START_MIN_HEIGHT_M, _START_MAX_HEIGHT_M = 30.0, 400.0
_ENTRY_MAX_HEIGHT_M = 300.0
_TURN_RATE_DEG_S = (3.0, 15.0)
_ACCEL_MPS2 = (1.0, 3.0)
_LEG_S = (10.0, 60.0)
_LEG_CLIMB_MPS = 2.0
_TAKEOFF_CLIMB_MPS = (1.0, 3.0)
_CLIMB_ACCEL_MPS2 = 1.0
_HEIGHT_MARGIN_M = 1.0
_REFILL_S = 10.0
_EXIT_MARGIN_M = 300.0
_ENTERING_FRACTION = 0.5


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
    t0: float = 1_764_000_000.0
    name: str = "radar-benchmark"

    def __post_init__(self) -> None:
        problems = []
        if self.n_targets < 0:
            problems.append(f"n_targets must be >= 0, got {self.n_targets}")
        if not self.clutter_per_scan >= 0.0:
            problems.append(f"clutter_per_scan must be >= 0, got {self.clutter_per_scan}")
        if not 0.0 < self.pd <= 1.0:
            problems.append(f"pd must be within (0, 1], got {self.pd}")
        if not self.duration_s >= 0.0:
            problems.append(f"duration_s must be >= 0, got {self.duration_s}")
        for key in ("period_s", "sigma_range_m", "sigma_azimuth_deg", "sigma_elevation_deg",
                    "sigma_radial_speed_mps", "min_speed_mps", "mean_lifetime_s"):
            if not getattr(self, key) > 0.0:
                problems.append(f"{key} must be > 0, got {getattr(self, key)}")
        if not 0.0 <= self.min_range_m < self.max_range_m:
            problems.append(f"need 0 <= min_range_m < max_range_m, got {self.min_range_m}, {self.max_range_m}")
        if not -90.0 <= self.min_elevation_deg < self.max_elevation_deg <= 90.0:
            problems.append("need -90 <= min_elevation_deg < max_elevation_deg <= 90, got "
                            f"{self.min_elevation_deg}, {self.max_elevation_deg}")
        if not self.min_speed_mps <= self.max_speed_mps:
            problems.append(f"need min_speed_mps <= max_speed_mps, got {self.min_speed_mps}, {self.max_speed_mps}")
        if problems:
            raise ConfigError("radar scenario: " + "; ".join(problems))

    @property
    def n_scans(self) -> int:
        """Scans at t0, t0 + period_s, ... up to t0 + duration_s inclusive."""
        return math.floor(self.duration_s / self.period_s + 1e-9) + 1


@dataclass(slots=True)
class _Targets:
    """Every live target's kinematics and limits, one row each."""

    ids: NDArray[np.int64]
    position: FloatArray      # (K, 3) site ENU, m
    heading: FloatArray       # rad, clockwise from north
    speed: FloatArray         # horizontal, m/s
    climb: FloatArray         # m/s
    heading_goal: FloatArray
    speed_goal: FloatArray
    climb_goal: FloatArray
    turn_rate: FloatArray     # rad/s limit
    accel: FloatArray         # m/s^2 limit
    leg_left_s: FloatArray    # straight flight left in this leg
    life_left_s: FloatArray

    def keep(self, mask: BoolArray) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name)[mask])

    def extend(self, other: _Targets) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    @property
    def velocity(self) -> FloatArray:
        """(K, 3) site-ENU velocity, m/s."""
        return np.stack([self.speed * np.sin(self.heading), self.speed * np.cos(self.heading), self.climb], axis=-1)


def _area_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> FloatArray:
    """Radii with uniform density over the annulus ``low <= r <= high``."""
    return np.sqrt(rng.uniform(low * low, high * high, n))


def _heights_at(rng: np.random.Generator, config: RadarScenarioConfig, slant_m: FloatArray,
                low_m: float, high_m: float) -> FloatArray:
    """Heights in [low_m, high_m] at these slant ranges whose elevation is inside coverage (where both can hold)."""
    ratio_low = np.clip(low_m / slant_m, -1.0, 1.0)
    ratio_high = np.clip(high_m / slant_m, -1.0, 1.0)
    el_low = np.maximum(config.min_elevation_deg, np.degrees(np.arcsin(ratio_low)))
    el_high = np.maximum(el_low, np.minimum(config.max_elevation_deg, np.degrees(np.arcsin(ratio_high))))
    height = slant_m * np.sin(np.radians(rng.uniform(el_low, el_high)))
    return np.clip(height, _MIN_HEIGHT_M, _MAX_HEIGHT_M)


class DroneCrowd:
    """Drone-like targets moved together, with births and deaths (also the `stress` scenario's crowd)."""

    def __init__(self, config: RadarScenarioConfig) -> None:
        self.c = config
        self.rng = np.random.default_rng(config.seed)
        self.next_id = 1
        self.targets = self._born(config.n_targets, initial=True)

    def _born(self, n: int, *, initial: bool = False) -> _Targets:
        c, rng = self.c, self.rng
        inner = max(c.min_range_m, 0.1 * c.max_range_m)
        outer = max(inner, 0.933 * c.max_range_m)
        speed = rng.uniform(c.min_speed_mps, c.max_speed_mps, n)
        azimuth = rng.uniform(0.0, 2 * math.pi, n)
        entering = np.zeros(n, dtype=bool) if initial else rng.random(n) < _ENTERING_FRACTION
        if initial:
            slant = _area_uniform(rng, inner, outer, n)
            height = _heights_at(rng, c, slant, _START_MIN_HEIGHT_M, _START_MAX_HEIGHT_M)
        else:
            slant = np.where(entering, 0.97 * c.max_range_m, _area_uniform(rng, inner, outer, n))
            entry_height = _heights_at(rng, c, slant, _START_MIN_HEIGHT_M, _ENTRY_MAX_HEIGHT_M)
            height = np.where(entering, entry_height, _MIN_HEIGHT_M)
        ground = np.sqrt(np.maximum(slant * slant - height * height, 0.0))
        position = np.stack([ground * np.sin(azimuth), ground * np.cos(azimuth), height], axis=-1)
        # entering targets head inwards (towards the site, give or take 40 deg); the others anywhere
        inward = (azimuth + math.pi + rng.uniform(-0.7, 0.7, n)) % (2 * math.pi)
        heading = np.where(entering, inward, rng.uniform(0.0, 2 * math.pi, n))
        takeoff = ~entering & (not initial)
        climb = np.where(takeoff, rng.uniform(*_TAKEOFF_CLIMB_MPS, n), 0.0)
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        return _Targets(ids, position, heading, speed, climb, heading.copy(), speed.copy(), climb.copy(),
                        np.radians(rng.uniform(*_TURN_RATE_DEG_S, n)), rng.uniform(*_ACCEL_MPS2, n),
                        rng.uniform(*_LEG_S, n), rng.exponential(c.mean_lifetime_s, n))

    def _new_legs(self) -> None:
        c, rng, tg = self.c, self.rng, self.targets
        due = np.flatnonzero(tg.leg_left_s <= 0.0)
        if due.size == 0:
            return
        pos = tg.position[due]
        ground = np.hypot(pos[:, 0], pos[:, 1])
        goal = tg.heading[due] + rng.normal(0.0, math.radians(60.0), due.size)
        # near the edge, most legs turn back towards the middle; a few go on and leave
        near_edge = (ground > 0.8 * c.max_range_m) & (rng.random(due.size) < 0.8)
        home = np.arctan2(-pos[:, 0], -pos[:, 1]) + rng.uniform(-0.8, 0.8, due.size)
        tg.heading_goal[due] = np.where(near_edge, home, goal) % (2 * math.pi)
        tg.speed_goal[due] = rng.uniform(c.min_speed_mps, c.max_speed_mps, due.size)
        height = pos[:, 2]
        climb = rng.uniform(-_LEG_CLIMB_MPS, _LEG_CLIMB_MPS, due.size)
        tg.climb_goal[due] = np.where(height < 60.0, np.abs(climb), np.where(height > 420.0, -np.abs(climb), climb))
        tg.leg_left_s[due] = rng.uniform(*_LEG_S, due.size)

    def step(self, dt: float) -> None:
        """Move every target on by ``dt`` seconds (keep ``dt`` near 0.1 s)."""
        tg = self.targets
        self._new_legs()
        # turn the short way round, no faster than the target's turn-rate limit
        error = (tg.heading_goal - tg.heading + math.pi) % (2 * math.pi) - math.pi
        tg.heading = (tg.heading + np.clip(error, -tg.turn_rate * dt, tg.turn_rate * dt)) % (2 * math.pi)
        speed_error = tg.speed_goal - tg.speed
        tg.speed = tg.speed + np.clip(speed_error, -tg.accel * dt, tg.accel * dt)
        # turn the climb around before the stopping height crosses a height limit
        stop_height = tg.position[:, 2] + tg.climb * np.abs(tg.climb) / (2.0 * _CLIMB_ACCEL_MPS2)
        low = stop_height < _MIN_HEIGHT_M + _HEIGHT_MARGIN_M
        high = stop_height > _MAX_HEIGHT_M - _HEIGHT_MARGIN_M
        tg.climb_goal = np.where(low, np.maximum(tg.climb_goal, 1.0),
                                 np.where(high, np.minimum(tg.climb_goal, -1.0), tg.climb_goal))
        step = _CLIMB_ACCEL_MPS2 * dt
        tg.climb = tg.climb + np.clip(tg.climb_goal - tg.climb, -step, step)
        tg.position = tg.position + tg.velocity * dt
        # a leg's clock runs once the turn and the speed change are over
        steady = (np.abs(error) <= tg.turn_rate * dt) & (np.abs(speed_error) <= tg.accel * dt)
        tg.leg_left_s = tg.leg_left_s - np.where(steady, dt, 0.0)
        tg.life_left_s = tg.life_left_s - dt

    def in_coverage(self, aer: tuple[FloatArray, FloatArray, FloatArray]) -> BoolArray:
        """Which of these (azimuth, elevation, range) the radar covers."""
        c = self.c
        _, elevation, slant = aer
        return ((slant >= c.min_range_m) & (slant <= c.max_range_m)
                & (elevation >= c.min_elevation_deg) & (elevation <= c.max_elevation_deg))

    def births_and_deaths(self, dt: float | None = None) -> None:
        """End lives that ran out or left for good; Poisson births over the last ``dt`` (default ``period_s``)."""
        c, tg = self.c, self.targets
        span = c.period_s if dt is None else dt
        ground = np.hypot(tg.position[:, 0], tg.position[:, 1])
        tg.keep((tg.life_left_s > 0.0) & (ground < c.max_range_m + _EXIT_MARGIN_M))
        shortfall = max(0, c.n_targets - tg.ids.size)
        births = int(self.rng.poisson((c.n_targets / c.mean_lifetime_s + shortfall / _REFILL_S) * span))
        if births:
            tg.extend(self._born(births))


def radar_measurements(
    position_enu: FloatArray, velocity_enu: FloatArray, config: RadarScenarioConfig, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
    """Noisy (range_m, azimuth_deg in [0, 360), elevation_deg, radial_speed_mps or None) of (K, 3) site-ENU points."""
    azimuth, elevation, slant = enu2aer(position_enu[:, 0], position_enu[:, 1], position_enu[:, 2])
    n = slant.size
    azimuth = (azimuth + rng.normal(0.0, config.sigma_azimuth_deg, n)) % 360.0
    # x % 360 can round up to 360.0 for a tiny negative x
    azimuth = np.where(azimuth >= 360.0, 0.0, azimuth)
    elevation = elevation + rng.normal(0.0, config.sigma_elevation_deg, n)
    radial = None
    if config.radial_speed:
        true_radial = np.einsum("ki,ki->k", position_enu, velocity_enu) / np.maximum(slant, 1e-9)
        radial = true_radial + rng.normal(0.0, config.sigma_radial_speed_mps, n)
    noisy_range = slant + rng.normal(0.0, config.sigma_range_m, n)
    return noisy_range, azimuth, elevation, radial


def _clutter(
    config: RadarScenarioConfig, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
    c = config
    n = int(rng.poisson(c.clutter_per_scan))
    slant = rng.uniform(c.min_range_m, c.max_range_m, n)
    azimuth = rng.uniform(0.0, 360.0, n)
    elevation = rng.uniform(c.min_elevation_deg, c.max_elevation_deg, n)
    radial = rng.uniform(-c.max_speed_mps, c.max_speed_mps, n) if c.radial_speed else None
    return slant, azimuth, elevation, radial


def radar_sensor(config: RadarScenarioConfig) -> Sensor:
    """The scenario's one radar, as its ``sensor`` line declares it."""
    c = config
    sigma = {"range_m": c.sigma_range_m, "azimuth_deg": c.sigma_azimuth_deg, "elevation_deg": c.sigma_elevation_deg}
    if c.radial_speed:
        sigma["radial_speed_mps"] = c.sigma_radial_speed_mps
    return Sensor(id=SENSOR_ID, kind="radar", lat=c.site_lat, lon=c.site_lon, alt=c.site_alt, sigma=sigma,
                  pd=c.pd, period_s=c.period_s, clutter_per_scan=c.clutter_per_scan, min_range_m=c.min_range_m,
                  max_range_m=c.max_range_m, min_elevation_deg=c.min_elevation_deg,
                  max_elevation_deg=c.max_elevation_deg)


def generate_labelled_radar_scenario(config: RadarScenarioConfig) -> Iterator[tuple[Record, str | None]]:
    """The scenario's records in file order, each detection with the truth id it measures (``None``: clutter).

    Records other than detections come with ``None``. Streams: one scan is held at a time.
    """
    c = config
    frame = LocalFrame(c.site_lat, c.site_lon, c.site_alt)
    yield ScenarioInfo({"name": c.name, "seed": c.seed, "duration_s": c.duration_s, "n_targets": c.n_targets,
                        "clutter_per_scan": c.clutter_per_scan, "pd": c.pd}), None
    yield radar_sensor(c), None
    crowd = DroneCrowd(c)
    rng = crowd.rng
    substeps = max(1, round(c.period_s / _SUBSTEP_S))
    detection_number = 0
    for k in range(c.n_scans):
        t = c.t0 + k * c.period_s
        if k:
            for _ in range(substeps):
                crowd.step(c.period_s / substeps)
            crowd.births_and_deaths()
        tg = crowd.targets
        velocity = tg.velocity
        visible = crowd.in_coverage(enu2aer(tg.position[:, 0], tg.position[:, 1], tg.position[:, 2]))
        seen = np.flatnonzero(visible & (rng.random(tg.ids.size) < c.pd))
        target_part = radar_measurements(tg.position[seen], velocity[seen], c, rng)
        clutter_part = _clutter(c, rng)
        n_clutter = clutter_part[0].size
        slant, azimuth, elevation = (np.concatenate([a, b]).tolist() for a, b in zip(target_part[:3],
                                                                                     clutter_part[:3], strict=True))
        radial: list[float] | list[None]
        if target_part[3] is not None and clutter_part[3] is not None:
            radial = np.concatenate([target_part[3], clutter_part[3]]).tolist()
        else:
            radial = [None] * (seen.size + n_clutter)
        labels = [f"drone-{n}" for n in tg.ids[seen].tolist()] + [None] * n_clutter
        for j in rng.permutation(seen.size + n_clutter).tolist():
            detection_number += 1
            yield Detection(t=t, sensor=SENSOR_ID, range_m=slant[j], azimuth_deg=azimuth[j],
                            elevation_deg=elevation[j], radial_speed_mps=radial[j],
                            id=f"d{detection_number}"), labels[j]
        yield Scan(t=t, sensor=SENSOR_ID), None
        inside = np.flatnonzero(visible)
        if inside.size:
            lat, lon, alt = frame.to_geodetic(tg.position[inside])
            # site-ENU velocity -> ECEF -> ENU at the target itself, as the format asks
            vel = ecef_vectors2enu(velocity[inside] @ frame.rotation, lat, lon).tolist()
            for number, la, lo, al, v in zip(tg.ids[inside].tolist(), lat.tolist(), lon.tolist(), alt.tolist(),
                                             vel, strict=True):
                yield Truth(t=t, id=f"drone-{number}", cls="drone", lat=la, lon=lo, alt=al,
                            vel_enu=(v[0], v[1], v[2])), None


def generate_radar_scenario(config: RadarScenarioConfig) -> Iterator[Record]:
    """The scenario's records in file order, one scan at a time."""
    for record, _ in generate_labelled_radar_scenario(config):
        yield record


def write_radar_scenario(config: RadarScenarioConfig, path: str | Path) -> dict[str, int]:
    """Write the scenario to ``path``; return how many detections (clutter among them), truths and scans it holds."""
    counts = {"detections": 0, "truths": 0, "scans": 0, "clutter": 0}
    with open(path, "w", encoding="utf-8") as out:
        writer = ScenarioWriter(out)
        for record, label in generate_labelled_radar_scenario(config):
            writer.write(record)
            if isinstance(record, Detection):
                counts["detections"] += 1
                counts["clutter"] += label is None
            elif isinstance(record, Truth):
                counts["truths"] += 1
            elif isinstance(record, Scan):
                counts["scans"] += 1
    return counts
