"""Simulated sensors: which objects each sensor sees, with what noise, and its false alarms.

All functions work on the objects alive at one scan, as arrays in the site ENU
frame: positions and velocities ``(K, 3)``, classes ``(K,)`` and per-object flags.

==========  ====================================================================
kind        sees
==========  ====================================================================
radar       every class inside range, elevation and sector; Pd falls off near the
            class's detection range (birds reflect less than drones, aircraft more)
rf          drones with an active control link, inside range: azimuth only
camera      inside its field of view and range (birds smaller, aircraft larger)
acoustic    drones and aircraft (motors) inside its short range
remoteid    broadcasting drones inside range, GNSS-like position noise, drops
adsb        aircraft with a transponder, inside range
==========  ====================================================================

Noise is Gaussian with the sensor line's ``sigma``; false alarms are Poisson with
mean ``clutter_per_scan``, uniform over the coverage in the sensor's own
measurement space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.geo.coverage import in_coverage
from dronewatch.model import Detection, Sensor

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Polar = tuple[FloatArray, FloatArray, FloatArray]

# Detection range of each class relative to the sensor's max_range_m (radar cross-section, size, noise).
RANGE_FACTOR: dict[str, dict[str, float]] = {
    "radar": {"drone": 1.0, "bird": 0.6, "aircraft": 3.0, "other": 1.0},
    "camera": {"drone": 1.0, "bird": 0.7, "aircraft": 3.0, "other": 1.0},
    "acoustic": {"drone": 1.0, "bird": 0.0, "aircraft": 4.0, "other": 0.0},
}
_DEFAULT_MAX_RANGE_M = 5000.0


@dataclass(frozen=True, slots=True)
class Scene:
    """The objects alive at one scan time (seconds since the epoch ``t``)."""

    t: float
    ids: list[str]
    classes: NDArray[np.str_]
    position: FloatArray
    velocity: FloatArray
    rf_link: BoolArray
    uas_ids: list[str | None]
    operator: FloatArray        # (K, 3) site ENU of the operator, NaN when unknown
    icao: list[str | None]


@dataclass(frozen=True, slots=True)
class SimSensor:
    """A sensor line plus where it stands in the site frame."""

    sensor: Sensor
    pose: tuple[FloatArray, FloatArray]

    @classmethod
    def at(cls, sensor: Sensor, site: LocalFrame) -> SimSensor:
        return cls(sensor, site.transform_to(LocalFrame(sensor.lat, sensor.lon, sensor.alt)))

    def aer(self, position: FloatArray) -> Polar:
        rot, offset = self.pose
        rel = position @ rot.T + offset
        return enu2aer(rel[:, 0], rel[:, 1], rel[:, 2])

    def inside(self, aer: Polar) -> BoolArray:
        """Inside range, elevation and azimuth sector (no class, no Pd); no range given: 5 km."""
        inside = in_coverage(self.sensor, *aer)
        if self.sensor.max_range_m is None:
            inside &= aer[2] <= _DEFAULT_MAX_RANGE_M
        return inside

    def covers(self, scene: Scene, aer: Polar | None = None) -> BoolArray:
        """Which objects are inside this sensor's coverage for their class (before Pd)."""
        if not scene.ids:
            return np.zeros(0, dtype=bool)
        aer = self.aer(scene.position) if aer is None else aer
        return self.inside(aer) & self.eligible(scene) & (aer[2] <= self.reach(scene))

    def eligible(self, scene: Scene) -> BoolArray:
        """Objects this kind of sensor can sense at all."""
        kind = self.sensor.kind
        if kind == "rf":
            return scene.rf_link.copy()
        if kind == "remoteid":
            return np.array([u is not None for u in scene.uas_ids], dtype=bool)
        if kind == "adsb":
            return np.array([i is not None for i in scene.icao], dtype=bool)
        factors = RANGE_FACTOR[kind]
        return np.array([factors.get(str(c), 1.0) > 0.0 for c in scene.classes], dtype=bool)

    def reach(self, scene: Scene) -> FloatArray:
        """How far this sensor can detect each object, by its class (at most its ``max_range_m``)."""
        s = self.sensor
        max_range = s.max_range_m or _DEFAULT_MAX_RANGE_M
        factors = RANGE_FACTOR.get(s.kind)
        if factors is None:
            return np.full(len(scene.ids), max_range)
        return np.minimum(max_range * np.array([factors.get(str(c), 1.0) for c in scene.classes]), max_range)

    def detection_probability(self, scene: Scene, slant: FloatArray) -> FloatArray:
        """Pd per object: the sensor's ``pd``, falling off smoothly near the class's detection range."""
        s = self.sensor
        pd = s.pd if s.pd is not None else 0.9
        if s.kind not in RANGE_FACTOR:
            return np.full(slant.shape, pd)
        reach = np.maximum((s.max_range_m or _DEFAULT_MAX_RANGE_M) * np.array(
            [RANGE_FACTOR[s.kind].get(str(c), 1.0) for c in scene.classes]), 1.0)
        exponent = np.minimum((slant - 0.9 * reach) / (0.04 * reach), 50.0)
        return np.asarray(pd / (1.0 + np.exp(exponent)), dtype=np.float64)


def observe(sim: SimSensor, scene: Scene, site: LocalFrame, rng: np.random.Generator, next_id: int
            ) -> list[Detection]:
    """One scan: the detections, shuffled, false alarms among them, ids from ``next_id``."""
    n = len(scene.ids)
    aer = sim.aer(scene.position)
    covered = sim.covers(scene, aer)
    seen = np.flatnonzero(covered & (rng.random(n) < sim.detection_probability(scene, aer[2])))
    if sim.sensor.kind in ("remoteid", "adsb"):
        return _reports(sim, scene, site, rng.permutation(seen), rng, next_id)
    return _plots(sim, scene.t, rng, next_id, *_measured(sim, aer, seen, rng), *_false_alarms(sim, rng))


def _sigma(sim: SimSensor, key: str, default: float) -> float:
    return float(sim.sensor.sigma.get(key, default))


def _measured(sim: SimSensor, aer: Polar, seen: NDArray[np.intp], rng: np.random.Generator) -> Polar:
    k = seen.size
    azimuth = aer[0][seen] + rng.normal(0.0, _sigma(sim, "azimuth_deg", 1.0), k)
    elevation = aer[1][seen] + rng.normal(0.0, _sigma(sim, "elevation_deg", 1.0), k)
    # noise past the zenith (or nadir) comes out on the other side, as a real sensor would report it
    over = np.abs(elevation) > 90.0
    elevation[over] = np.sign(elevation[over]) * 180.0 - elevation[over]
    azimuth[over] += 180.0
    return azimuth % 360.0, elevation, aer[2][seen] + rng.normal(0.0, _sigma(sim, "range_m", 10.0), k)


def _false_alarms(sim: SimSensor, rng: np.random.Generator) -> Polar:
    s = sim.sensor
    n = int(rng.poisson(s.clutter_per_scan or 0.0))
    if s.azimuth_min_deg is not None and s.azimuth_max_deg is not None:
        width = (s.azimuth_max_deg - s.azimuth_min_deg) % 360.0 or 360.0
        azimuth = (s.azimuth_min_deg + rng.uniform(0.0, width, n)) % 360.0
    else:
        azimuth = rng.uniform(0.0, 360.0, n)
    low = s.min_elevation_deg if s.min_elevation_deg is not None else 0.0
    high = s.max_elevation_deg if s.max_elevation_deg is not None else 60.0
    return (azimuth, rng.uniform(low, high, n),
            rng.uniform(s.min_range_m or 50.0, s.max_range_m or _DEFAULT_MAX_RANGE_M, n))


def _plots(sim: SimSensor, t: float, rng: np.random.Generator, first_id: int, *columns: FloatArray
           ) -> list[Detection]:
    """Detections of a plot sensor from (azimuth, elevation, range) arrays of real then false plots, shuffled."""
    s = sim.sensor
    order = rng.permutation(sum(c.size for c in columns[0::3]))
    azimuth = np.concatenate(columns[0::3])[order].tolist()
    elevation = np.concatenate(columns[1::3])[order].tolist()
    slant = np.concatenate(columns[2::3])[order].tolist()
    ids = [f"d{first_id + k}" for k in range(len(order))]
    if s.kind == "radar":
        return [Detection(t=t, sensor=s.id, range_m=r, azimuth_deg=a, elevation_deg=e, id=i)
                for a, e, r, i in zip(azimuth, elevation, slant, ids, strict=True)]
    if s.kind == "rf" or (s.kind == "acoustic" and "elevation_deg" not in s.sigma):
        return [Detection(t=t, sensor=s.id, azimuth_deg=a, id=i) for a, i in zip(azimuth, ids, strict=True)]
    return [Detection(t=t, sensor=s.id, azimuth_deg=a, elevation_deg=e, id=i)
            for a, e, i in zip(azimuth, elevation, ids, strict=True)]


def _reports(sim: SimSensor, scene: Scene, site: LocalFrame, seen: NDArray[np.intp],
             rng: np.random.Generator, first_id: int) -> list[Detection]:
    """Self-reported positions: GNSS-like noise (metres) on position, speed and track from the velocity."""
    s = sim.sensor
    k = seen.size
    if k == 0:
        return []
    horizontal = _sigma(sim, "lat", 5.0)
    noise = np.stack([rng.normal(0.0, _sigma(sim, "lon", horizontal), k), rng.normal(0.0, horizontal, k),
                      rng.normal(0.0, _sigma(sim, "alt", 10.0), k)], axis=-1)
    lat, lon, alt = site.to_geodetic(scene.position[seen] + noise)
    velocity = scene.velocity[seen]
    speed = np.hypot(velocity[:, 0], velocity[:, 1]) + rng.normal(0.0, _sigma(sim, "speed_mps", 0.5), k)
    track = np.degrees(np.arctan2(velocity[:, 0], velocity[:, 1])) % 360.0
    operator = scene.operator[seen]
    op_lat, op_lon, _ = site.to_geodetic(np.nan_to_num(operator))
    out = []
    for i, row in enumerate(seen):
        if s.kind == "remoteid":
            has_operator = not math.isnan(float(operator[i, 0]))
            out.append(Detection(
                t=scene.t, sensor=s.id, lat=float(lat[i]), lon=float(lon[i]), alt=float(alt[i]),
                uas_id=scene.uas_ids[row], speed_mps=float(max(speed[i], 0.0)), track_deg=float(track[i]),
                operator_lat=float(op_lat[i]) if has_operator else None,
                operator_lon=float(op_lon[i]) if has_operator else None, id=f"d{first_id + i}"))
        else:
            out.append(Detection(t=scene.t, sensor=s.id, lat=float(lat[i]), lon=float(lon[i]), alt=float(alt[i]),
                                 icao=scene.icao[row], id=f"d{first_id + i}"))
    return out
