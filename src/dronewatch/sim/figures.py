"""Manoeuvring flight in three dimensions: FPV racers and aerobatic planes flying figures.

:func:`motion.follow_waypoints` steers heading and height apart, which is right for a
multirotor but cannot loop, pull up to the vertical or dive. Here the object is a point
mass whose velocity is given by its speed ``v``, heading ``psi`` (clockwise from north)
and flight-path angle ``gamma`` (above the horizon)::

    velocity = v * (cos(gamma) sin(psi), cos(gamma) cos(psi), sin(gamma))

A figure is a list of :class:`Phase` s flown one after the other. The accelerations
that bend the path are what an airframe can pull, so that the path's curvature is
physical: a turn at lateral acceleration ``a`` turns at ``dpsi/dt = a / (v cos gamma)``,
a pull-up or push-over at normal acceleration ``a`` pitches at ``dgamma/dt = a / v``
(a loop has radius ``v**2 / a``). Along the path::

    dv/dt = clip(k * (v_goal - v), -drag, thrust) - g sin(gamma)

so planes slow on a vertical line and gain speed in a dive. ``gamma`` is not wrapped
while a figure is flown (a loop takes it from 0 to 2 pi; past pi/2 the plane is on its
back); between figures it is brought back to [-pi/2, pi/2] with the heading turned by
pi, which leaves the velocity as it was.

Every figure starts and ends in level flight, and flight stops only between figures, so
a trajectory that goes on (a return to land, from :func:`motion.follow_waypoints`)
joins it without a jump in velocity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from dronewatch.sim.motion import STEP_S, Trajectory

G_MPS2 = 9.80665

PhaseKind = Literal["hold", "turn", "pitch", "dive", "slow"]


@dataclass(frozen=True, slots=True)
class Phase:
    """One part of a figure.

    ``hold``: keep heading and path angle for ``value`` seconds. ``turn``: change the heading
    by ``value`` radians (positive clockwise) at lateral acceleration ``accel_mps2``.
    ``pitch``: bring the path angle to ``value`` radians (unwrapped: 2 pi after 0 is a loop)
    at normal acceleration ``accel_mps2``. ``dive``: hold until low enough that a pull-out at
    ``accel_mps2`` levels off ``value`` metres above the floor. ``slow``: hold until the
    speed is down to ``value`` m/s (the top of a stall turn). ``goal_speed_mps`` is what the
    throttle aims at meanwhile (None: the cruise speed).
    """

    kind: PhaseKind
    value: float
    accel_mps2: float = 0.0
    goal_speed_mps: float | None = None


@dataclass(frozen=True, slots=True)
class Airframe:
    """Speed range and how hard the throttle and drag change speed along the path."""

    cruise_mps: float
    min_speed_mps: float
    max_speed_mps: float
    throttle_per_s: float  # k in dv/dt = k (v_goal - v)
    thrust_mps2: float  # most the motor adds, before gravity
    drag_mps2: float  # most the airframe loses with the throttle shut, before gravity
    floor_m: float  # lowest height it levels off at


@dataclass(slots=True)
class FlightState:
    """Where the object is and how it moves: ENU metres, heading and path angle in radians, m/s."""

    e: float
    n: float
    u: float
    heading: float
    pitch: float
    speed: float

    def velocity(self) -> tuple[float, float, float]:
        horizontal = self.speed * math.cos(self.pitch)
        return (horizontal * math.sin(self.heading), horizontal * math.cos(self.heading),
                self.speed * math.sin(self.pitch))


Chooser = Callable[[FlightState, np.random.Generator], list[Phase]]
"""The next figure, chosen from where the object is (to stay in its area and above the floor)."""


@dataclass(slots=True)
class _Phases:
    queue: list[Phase]
    left: float = math.nan  # what remains of the current phase: seconds or radians
    samples: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)


def _level(state: FlightState) -> None:
    """Bring the path angle back to [-pi/2, pi/2], the heading turned by pi where needed: same velocity."""
    pitch = (state.pitch + math.pi) % (2.0 * math.pi) - math.pi
    if abs(pitch) > math.pi / 2.0:
        pitch = math.copysign(math.pi, pitch) - pitch
        state.heading = (state.heading + math.pi) % (2.0 * math.pi)
    state.pitch = pitch


def pull_out_loss_m(speed_mps: float, pitch_rad: float, accel_mps2: float) -> float:
    """Height lost pulling out of a dive at ``pitch_rad`` to level: ``r (1 - cos gamma)``, ``r = v**2 / a``."""
    return speed_mps**2 / accel_mps2 * (1.0 - math.cos(pitch_rad))


def _step(state: FlightState, phase: Phase, work: _Phases, airframe: Airframe, dt: float) -> bool:
    """Advance one step in ``phase``; True when the phase is done."""
    goal = airframe.cruise_mps if phase.goal_speed_mps is None else phase.goal_speed_mps
    along = max(-airframe.drag_mps2, min(airframe.thrust_mps2, airframe.throttle_per_s * (goal - state.speed)))
    state.speed = min(max(state.speed + (along - G_MPS2 * math.sin(state.pitch)) * dt, airframe.min_speed_mps),
                      airframe.max_speed_mps)
    done = False
    if phase.kind == "hold":
        work.left = (phase.value if math.isnan(work.left) else work.left) - dt
        done = work.left <= 0.0
    elif phase.kind == "turn":
        if math.isnan(work.left):
            work.left = abs(phase.value)
        rate = phase.accel_mps2 / (state.speed * max(math.cos(state.pitch), 0.2))
        turn = min(rate * dt, work.left)
        state.heading = (state.heading + math.copysign(turn, phase.value)) % (2.0 * math.pi)
        work.left -= turn
        done = work.left <= 1e-9
    elif phase.kind == "pitch":
        to_go = phase.value - state.pitch
        change = min(phase.accel_mps2 / state.speed * dt, abs(to_go))
        state.pitch += math.copysign(change, to_go)
        done = abs(phase.value - state.pitch) <= 1e-9
    elif phase.kind == "dive":
        # it keeps gaining speed while it pulls out: reckon with some more
        faster = min(1.15 * state.speed + 2.0, airframe.max_speed_mps)
        done = state.u - airframe.floor_m <= pull_out_loss_m(faster, state.pitch, phase.accel_mps2) + phase.value
    else:  # slow
        done = state.speed <= phase.value
    ve, vn, vu = state.velocity()
    state.e += ve * dt
    state.n += vn * dt
    state.u = max(0.0, state.u + vu * dt)
    return done


def fly_figures(t0_s: float, state: FlightState, airframe: Airframe, choose: Chooser, stop_s: float, end_s: float,
                rng: np.random.Generator) -> tuple[Trajectory, FlightState]:
    """Fly figures from ``choose`` one after the other from ``t0_s``; stop at the first figure's end after
    ``stop_s`` (or at ``end_s`` whatever is being flown). Returns the path and the state at its end."""
    dt = STEP_S
    work = _Phases([])
    t = t0_s

    def record() -> None:
        work.samples.append((state.e, state.n, state.u, *state.velocity()))

    record()
    while t < end_s - 1e-9:
        if not work.queue:
            _level(state)
            if t >= stop_s - 1e-9:
                break
            work.queue = choose(state, rng)
            work.left = math.nan
        if _step(state, work.queue[0], work, airframe, dt):
            work.queue.pop(0)
            work.left = math.nan
        t += dt
        record()
    array = np.array(work.samples, dtype=np.float64).reshape(-1, 6)
    return Trajectory(t0_s, array[:, :3], array[:, 3:]), state


def _bearing_to(state: FlightState, point: Sequence[float]) -> float:
    return math.atan2(point[0] - state.e, point[1] - state.n)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


PUSH_OVER_MPS2 = 2.0 * G_MPS2


def fpv_chooser(centre: Sequence[float], radius_m: float, ceiling_m: float, floor_m: float,
                max_speed_mps: float) -> Chooser:
    """Freestyle as FPV pilots fly it near ``centre``: straights flat out at 30-50 m/s, hard banked
    turns at 1.5-3 g, dives from height with a pull-out at 2-3 g just above the floor, pull-ups.
    Back towards the centre in a hard turn whenever it is more than ``radius_m`` away."""

    def choose(state: FlightState, rng: np.random.Generator) -> list[Phase]:
        hard = float(rng.uniform(1.5, 3.0)) * G_MPS2
        flat_out = float(rng.uniform(30.0, 50.0))
        if math.hypot(state.e - centre[0], state.n - centre[1]) > radius_m:
            back = _wrap(_bearing_to(state, centre) - state.heading)
            return [Phase("turn", back, hard, flat_out), Phase("hold", float(rng.uniform(1.0, 3.0)), 0.0, flat_out)]
        pick = rng.random()
        steep = math.radians(rng.uniform(30.0, 70.0))
        # height to push over into the dive and to pull out of it at the fastest it may be by then
        needed = (1.0 / PUSH_OVER_MPS2 + 1.0 / hard) * max_speed_mps**2 * (1.0 - math.cos(steep)) + 5.0
        if (pick < 0.25 or (state.u > ceiling_m and pick < 0.6)) and state.u - floor_m > needed:
            return [Phase("pitch", -steep, PUSH_OVER_MPS2, flat_out), Phase("dive", 3.0, hard, flat_out),
                    Phase("pitch", 0.0, hard, flat_out)]
        if pick < 0.45 and state.u < ceiling_m - 40.0:
            return [Phase("pitch", math.radians(rng.uniform(30.0, 75.0)), hard, flat_out),
                    Phase("hold", float(rng.uniform(0.5, 2.5)), 0.0, flat_out),
                    Phase("pitch", 0.0, G_MPS2 * 1.5, flat_out)]
        if pick < 0.8:
            return [Phase("turn", math.copysign(math.radians(rng.uniform(60.0, 200.0)), rng.random() - 0.5), hard,
                          flat_out)]
        return [Phase("hold", float(rng.uniform(1.0, 4.0)), 0.0, flat_out)]

    return choose


def aerobatic_chooser(centre: Sequence[float], axis_deg: float, half_length_m: float, ceiling_m: float,
                      floor_m: float) -> Chooser:
    """An aerobatic schedule in a box along ``axis_deg`` through ``centre`` (the recorded F3A flight):
    passes along the box, loops, vertical up-lines ending in a stall turn and a vertical dive pulled
    out at 3-4 g, Immelmann and split-S turnarounds, and flat turns back into the box."""
    axis = math.radians(axis_deg)

    def choose(state: FlightState, rng: np.random.Generator) -> list[Phase]:
        pull = float(rng.uniform(2.5, 4.0)) * G_MPS2
        along = (state.e - centre[0]) * math.sin(axis) + (state.n - centre[1]) * math.cos(axis)
        across = -(state.e - centre[0]) * math.cos(axis) + (state.n - centre[1]) * math.sin(axis)
        outward = math.sin(state.heading - axis + math.pi / 2.0) * math.copysign(1.0, along) > 0.0
        if abs(across) > half_length_m or math.hypot(along, across) > 1.5 * half_length_m:
            return [Phase("turn", _wrap(_bearing_to(state, centre) - state.heading), 2.0 * G_MPS2)]
        if abs(along) > half_length_m and outward:  # turn around at the end of the box
            loop_up = state.speed**2 / pull
            pick = rng.random()
            if pick < 0.3 and state.u + 2.0 * loop_up < ceiling_m:
                return [Phase("pitch", math.pi, pull)]  # Immelmann: half a loop up, out level the other way
            if pick < 0.5 and state.u - 2.0 * loop_up > floor_m + 20.0:
                return [Phase("pitch", -math.pi, pull)]  # split-S: half a loop down
            if pick < 0.8 and state.u < ceiling_m - 60.0:
                return [Phase("pitch", math.pi / 2.0, pull), Phase("hold", float(rng.uniform(2.0, 6.0))),
                        Phase("slow", float(rng.uniform(8.0, 12.0)), 0.0, 0.0),
                        Phase("pitch", 1.5 * math.pi, 2.0 * G_MPS2, 0.0),  # over the top: a stall turn
                        Phase("dive", 10.0, pull), Phase("pitch", 2.0 * math.pi, pull)]
            inward = axis if along < 0.0 else axis + math.pi
            return [Phase("turn", _wrap(inward - state.heading) or math.pi, float(rng.uniform(1.5, 3.0)) * G_MPS2)]
        pick = rng.random()
        if pick < 0.3 and state.u + 2.0 * state.speed**2 / pull < ceiling_m:
            return [Phase("pitch", 2.0 * math.pi, pull)]  # a loop
        if pick < 0.45 and state.u < ceiling_m - 60.0:  # a humpty bump: up, over the top, straight down
            return [Phase("pitch", math.pi / 2.0, pull), Phase("hold", float(rng.uniform(2.0, 6.0))),
                    Phase("pitch", 1.5 * math.pi, pull), Phase("dive", 10.0, pull),
                    Phase("pitch", 2.0 * math.pi, pull)]
        if state.u < floor_m + 40.0 or state.u > ceiling_m - 40.0:  # back to a working height
            slope = math.radians(20.0) * (1.0 if state.u < floor_m + 40.0 else -1.0)
            return [Phase("pitch", slope, G_MPS2), Phase("hold", float(rng.uniform(2.0, 5.0))),
                    Phase("pitch", 0.0, G_MPS2)]
        return [Phase("hold", float(rng.uniform(1.0, 4.0)), 0.0, float(rng.uniform(1.0, 1.5)) * state.speed)]

    return choose
