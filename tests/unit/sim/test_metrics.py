"""GOSPA and track-quality metrics on hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.geo import LocalFrame
from dronewatch.model import TrackReport, Truth
from dronewatch.sim.metrics import gospa_assignment, score_tracks

FRAME = LocalFrame(31.7775, -106.5290, 1130.0)
C = 50.0


def truth(t: float, name: str, east: float, north: float = 1000.0, cls: str = "drone") -> Truth:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, north, 100.0]))
    return Truth(t=t, id=name, cls=cls, lat=float(lat), lon=float(lon), alt=float(alt))  # type: ignore[arg-type]


def track(t: float, name: str, east: float, north: float = 1000.0,
          velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> TrackReport:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, north, 100.0]))
    return TrackReport(t=t, id=name, lat=float(lat), lon=float(lon), alt=float(alt), vel_enu=velocity)


def test_perfect_tracks_score_zero() -> None:
    truths = [truth(t, "a", 10.0 * t) for t in range(5)]
    tracks = [track(t, "T1", 10.0 * t) for t in range(5)]
    report = score_tracks(truths, tracks, FRAME)
    assert report.gospa == pytest.approx(0.0, abs=1e-6)
    assert report.coverage == 1.0 and report.id_switches == 0 and report.latency_mean_s == 0.0


def test_localisation_missed_and_false_parts() -> None:
    truths = [truth(0.0, "a", 0.0), truth(0.0, "b", 500.0)]
    tracks = [track(0.0, "T1", 3.0), track(0.0, "T2", -900.0)]
    report = score_tracks(truths, tracks, FRAME)
    assert report.gospa_localisation == pytest.approx(3.0, abs=1e-6)
    assert report.gospa_missed == pytest.approx(C / 2)   # b has no track within c
    assert report.gospa_false == pytest.approx(C / 2)    # T2 is nobody's
    assert report.gospa == pytest.approx(3.0 + C, abs=1e-6)
    assert report.rmse_m == pytest.approx(3.0, abs=1e-6)


def test_a_track_beyond_the_cutoff_is_one_miss_and_one_false_track() -> None:
    report = score_tracks([truth(0.0, "a", 0.0)], [track(0.0, "T1", 60.0)], FRAME)
    assert report.gospa_localisation == 0.0
    assert report.gospa == pytest.approx(C)


def test_id_switch_when_tracks_swap_and_fragmentation_on_a_gap() -> None:
    truths = [truth(t, "a", 0.0) for t in range(6)] + [truth(t, "b", 400.0) for t in range(6)]
    tracks = ([track(t, "T1", 0.0) for t in range(3)] + [track(t, "T2", 400.0) for t in range(3)]
              + [track(t, "T2", 0.0) for t in range(3, 6)] + [track(t, "T1", 400.0) for t in range(3, 6)])
    report = score_tracks(truths, tracks, FRAME)
    assert report.id_switches == 2 and report.fragmentations == 0

    gap = [track(t, "T1", 0.0) for t in (0, 1, 4, 5)] + [track(t, "T9", 900.0) for t in (2, 3)]
    report = score_tracks([truth(t, "a", 0.0) for t in range(6)], gap, FRAME)
    assert report.fragmentations == 1 and report.id_switches == 0
    assert report.objects["a"].coverage == pytest.approx(4 / 6)


def test_latency_and_never_tracked() -> None:
    truths = [truth(t, "a", 0.0) for t in range(5)] + [truth(t, "b", 800.0) for t in range(5)]
    tracks = [track(t, "T1", 0.0) for t in range(2, 5)]
    report = score_tracks(truths, tracks, FRAME)
    assert report.latency_mean_s == 2.0 and report.never_tracked == 1
    assert report.coverage_by_class == {"drone": pytest.approx(3 / 10)}


def test_track_output_is_extrapolated_to_truth_times_and_dropped_when_stale() -> None:
    # the tracker reported at t=0 only, with 10 m/s east; truth is at t=1 (10 m on) and t=20
    truths = [truth(1.0, "a", 10.0), truth(20.0, "a", 200.0)]
    report = score_tracks(truths, [track(0.0, "T1", 0.0, velocity=(10.0, 0.0, 0.0))], FRAME, max_track_age_s=5.0)
    assert report.objects["a"].coverage == 0.5
    assert report.gospa_localisation == pytest.approx(0.0, abs=1e-3)


def test_only_the_latest_output_counts() -> None:
    # T1 was reported at t=0 but not at t=1: the tracker deleted it
    tracks = [track(0.0, "T1", 0.0), track(0.0, "T2", 300.0), track(1.0, "T2", 300.0)]
    report = score_tracks([truth(1.0, "a", 0.0), truth(1.0, "b", 300.0)], tracks, FRAME)
    assert report.gospa_missed == pytest.approx(C / 2) and report.gospa_false == 0.0


def test_empty_inputs() -> None:
    report = score_tracks([], [], FRAME)
    assert report.gospa == 0.0 and report.rmse_m is None and report.coverage is None
    assert "GOSPA" in report.format_table()


points = st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100), st.floats(-20, 20)), max_size=4)


@settings(max_examples=200)
@given(points, points)
def test_gospa_equals_the_brute_force_minimum(truth_points: list[tuple[float, ...]],
                                              track_points: list[tuple[float, ...]]) -> None:
    x, y = np.array(truth_points).reshape(-1, 3), np.array(track_points).reshape(-1, 3)
    loc, missed, false, _, _, _ = gospa_assignment(x, y, C)
    best = np.inf
    n, m = len(x), len(y)
    for k in range(min(n, m) + 1):
        for rows in itertools.combinations(range(n), k):
            for cols in itertools.permutations(range(m), k):
                d = [min(np.linalg.norm(x[i] - y[j]), C) for i, j in zip(rows, cols, strict=True)]
                best = min(best, sum(d) + C / 2 * (n - k) + C / 2 * (m - k))
    assert loc + missed + false == pytest.approx(best, abs=1e-6)
    assert 0.0 <= loc + missed + false <= C / 2 * (n + m) + 1e-9
