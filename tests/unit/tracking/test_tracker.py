"""Tracker behaviour on small scenes with known truth: identities, fusion, triangulation, wrap-around."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.model import Detection, Record, Scan, Sensor
from dronewatch.tracking import Tracker, TrackSnapshot, track_records
from dronewatch.tracking.tracker import TrackerConfig

SITE = LocalFrame(31.7775, -106.5290, 1130.0)
T0 = 1_764_000_000.0

Motion = Callable[[float], np.ndarray]  # seconds since T0 -> (3,) site ENU


def line(start: Sequence[float], velocity: Sequence[float]) -> Motion:
    return lambda t: np.asarray(start, dtype=float) + t * np.asarray(velocity, dtype=float)


def sensor(sensor_id: str, kind: str, east: float = 0.0, north: float = 0.0, **extra: object) -> Sensor:
    lat, lon, alt = SITE.to_geodetic(np.array([east, north, 0.0]))
    sigma = {"radar": {"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5},
             "rf": {"azimuth_deg": 1.0}, "remoteid": {"lat": 3.0, "lon": 3.0, "alt": 5.0}}[kind]
    return Sensor(id=sensor_id, kind=kind, lat=float(lat), lon=float(lon), alt=float(alt),  # type: ignore[arg-type]
                  sigma=sigma, pd=1.0, period_s=1.0, **extra)  # type: ignore[arg-type]


def observe(s: Sensor, t: float, position: np.ndarray, rng: np.random.Generator, uas_id: str = "") -> Detection:
    frame = LocalFrame(s.lat, s.lon, s.alt)
    if s.kind == "remoteid":
        lat, lon, alt = SITE.to_geodetic(position + rng.normal(0.0, 3.0, 3))
        return Detection(t=t, sensor=s.id, lat=float(lat), lon=float(lon), alt=float(alt), uas_id=uas_id)
    rot, offset = SITE.transform_to(frame)
    rel = position @ rot.T + offset
    az, el, r = (float(v) for v in enu2aer(*rel))
    az = (az + rng.normal(0.0, s.sigma["azimuth_deg"])) % 360.0
    if s.kind == "rf":
        return Detection(t=t, sensor=s.id, azimuth_deg=az)
    return Detection(t=t, sensor=s.id, azimuth_deg=az, elevation_deg=el + rng.normal(0.0, 0.5),
                     range_m=r + rng.normal(0.0, 5.0))


def scene(sensors: Sequence[Sensor], targets: dict[str, Motion], seconds: int, seed: int = 1,
          seen_by: dict[str, set[str]] | None = None) -> list[Record]:
    """Records of ``seconds`` one-hertz scans of every sensor seeing every target (or ``seen_by``)."""
    rng = np.random.default_rng(seed)
    records: list[Record] = list(sensors)
    for k in range(seconds):
        t = T0 + k
        for s in sensors:
            for name, motion in targets.items():
                if seen_by is None or s.id in seen_by[name]:
                    records.append(observe(s, t, motion(float(k)), rng, uas_id=name))
            records.append(Scan(t=t, sensor=s.id))
    return records


def run(records: list[Record]) -> list[TrackSnapshot]:
    return list(track_records(records, Tracker(site=SITE)))


def nearest_track(snapshot: TrackSnapshot, position: np.ndarray) -> tuple[str, float]:
    distances = np.linalg.norm(snapshot.states[:, :3] - position, axis=1)
    k = int(np.argmin(distances))
    return snapshot.ids[k], float(distances[k])


def test_two_crossing_targets_keep_their_identities() -> None:
    # they meet at (0, 1000, 100) at t = 30 s, 60 degrees apart, at the same height
    targets = {"a": line([-450.0, 1000.0 - 260.0, 100.0], [15.0, 8.66, 0.0]),
               "b": line([450.0, 1000.0 - 260.0, 100.0], [-15.0, 8.66, 0.0])}
    snapshots = run(scene([sensor("radar-1", "radar")], targets, 60))
    ids: dict[str, set[str]] = {"a": set(), "b": set()}
    for snap in snapshots[3:]:
        k = round(snap.t - T0)
        if np.linalg.norm(targets["a"](k) - targets["b"](k)) < 30.0:
            continue  # at the crossing itself either track is nearest to both
        for name, motion in targets.items():
            track_id, distance = nearest_track(snap, motion(k))
            assert distance < 30.0, (name, k, distance)
            ids[name].add(track_id)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"], ids


def test_radar_and_remote_id_of_one_drone_give_one_fused_track_with_its_uas_id() -> None:
    targets = {"1581F5FKD229400C37EF": line([600.0, 900.0, 120.0], [-8.0, 5.0, 0.0])}
    sensors = [sensor("radar-1", "radar"), sensor("rid-1", "remoteid")]
    for order in (sensors, sensors[::-1]):
        snapshots = run(scene(order, targets, 40))
        last = snapshots[-1]
        assert len(last) == 1
        assert last.identities == ["rid:1581F5FKD229400C37EF"]
        assert np.isfinite(last.sensor_seen_at[0]).sum() == 2
        report = last.reports(SITE)[0]
        assert report.uas_id == "1581F5FKD229400C37EF" and report.cls == "drone"
        assert set(report.sensors or ()) == {"radar-1", "rid-1"}
        assert np.linalg.norm(last.states[0, :3] - targets["1581F5FKD229400C37EF"](39.0)) < 10.0


def test_remote_id_that_starts_late_joins_the_existing_radar_track() -> None:
    motion = line([600.0, 900.0, 120.0], [-8.0, 5.0, 0.0])
    radar, rid = sensor("radar-1", "radar"), sensor("rid-1", "remoteid")
    records = scene([radar, rid], {"D1": motion}, 40, seen_by={"D1": {"radar-1"}})
    late = scene([rid], {"D1": motion}, 40)
    merged = records[:2] + sorted(records[2:] + [r for r in late[1:] if r.t >= T0 + 20],  # type: ignore[union-attr]
                                  key=lambda r: r.t)  # type: ignore[union-attr]
    snapshots = run(merged)
    radar_id = snapshots[15].ids
    assert len(radar_id) == 1
    assert snapshots[-1].ids == radar_id and snapshots[-1].identities == ["rid:D1"]


def test_two_rf_bearings_triangulate_a_track() -> None:
    target = line([200.0, 1200.0, 80.0], [4.0, -3.0, 0.0])
    sensors = [sensor("rf-west", "rf", east=-400.0, max_range_m=5000.0),
               sensor("rf-east", "rf", east=400.0, max_range_m=5000.0)]
    snapshots = run(scene(sensors, {"d": target}, 30))
    last = snapshots[-1]
    assert len(last) == 1
    assert np.linalg.norm(last.states[0, :2] - target(29.0)[:2]) < 40.0
    assert np.isfinite(last.sensor_seen_at[0]).sum() == 2


def test_a_target_crossing_due_north_and_due_west_keeps_one_track() -> None:
    # a circle of radius 1 km around the radar passes azimuths 0 (north) and 270 (west)
    def circle(t: float) -> np.ndarray:
        angle = np.radians(80.0 + 2.0 * t)  # counter-clockwise from east, 20 m/s... 35 m/s on 1 km
        return np.array([1000.0 * np.cos(angle), 1000.0 * np.sin(angle), 150.0])

    snapshots = run(scene([sensor("radar-1", "radar")], {"c": circle}, 100))
    ids = {nearest_track(s, circle(round(s.t - T0)))[0] for s in snapshots[3:]}
    worst = max(nearest_track(s, circle(round(s.t - T0)))[1] for s in snapshots[3:])
    assert len(ids) == 1 and worst < 40.0


plots = st.lists(st.tuples(st.floats(0.0, 1e6), st.floats(0.0, 359.999), st.floats(-90.0, 90.0)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(plots, min_size=1, max_size=6))
def test_any_valid_radar_plots_keep_the_tracker_running(scans: list[list[tuple[float, float, float]]]) -> None:
    radar = sensor("radar-1", "radar")
    records: list[Record] = [radar]
    for k, scan in enumerate(scans):
        records += [Detection(t=T0 + k, sensor="radar-1", range_m=r, azimuth_deg=a, elevation_deg=e)
                    for r, a, e in scan]
        records.append(Scan(t=T0 + k, sensor="radar-1"))
    for snapshot in track_records(records, Tracker(site=SITE)):
        assert np.all(np.isfinite(snapshot.states))


reports = st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-180.0, 180.0), st.floats(-500.0, 20_000.0),
                             st.sampled_from(["A", "B", "C"]), st.floats(0.0, 359.999)), max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(reports, min_size=1, max_size=5))
def test_any_valid_remote_id_reports_and_bearings_keep_the_tracker_running(
        scans: list[list[tuple[float, float, float, str, float]]]) -> None:
    sensors = [sensor("rid-1", "remoteid"), sensor("rf-1", "rf", east=-300.0), sensor("rf-2", "rf", east=300.0)]
    records: list[Record] = list(sensors)
    for k, scan in enumerate(scans):
        for lat, lon, alt, uas_id, azimuth in scan:
            records.append(Detection(t=T0 + k, sensor="rid-1", lat=lat, lon=lon, alt=alt, uas_id=uas_id))
            records.append(Detection(t=T0 + k + 0.5, sensor="rf-1", azimuth_deg=azimuth))
            records.append(Detection(t=T0 + k + 0.5, sensor="rf-2", azimuth_deg=(azimuth + 40.0) % 360.0))
    for snapshot in track_records(records, Tracker(site=SITE)):
        assert np.all(np.isfinite(snapshot.states))
        assert len(set(snapshot.identities) - {None}) == len([i for i in snapshot.identities if i])


def test_a_radar_that_declares_no_clutter_has_it_estimated_from_the_plots_no_track_takes() -> None:
    rng = np.random.default_rng(3)
    quiet, declared = sensor("radar-1", "radar", max_range_m=3000.0), sensor("radar-2", "radar", clutter_per_scan=40.0)
    tracker = Tracker(site=SITE)
    tracker.add_sensor(quiet)
    assert tracker.sites["radar-1"].clutter_per_scan == 1.0  # the default, until scans say otherwise
    assert tracker.add_sensor(declared).clutter_per_scan == 40.0  # a declared figure is where it starts
    for k in range(40):  # 12 false plots a scan, anywhere in the coverage, and no target
        plots = [Detection(t=T0 + k, sensor="radar-1", azimuth_deg=float(rng.uniform(0, 360)),
                           elevation_deg=float(rng.uniform(0, 30)), range_m=float(rng.uniform(100, 3000)))
                 for _ in range(12)]
        tracker.process("radar-1", T0 + k, plots)
    # the clutter map's estimate: near 12, not 1
    assert 9.0 < tracker.sites["radar-1"].clutter_per_scan < 14.0


def loop(start: Sequence[float], speed: float, radius: float, begin_s: float) -> Motion:
    """Level flight east, one vertical loop of ``radius`` from ``begin_s`` on (speed^2 / radius of
    centripetal acceleration), then level again."""
    origin, omega = np.asarray(start, dtype=float), speed / radius
    period = 2.0 * np.pi / omega

    def at(t: float) -> np.ndarray:
        level = t - min(max(t - begin_s, 0.0), period)  # time spent flying level
        angle = omega * min(max(t - begin_s, 0.0), period)
        return origin + np.array([speed * level + radius * np.sin(angle), 0.0, radius * (1.0 - np.cos(angle))])
    return at


def ids_along(snapshots: Sequence[TrackSnapshot], motion: Motion, gate_m: float, after_s: float = 4.0
              ) -> tuple[set[str], int]:
    """The track ids nearest the target while within ``gate_m``, and how many seconds no track was."""
    ids, lost = set(), 0
    for snap in snapshots:
        k = snap.t - T0
        if k < after_s or abs(k - round(k)) > 1e-6:
            continue
        if not len(snap):
            lost += 1
            continue
        track_id, distance = nearest_track(snap, motion(k))
        if distance <= gate_m:
            ids.add(track_id)
        else:
            lost += 1
    return ids, lost


def test_a_vertical_loop_at_more_than_1_g_keeps_one_track() -> None:
    # 35 m/s round a 90 m loop: 13.6 m/s^2, as the F3A aerobatic flight in the real-flight benchmark
    motion = loop([-500.0, 600.0, 100.0], 35.0, 90.0, begin_s=12.0)
    records = scene([sensor("radar-1", "radar")], {"a": motion}, 40)
    ids, lost = ids_along(list(track_records(records, Tracker(site=SITE))), motion, 30.0)
    assert len(ids) == 1 and lost == 0, (ids, lost)
    # without the agile mode the same loop breaks the track: the mode is what holds it
    two_modes = TrackerConfig(q_horizontal=(0.02, 15.0), q_vertical=(0.01, 0.3), mode_stay_per_s=(0.98, 0.9),
                              mode_prior=(0.5, 0.5), on_demand_modes=())
    ids, lost = ids_along(list(track_records(records, Tracker(two_modes, site=SITE))), motion, 30.0)
    assert len(ids) > 1 or lost > 0


def test_a_hot_spot_of_false_plots_keeps_no_track_and_a_drone_beside_it_is_tracked() -> None:
    rng = np.random.default_rng(5)
    radar = sensor("radar-1", "radar", max_range_m=3000.0, min_elevation_deg=0.0, max_elevation_deg=30.0)
    spot = np.array([1200.0, 900.0, 12.0])  # a wind farm 1.5 km out: 10 false plots a scan within 100 m
    drone = line([-1500.0, -800.0, 90.0], [12.0, 4.0, 0.0])
    tracker = Tracker(site=SITE)
    tracker.add_sensor(radar)
    with_track_on_spot, drone_ids = 0, set()
    for k in range(150):
        points = [spot + np.append(rng.uniform(-70.0, 70.0, 2), rng.uniform(-5.0, 5.0)) for _ in range(10)]
        plots = [observe(radar, T0 + k, p, rng) for p in points]
        plots += [Detection(t=T0 + k, sensor="radar-1", azimuth_deg=float(rng.uniform(0, 360)),
                            elevation_deg=float(rng.uniform(0, 30)), range_m=float(rng.uniform(100, 3000)))
                  for _ in range(3)]
        if k >= 60:
            plots.append(observe(radar, T0 + k, drone(float(k - 60)), rng))
        tracker.process("radar-1", T0 + k, plots)
        snap = tracker.snapshot()
        if k >= 40 and len(snap) and np.min(np.linalg.norm(snap.states[:, :3] - spot, axis=1)) < 200.0:
            with_track_on_spot += 1
        if k >= 65:
            track_id, distance = nearest_track(snap, drone(float(k - 60)))
            assert distance < 30.0, (k, distance)
            drone_ids.add(track_id)
    assert with_track_on_spot <= 5, with_track_on_spot  # of 110 scans once the map has learnt the spot
    assert len(drone_ids) == 1


def test_bearings_alone_do_not_keep_a_track_the_radar_no_longer_sees() -> None:
    radar = dataclasses.replace(sensor("radar-1", "radar"), pd=0.9)  # three misses are 1 in 1000
    rf = sensor("rf-1", "rf", east=-500.0, max_range_m=5000.0)
    target = line([300.0, 1200.0, 100.0], [-5.0, 3.0, 0.0])
    rng = np.random.default_rng(2)
    records: list[Record] = [radar, rf]
    for k in range(40):
        if k < 20:  # then it leaves the radar's sight (a low-RCS aspect, a ghost): only the bearing stays
            records += [observe(radar, T0 + k, target(float(k)), rng), Scan(t=T0 + k, sensor="radar-1")]
        else:
            records.append(Scan(t=T0 + k, sensor="radar-1"))
        records += [observe(rf, T0 + k + 0.5, target(k + 0.5), rng), Scan(t=T0 + k + 0.5, sensor="rf-1")]
    snapshots = list(track_records(records, Tracker(site=SITE)))
    assert any(len(s) == 1 for s in snapshots if s.t < T0 + 20)
    assert all(len(s) == 0 for s in snapshots if s.t > T0 + 23.5)


def test_a_target_that_crosses_the_blind_cone_above_the_radar_keeps_its_track() -> None:
    radar = sensor("radar-1", "radar", max_elevation_deg=60.0)
    target = line([-500.0, 0.0, 60.0], [20.0, 0.0, 0.0])  # above 60 deg for about 3.5 s, 25 s in
    rng = np.random.default_rng(4)
    records: list[Record] = [radar]
    for k in range(45):
        position = target(float(k))
        if np.degrees(np.arctan2(position[2], np.hypot(position[0], position[1]))) <= 60.0:
            records.append(observe(radar, T0 + k, position, rng))
        records.append(Scan(t=T0 + k, sensor="radar-1"))
    ids, _ = ids_along(list(track_records(records, Tracker(site=SITE))), target, 30.0)
    assert len(ids) == 1, ids
    forgetful = TrackerConfig(outside_coverage_s=0.0)
    ids, _ = ids_along(list(track_records(records, Tracker(forgetful, site=SITE))), target, 30.0)
    assert len(ids) == 2, ids


def _radar_and_bearings(target: Motion, seconds: int, radar: Sensor) -> list[TrackSnapshot]:
    """The radar sees ``target`` inside its elevation limits; two RF direction finders hear it throughout."""
    rfs = [sensor("rf-west", "rf", east=-400.0, north=-100.0), sensor("rf-east", "rf", east=400.0, north=-100.0)]
    rng = np.random.default_rng(5)
    records: list[Record] = [radar, *rfs]
    for k in range(seconds):
        position = target(float(k))
        elevation = np.degrees(np.arctan2(position[2], np.hypot(position[0], position[1])))
        if radar.min_elevation_deg <= elevation <= radar.max_elevation_deg:  # type: ignore[operator]
            records.append(observe(radar, T0 + k, position, rng))
        records.append(Scan(t=T0 + k, sensor=radar.id))
        for rf in rfs:
            records += [observe(rf, T0 + k + 0.3, target(k + 0.3), rng), Scan(t=T0 + k + 0.3, sensor=rf.id)]
    return list(track_records(records, Tracker(site=SITE)))


def test_a_track_that_goes_down_under_the_radar_beam_ends_though_bearings_go_on() -> None:
    radar = dataclasses.replace(sensor("radar-1", "radar", min_elevation_deg=-2.0, max_elevation_deg=40.0), pd=0.9)
    # a drone diving onto a point 100 m from the radar, then (as a struck drone's bearings would, or another
    # drone's on the same line) the bearings go on along the same path into the ground
    dive = line([700.0, 700.0, 120.0], [-10.0, -10.0, -2.0])
    under_from = next(k for k in range(80) if dive(float(k))[2] < -2.0 * np.hypot(*dive(float(k))[:2]) / 57.3)
    snapshots = _radar_and_bearings(dive, 80, radar)
    radar_track = next(s for s in snapshots if s.t >= T0 + under_from - 1).ids
    assert len(radar_track) == 1
    deadline = T0 + under_from + TrackerConfig().max_coast_s + 2.0
    # the bearings may start a track of their own (they still hear something): not this one
    assert all(radar_track[0] not in s.ids for s in snapshots if s.t > deadline)


def test_a_track_over_the_radar_above_its_beam_stays_with_its_bearings() -> None:
    radar = sensor("radar-1", "radar", min_elevation_deg=-2.0, max_elevation_deg=40.0)
    # in to 50 m from the radar at 100 m up (63 deg), then hovering there for 30 s
    approach = line([500.0, 0.0, 100.0], [-15.0, 0.0, 0.0])
    hover = lambda t: approach(min(t, 30.0))  # noqa: E731
    snapshots = _radar_and_bearings(hover, 60, radar)
    late = [s for s in snapshots if s.t > T0 + 50]
    assert late and all(nearest_track(s, hover(s.t - T0))[1] < 60.0 for s in late)


def test_an_aircraft_track_carries_the_callsign_and_squawk_its_adsb_last_said() -> None:
    receiver = Sensor(id="adsb-1", kind="adsb", lat=31.7775, lon=-106.5290, alt=1130.0,
                      sigma={"lat": 15.0, "lon": 15.0, "alt": 25.0}, pd=1.0, period_s=1.0)
    records: list[Record] = [receiver]
    for k in range(6):
        lat, lon, alt = SITE.to_geodetic(np.array([-2000.0 + 60.0 * k, 1000.0, 600.0]))
        said = {"callsign": "CBP117"} if k == 1 else {"squawk": "7700"} if k == 4 else {}
        records.append(Detection(t=T0 + k, sensor="adsb-1", lat=float(lat), lon=float(lon), alt=float(alt),
                                 icao="A1B2C3", **said))  # type: ignore[arg-type]
    reports = [s.reports(SITE) for s in track_records(records, Tracker(site=SITE))]
    said = [(r[0].callsign, r[0].squawk) for r in reports]
    assert said == [(None, None), ("CBP117", None), ("CBP117", None), ("CBP117", None), ("CBP117", "7700"),
                    ("CBP117", "7700")]
    assert {r[0].icao for r in reports} == {"A1B2C3"}
