"""The built-in scenarios' objects fly as their real counterparts do (issue 16: motion from real data).

Promises are measured from the positions alone, as a sensor would see them."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.sim import scenarios
from dronewatch.sim.motion import STEP_S
from dronewatch.sim.scenarios import (
    aerobatic_plane,
    bird_flock,
    border_station,
    fpv_drone,
    kestrel,
    photo_drone,
    seabird,
    swarm,
)


def test_a_photo_drone_takes_off_vertically_hovers_much_and_stays_near_home() -> None:
    hover_shares = []
    for seed in range(10):
        flight = photo_drone(np.random.default_rng(seed), 0.0, 900.0).trajectory
        speed = np.hypot(flight.velocity[:, 0], flight.velocity[:, 1])
        hover_shares.append(float((speed < 2.0).mean()))
        first_metres = flight.position[:, 2] < 10.0
        assert np.all(speed[first_metres][: int(np.argmin(first_metres))] < 2.0)  # up on the spot first
        home = flight.position[0, :2]
        assert np.max(np.linalg.norm(flight.position[:, :2] - home, axis=1)) < 360.0
        assert flight.position[-1, 2] == 0.0  # it lands
    assert np.median(hover_shares) > 0.4 and max(hover_shares) > 0.7  # the DJI flights: 84-92 %


def test_a_seabird_crosses_low_and_fast_and_rests_at_times() -> None:
    flights = [seabird(np.random.default_rng(seed), 0.0, 1200.0).trajectory for seed in range(10)]
    speeds = np.concatenate([np.hypot(f.velocity[:, 0], f.velocity[:, 1]) for f in flights])
    heights = np.concatenate([f.position[:, 2] for f in flights])
    assert np.median(speeds) > 8.0 and np.percentile(heights, 90) < 40.0
    assert any(np.mean(np.hypot(f.velocity[:, 0], f.velocity[:, 1]) < 1.0) > 0.05 for f in flights)  # resting


G = 9.80665


def _measured(position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Velocity and acceleration from the positions alone (central differences), as a sensor would see them."""
    velocity = np.gradient(position, STEP_S, axis=0)
    return velocity, np.gradient(velocity, STEP_S, axis=0)


def _lateral_mps2(velocity: np.ndarray, acceleration: np.ndarray) -> np.ndarray:
    along = velocity / np.maximum(np.linalg.norm(velocity, axis=1), 1e-9)[:, None]
    return np.linalg.norm(acceleration - np.sum(acceleration * along, axis=1)[:, None] * along, axis=1)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def test_an_fpv_drone_flies_at_30_to_50_mps_with_hard_banked_turns_and_dives() -> None:
    dives = 0
    for seed in range(8):
        drone = fpv_drone(np.random.default_rng(seed), 0.0, 900.0)
        assert drone.rf_link and drone.uas_id is None
        velocity, acceleration = _measured(drone.trajectory.position)
        speed = np.linalg.norm(velocity, axis=1)
        assert 30.0 <= speed.max() <= 50.5
        assert np.median(speed[speed > 5.0]) > 25.0  # flat out most of the flight, not loitering
        lateral = _lateral_mps2(velocity, acceleration)
        assert lateral.max() > 1.5 * G  # banked turns and pull-ups...
        assert np.percentile(lateral, 99.9) < 3.3 * G  # ...that an airframe can pull: no jumps, no crash
        dives += bool(velocity[:, 2].min() < -20.0)
        assert drone.trajectory.position[-1, 2] == 0.0 or drone.trajectory.end_s >= 900.0 - 1e-6  # lands
    assert dives >= 5


def test_an_aerobatic_plane_changes_vertical_speed_by_25_mps_within_3_s() -> None:
    window = round(3.0 / STEP_S)
    for seed in range(6):
        plane = aerobatic_plane(np.random.default_rng(seed), 0.0, 900.0)
        velocity, acceleration = _measured(plane.trajectory.position)
        climb = velocity[:, 2]
        change = max(np.ptp(climb[k:k + window + 1]) for k in range(0, climb.size - window))
        assert change >= 25.0
        assert climb.max() > 15.0 and climb.min() < -20.0  # vertical up-lines and dives
        speed = np.linalg.norm(velocity, axis=1)
        flying = plane.trajectory.position[:, 2] > 20.0
        assert 15.0 <= np.median(speed[flying]) <= 30.0 and speed.max() <= 45.5
        assert np.percentile(_lateral_mps2(velocity, acceleration), 99.9) < 4.3 * G
        assert plane.trajectory.position[:, 2].max() < 330.0


def test_a_kestrel_hovers_still_for_5_to_30_s_at_10_to_40_m_between_flights() -> None:
    hovers = []
    for seed in range(6):
        bird = kestrel(np.random.default_rng(seed), 0.0, 900.0)
        assert bird.cls == "bird" and not bird.rf_link
        velocity, _ = _measured(bird.trajectory.position)
        ground_speed = np.hypot(velocity[:, 0], velocity[:, 1])
        height = bird.trajectory.position[:, 2]
        for start, stop in _runs((ground_speed < 2.0) & (height > 5.0)):
            if (stop - start) * STEP_S >= 5.0:
                hovers.append(((stop - start) * STEP_S, float(np.median(height[start:stop]))))
        assert 5.0 < np.percentile(ground_speed, 90) < 12.0  # and it flies in between
    assert len(hovers) >= 12
    assert all(5.0 <= s <= 36.0 and 8.0 <= h <= 42.0 for s, h in hovers)


def _fast_part(speed: np.ndarray) -> np.ndarray:
    """The speed less its one-second running mean: what changes within a second."""
    return (speed - np.convolve(speed, np.ones(10) / 10.0, mode="same"))[10:-10]


def _strongest_hz(fast: np.ndarray) -> float:
    """Frequency of the strongest periodic part above 1 Hz."""
    power = np.abs(np.fft.rfft(fast)) ** 2
    hz = np.fft.rfftfreq(fast.size, STEP_S)
    return float(hz[hz >= 1.0][np.argmax(power[hz >= 1.0])])


def test_flapping_birds_beat_their_wings_in_their_speed() -> None:
    flock = bird_flock(np.random.default_rng(4), 0.0, 120.0)
    birds = [*flock, seabird(np.random.default_rng(1), 0.0, 120.0), kestrel(np.random.default_rng(2), 0.0, 120.0)]
    for bird in birds:
        velocity, _ = _measured(bird.trajectory.position)
        speed = np.hypot(velocity[:, 0], velocity[:, 1])
        flying = speed > 4.0
        assert 3.0 <= _strongest_hz(_fast_part(speed[flying])) <= 4.8, bird.id  # wingbeats, 3-4.5 Hz
        assert 0.005 < np.std(_fast_part(speed[flying])) / np.median(speed[flying]) < 0.06, bird.id  # a few %


def test_some_seeds_bring_an_fpv_drone_a_plane_or_a_kestrel_and_the_rest_stays_as_it_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {"fpv": 0, "aerobatic": 0, "kestrel": 0}
    with_them = {seed: border_station(seed, 120.0) for seed in range(20)}
    for scenario in with_them.values():
        for obj in scenario.objects:
            kind = obj.id.split("-")[0]
            seen[kind] = seen.get(kind, 0) + 1
    assert all(2 <= seen[kind] <= 15 for kind in ("fpv", "aerobatic", "kestrel")), seen
    assert any(o.id.startswith("fpv") for o in swarm(1, 120.0).objects)  # the swarm has them too
    monkeypatch.setattr(scenarios, "SOMETIMES", ())
    for seed, scenario in with_them.items():
        without = border_station(seed, 120.0)
        kept = [obj for obj in scenario.objects if obj.id.split("-")[0] not in ("fpv", "aerobatic", "kestrel")]
        assert [o.id for o in kept] == [o.id for o in without.objects]
        for a, b in zip(kept, without.objects, strict=True):
            assert np.array_equal(a.trajectory.position, b.trajectory.position)
