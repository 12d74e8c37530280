"""The benchmark's radar scenarios: deterministic, valid, and as noisy, cluttered and busy as configured."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from dronewatch.formats.scenario import ScenarioReader, open_scenario
from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.model import Detection, Scan, Truth
from dronewatch.sim.radar_scenario import RadarScenarioConfig, generate_radar_scenario, write_radar_scenario


def test_same_config_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    config = RadarScenarioConfig(n_targets=5, duration_s=20.0, seed=4)
    paths = [tmp_path / name for name in ("a.jsonl", "b.jsonl", "c.jsonl")]
    write_radar_scenario(config, paths[0])
    write_radar_scenario(config, paths[1])
    write_radar_scenario(RadarScenarioConfig(n_targets=5, duration_s=20.0, seed=5), paths[2])
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


def test_every_line_is_valid_scenario_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    counts = write_radar_scenario(RadarScenarioConfig(n_targets=10, duration_s=30.0, radial_speed=True), path)
    reader = open_scenario(path, on_error="raise")
    kinds = Counter(type(r).__name__ for r in reader)
    assert reader.stats.bad_lines == 0
    assert kinds["Detection"] == counts["detections"] and kinds["Scan"] == counts["scans"] == 31
    times = [r.t for r in ScenarioReader(path.read_text().splitlines()) if hasattr(r, "t")]
    assert times == sorted(times)


def test_detections_follow_pd_and_clutter() -> None:
    config = RadarScenarioConfig(n_targets=30, clutter_per_scan=20.0, pd=0.8, duration_s=100.0, seed=1)
    records = list(generate_radar_scenario(config))
    truths = sum(isinstance(r, Truth) for r in records)
    detections = sum(isinstance(r, Detection) for r in records)
    scans = sum(isinstance(r, Scan) for r in records)
    expected = 0.8 * truths + 20.0 * scans
    assert abs(detections - expected) < 4 * np.sqrt(expected)
    assert 0.5 * 30 < truths / scans < 1.2 * 30  # the population stays near n_targets


def test_measurement_noise_matches_the_sigmas_including_across_north() -> None:
    config = RadarScenarioConfig(n_targets=40, clutter_per_scan=0.0, pd=1.0, duration_s=60.0, seed=2)
    frame = LocalFrame(config.site_lat, config.site_lon, config.site_alt)
    records = list(generate_radar_scenario(config))
    by_time: dict[float, list[Detection]] = {}
    range_residuals, azimuth_residuals = [], []
    for r in records:
        if isinstance(r, Detection):
            by_time.setdefault(r.t, []).append(r)
        elif isinstance(r, Truth):
            az, _, rng = (float(v) for v in enu2aer(*frame.from_geodetic(r.lat, r.lon, r.alt)))
            nearest = min(by_time[r.t], key=lambda d: abs(d.range_m - rng) + 50 * abs(  # type: ignore[operator]
                (d.azimuth_deg - az + 180) % 360 - 180))  # type: ignore[operator]
            range_residuals.append(nearest.range_m - rng)  # type: ignore[operator]
            azimuth_residuals.append((nearest.azimuth_deg - az + 180) % 360 - 180)  # type: ignore[operator]
    assert abs(np.std(range_residuals) - 5.0) < 0.5
    assert abs(np.std(azimuth_residuals) - 0.5) < 0.05
    azimuths = [d.azimuth_deg for ds in by_time.values() for d in ds]
    assert min(azimuths) >= 0.0 and max(azimuths) < 360.0  # type: ignore[type-var]


def test_turn_rate_and_speed_stay_within_limits() -> None:
    config = RadarScenarioConfig(n_targets=20, clutter_per_scan=0.0, duration_s=60.0, seed=3)
    tracks: dict[str, list[Truth]] = {}
    for r in generate_radar_scenario(config):
        if isinstance(r, Truth):
            tracks.setdefault(r.id, []).append(r)
    for samples in tracks.values():
        assert samples[0].vel_enu is not None
        velocity = np.array([s.vel_enu for s in samples])
        speed = np.hypot(velocity[:, 0], velocity[:, 1])
        assert speed.min() > 4.9 and speed.max() < 25.1
        heading = np.degrees(np.arctan2(velocity[:, 0], velocity[:, 1]))
        dt = np.diff([s.t for s in samples])
        turn = np.abs((np.diff(heading) + 180) % 360 - 180)[dt == 1.0]
        assert turn.size == 0 or turn.max() <= 15.0 + 1e-6


def test_ground_clutter_and_hot_spots_fall_where_configured() -> None:
    config = RadarScenarioConfig(n_targets=0, clutter_per_scan=0.0, duration_s=200.0, seed=3,
                                 ground_clutter_per_scan=20.0, hot_spots=2, hot_spot_clutter_per_scan=5.0)
    records = list(generate_radar_scenario(config))
    assert records[1].clutter_per_scan == 30.0  # the sensor line declares the whole mean  # type: ignore[union-attr]
    plots = np.array([(r.azimuth_deg, r.elevation_deg, r.range_m) for r in records if isinstance(r, Detection)])
    scans = sum(isinstance(r, Scan) for r in records)
    assert abs(len(plots) - 30.0 * scans) < 4 * np.sqrt(30.0 * scans)
    assert np.all(plots[:, 1] < 2.5)  # all near the ground
    ground = plots[:, 2] <= config.ground_clutter_range_m
    assert abs(ground.sum() - 20.0 * scans) < 4 * np.sqrt(20.0 * scans)
    # the rest gathers in two spots, each within its radius of a fixed point
    far = plots[~ground]
    east = far[:, 2] * np.sin(np.radians(far[:, 0]))
    north = far[:, 2] * np.cos(np.radians(far[:, 0]))
    first = np.array([east[0], north[0]])
    near_first = np.hypot(east - first[0], north - first[1]) < 2 * config.hot_spot_radius_m + 5.0
    rest = ~near_first
    second = np.array([east[rest][0], north[rest][0]])
    assert np.all(np.hypot(east[rest] - second[0], north[rest] - second[1]) < 2 * config.hot_spot_radius_m + 5.0)
    assert 0.3 < near_first.mean() < 0.7
