"""Motion of simulated objects: sampled trajectories in the site ENU frame.

Every behaviour produces a :class:`Trajectory`: times on a fixed step (0.1 s)
with position and velocity, from the object's appearance to its disappearance.
Ground is flat at the site's elevation (``u = 0``); heights are above it.

==============  ==================================================================
behaviour       how
==============  ==================================================================
waypoints       steer to each waypoint in turn: heading turns at most
                ``turn_rate_dps``, speed changes at most ``accel_mps2``, height
                changes at most ``climb_mps``; optional hover at a waypoint; after
                the last one the object flies on (``exit``), hovers or lands
orbit           waypoints around a circle, lap after lap (loiter)
soaring         a circle whose centre drifts with the wind while the bird climbs
wander          heading random walk with sudden changes (a bird in erratic flight)
flock           a wandering leader and followers at slowly varying offsets
seabird         commuting low with flap-and-glide, resting on the water
kestrel         flying, then hovering on the spot into the wind, then on again
straight        constant velocity (crewed aircraft)
==============  ==================================================================

Flapping birds carry their wingbeat in their speed: each downstroke pushes, so the speed
along the path swings by a few per cent at the wingbeat frequency,
``v (1 + a sin(2 pi f t + phase))``. Real wingbeats are 3-6 Hz; the 0.1 s step carries
frequencies below 5 Hz only, so they are put at 3-4.5 Hz. The surge moves the bird a few
centimetres: no sensor here resolves it, but a truth velocity sampled at any instant shows
it. Soaring birds glide and do not flap. FPV racers and aerobatic planes are in
:mod:`dronewatch.sim.figures`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from dronewatch.geo import LocalFrame

FloatArray = NDArray[np.float64]

STEP_S = 0.1
WINGBEAT_SURGE = 0.06
"""Speed swing within a wingbeat, as a share of the speed (small birds 5-10 %)."""


def wingbeat(step: int, frequency_hz: float, phase_rad: float = 0.0) -> float:
    """The factor a flapping bird's speed has at ``step`` (of :data:`STEP_S`): ``1 + a sin(2 pi f t + phase)``."""
    return 1.0 + WINGBEAT_SURGE * math.sin(2.0 * math.pi * frequency_hz * step * STEP_S + phase_rad)


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Positions and velocities ``(T, 3)`` at times ``t0_s + k * STEP_S`` (seconds from scenario start)."""

    t0_s: float
    position: FloatArray
    velocity: FloatArray

    @property
    def end_s(self) -> float:
        return float(self.t0_s + (self.position.shape[0] - 1) * STEP_S)

    def at(self, t_s: float) -> tuple[FloatArray, FloatArray] | None:
        """Position and velocity at ``t_s`` (linear interpolation), or None outside its life."""
        last = self.position.shape[0] - 1
        k = (t_s - self.t0_s) / STEP_S
        if k < -1e-9 or k > last + 1e-9:
            return None
        i = min(max(math.floor(k), 0), max(last - 1, 0))
        j = min(i + 1, last)
        w = min(max(k - i, 0.0), 1.0)
        return (self.position[i] * (1 - w) + self.position[j] * w, self.velocity[i] * (1 - w) + self.velocity[j] * w)


@dataclass(frozen=True, slots=True)
class Limits:
    """What an airframe can do."""

    accel_mps2: float = 3.0
    turn_rate_dps: float = 30.0
    climb_mps: float = 4.0


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A point to fly to (ENU metres, ``u`` above ground) at ``speed_mps``, optionally hovering there."""

    east_m: float
    north_m: float
    up_m: float
    speed_mps: float
    hover_s: float = 0.0


@dataclass(slots=True)
class _State:
    e: float
    n: float
    u: float
    heading: float  # rad, clockwise from north
    speed: float
    climb: float = 0.0
    samples: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)

    def record(self) -> None:
        self.samples.append((self.e, self.n, self.u, self.speed * math.sin(self.heading),
                             self.speed * math.cos(self.heading), self.climb))

    def advance(self, dt: float) -> None:
        self.e += self.speed * math.sin(self.heading) * dt
        self.n += self.speed * math.cos(self.heading) * dt
        self.u = max(0.0, self.u + self.climb * dt)


def _approach(value: float, goal: float, limit: float) -> float:
    return value + max(-limit, min(limit, goal - value))


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _trajectory(t0_s: float, samples: list[tuple[float, float, float, float, float, float]]) -> Trajectory:
    array = np.array(samples, dtype=np.float64).reshape(-1, 6)
    return Trajectory(t0_s, array[:, :3], array[:, 3:])


def follow_waypoints(t0_s: float, start: Sequence[float], heading_deg: float, speed_mps: float,
                     waypoints: Sequence[Waypoint], limits: Limits, end_s: float, *, after: str = "exit",
                     exit_radius_m: float = 8000.0) -> Trajectory:
    """Fly from ``start`` through ``waypoints``; then ``after`` = ``exit`` (fly on until ``exit_radius_m``
    from the site or ``end_s``), ``hover`` (until ``end_s``), ``land`` or ``stop`` (the trajectory ends
    at the last waypoint, for another behaviour to go on from there)."""
    s = _State(float(start[0]), float(start[1]), float(start[2]), math.radians(heading_deg), speed_mps)
    dt = STEP_S
    t = t0_s
    index, hover_left = 0, -1.0
    turn = math.radians(limits.turn_rate_dps) * dt
    s.record()
    while t < end_s - 1e-9:
        if index < len(waypoints):
            w = waypoints[index]
            de, dn = w.east_m - s.e, w.north_m - s.n
            distance = math.hypot(de, dn)
            if hover_left >= 0.0:
                goal_speed = 0.0
                hover_left -= dt
                if hover_left < 0.0:
                    index += 1
            else:
                if distance > 1.0:
                    s.heading = (s.heading + max(-turn, min(turn, _wrap(math.atan2(de, dn) - s.heading)))) % (
                        2 * math.pi)
                # slow down in time to stop at a hover point
                goal_speed = w.speed_mps
                if w.hover_s > 0.0:
                    goal_speed = min(goal_speed, math.sqrt(2.0 * limits.accel_mps2 * max(distance - 2.0, 0.0)))
                reached = distance < max(3.0, 1.5 * s.speed * dt) or (
                    w.hover_s <= 0.0 and distance < max(15.0, s.speed * 2.0))
                if reached:
                    if w.hover_s > 0.0:
                        hover_left = w.hover_s
                    else:
                        index += 1
            # a straight glide path: arrive at the waypoint's height when arriving over it
            time_to_go = max(distance / max(s.speed, 1.0), 1.0)
            s.climb = _approach(s.climb, max(-limits.climb_mps, min(limits.climb_mps, (w.up_m - s.u) / time_to_go)),
                                4.0 * dt)
        elif after == "stop":
            break
        elif after == "hover":
            goal_speed = 0.0
            s.climb = _approach(s.climb, 0.0, 2.0 * dt)
        elif after == "land":
            goal_speed = 0.0
            s.climb = _approach(s.climb, -min(limits.climb_mps, 2.0 + s.u / 5.0), 2.0 * dt)
            if s.u <= 0.0 and s.speed < 0.1:
                break
        else:
            goal_speed = s.speed
            s.climb = _approach(s.climb, 0.0, 2.0 * dt)
            if math.hypot(s.e, s.n) > exit_radius_m:
                break
        s.speed = max(0.0, _approach(s.speed, goal_speed, limits.accel_mps2 * dt))
        s.advance(dt)
        t += dt
        s.record()
    return _trajectory(t0_s, s.samples)


def orbit_waypoints(center: Sequence[float], radius_m: float, up_m: float, speed_mps: float, laps: float,
                    clockwise: bool = True, start_angle_deg: float = 0.0) -> list[Waypoint]:
    """Waypoints around a circle (``laps`` times), for a loiter."""
    points_per_lap = 24
    n = max(2, round(points_per_lap * laps))
    sign = 1.0 if clockwise else -1.0
    out = []
    for k in range(1, n + 1):
        angle = math.radians(start_angle_deg) + sign * 2.0 * math.pi * k / points_per_lap
        out.append(Waypoint(center[0] + radius_m * math.sin(angle), center[1] + radius_m * math.cos(angle), up_m,
                            speed_mps))
    return out


def soaring(t0_s: float, center: Sequence[float], radius_m: float, speed_mps: float, start_up_m: float,
            climb_mps: float, wind_enu: Sequence[float], end_s: float, rng: np.random.Generator) -> Trajectory:
    """A bird circling in a thermal that drifts with the wind, climbing, with small wobbles."""
    steps = max(1, round((end_s - t0_s) / STEP_S))
    t = np.arange(steps + 1) * STEP_S
    omega = speed_mps / radius_m * (1.0 if rng.random() < 0.5 else -1.0)
    phase = rng.uniform(0.0, 2 * math.pi)
    wobble = np.cumsum(rng.normal(0.0, 0.02, steps + 1)) * radius_m * 0.05
    r = radius_m + wobble
    e = center[0] + wind_enu[0] * t + r * np.sin(phase + omega * t)
    n = center[1] + wind_enu[1] * t + r * np.cos(phase + omega * t)
    u = np.maximum(5.0, start_up_m + climb_mps * t + 3.0 * np.sin(0.05 * t))
    position = np.stack([e, n, u], axis=-1)
    return Trajectory(t0_s, position, np.gradient(position, STEP_S, axis=0))


def wander(t0_s: float, start: Sequence[float], heading_deg: float, speed_range_mps: tuple[float, float],
           up_range_m: tuple[float, float], end_s: float, rng: np.random.Generator,
           sudden_turn_per_s: float = 0.05, exit_radius_m: float = 8000.0, heading_noise_deg: float = 1.0,
           wingbeat_hz: float | None = None) -> Trajectory:
    """Erratic flight: heading random walk (``heading_noise_deg`` per step), occasional sudden turns,
    speed and height drifting in range; flapping at ``wingbeat_hz`` if given."""
    steps = max(1, round((end_s - t0_s) / STEP_S))
    heading = math.radians(heading_deg)
    speed = float(rng.uniform(*speed_range_mps))
    e, n, u = (float(v) for v in start)
    samples = []
    for k in range(steps + 1):
        climb = float(rng.normal(0.0, 0.5))
        flying = speed * (wingbeat(k, wingbeat_hz) if wingbeat_hz else 1.0)
        samples.append((e, n, u, flying * math.sin(heading), flying * math.cos(heading), climb))
        heading += float(rng.normal(0.0, math.radians(heading_noise_deg)))
        if rng.random() < sudden_turn_per_s * STEP_S:
            heading += float(rng.uniform(-1.5, 1.5))
        # a flapping bird's quick speed changes are its wingbeats; its cruise speed drifts more slowly
        speed = min(max(speed + float(rng.normal(0.0, 0.3)) * (0.3 if wingbeat_hz else 1.0), speed_range_mps[0]),
                    speed_range_mps[1])
        flying = speed * (wingbeat(k + 1, wingbeat_hz) if wingbeat_hz else 1.0)
        e += flying * math.sin(heading) * STEP_S
        n += flying * math.cos(heading) * STEP_S
        u = min(max(u + climb * STEP_S, up_range_m[0]), up_range_m[1])
        if math.hypot(e, n) > exit_radius_m:
            break
    return _trajectory(t0_s, samples)


def seabird(t0_s: float, start: Sequence[float], heading_deg: float, end_s: float, rng: np.random.Generator,
            exit_radius_m: float = 8000.0, wingbeat_hz: float = 3.5) -> Trajectory:
    """A seabird (the recorded gannet): commuting low over the water at 9-20 m/s on a wandering heading,
    flap-and-glide speed changes (wingbeats while it speeds up, gliding while it slows), rising and
    sinking a few metres, now and then settling on the water for half a minute to a few minutes and
    taking off again."""
    steps = max(1, round((end_s - t0_s) / STEP_S))
    heading = math.radians(heading_deg)
    cruise = float(rng.uniform(9.0, 20.0))
    flap_glide_s = float(rng.uniform(2.0, 4.0))  # a bird's own rhythm
    speed, rest_left = cruise, 0.0
    e, n, u = (float(v) for v in start)
    samples: list[tuple[float, float, float, float, float, float]] = []
    for k in range(steps + 1):
        flapping = False
        if rest_left > 0.0:
            rest_left -= STEP_S
            goal_speed, goal_up = float(rng.uniform(0.0, 0.5)), 0.5  # drifting on the water
        else:
            goal_speed = cruise * (1.0 + 0.25 * math.sin(k * STEP_S / flap_glide_s))
            flapping = math.cos(k * STEP_S / flap_glide_s) > 0.0
            goal_up = float(start[2]) + 4.0 * math.sin(k * STEP_S / 7.0)
            if rng.random() < STEP_S / 300.0:  # about once in five minutes of flight
                rest_left = float(rng.uniform(30.0, 200.0))
        speed = _approach(speed, goal_speed, 2.0 * STEP_S)
        flying = speed * (wingbeat(k, wingbeat_hz) if flapping else 1.0)
        climb = max(-3.0, min(3.0, goal_up - u))
        samples.append((e, n, u, flying * math.sin(heading), flying * math.cos(heading), climb))
        heading += float(rng.normal(0.0, math.radians(2.0)))
        e += flying * math.sin(heading) * STEP_S
        n += flying * math.cos(heading) * STEP_S
        u = max(0.0, u + climb * STEP_S)
        if math.hypot(e, n) > exit_radius_m:
            break
    return _trajectory(t0_s, samples)


def kestrel(t0_s: float, start: Sequence[float], heading_deg: float, end_s: float, rng: np.random.Generator,
            exit_radius_m: float = 8000.0, wingbeat_hz: float = 4.5) -> Trajectory:
    """A kestrel hunting: flapping flight at 6-11 m/s on a wandering heading for 10-60 s, then
    wind-hovering on the spot for 5-30 s at 10-40 m (ground speed well under 1 m/s, the body held
    still while the wings beat), now and then a drop to the ground on prey, then on again."""
    steps = max(1, round((end_s - t0_s) / STEP_S))
    heading = math.radians(heading_deg)
    e, n, u = (float(v) for v in start)
    speed = cruise = float(rng.uniform(6.0, 11.0))
    climb, goal_up = 0.0, min(max(u, 10.0), 40.0)
    mode, left = "fly", float(rng.uniform(10.0, 60.0))
    drift = np.zeros(2)  # the hovering body's small wander, an Ornstein-Uhlenbeck velocity
    samples: list[tuple[float, float, float, float, float, float]] = []
    for k in range(steps + 1):
        left -= STEP_S
        if left <= 0.0:
            if mode == "fly":
                # the hover counts from when it has stopped: slowing down takes speed / 3 m/s2
                mode, left = "hover", float(rng.uniform(5.0, 30.0)) + speed / 3.0
                goal_up = float(rng.uniform(10.0, 40.0))
            elif mode == "hover" and rng.random() < 0.3:
                mode, left, goal_up = "drop", float(rng.uniform(3.0, 10.0)), 0.3
            else:
                mode, left, cruise = "fly", float(rng.uniform(10.0, 60.0)), float(rng.uniform(6.0, 11.0))
                heading += float(rng.uniform(-1.0, 1.0))
                goal_up = min(max(goal_up, 10.0), 40.0) + float(rng.uniform(-5.0, 5.0))
        if mode == "fly":
            speed = _approach(speed, cruise, 2.0 * STEP_S)
            heading += float(rng.normal(0.0, math.radians(2.0)))
        else:
            speed = _approach(speed, 0.0, 3.0 * STEP_S)
        drift += -0.5 * drift * STEP_S + rng.normal(0.0, 0.15, 2) * math.sqrt(STEP_S)
        beat = wingbeat(k, wingbeat_hz)
        flying = speed * beat
        ve = flying * math.sin(heading) + (drift[0] if mode == "hover" else 0.0)
        vn = flying * math.cos(heading) + (drift[1] if mode == "hover" else 0.0)
        climb = _approach(climb, max(-6.0, min(2.0, goal_up - u)), 4.0 * STEP_S)
        samples.append((e, n, u, ve, vn, climb))
        e += ve * STEP_S
        n += vn * STEP_S
        u = max(0.0, u + climb * STEP_S)
        if math.hypot(e, n) > exit_radius_m:
            break
    return _trajectory(t0_s, samples)


def flock(leader: Trajectory, size: int, spacing_m: float, rng: np.random.Generator,
          wingbeat_hz: float | None = None) -> list[Trajectory]:
    """Followers around a leader at offsets that drift slowly (pulled back towards the leader, at an
    Ornstein-Uhlenbeck relative velocity each).

    With ``wingbeat_hz`` (the leader's), each follower beats its wings out of step with the
    leader: its surge along the path is the leader's shifted by a phase of its own."""
    steps = leader.position.shape[0]
    out = [leader]
    speed = np.linalg.norm(leader.velocity[:, :2], axis=1)
    along = leader.velocity[:, :2] / np.maximum(speed, 1e-9)[:, None]
    omega_t = 2.0 * math.pi * (wingbeat_hz or 0.0) * np.arange(steps) * STEP_S
    for k in range(size - 1):
        offset = rng.normal(0.0, spacing_m, 3) * np.array([1.0, 1.0, 0.3])
        drift = np.zeros(3)
        path = np.empty((steps, 3))
        for i in range(steps):
            # the offset drifts at a relative velocity that itself wanders (about 0.4 m/s, 2 s memory):
            # a bird changes its place in the flock smoothly, not by jumps at every step
            drift += -drift * STEP_S / 2.0 + rng.normal(0.0, spacing_m * 0.01, 3) * np.array([1.0, 1.0, 0.3])
            offset += (drift - 0.01 * offset) * STEP_S
            path[i] = offset
        if wingbeat_hz:
            # the leader's surge is -(a v / w) cos(w t); the follower's the same a phase later
            phase = 2.0 * math.pi * ((k + 1) * 0.618034 % 1.0)  # spread over the cycle, no draw from rng
            surge = WINGBEAT_SURGE * speed / (2.0 * math.pi * wingbeat_hz) * (np.cos(omega_t)
                                                                             - np.cos(omega_t + phase))
            path[:, :2] += along * surge[:, None]
        position = leader.position + path
        position[:, 2] = np.maximum(position[:, 2], 5.0)
        out.append(Trajectory(leader.t0_s, position, np.gradient(position, STEP_S, axis=0)))
    return out


def straight(t0_s: float, start: Sequence[float] | FloatArray, velocity: Sequence[float] | FloatArray,
             end_s: float) -> Trajectory:
    """Constant velocity, straight and level if ``velocity[2] == 0``."""
    steps = max(1, round((end_s - t0_s) / STEP_S))
    t = np.arange(steps + 1)[:, None] * STEP_S
    v = np.asarray(velocity, dtype=np.float64)
    position = np.asarray(start, dtype=np.float64) + t * v
    return Trajectory(t0_s, position, np.broadcast_to(v, position.shape).copy())


def join(first: Trajectory, *more: Trajectory) -> Trajectory:
    """One trajectory from pieces each starting where the one before ended (its first sample dropped)."""
    position, velocity = [first.position], [first.velocity]
    for piece in more:
        position.append(piece.position[1:])
        velocity.append(piece.velocity[1:])
    return Trajectory(first.t0_s, np.concatenate(position), np.concatenate(velocity))


def from_csv_rows(rows: Sequence[tuple[float, float, float, float | None]], origin_enu: Sequence[float],
                  *, altitude: str = "lowest", default_height_m: float = 60.0, max_gap_s: float = 5.0) -> Trajectory:
    """A recorded flight ``(t, lat, lon, alt or None)`` moved to ``origin_enu`` of the site.

    The flight keeps its shape: positions are taken in the ENU frame of its first fix and
    shifted so that fix lands on ``origin_enu``. Logs differ in their altitude datum, so
    heights above ground are: ``altitude="lowest"`` the altitude above the flight's lowest
    fix (take-off or landing on the ground), ``"ground"`` the altitude column as it is
    (already above ground or home point); ``default_height_m`` where altitude is missing.
    Resampled to :data:`STEP_S`; where fixes are more than ``max_gap_s`` apart the object
    is absent (NaN), not invented.
    """
    if altitude not in ("lowest", "ground"):
        raise ValueError(f"altitude must be 'lowest' or 'ground', not {altitude!r}")
    if len(rows) < 2:
        raise ValueError("a trajectory needs at least two fixes")
    t = np.array([r[0] for r in rows], dtype=np.float64)
    if np.any(np.diff(t) <= 0):
        raise ValueError("trajectory times must increase")
    given = [r[3] for r in rows if r[3] is not None]
    floor = (min(given) if given else 0.0) if altitude == "lowest" else 0.0
    heights = np.array([r[3] - floor if r[3] is not None else default_height_m for r in rows], dtype=np.float64)
    first = rows[0]
    local = LocalFrame(first[1], first[2], 0.0)
    enu = local.from_geodetic(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]), np.zeros(len(rows)))
    enu[:, :2] += np.asarray(origin_enu[:2], dtype=np.float64)
    enu[:, 2] = np.maximum(heights, 0.0)
    grid = np.arange(0.0, t[-1] - t[0] + 1e-9, STEP_S) + t[0]
    position = np.stack([np.interp(grid, t, enu[:, axis]) for axis in range(3)], axis=-1)
    for g in np.flatnonzero(np.diff(t) > max_gap_s):
        position[(grid > t[g]) & (grid < t[g + 1])] = np.nan
    return Trajectory(0.0, position, np.gradient(position, STEP_S, axis=0))
