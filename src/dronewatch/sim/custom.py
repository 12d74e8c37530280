"""Custom scenarios from TOML, built from the same objects and sensors as the built-in ones.

See ``docs/simulator.md`` for the format. A number may be given as ``[low, high]``:
it is drawn uniformly with the run's seed, so one file gives a family of scenarios.
Mistakes are :class:`~dronewatch.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dronewatch.errors import ConfigError
from dronewatch.geo import LocalFrame
from dronewatch.model import LEVELS, SENSOR_KINDS, TRUTH_CLASSES, Sensor, Zone
from dronewatch.sim import motion, scenarios
from dronewatch.sim.engine import TICK_S, Crowd, SimObject, SimScenario
from dronewatch.sim.motion import Limits, Waypoint

_SENSOR_OPTIONAL = ("pd", "period_s", "clutter_per_scan", "min_range_m", "max_range_m", "min_elevation_deg",
                    "max_elevation_deg", "azimuth_min_deg", "azimuth_max_deg")


class _Reader:
    """Typed access to one TOML table, with errors that say where."""

    def __init__(self, table: dict[str, Any], where: str, rng: np.random.Generator) -> None:
        self.table, self.where, self.rng = table, where, rng

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.where}.{key}: {what}")

    def number(self, key: str, default: float | None = None) -> float:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "required")
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
            low, high = float(value[0]), float(value[1])
            if low > high:
                raise self.fail(key, f"range [{low}, {high}] is empty")
            return float(self.rng.uniform(low, high))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number or [low, high], got {value!r}")
        return float(value)

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "required text" if value is None else f"expected text, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def points(self, key: str, width: tuple[int, ...]) -> list[list[float]]:
        value = self.table.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(key, "expected a list of points")
        out = []
        for k, point in enumerate(value):
            if (not isinstance(point, list) or len(point) not in width
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)):
                raise self.fail(f"{key}[{k}]", f"expected {' or '.join(map(str, width))} numbers, got {point!r}")
            out.append([float(v) for v in point])
        return out


def _sensor(reader: _Reader, site: LocalFrame) -> Sensor:
    kind = reader.text("kind", choices=SENSOR_KINDS)
    east, north, mast = reader.number("east_m", 0.0), reader.number("north_m", 0.0), reader.number("mast_m", 5.0)
    lat, lon, alt = site.to_geodetic(np.array([east, north, mast]))
    sigma = reader.table.get("sigma", {})
    if not isinstance(sigma, dict) or not all(isinstance(v, int | float) for v in sigma.values()):
        raise reader.fail("sigma", "expected a table of numbers")
    optional = {key: reader.number(key) for key in _SENSOR_OPTIONAL if key in reader.table}
    period = optional.get("period_s", 1.0)
    if period <= 0 or abs(period / TICK_S - round(period / TICK_S)) > 1e-9:
        raise reader.fail("period_s", f"must be a positive multiple of {TICK_S} s, got {period}")
    return Sensor(id=reader.text("id"), kind=kind, lat=float(lat), lon=float(lon), alt=float(alt),  # type: ignore[arg-type]
                  sigma={k: float(v) for k, v in sigma.items()}, **optional)


def _zone(reader: _Reader, site: LocalFrame) -> Zone:
    ring = reader.points("polygon_enu", (2,))
    if len(ring) < 3:
        raise reader.fail("polygon_enu", "a polygon needs at least 3 points")
    lat, lon, _ = site.to_geodetic(np.array([[e, n, 0.0] for e, n in ring]))
    floor, ceiling = reader.number("floor_m", 0.0), reader.number("ceiling_m", 500.0)
    if ceiling <= floor:
        raise reader.fail("ceiling_m", "must be above floor_m")
    return Zone(reader.text("id"), reader.text("level", choices=LEVELS), site.alt0_m + floor,  # type: ignore[arg-type]
                site.alt0_m + ceiling, tuple((float(b), float(a)) for a, b in zip(lat, lon, strict=True)))


def _waypoints(reader: _Reader, name: str, start_s: float, end_s: float) -> SimObject:
    limits_table = reader.table.get("limits", {})
    if not isinstance(limits_table, dict):
        raise reader.fail("limits", "expected a table")
    limits_reader = _Reader(limits_table, f"{reader.where}.limits", reader.rng)
    limits = Limits(limits_reader.number("accel_mps2", 3.0), limits_reader.number("turn_rate_dps", 30.0),
                    limits_reader.number("climb_mps", 4.0))
    if "start" not in reader.table:
        raise reader.fail("start", "required: [east_m, north_m, up_m]")
    start = _Reader({"start": [reader.table["start"]]}, reader.where, reader.rng).points("start", (3,))[0]
    points = [Waypoint(p[0], p[1], p[2], p[3], p[4] if len(p) == 5 else 0.0)
              for p in reader.points("waypoints", (4, 5))]
    trajectory = motion.follow_waypoints(start_s, start, reader.number("heading_deg", 0.0),
                                         reader.number("speed_mps", 0.0), points, limits, end_s,
                                         after=reader.text("after", "exit", ("exit", "hover", "land")))
    uas_id = reader.table.get("uas_id")
    return SimObject(name, reader.text("class", "drone", TRUTH_CLASSES), trajectory,  # type: ignore[arg-type]
                     rf_link=reader.flag("rf_link", True), uas_id=str(uas_id) if uas_id else None,
                     icao=str(reader.table["icao"]) if reader.table.get("icao") else None)


Builder = Callable[[_Reader, str, float, float], list[SimObject]]

OBJECT_TYPES: dict[str, Builder] = {
    "hobby_drone": lambda r, name, start, end: [
        _renamed(scenarios.hobby_drone(r.rng, start, end), name)],
    "attack_drone": lambda r, name, start, end: [scenarios.attack_drone(
        r.rng, start, end, name=name, from_m=r.number("from_m") if "from_m" in r.table else None,
        bearing=r.number("bearing_deg") if "bearing_deg" in r.table else None)],
    "observer_drone": lambda r, name, start, end: [_renamed(scenarios.observer_drone(r.rng, start, end), name)],
    "bird_flock": lambda r, name, start, end: scenarios.bird_flock(r.rng, start, end, size=int(r.number("size", 6)),
                                                                     name=name),
    "soaring_bird": lambda r, name, start, end: [scenarios.soaring_bird(r.rng, start, end, name)],
    "photo_drone": lambda r, name, start, end: [scenarios.photo_drone(r.rng, start, end, name)],
    "seabird": lambda r, name, start, end: [scenarios.seabird(r.rng, start, end, name)],
    "fpv_drone": lambda r, name, start, end: [scenarios.fpv_drone(r.rng, start, end, name)],
    "aerobatic_plane": lambda r, name, start, end: [scenarios.aerobatic_plane(r.rng, start, end, name)],
    "kestrel": lambda r, name, start, end: [scenarios.kestrel(r.rng, start, end, name)],
    "helicopter": lambda r, name, start, end: [_renamed(scenarios.helicopter(r.rng, start, end), name)],
    "waypoints": lambda r, name, start, end: [_waypoints(r, name, start, end)],
}


def _renamed(obj: SimObject, name: str) -> SimObject:
    return SimObject(name, obj.cls, obj.trajectory, obj.rf_link, obj.uas_id, obj.operator_enu, obj.icao)


def load_scenario(path: str | Path, seed: int, duration_s: float | None = None) -> SimScenario:
    """A custom scenario from a TOML file (``docs/simulator.md``)."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    rng = np.random.default_rng(seed)
    head = _Reader(document.get("scenario", {}), f"{source}: scenario", rng)
    site_table = head.table.get("site")
    site = scenarios.SITE
    if site_table is not None:
        site_reader = _Reader(site_table, f"{source}: scenario.site", rng)
        site = LocalFrame(site_reader.number("lat"), site_reader.number("lon"), site_reader.number("alt"))
    duration = duration_s if duration_s is not None else head.number("duration_s", 600.0)
    if not math.isfinite(duration) or duration <= 0:
        raise head.fail("duration_s", "must be positive")
    sensors = ([_sensor(_Reader(t, f"{source}: sensor[{k}]", rng), site) for k, t in enumerate(document["sensor"])]
               if "sensor" in document else scenarios.station_sensors())
    zones = ([_zone(_Reader(t, f"{source}: zone[{k}]", rng), site) for k, t in enumerate(document["zone"])]
             if "zone" in document else scenarios.station_zones())
    if len({s.id for s in sensors}) != len(sensors):
        raise ConfigError(f"{source}: sensor ids must be unique")
    objects: list[SimObject] = []
    crowd = None
    for k, table in enumerate(document.get("object", [])):
        reader = _Reader(table, f"{source}: object[{k}]", rng)
        kind = reader.text("type", choices=(*OBJECT_TYPES, "crowd"))
        if kind == "crowd":
            crowd = Crowd(int(reader.number("n_targets")), seed)
            continue
        base = reader.text("id", f"{kind.replace('_', '-')}-{k + 1}")
        for copy in range(int(reader.number("count", 1))):
            name = base if reader.table.get("count", 1) == 1 else f"{base}-{copy + 1}"
            objects += OBJECT_TYPES[kind](reader, name, reader.number("start_s", 0.0), duration)
    if len({o.id for o in objects}) != len(objects):
        raise ConfigError(f"{source}: object ids must be unique")
    return SimScenario(head.text("name", Path(path).stem), seed, duration, site, sensors, zones, objects, crowd,
                       scenarios.T0)
