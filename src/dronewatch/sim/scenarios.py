"""The built-in scenarios: ``border-station``, ``swarm`` and ``stress``.

All three stand at one site on the US-Mexico border at El Paso, Texas, with the
same sensors: a radar, two RF direction finders 800 m apart, a camera watching
south over the border, an acoustic array, a Remote ID receiver and an ADS-B
receiver. A ``critical`` zone (300 m square, 0-500 m above ground) covers the
compound; a ``warning`` zone reaches 1.5 km around it. The seed varies start
times, bearings, heights, speeds and paths; the kinds of traffic stay.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dronewatch.errors import ConfigError
from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor, Zone
from dronewatch.sim import figures, motion
from dronewatch.sim.engine import Crowd, SimObject, SimScenario
from dronewatch.sim.figures import Airframe, FlightState
from dronewatch.sim.motion import Limits, Trajectory, Waypoint

SITE = LocalFrame(31.7775, -106.5290, 1130.0)
T0 = 1_764_000_000.0
DRONE = Limits(accel_mps2=4.0, turn_rate_dps=45.0, climb_mps=5.0)
RACER = Limits(accel_mps2=6.0, turn_rate_dps=60.0, climb_mps=10.0)
MULTIROTOR = Limits(accel_mps2=3.0, turn_rate_dps=90.0, climb_mps=4.0)
"""A camera multirotor flown by hand: turns on the spot, gentle on the sticks."""
FPV_CLIMB_OUT = Limits(accel_mps2=15.0, turn_rate_dps=35.0, climb_mps=8.0)
"""An FPV racer getting to and from its area: 35 deg/s at 45 m/s is a 2.8 g turn."""
FPV = Airframe(cruise_mps=38.0, min_speed_mps=12.0, max_speed_mps=50.0, throttle_per_s=1.5, thrust_mps2=30.0,
               drag_mps2=15.0, floor_m=5.0)
"""A 5-inch FPV quad: thrust three times its weight, 50 m/s flat out."""
PLANE_CLIMB_OUT = Limits(accel_mps2=3.0, turn_rate_dps=30.0, climb_mps=6.0)
AEROBATIC = Airframe(cruise_mps=20.0, min_speed_mps=7.0, max_speed_mps=45.0, throttle_per_s=0.5,
                     thrust_mps2=1.3 * figures.G_MPS2, drag_mps2=3.0, floor_m=25.0)
"""An F3A aerobatic model: more thrust than weight (it climbs vertically without losing speed)."""


def _sensor(sensor_id: str, kind: str, east: float, north: float, mast_m: float, **fields: object) -> Sensor:
    lat, lon, alt = SITE.to_geodetic(np.array([east, north, mast_m]))
    return Sensor(id=sensor_id, kind=kind, lat=round(float(lat), 7), lon=round(float(lon), 7),  # type: ignore[arg-type]
                  alt=round(float(alt), 2), **fields)  # type: ignore[arg-type]


def station_sensors(radar_clutter: float = 10.0) -> list[Sensor]:
    """The station's sensors, with their noise, Pd, clutter, period and coverage."""
    return [
        _sensor("radar-1", "radar", 0.0, 0.0, 10.0, sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5},
                pd=0.9, period_s=1.0, clutter_per_scan=radar_clutter, min_range_m=30.0, max_range_m=3000.0,
                min_elevation_deg=-2.0, max_elevation_deg=40.0),
        _sensor("rf-west", "rf", -400.0, -100.0, 6.0, sigma={"azimuth_deg": 2.0}, pd=0.8, period_s=1.0,
                clutter_per_scan=0.5, max_range_m=4000.0),
        _sensor("rf-east", "rf", 400.0, -100.0, 6.0, sigma={"azimuth_deg": 2.0}, pd=0.8, period_s=1.0,
                clutter_per_scan=0.5, max_range_m=4000.0),
        _sensor("camera-1", "camera", 0.0, -60.0, 12.0, sigma={"azimuth_deg": 0.1, "elevation_deg": 0.1}, pd=0.85,
                period_s=0.5, clutter_per_scan=0.2, max_range_m=2000.0, min_elevation_deg=-5.0,
                max_elevation_deg=60.0, azimuth_min_deg=110.0, azimuth_max_deg=250.0),
        _sensor("acoustic-1", "acoustic", 60.0, -40.0, 3.0, sigma={"azimuth_deg": 4.0, "elevation_deg": 4.0},
                pd=0.7, period_s=1.0, clutter_per_scan=0.3, max_range_m=500.0),
        _sensor("rid-1", "remoteid", 0.0, 0.0, 10.0, sigma={"lat": 4.0, "lon": 4.0, "alt": 8.0}, pd=0.9,
                period_s=1.0, max_range_m=5000.0),
        _sensor("adsb-1", "adsb", 0.0, 0.0, 10.0, sigma={"lat": 15.0, "lon": 15.0, "alt": 25.0}, pd=0.95,
                period_s=1.0, max_range_m=30000.0),
    ]


def station_zones() -> list[Zone]:
    """The compound (critical) and the ring around it (warning), heights above the ellipsoid."""
    ground = SITE.alt0_m

    def polygon(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
        lat, lon, _ = SITE.to_geodetic(np.array([[e, n, 0.0] for e, n in points]))
        return tuple((round(float(a), 7), round(float(b), 7)) for a, b in zip(lon, lat, strict=True))

    square = [(-150.0, -150.0), (150.0, -150.0), (150.0, 150.0), (-150.0, 150.0)]
    ring = [(1500.0 * math.sin(math.radians(a)), 1500.0 * math.cos(math.radians(a))) for a in range(0, 360, 15)]
    return [Zone("compound", "critical", ground, ground + 500.0, polygon(square)),
            Zone("approach", "warning", ground, ground + 800.0, polygon(ring))]


def _polar(bearing_deg: float, distance_m: float, up_m: float) -> tuple[float, float, float]:
    b = math.radians(bearing_deg)
    return (distance_m * math.sin(b), distance_m * math.cos(b), up_m)


def _uas_id(rng: np.random.Generator) -> str:
    return "1581F" + "".join(rng.choice(list("0123456789ABCDEF"), 15))


def hobby_drone(rng: np.random.Generator, start_s: float, end_s: float) -> SimObject:
    """A compliant drone with Remote ID passing outside the zones (closest ~1.8-2.4 km)."""
    bearing = rng.uniform(0.0, 360.0)
    side = 1.0 if rng.random() < 0.5 else -1.0
    height = rng.uniform(60.0, 120.0)
    miss = rng.uniform(1800.0, 2400.0)
    start = _polar(bearing, 2800.0, 0.0)
    # a chord of the circle of radius `miss`, flown at a steady hobby speed
    closest = _polar(bearing + side * 90.0, miss, height)
    far = _polar(bearing + side * 170.0, 2900.0, height)
    speed = rng.uniform(7.0, 12.0)
    trajectory = motion.follow_waypoints(start_s, start, bearing + 180.0, 0.0,
                                         [Waypoint(*_polar(bearing, 2700.0, height), speed_mps=speed),
                                          Waypoint(*closest, speed_mps=speed), Waypoint(*far, speed_mps=speed)],
                                         DRONE, end_s, after="land")
    operator = (start[0] + rng.normal(0, 20), start[1] + rng.normal(0, 20), 1.5)
    return SimObject("hobby-1", "drone", trajectory, rf_link=True, uas_id=_uas_id(rng), operator_enu=operator)


def attack_drone(rng: np.random.Generator, start_s: float, end_s: float, name: str = "attack-1",
                 from_m: float | None = None, bearing: float | None = None) -> SimObject:
    """No Remote ID: in low from ~2 km at 15-20 m/s, then a dive onto the compound."""
    bearing = rng.uniform(90.0, 270.0) if bearing is None else bearing  # from the Mexican side, mostly
    distance = rng.uniform(1800.0, 2300.0) if from_m is None else from_m
    height = rng.uniform(20.0, 45.0)
    speed = rng.uniform(15.0, 20.0)
    jink = _polar(bearing + rng.uniform(-20.0, 20.0), distance * 0.5, height)
    impact = np.array([rng.uniform(-120.0, 120.0), rng.uniform(-120.0, 120.0), 3.0])
    # pop up 200 m short of the point it aims at, then dive onto it
    pop_up = impact + np.array(_polar(bearing, 200.0, height + 30.0))
    waypoints = [Waypoint(*_polar(bearing, distance - 100.0, height), speed_mps=speed),
                 Waypoint(*jink, speed_mps=speed),
                 Waypoint(float(pop_up[0]), float(pop_up[1]), float(pop_up[2]), speed),
                 Waypoint(float(impact[0]), float(impact[1]), float(impact[2]), speed)]
    trajectory = motion.follow_waypoints(start_s, _polar(bearing, distance, 0.0), bearing + 180.0, 0.0, waypoints,
                                         RACER, end_s, after="land")
    return SimObject(name, "drone", trajectory, rf_link=bool(rng.random() < 0.5))


def observer_drone(rng: np.random.Generator, start_s: float, end_s: float) -> SimObject:
    """Flies in and loiters ~600 m out for several minutes, watching, then leaves."""
    bearing = rng.uniform(0.0, 360.0)
    height = rng.uniform(80.0, 150.0)
    center = _polar(bearing, 600.0, height)
    speed = rng.uniform(5.0, 8.0)
    laps = rng.uniform(4.0, 7.0)  # 100 m radius at 5-8 m/s: ~1.5 min a lap
    waypoints = [Waypoint(*_polar(bearing, 1500.0, height), speed_mps=12.0)]
    waypoints += motion.orbit_waypoints(center, 100.0, height, speed, laps, clockwise=bool(rng.random() < 0.5),
                                        start_angle_deg=bearing)
    waypoints += [Waypoint(*_polar(bearing + 30.0, 3500.0, height), speed_mps=12.0)]
    trajectory = motion.follow_waypoints(start_s, _polar(bearing, 2500.0, 0.0), bearing + 180.0, 0.0, waypoints,
                                         DRONE, end_s)
    return SimObject("observer-1", "drone", trajectory, rf_link=True)


def photo_drone(rng: np.random.Generator, start_s: float, end_s: float, name: str = "photo-1") -> SimObject:
    """A camera multirotor as real ones fly (the recorded DJI flights): a vertical take-off 700-1300 m
    out, then long hovers, creeping, climbs and descents on the spot, short dashes and small loops
    within 250 m of its take-off point, and a landing. Some fly autonomous missions, with no control link."""
    home = np.array(_polar(rng.uniform(0.0, 360.0), rng.uniform(700.0, 1300.0), 0.0))
    height = rng.uniform(30.0, 120.0)
    waypoints = [Waypoint(float(home[0]), float(home[1]), height, 2.0, hover_s=height / 4.0 + rng.uniform(5.0, 30.0))]
    here = home.copy()
    for _ in range(int(rng.integers(4, 9))):
        move = rng.choice(["hover", "creep", "vertical", "dash", "loop"])
        if move == "vertical":
            height = float(np.clip(height + rng.uniform(-60.0, 60.0), 15.0, 120.0))
            waypoints.append(Waypoint(float(here[0]), float(here[1]), height, 2.0, hover_s=rng.uniform(15.0, 40.0)))
            continue
        if move == "loop":
            center = (float(here[0]), float(here[1]), height)
            waypoints += motion.orbit_waypoints(center, rng.uniform(15.0, 40.0), height, rng.uniform(3.0, 6.0),
                                                rng.uniform(1.0, 2.0), clockwise=bool(rng.random() < 0.5))
            continue
        reach, speed, hover = {"hover": (5.0, 1.0, (30.0, 120.0)), "creep": (60.0, rng.uniform(0.5, 3.0), (5.0, 30.0)),
                               "dash": (250.0, rng.uniform(8.0, 14.0), (5.0, 40.0))}[str(move)]
        offset = np.array(_polar(rng.uniform(0.0, 360.0), rng.uniform(0.3, 1.0) * reach, 0.0))
        here = home + np.clip(here - home + offset, -250.0, 250.0)
        waypoints.append(Waypoint(float(here[0]), float(here[1]), height, speed, hover_s=rng.uniform(*hover)))
    waypoints.append(Waypoint(float(home[0]), float(home[1]), height, rng.uniform(6.0, 10.0), hover_s=5.0))
    trajectory = motion.follow_waypoints(start_s, home.tolist(), rng.uniform(0.0, 360.0), 0.0, waypoints, MULTIROTOR,
                                         end_s, after="land")
    return SimObject(name, "drone", trajectory, rf_link=bool(rng.random() < 0.7))


def _end_state(trajectory: Trajectory) -> FlightState:
    e, n, u = (float(v) for v in trajectory.position[-1])
    ve, vn, vu = (float(v) for v in trajectory.velocity[-1])
    horizontal = math.hypot(ve, vn)
    return FlightState(e, n, u, math.atan2(ve, vn) % (2.0 * math.pi), math.atan2(vu, horizontal),
                       max(math.hypot(horizontal, vu), 1.0))


def _figures_between(start_s: float, end_s: float, launch: tuple[float, float, float], area: Waypoint,
                     climb_out: Limits, airframe: Airframe, choose: figures.Chooser, flight_s: float,
                     landing: list[Waypoint], rng: np.random.Generator) -> Trajectory:
    """Take off at ``launch``, fly to ``area``, fly figures there for ``flight_s``, come back by ``landing``
    and land."""
    out = motion.follow_waypoints(start_s, launch, float(rng.uniform(0.0, 360.0)), 0.0, [area], climb_out, end_s,
                                  after="stop")
    if out.end_s >= end_s - 1e-9:
        return out
    shown, state = figures.fly_figures(out.end_s, _end_state(out), airframe, choose, out.end_s + flight_s, end_s, rng)
    if shown.end_s >= end_s - 1e-9:
        return motion.join(out, shown)
    back = motion.follow_waypoints(shown.end_s, (state.e, state.n, state.u), math.degrees(state.heading),
                                   state.speed, landing, climb_out, end_s, after="land")
    return motion.join(out, shown, back)


def fpv_drone(rng: np.random.Generator, start_s: float, end_s: float, name: str = "fpv-1") -> SimObject:
    """An FPV racer or freestyle quad: from a launch point 0.8-2 km out to an area 200-900 m from the
    compound, 1.5-4 min of freestyle there (30-50 m/s, hard banked turns at 1.5-3 g, dives and
    pull-ups), back and land. RF video and control links, no Remote ID (as most are flown)."""
    launch = _polar(rng.uniform(0.0, 360.0), rng.uniform(800.0, 2000.0), 0.0)
    centre = _polar(rng.uniform(0.0, 360.0), rng.uniform(200.0, 900.0), rng.uniform(20.0, 60.0))
    speed = float(rng.uniform(30.0, 45.0))
    trajectory = _figures_between(start_s, end_s, launch, Waypoint(*centre, speed_mps=speed), FPV_CLIMB_OUT, FPV,
                                  figures.fpv_chooser(centre, rng.uniform(150.0, 300.0), ceiling_m=120.0,
                                                      floor_m=FPV.floor_m, max_speed_mps=FPV.max_speed_mps),
                                  float(rng.uniform(90.0, 240.0)),
                                  [Waypoint(launch[0], launch[1], 20.0, speed, hover_s=1.0)], rng)
    return SimObject(name, "drone", trajectory, rf_link=True)


def aerobatic_plane(rng: np.random.Generator, start_s: float, end_s: float, name: str = "aerobatic-1"
                    ) -> SimObject:
    """A fixed-wing model flown as the recorded F3A flight: off a field 0.8-1.8 km out, 4-8 min of
    aerobatics in a box 300-500 m long beside it (cruise 15-25 m/s, passes up to 1.5 times that,
    loops, vertical up-lines, stall turns and vertical dives pulled out at 2.5-4 g, 25-300 m up),
    then a landing. A control link, no Remote ID (model flying fields are exempt)."""
    field = _polar(rng.uniform(0.0, 360.0), rng.uniform(800.0, 1800.0), 0.0)
    axis = float(rng.uniform(0.0, 180.0))
    centre = np.array(field) + np.array(_polar(axis + 90.0, rng.uniform(100.0, 200.0), 0.0))
    entry = Waypoint(float(centre[0]), float(centre[1]), float(rng.uniform(80.0, 150.0)), AEROBATIC.cruise_mps)
    # a straight final approach along the box's axis down onto the field, slowing to a stop on it
    final = np.array(field) + np.array(_polar(axis, 300.0, 20.0))
    landing = [Waypoint(float(final[0]), float(final[1]), 20.0, 16.0), Waypoint(field[0], field[1], 0.0, 12.0, 0.5)]
    trajectory = _figures_between(start_s, end_s, field, entry, PLANE_CLIMB_OUT, AEROBATIC,
                                  figures.aerobatic_chooser(centre.tolist(), axis, rng.uniform(150.0, 250.0),
                                                            ceiling_m=320.0, floor_m=AEROBATIC.floor_m),
                                  float(rng.uniform(240.0, 480.0)), landing, rng)
    return SimObject(name, "drone", trajectory, rf_link=True)


def kestrel(rng: np.random.Generator, start_s: float, end_s: float, name: str = "kestrel-1") -> SimObject:
    """A kestrel hunting 300-1500 m from the compound: flapping flight, wind-hovering 5-30 s at 10-40 m,
    dropping on prey, on again: hovering, it is as still as a multirotor."""
    start = _polar(rng.uniform(0.0, 360.0), rng.uniform(300.0, 1500.0), rng.uniform(10.0, 40.0))
    return SimObject(name, "bird", motion.kestrel(start_s, start, rng.uniform(0.0, 360.0), end_s, rng,
                                                  exit_radius_m=3500.0))


def bird_flock(rng: np.random.Generator, start_s: float, end_s: float, size: int = 6, name: str = "flock"
               ) -> list[SimObject]:
    """Birds crossing together, 8-18 m/s, low, with erratic heading changes."""
    bearing = rng.uniform(0.0, 360.0)
    offset = rng.uniform(-400.0, 400.0)  # crossing within the radar's reach for birds (~1.8 km)
    start = np.array(_polar(bearing, 2500.0, 0.0)) + np.array(_polar(bearing + 90.0, offset, rng.uniform(20, 80)))
    leader = motion.wander(start_s, start, bearing + 180.0 + rng.uniform(-15, 15), (8.0, 18.0), (10.0, 150.0),
                           end_s, rng, sudden_turn_per_s=0.02, exit_radius_m=3500.0, wingbeat_hz=4.0)
    return [SimObject(f"{name}-{k + 1}", "bird", path)
            for k, path in enumerate(motion.flock(leader, size, 12.0, rng, wingbeat_hz=4.0))]


def soaring_bird(rng: np.random.Generator, start_s: float, end_s: float, name: str,
                 near: tuple[float, float] | None = None) -> SimObject:
    """A single bird circling in a thermal drifting with the wind (``near`` a point, 100-250 m off), gliding."""
    if near is None:
        center = _polar(rng.uniform(0.0, 360.0), rng.uniform(300.0, 1500.0), 0.0)
    else:
        offset = _polar(rng.uniform(0.0, 360.0), rng.uniform(100.0, 250.0), 0.0)
        center = (near[0] + offset[0], near[1] + offset[1], 0.0)
    wind = _polar(rng.uniform(0.0, 360.0), rng.uniform(0.5, 3.0), 0.0)
    path = motion.soaring(start_s, center, rng.uniform(30.0, 80.0), rng.uniform(8.0, 12.0), rng.uniform(50.0, 200.0),
                          rng.uniform(0.2, 1.0), wind, end_s, rng)
    return SimObject(name, "bird", path)


def seabird(rng: np.random.Generator, start_s: float, end_s: float, name: str = "seabird-1") -> SimObject:
    """A single bird crossing low (5-30 m) and fast, straight-ish, resting on the ground or water at times:
    by its height and speed much like a drone on its way in."""
    bearing = rng.uniform(0.0, 360.0)
    start = np.array(_polar(bearing, 2500.0, rng.uniform(5.0, 30.0))) + np.array(
        _polar(bearing + 90.0, rng.uniform(-1200.0, 1200.0), 0.0))
    heading = bearing + 180.0 + rng.uniform(-30.0, 30.0)
    return SimObject(name, "bird", motion.seabird(start_s, start, heading, end_s, rng, exit_radius_m=3500.0))


def helicopter(rng: np.random.Generator, start_s: float, end_s: float) -> SimObject:
    """A crewed helicopter with ADS-B, straight and level ~300 m above ground, passing within ~1 km."""
    bearing = rng.uniform(0.0, 360.0)
    offset = rng.uniform(-1000.0, 1000.0)
    start = np.array(_polar(bearing, 6000.0, 0.0)) + np.array(_polar(bearing + 90.0, offset, rng.uniform(280, 330)))
    speed = rng.uniform(45.0, 60.0)
    velocity = np.array(_polar(bearing + 180.0, speed, 0.0))
    end = min(end_s, start_s + 12000.0 / speed)
    icao = "".join(rng.choice(list("0123456789ABCDEF"), 6))
    return SimObject("helicopter-1", "aircraft", motion.straight(start_s, start, velocity, end), icao=icao)


SOMETIMES: tuple[tuple[Callable[[np.random.Generator, float, float], SimObject], int, float, float], ...] = (
    (fpv_drone, 18, 0.3, 400.0),
    (aerobatic_plane, 19, 0.25, 200.0),
    (kestrel, 20, 0.5, 300.0),
)
"""Objects in some seeds only: (builder, stream, share of seeds, latest start in seconds)."""


def _sometimes(seed: int, end_s: float) -> list[SimObject]:
    """The objects of :data:`SOMETIMES` this seed has, each from a random stream of its own, so that
    whether one comes changes nothing else."""
    out = []
    for build, stream, share, latest_s in SOMETIMES:
        rng = np.random.default_rng([seed, stream])
        if rng.random() < share:
            out.append(build(rng, float(rng.uniform(0.0, min(latest_s, end_s))), end_s))
    return out


def border_station(seed: int, duration_s: float = 600.0) -> SimScenario:
    rng = np.random.default_rng(seed)
    end = duration_s
    observer = observer_drone(rng, rng.uniform(0.0, 60.0), end)
    # where the observer loiters: half-way through its flight; a bird soars near it, as birds do near drones
    loiter = observer.trajectory.position[observer.trajectory.position.shape[0] // 2]
    objects = [
        hobby_drone(rng, rng.uniform(0.0, 120.0), end),
        attack_drone(rng, rng.uniform(180.0, 360.0), end),
        observer,
        *bird_flock(rng, rng.uniform(60.0, 300.0), end),
        soaring_bird(rng, rng.uniform(0.0, 100.0), end, "soaring-1", near=(float(loiter[0]), float(loiter[1]))),
        *(soaring_bird(rng, rng.uniform(0.0, 200.0), end, f"soaring-{k + 2}") for k in range(int(rng.integers(1, 3)))),
        helicopter(rng, rng.uniform(100.0, 400.0), end),
        # from a stream of its own, so that the other objects stay as they were before it came
        photo_drone(np.random.default_rng([seed, 16]), rng.uniform(0.0, 200.0), end),
        seabird(np.random.default_rng([seed, 17]), rng.uniform(0.0, 300.0), end),
        *_sometimes(seed, end),
    ]
    return SimScenario("border-station", seed, duration_s, SITE, station_sensors(), station_zones(), objects, t0=T0)


def swarm(seed: int, duration_s: float = 600.0) -> SimScenario:
    rng = np.random.default_rng(seed)
    start = rng.uniform(30.0, 120.0)
    first = rng.uniform(0.0, 45.0)
    objects = [attack_drone(rng, start + rng.uniform(0.0, 60.0), duration_s, name=f"swarm-{k + 1}",
                            from_m=rng.uniform(2000.0, 2800.0), bearing=first + k * 45.0 + rng.uniform(-10.0, 10.0))
               for k in range(8)]
    objects += bird_flock(rng, rng.uniform(0.0, 200.0), duration_s, size=int(rng.integers(4, 9)))
    objects += [soaring_bird(rng, rng.uniform(0.0, 100.0), duration_s, f"soaring-{k + 1}") for k in range(3)]
    objects.append(seabird(np.random.default_rng([seed, 17]), rng.uniform(0.0, 300.0), duration_s))
    objects += _sometimes(seed, duration_s)
    return SimScenario("swarm", seed, duration_s, SITE, station_sensors(), station_zones(), objects, t0=T0)


def stress(seed: int, duration_s: float = 600.0) -> SimScenario:
    return SimScenario("stress", seed, duration_s, SITE, station_sensors(radar_clutter=50.0), station_zones(),
                       [], crowd=Crowd(1000, seed), t0=T0)


BUILT_IN: dict[str, Callable[[int, float], SimScenario]] = {
    "border-station": border_station,
    "swarm": swarm,
    "stress": stress,
}


def built_in(name: str, seed: int, duration_s: float | None = None) -> SimScenario:
    """A built-in scenario by name."""
    try:
        build = BUILT_IN[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r}: built in are {', '.join(BUILT_IN)}, or give a .toml file"
                          ) from None
    return build(seed, duration_s if duration_s is not None else 600.0)
