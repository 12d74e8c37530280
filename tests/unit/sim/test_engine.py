"""The scenario simulator: determinism, sensor noise and Pd, clutter, truth, who is seen by what."""

from __future__ import annotations

import io
import json
from collections import defaultdict

import numpy as np
import pytest

from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.model import Detection, Scan, Sensor, Truth
from dronewatch.sim import engine, motion
from dronewatch.sim.engine import SimObject, SimScenario
from dronewatch.sim.scenarios import SITE, built_in, station_sensors


def records(scenario: SimScenario) -> list[object]:
    return list(engine.generate(scenario))


def still(name: str, position: tuple[float, float, float], duration_s: float, **flags: object) -> SimObject:
    cls = flags.pop("cls", "drone")
    return SimObject(name, cls, motion.straight(0.0, position, (0.0, 0.0, 0.0), duration_s), **flags)  # type: ignore[arg-type]


def grid_objects(n: int, duration_s: float, **flags: object) -> list[SimObject]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        bearing, distance = rng.uniform(0, 2 * np.pi), rng.uniform(300.0, 1500.0)
        out.append(still(f"o{k}", (distance * np.sin(bearing), distance * np.cos(bearing), rng.uniform(50, 300)),
                         duration_s, **flags))
    return out


def sensor(kind: str, **fields: object) -> Sensor:
    base = {s.kind: s for s in station_sensors()}[kind]
    values = {slot: getattr(base, slot) for slot in Sensor.__slots__}
    values.update(fields)
    return Sensor(**values)  # type: ignore[arg-type]


def test_same_seed_same_bytes_and_another_seed_differs() -> None:
    outputs = []
    for seed in (3, 3, 4):
        out = io.StringIO()
        engine.write(built_in("border-station", seed, 120.0), out)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] != outputs[2]
    assert all(json.loads(line)["type"] for line in outputs[0].splitlines())


@pytest.mark.parametrize(("kind", "keys"), [
    ("radar", ("range_m", "azimuth_deg", "elevation_deg")),
    ("rf", ("azimuth_deg",)),
    ("camera", ("azimuth_deg", "elevation_deg")),
    ("acoustic", ("azimuth_deg", "elevation_deg")),
])
def test_plot_noise_matches_sigma_over_ten_thousand_samples(kind: str, keys: tuple[str, ...]) -> None:
    s = sensor(kind, pd=1.0, clutter_per_scan=0.0, max_range_m=3000.0, azimuth_min_deg=None, azimuth_max_deg=None,
               min_elevation_deg=None, max_elevation_deg=None, period_s=1.0)
    # objects evenly spread in azimuth, ten sigmas apart, so each detection maps back to its object
    spacing = 10.0 * s.sigma["azimuth_deg"]
    n = min(200, int(360.0 / spacing))
    duration = float(np.ceil(10_000 / n))
    frame = LocalFrame(s.lat, s.lon, s.alt)
    rot, offset = SITE.transform_to(frame)
    objects, true_aer = [], []
    for k in range(n):
        bearing = np.radians(k * 360.0 / n)
        o = still(f"o{k}", (400.0 * np.sin(bearing), 400.0 * np.cos(bearing), 60.0 + k % 7 * 20.0), duration,
                  rf_link=True)
        objects.append(o)
        true_aer.append(np.array(enu2aer(*(o.trajectory.position[0] @ rot.T + offset))))
    azimuths = np.array([a[0] for a in true_aer])
    residuals: dict[str, list[float]] = defaultdict(list)
    for r in records(SimScenario("noise", 1, duration, SITE, [s], [], objects)):
        if isinstance(r, Detection):
            assert r.azimuth_deg is not None
            k = int(np.argmin(np.abs((azimuths - r.azimuth_deg + 180) % 360 - 180)))
            residuals["azimuth_deg"].append((r.azimuth_deg - true_aer[k][0] + 180) % 360 - 180)
            if r.elevation_deg is not None:
                residuals["elevation_deg"].append(r.elevation_deg - true_aer[k][1])
            if r.range_m is not None:
                residuals["range_m"].append(r.range_m - true_aer[k][2])
    for key in keys:
        values = np.array(residuals[key])
        assert values.size >= 10_000
        assert abs(np.std(values) / s.sigma[key] - 1.0) < 0.1, (key, np.std(values))
        assert abs(np.mean(values)) < 0.1 * s.sigma[key]


@pytest.mark.parametrize("kind", ["remoteid", "adsb"])
def test_self_reported_position_noise_matches_sigma(kind: str) -> None:
    s = sensor(kind, pd=1.0)
    flags = {"uas_id": "X"} if kind == "remoteid" else {"icao": "ABC123", "cls": "aircraft"}
    objects = grid_objects(200, 60.0, **flags)
    objects = [SimObject(o.id, o.cls, o.trajectory, uas_id=o.id if kind == "remoteid" else None,
                         icao=o.id if kind == "adsb" else None) for o in objects]
    where = {o.id: o.trajectory.position[0] for o in objects}
    errors = []
    for r in records(SimScenario("noise", 2, 60.0, SITE, [s], [], objects)):
        if isinstance(r, Detection):
            errors.append(SITE.from_geodetic(r.lat, r.lon, r.alt) - where[r.uas_id or r.icao])  # type: ignore[index]
    e = np.array(errors)
    assert e.shape[0] >= 10_000
    for axis, key in enumerate(("lon", "lat", "alt")):
        assert abs(np.std(e[:, axis]) / s.sigma[key] - 1.0) < 0.1


def test_radar_pd_and_clutter_rate() -> None:
    s = sensor("radar", pd=0.8, clutter_per_scan=5.0, period_s=1.0)
    objects = grid_objects(100, 100.0)
    found = sum(isinstance(r, Detection) for r in records(SimScenario("pd", 3, 100.0, SITE, [s], [], objects)))
    scans = 101
    expected = 0.8 * 100 * scans + 5.0 * scans
    assert abs(found - expected) < 4 * np.sqrt(expected)
    clutter_only = sum(isinstance(r, Detection) for r in records(SimScenario("c", 4, 100.0, SITE, [s], [], [])))
    assert abs(clutter_only - 5.0 * scans) < 4 * np.sqrt(5.0 * scans)


def test_rf_is_silent_for_autonomous_drones_and_birds_and_remote_id_only_for_broadcasters() -> None:
    rf, rid = sensor("rf", clutter_per_scan=0.0, pd=1.0), sensor("remoteid", pd=1.0)
    objects = [*grid_objects(10, 30.0), still("bird", (500.0, 500.0, 80.0), 30.0, cls="bird"),
               still("linked", (-600.0, 200.0, 90.0), 30.0, rf_link=True, uas_id="RID-1")]
    seen = [r for r in records(SimScenario("who", 5, 30.0, SITE, [rf, rid], [], objects)) if isinstance(r, Detection)]
    assert sum(d.sensor == rf.id for d in seen) == 31  # the linked drone only, every scan
    assert {d.uas_id for d in seen if d.sensor == rid.id} == {"RID-1"}


def test_truth_is_continuous_and_only_inside_coverage() -> None:
    by_object: dict[str, list[Truth]] = defaultdict(list)
    for r in records(built_in("border-station", 11, 600.0)):
        if isinstance(r, Truth):
            by_object[r.id].append(r)
    assert any(k.startswith("attack") for k in by_object) and "helicopter-1" in by_object
    for samples in by_object.values():
        times = np.array([s.t for s in samples])
        positions = SITE.from_geodetic([s.lat for s in samples], [s.lon for s in samples], [s.alt for s in samples])
        steps = np.diff(times)
        jumps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
        contiguous = steps <= 0.5 + 1e-6
        assert np.all(jumps[contiguous] <= 70.0 * 0.5 + 1.0)  # nothing outruns a helicopter at 60 m/s


def test_realtime_pacing_waits_for_each_line_on_the_injected_clock() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    scans = [Scan(t=1000.0 + k * 0.5, sensor="r") for k in range(5)]
    out = list(engine.paced(scans, 1000.0, clock=lambda: now[0], sleep=sleep))
    assert out == scans
    assert slept == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_measurements_near_the_zenith_stay_valid() -> None:
    s = sensor("acoustic", pd=1.0, clutter_per_scan=0.0)
    overhead = still("over", (60.0, -40.0, 30.0), 200.0)  # straight above the array
    detections = [r for r in records(SimScenario("zenith", 6, 200.0, SITE, [s], [], [overhead]))
                  if isinstance(r, Detection)]
    assert len(detections) == 201
    assert all(-90.0 <= (d.elevation_deg or 0.0) <= 90.0 and 0.0 <= (d.azimuth_deg or 0.0) < 360.0
               for d in detections)
