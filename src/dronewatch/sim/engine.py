"""Run a simulated scenario: objects move, sensors scan, records stream out in time order.

Time advances in ticks of :data:`TICK_S`; a sensor scans at every multiple of its
``period_s``. At each tick where some sensor scanned, the ``truth`` lines of the
objects inside the coverage of at least one sensor that can sense them (any
sensor, scanning then or not) follow the scans. Same scenario and seed, same records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
from numpy.typing import NDArray

from dronewatch.clock import Pacer
from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.geo import LocalFrame, ecef_vectors2enu
from dronewatch.model import Record, Scan, ScenarioInfo, Sensor, Truth, TruthClass, Zone
from dronewatch.sim.motion import Trajectory
from dronewatch.sim.radar_scenario import DroneCrowd, RadarScenarioConfig
from dronewatch.sim.sensors import Scene, SimSensor, observe

TICK_S = 0.5


@dataclass(frozen=True, slots=True)
class SimObject:
    """One scripted object: its class, its path and what it emits."""

    id: str
    cls: TruthClass
    trajectory: Trajectory
    rf_link: bool = False
    uas_id: str | None = None
    operator_enu: tuple[float, float, float] | None = None
    icao: str | None = None


@dataclass(frozen=True, slots=True)
class Crowd:
    """Many random drones moved together (the ``stress`` scenario): the radar benchmark's kinematics.

    Every third has an RF control link, every tenth broadcasts Remote ID.
    """

    n_targets: int
    seed: int


@dataclass(frozen=True, slots=True)
class SimScenario:
    """Everything a run needs; ``t0`` is the epoch second of the scenario's start."""

    name: str
    seed: int
    duration_s: float
    site: LocalFrame
    sensors: list[Sensor]
    zones: list[Zone] = field(default_factory=list)
    objects: list[SimObject] = field(default_factory=list)
    crowd: Crowd | None = None
    t0: float = 1_764_000_000.0


def _due(t_s: float, period_s: float | None) -> bool:
    period = period_s or 1.0
    k = t_s / period
    return abs(k - round(k)) < 1e-6


class _CrowdSource:
    def __init__(self, crowd: Crowd, duration_s: float) -> None:
        config = RadarScenarioConfig(n_targets=crowd.n_targets, seed=crowd.seed, duration_s=duration_s,
                                     period_s=TICK_S, max_range_m=3000.0)
        self.sim = DroneCrowd(config)

    def advance(self, dt: float) -> None:
        steps = max(1, round(dt / 0.1))
        for _ in range(steps):
            self.sim.step(dt / steps)
        self.sim.births_and_deaths()


def _scene(t: float, t_s: float, objects: list[SimObject], crowd: _CrowdSource | None) -> Scene:
    ids: list[str] = []
    classes: list[str] = []
    positions: list[NDArray[np.float64]] = []
    velocities: list[NDArray[np.float64]] = []
    rf: list[bool] = []
    uas: list[str | None] = []
    operators: list[tuple[float, float, float]] = []
    icao: list[str | None] = []
    nan3 = (math.nan, math.nan, math.nan)
    for obj in objects:
        state = obj.trajectory.at(t_s)
        if state is None or not np.all(np.isfinite(state[0])):
            continue
        ids.append(obj.id)
        classes.append(obj.cls)
        positions.append(state[0])
        velocities.append(state[1])
        rf.append(obj.rf_link)
        uas.append(obj.uas_id)
        operators.append(obj.operator_enu or nan3)
        icao.append(obj.icao)
    position = np.array(positions, dtype=np.float64).reshape(-1, 3)
    velocity = np.array(velocities, dtype=np.float64).reshape(-1, 3)
    operator = np.array(operators, dtype=np.float64).reshape(-1, 3)
    rf_link = np.array(rf, dtype=bool)
    if crowd is not None:
        tg = crowd.sim.targets
        numbers = tg.ids.tolist()
        ids += [f"drone-{n}" for n in numbers]
        classes += ["drone"] * len(numbers)
        position = np.vstack([position, tg.position])
        velocity = np.vstack([velocity, tg.velocity])
        operator = np.vstack([operator, np.full((len(numbers), 3), math.nan)])
        rf_link = np.concatenate([rf_link, tg.ids % 3 == 0])
        uas += [f"STRESS{n:06d}" if n % 10 == 0 else None for n in numbers]
        icao += [None] * len(numbers)
    return Scene(t, ids, np.array(classes, dtype=str), position, velocity, rf_link, uas, operator, icao)


def generate(scenario: SimScenario) -> Iterator[Record]:
    """The scenario's records in file order."""
    rng = np.random.default_rng(scenario.seed)
    site = scenario.site
    yield ScenarioInfo({"name": scenario.name, "seed": scenario.seed, "duration_s": scenario.duration_s})
    yield from scenario.sensors
    yield from scenario.zones
    sims = [SimSensor.at(s, site) for s in scenario.sensors]
    crowd = _CrowdSource(scenario.crowd, scenario.duration_s) if scenario.crowd else None
    next_id = 1
    ticks = round(scenario.duration_s / TICK_S)
    for k in range(ticks + 1):
        t_s = k * TICK_S
        t = scenario.t0 + t_s
        if crowd is not None and k:
            crowd.advance(TICK_S)
        scanning = [sim for sim in sims if _due(t_s, sim.sensor.period_s)]
        if not scanning:
            continue
        scene = _scene(t, t_s, scenario.objects, crowd)
        for sim in scanning:
            detections = observe(sim, scene, site, rng, next_id)
            next_id += len(detections)
            yield from detections
            yield Scan(t=t, sensor=sim.sensor.id)
        covered = np.zeros(len(scene.ids), dtype=bool)
        for sim in sims:
            covered |= sim.covers(scene)
        inside = np.flatnonzero(covered)
        if inside.size:
            lat, lon, alt = site.to_geodetic(scene.position[inside])
            velocity = ecef_vectors2enu(scene.velocity[inside] @ site.rotation, lat, lon)
            for i, row in enumerate(inside):
                yield Truth(t=t, id=scene.ids[row], cls=scene.classes[row], lat=float(lat[i]),
                            lon=float(lon[i]), alt=float(alt[i]),
                            vel_enu=(float(velocity[i, 0]), float(velocity[i, 1]), float(velocity[i, 2])))


def paced(records: Iterable[Record], t0: float, *, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[Record]:
    """Yield records no earlier than their time after the start, on ``clock``: a live sensor feed."""
    pacer = Pacer(origin_s=t0, clock=clock)
    pacer.delay_s(t0)  # the start is now
    for record in records:
        t = getattr(record, "t", None)
        if t is not None and (wait := pacer.delay_s(t)) > 0:
            sleep(wait)
        yield record


def write(scenario: SimScenario, stream: IO[str], *, realtime: bool = False,
          tap: Callable[[Record], None] | None = None) -> dict[str, int]:
    """Write the scenario to ``stream``, handing each record to ``tap`` too; return counts per record type."""
    counts: dict[str, int] = {}
    writer = ScenarioWriter(stream)
    records: Iterable[Record] = generate(scenario)
    if realtime:
        records = paced(records, scenario.t0)
    for record in records:
        writer.write(record)
        if tap is not None:
            tap(record)
        name = type(record).__name__
        counts[name] = counts.get(name, 0) + 1
        if realtime:
            stream.flush()
    return counts
