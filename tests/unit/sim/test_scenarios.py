"""The built-in scenarios' objects fly as their real counterparts do (issue 16: motion from real data)."""

from __future__ import annotations

import numpy as np

from dronewatch.sim.scenarios import photo_drone, seabird


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
