"""GOSPA and track-quality metrics on cases worked out by hand."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import FormatError
from dronewatch.formats.scenario import record_to_line
from dronewatch.geo import LocalFrame
from dronewatch.model import Record, Sensor, TrackReport, Truth, TruthClass
from dronewatch.sim.metrics import gospa, score_files, score_tracks, site_frame_from_records

FRAME = LocalFrame(31.7775, -106.5290, 1130.0)
C = 50.0
UP = 100.0  # every object flies 100 m above the site unless a test says otherwise


def truth(t: float, name: str, east: float, north: float = 1000.0, up: float = UP,
          cls: TruthClass = "drone") -> Truth:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, north, up]))
    return Truth(t=t, id=name, cls=cls, lat=float(lat), lon=float(lon), alt=float(alt))


def track(t: float, name: str, east: float, north: float = 1000.0, up: float = UP,
          velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> TrackReport:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, north, up]))
    return TrackReport(t=t, id=name, lat=float(lat), lon=float(lon), alt=float(alt), vel_enu=velocity)


def test_perfect_tracks_score_zero() -> None:
    truths = [truth(t, "a", 10.0 * t) for t in range(5)] + [truth(t, "b", -300.0, 20.0 * t) for t in range(5)]
    tracks = [track(t, "T1", 10.0 * t) for t in range(5)] + [track(t, "T2", -300.0, 20.0 * t) for t in range(5)]
    report = score_tracks(truths, tracks, FRAME)
    assert report.gospa == pytest.approx(0.0, abs=1e-6)
    assert report.gospa_missed == 0.0 and report.gospa_false == 0.0
    assert report.times == 5 and report.truth_samples == 10 and report.truth_objects == 2 and report.track_ids == 2
    assert report.coverage == 1.0 and report.id_switches == 0 and report.fragmentations == 0
    assert report.latency_mean_s == 0.0 and report.never_tracked == 0
    assert report.tracks_per_truth == 1.0 and report.track_ids_per_truth_object == 1.0
    assert report.objects["a"].track_ids == ("T1",) and report.objects["b"].track_ids == ("T2",)


def test_one_missed_truth_costs_half_the_cutoff_per_time() -> None:
    truths = [truth(t, "a", 0.0) for t in range(3)] + [truth(t, "b", 500.0) for t in range(3)]
    report = score_tracks(truths, [track(t, "T1", 0.0) for t in range(3)], FRAME)
    assert report.gospa_missed == pytest.approx(C / 2)
    assert report.gospa_false == 0.0
    assert report.gospa == pytest.approx(C / 2, abs=1e-6)
    assert report.never_tracked == 1 and report.objects["b"].latency_s is None
    assert report.tracks_per_truth == pytest.approx(0.5)


def test_one_false_track_costs_half_the_cutoff() -> None:
    report = score_tracks([truth(0.0, "a", 0.0)], [track(0.0, "T1", 0.0), track(0.0, "T2", -700.0)], FRAME)
    assert report.gospa_false == pytest.approx(C / 2)
    assert report.gospa_missed == 0.0
    assert report.gospa == pytest.approx(C / 2, abs=1e-6)
    assert report.tracks_per_truth == 2.0 and report.track_ids_per_truth_object == 2.0


def test_a_track_three_metres_off_is_localisation_three() -> None:
    report = score_tracks([truth(0.0, "a", 0.0)], [track(0.0, "T1", 3.0)], FRAME)
    assert report.gospa_localisation == pytest.approx(3.0, abs=1e-6)
    assert report.gospa == pytest.approx(3.0, abs=1e-6)
    assert report.rmse_m == pytest.approx(3.0, abs=1e-6)
    assert report.rmse_horizontal_m == pytest.approx(3.0, abs=1e-6)


def test_rmse_is_three_d_and_horizontal() -> None:
    # errors (3, 0, 4) -> 5 m and (0, 0, 0): RMSE 3-D sqrt(25/2), horizontal sqrt(9/2)
    truths = [truth(0.0, "a", 0.0), truth(0.0, "b", 300.0)]
    tracks = [track(0.0, "T1", 3.0, up=UP + 4.0), track(0.0, "T2", 300.0)]
    report = score_tracks(truths, tracks, FRAME)
    assert report.gospa_localisation == pytest.approx(5.0, abs=1e-6)
    assert report.rmse_m == pytest.approx(math.sqrt(12.5), abs=1e-6)
    assert report.rmse_horizontal_m == pytest.approx(math.sqrt(4.5), abs=1e-6)


def test_exponent_two() -> None:
    # 3 m off plus one missed truth: GOSPA = sqrt(3^2 + c^2/2)
    truths = [truth(0.0, "a", 0.0), truth(0.0, "b", 500.0)]
    report = score_tracks(truths, [track(0.0, "T1", 3.0)], FRAME, p=2.0)
    assert report.gospa_localisation == pytest.approx(9.0, abs=1e-5)
    assert report.gospa_missed == pytest.approx(C**2 / 2)
    assert report.gospa == pytest.approx(math.sqrt(9.0 + C**2 / 2), abs=1e-6)


def test_a_track_beyond_the_cutoff_is_one_miss_and_one_false_track() -> None:
    report = score_tracks([truth(0.0, "a", 0.0)], [track(0.0, "T1", 60.0)], FRAME)
    assert report.gospa_localisation == 0.0
    assert report.gospa_missed == pytest.approx(C / 2) and report.gospa_false == pytest.approx(C / 2)
    assert report.gospa == pytest.approx(C)
    assert report.coverage == 0.0 and report.rmse_m is None and report.never_tracked == 1


def test_id_switch_when_two_tracks_swap_between_two_truths() -> None:
    truths = [truth(t, "a", 0.0) for t in range(6)] + [truth(t, "b", 400.0) for t in range(6)]
    tracks = ([track(t, "T1", 0.0) for t in range(3)] + [track(t, "T2", 400.0) for t in range(3)]
              + [track(t, "T2", 0.0) for t in range(3, 6)] + [track(t, "T1", 400.0) for t in range(3, 6)])
    report = score_tracks(truths, tracks, FRAME)
    assert report.id_switches == 2 and report.fragmentations == 0
    assert report.objects["a"].id_switches == 1 and report.objects["a"].track_ids == ("T1", "T2")
    assert report.objects["b"].track_ids == ("T2", "T1")
    assert report.gospa == pytest.approx(0.0, abs=1e-6)


def test_fragmentation_on_a_gap() -> None:
    # T1 follows a at t = 0, 1, 4, 5 and is gone (older than 0.5 s) at t = 2, 3
    truths = [truth(t, "a", 0.0) for t in range(6)]
    report = score_tracks(truths, [track(t, "T1", 0.0) for t in (0, 1, 4, 5)], FRAME, max_track_age_s=0.5)
    assert report.fragmentations == 1 and report.id_switches == 0
    assert report.objects["a"].coverage == pytest.approx(4 / 6) and report.objects["a"].assigned == 4
    assert report.gospa_missed == pytest.approx(C / 2 * 2 / 6)

    # a different id after the gap is a fragmentation and a switch: the gap does not reset the last id
    tracks = [track(t, "T1", 0.0) for t in (0, 1)] + [track(t, "T2", 0.0) for t in (4, 5)]
    report = score_tracks(truths, tracks, FRAME, max_track_age_s=0.5)
    assert report.fragmentations == 1 and report.id_switches == 1


def test_latency_coverage_by_class_and_ratios() -> None:
    truths = ([truth(t, "a", 0.0) for t in range(5)] + [truth(t, "b", 800.0, cls="bird") for t in range(5)]
              + [truth(t, "c", -800.0) for t in range(1, 5)])
    tracks = [track(t, "T1", 0.0) for t in range(2, 5)] + [track(t, "T3", -800.0) for t in range(4, 5)]
    report = score_tracks(truths, tracks, FRAME)
    assert report.objects["a"].latency_s == 2.0 and report.objects["c"].latency_s == 3.0
    assert report.latency_mean_s == 2.5 and report.latency_max_s == 3.0 and report.never_tracked == 1
    assert report.coverage_by_class == {"bird": 0.0, "drone": pytest.approx(4 / 9)}
    assert report.coverage == pytest.approx(4 / 14)
    # live tracks / truths at t = 0..4: 0/2, 0/3, 1/3, 1/3, 2/3
    assert report.tracks_per_truth == pytest.approx((0 + 0 + 1 / 3 + 1 / 3 + 2 / 3) / 5)
    assert report.track_ids_per_truth_object == pytest.approx(2 / 3)


def test_track_reports_are_extrapolated_by_their_velocity() -> None:
    # one report at t = 0 moving (3, 4, 0) m/s; truth sits exactly where it will be at t = 1 and t = 2
    truths = [truth(1.0, "a", 3.0, 1004.0), truth(2.0, "a", 6.0, 1008.0)]
    moving = [track(0.0, "T1", 0.0, velocity=(3.0, 4.0, 0.0))]
    report = score_tracks(truths, moving, FRAME)
    assert report.gospa_localisation == pytest.approx(0.0, abs=1e-6) and report.coverage == 1.0
    # without the velocity it would be 5 m off at t = 1 and 10 m at t = 2
    report = score_tracks(truths, [track(0.0, "T1", 0.0)], FRAME)
    assert report.gospa_localisation == pytest.approx(7.5, abs=1e-6)


def test_each_track_id_keeps_its_own_latest_report() -> None:
    # T1 last reported at t = 0, T2 at t = 1: both are live at t = 1
    tracks = [track(0.0, "T1", 0.0), track(0.0, "T2", 300.0), track(1.0, "T2", 302.0)]
    report = score_tracks([truth(1.0, "a", 0.0), truth(1.0, "b", 300.0)], tracks, FRAME)
    assert report.gospa_localisation == pytest.approx(2.0, abs=1e-6)
    assert report.gospa_missed == 0.0 and report.gospa_false == 0.0


def test_stale_tracks_are_dropped() -> None:
    # one report at t = 0: live at t = 5 (age 5 s, the limit) and gone at t = 5.5
    truths = [truth(t, "a", 0.0) for t in (0.0, 5.0, 5.5)]
    report = score_tracks(truths, [track(0.0, "T1", 0.0)], FRAME, max_track_age_s=5.0)
    assert report.objects["a"].coverage == pytest.approx(2 / 3)
    assert report.gospa_missed == pytest.approx(C / 2 / 3) and report.gospa_false == 0.0
    # it comes back when it reports again
    report = score_tracks(truths + [truth(9.0, "a", 0.0)], [track(0.0, "T1", 0.0), track(8.0, "T1", 0.0)], FRAME)
    assert report.objects["a"].assigned == 3 and report.fragmentations == 1 and report.id_switches == 0


def test_a_report_a_hair_after_the_truth_time_counts() -> None:
    report = score_tracks([truth(10.0, "a", 0.0)], [track(10.0 + 1e-7, "T1", 0.0), track(10.1, "T2", 0.0)], FRAME)
    assert report.coverage == 1.0 and report.tracks_per_truth == 1.0


def test_empty_inputs() -> None:
    report = score_tracks([], [], FRAME)
    assert report.times == 0 and report.gospa == 0.0 and report.gospa_missed == 0.0
    assert report.rmse_m is None and report.coverage is None and report.tracks_per_truth is None
    assert report.latency_mean_s is None and report.track_ids_per_truth_object is None and report.objects == {}
    assert "GOSPA" in report.format_table()
    json.dumps(report.to_dict())

    report = score_tracks([], [track(0.0, "T1", 0.0)], FRAME)
    assert report.times == 0 and report.track_ids == 1 and report.gospa == 0.0

    report = score_tracks([truth(0.0, "a", 0.0), truth(1.0, "a", 0.0)], [], FRAME)
    assert report.gospa == pytest.approx(C / 2) and report.never_tracked == 1 and report.coverage == 0.0
    assert report.tracks_per_truth == 0.0 and report.rmse_m is None


def test_report_is_json_ready_and_tabulates() -> None:
    truths = [truth(t, "a", 0.0) for t in range(3)]
    report = score_tracks(truths, [track(t, "T1", 3.0) for t in range(3)], FRAME)
    body = json.loads(json.dumps(report.to_dict()))
    assert body["objects"]["a"]["track_ids"] == ["T1"] and body["gospa"] == pytest.approx(3.0, abs=1e-6)
    table = report.format_table()
    assert "3.00 / 0.00 / 0.00 m" in table and "100.0% (drone 100.0%)" in table


def test_bad_parameters_are_refused() -> None:
    for options in ({"cutoff_m": 0.0}, {"p": 0.5}, {"alpha": 3.0}, {"max_track_age_s": -1.0}):
        with pytest.raises(ValueError, match="must be"):
            score_tracks([], [], FRAME, **options)  # type: ignore[arg-type]


def test_site_frame_is_the_first_sensor_else_the_first_truth() -> None:
    first = truth(0.0, "a", 0.0)
    site = Sensor(id="r1", kind="radar", lat=31.0, lon=-106.0, alt=1200.0)
    assert site_frame_from_records([first, site]) == LocalFrame(31.0, -106.0, 1200.0)
    assert site_frame_from_records([first, truth(1.0, "b", 9.0)]) == LocalFrame(first.lat, first.lon, first.alt)
    with pytest.raises(FormatError):
        site_frame_from_records([track(0.0, "T1", 0.0)])


def write(path: Path, records: list[Record], extra: str = "") -> Path:
    path.write_text("".join(record_to_line(r) for r in records) + extra, encoding="utf-8")
    return path


def test_score_files(tmp_path: Path) -> None:
    site = Sensor(id="r1", kind="radar", lat=FRAME.lat0_deg, lon=FRAME.lon0_deg, alt=FRAME.alt0_m)
    truths = [truth(t, "a", 0.0) for t in range(3)]
    scenario = write(tmp_path / "scenario.jsonl", [site, *truths], extra="not json\n")
    tracks = write(tmp_path / "tracks.jsonl", [track(t, "T1", 3.0) for t in range(3)], extra='{"type": "track"}\n')
    report = score_files(scenario, tracks, cutoff_m=20.0)
    assert report.cutoff_m == 20.0 and report.times == 3
    assert report.gospa == pytest.approx(3.0, abs=1e-6)

    no_site = write(tmp_path / "no-site.jsonl", truths)
    assert score_files(no_site, tracks).gospa == pytest.approx(3.0, abs=1e-6)
    with pytest.raises(FormatError):
        score_files(write(tmp_path / "empty.jsonl", []), tracks)


def brute_force_gospa(x: np.ndarray, y: np.ndarray, c: float, p: float, alpha: float) -> float:
    """The paper's definition: the best injection of the smaller set into the larger."""
    if len(x) > len(y):
        x, y = y, x
    n, m = len(x), len(y)
    best = math.inf
    for image in itertools.permutations(range(m), n):
        cost = sum(min(float(np.linalg.norm(x[i] - y[j])), c) ** p for i, j in enumerate(image))
        best = min(best, cost + c**p / alpha * (m - n))
    return best ** (1.0 / p)


points = st.lists(st.tuples(st.floats(-80, 80), st.floats(-80, 80), st.floats(-20, 20)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(points, points, st.sampled_from([(1.0, 2.0), (2.0, 2.0), (1.0, 1.0)]))
def test_gospa_equals_the_brute_force_minimum(truth_points: list[tuple[float, float, float]],
                                              track_points: list[tuple[float, float, float]],
                                              exponent_alpha: tuple[float, float]) -> None:
    p, alpha = exponent_alpha
    x, y = np.array(truth_points).reshape(-1, 3), np.array(track_points).reshape(-1, 3)
    total, parts = gospa(x, y, C, p, alpha)
    assert total == pytest.approx(brute_force_gospa(x, y, C, p, alpha), rel=1e-9, abs=1e-9)
    assert total == pytest.approx(brute_force_gospa(y, x, C, p, alpha), rel=1e-9, abs=1e-9)  # symmetric
    assert 0.0 <= total ** p <= C**p / min(alpha, 2.0) * (len(x) + len(y)) + 1e-9
    assert np.all(parts.distance_m < C)
    if p == 1.0 and alpha == 2.0:
        k = parts.truth_index.size
        assert parts.missed == pytest.approx(C / 2 * (len(x) - k))
        assert parts.false == pytest.approx(C / 2 * (len(y) - k))
