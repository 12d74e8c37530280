"""SIAP and C-UAS test metrics on a hand-made case whose figures are worked out below.

Two truths, 1 km north of the site, for t = 0..5 s: ``a`` (a drone, east 0) and ``b`` (a bird,
east 400). Tracks (the tracker writes every live track at each output time):

======  =====================  ==========================================
track   reported at t          where
======  =====================  ==========================================
T1      0, 1, 2                on a
T2      2, 3, 4, 5             5 m from a (at t = 2, T1 and T2 both on a)
T3      1, 2, 3, 4, 5          on b (b untracked at t = 0)
T9      0 .. 5                 east 900: on nothing
======  =====================  ==========================================

Gate association (50 m), per time (N tracks, NA associated, JT truths held):
t=0 N 2 NA 1 JT 1; t=1 N 3 NA 2 JT 2; t=2 N 4 NA 3 JT 2; t=3..5 N 3 NA 2 JT 2 each.
Sums: N 18, NA 12, J 12, JT 11: completeness 11/12, ambiguity 12/11, spuriousness 6/18.
Segments: a on T1 over 0..2 (2 s), on T2 over 2..5 (3 s): longest 3 of a 5 s life (0.6);
b on T3 over 1..5 (4 s of 5: 0.8). Pooled LS 7/10. a needs 2 tracks (1 change), b one.
Tracked time: a 5 s, b 4 s: 1 change in 9 s is 400 per tracked hour.
"""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.geo import LocalFrame
from dronewatch.geo.frames import enu2aer
from dronewatch.model import Alert, Detection, Sensor, TrackReport, Truth
from dronewatch.sim.metrics import score_tracks
from dronewatch.sim.siap import gate_association

FRAME = LocalFrame(31.7775, -106.5290, 1130.0)
RADAR = Sensor(id="radar-1", kind="radar", lat=31.7775, lon=-106.5290, alt=1130.0,
               sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5}, pd=0.9, period_s=1.0)
A_EAST, B_EAST = 0.0, 400.0
BINS = (0.0, 1050.0, 2000.0)  # a is 1005 m from the site, b 1082 m


def truth(t: float, name: str, east: float, cls: str) -> Truth:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, 1000.0, 100.0]))
    return Truth(t=t, id=name, cls=cls, lat=float(lat), lon=float(lon), alt=float(alt))  # type: ignore[arg-type]


def track(t: float, name: str, east: float, cls: str | None = None) -> TrackReport:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, 1000.0, 100.0]))
    return TrackReport(t=t, id=name, lat=float(lat), lon=float(lon), alt=float(alt), vel_enu=(0.0, 0.0, 0.0), cls=cls)


def plot(t: float, east: float) -> Detection:
    azimuth, elevation, range_m = enu2aer(east, 1000.0, 100.0)
    return Detection(t=t, sensor="radar-1", range_m=float(range_m), azimuth_deg=float(azimuth),
                     elevation_deg=float(elevation))


def alert(t: float, track_id: str, cls: str) -> Alert:
    return Alert(t=t, id=f"A-{t:g}-{track_id}", track=track_id, level="warning", kind="zone_entry", state="open",
                 reasons=("test",), evidence={"class": cls})


TRUTHS = [truth(t, "a", A_EAST, "drone") for t in range(6)] + [truth(t, "b", B_EAST, "bird") for t in range(6)]
TRACKS = ([track(t, "T1", A_EAST) for t in (0, 1, 2)] + [track(t, "T2", A_EAST + 5.0) for t in (2, 3, 4, 5)]
          + [track(t, "T3", B_EAST, cls="bird" if t == 5 else None) for t in (1, 2, 3, 4, 5)]
          + [track(t, "T9", 900.0) for t in range(6)])
# a is seen at every scan but t = 3; b at every scan; one clutter plot far from both
PLOTS = ([plot(t, A_EAST) for t in (0, 1, 2, 4, 5)] + [plot(t, B_EAST) for t in range(6)] + [plot(2.0, 2500.0)])
ALERTS = [alert(3.0, "T2", "drone"), alert(2.0, "T3", "drone"), alert(4.0, "T9", "bird"), alert(5.0, "T2", "unknown")]


def score(**options: object) -> object:
    return score_tracks(TRUTHS, TRACKS, FRAME, range_bins_m=BINS, **options)  # type: ignore[arg-type]


def test_gate_association_takes_the_nearest_truth_within_the_gate() -> None:
    distance = np.array([[0.0, 5.0, 900.0], [400.0, 395.0, 500.0]])
    assert gate_association(distance, 50.0).tolist() == [0, 0, -1]
    assert gate_association(np.zeros((0, 2)), 50.0).tolist() == [-1, -1]


def test_siap_completeness_ambiguity_spuriousness() -> None:
    report = score_tracks(TRUTHS, TRACKS, FRAME)
    assert report.completeness == pytest.approx(11 / 12)
    assert report.ambiguity == pytest.approx(12 / 11)
    assert report.spuriousness == pytest.approx(6 / 18)
    assert report.objects["a"].completeness == 1.0 and report.objects["b"].completeness == pytest.approx(5 / 6)
    # the one-to-one assignment gives a only T1 at t = 2: coverage does not see the second track
    assert report.coverage == pytest.approx(11 / 12) and report.id_switches == 1


def test_longest_segment_and_track_number_changes() -> None:
    report = score_tracks(TRUTHS, TRACKS, FRAME)
    a, b = report.objects["a"], report.objects["b"]
    assert (a.longest_segment_s, a.longest_segment_share) == (pytest.approx(3.0), pytest.approx(0.6))
    assert (b.longest_segment_s, b.longest_segment_share) == (pytest.approx(4.0), pytest.approx(0.8))
    assert report.longest_segment == pytest.approx(0.7)
    assert report.longest_segment_share_mean == pytest.approx(0.7)
    assert report.longest_segment_share_min == pytest.approx(0.6)
    assert (a.track_number_changes, b.track_number_changes, report.track_number_changes) == (1, 0, 1)
    assert (a.tracked_s, b.tracked_s) == (pytest.approx(5.0), pytest.approx(4.0))
    assert report.track_number_changes_per_tracked_hour == pytest.approx(400.0)


def test_overlapping_segments_need_the_fewest_tracks() -> None:
    # T1 over 0..3, T2 over 1..5, T3 over 2..4: two tracks cover it all (T3 is not needed)
    truths = [truth(t, "a", 0.0, "drone") for t in range(6)]
    tracks = ([track(t, "T1", 0.0) for t in range(4)] + [track(t, "T2", 3.0) for t in range(1, 6)]
              + [track(t, "T3", -3.0) for t in range(2, 5)])
    report = score_tracks(truths, tracks, FRAME)
    assert report.objects["a"].track_number_changes == 1
    assert report.objects["a"].longest_segment_s == pytest.approx(4.0)
    assert report.ambiguity == pytest.approx(12 / 6)


def test_track_pd_by_range() -> None:
    report = score_tracks(TRUTHS, TRACKS, FRAME, range_bins_m=BINS)
    near, far, beyond = report.track_pd_by_range
    assert (near["from_m"], near["to_m"], near["truth_times"], near["detected"], near["pd"]) == (0.0, 1050.0, 6, 6, 1.0)
    assert (far["truth_times"], far["detected"], far["pd"]) == (6, 5, pytest.approx(5 / 6))
    assert (beyond["to_m"], beyond["truth_times"], beyond["pd"]) == (None, 0, None)


def test_plot_pd_and_first_detection_from_the_radar_plots() -> None:
    report = score_tracks(TRUTHS, TRACKS, FRAME, range_bins_m=BINS, sensors=[RADAR], detections=PLOTS)
    near, far, _ = report.plot_pd_by_range["radar-1"]
    assert (near["truth_times"], near["detected"]) == (6, 5)  # a missed at t = 3
    assert (far["truth_times"], far["detected"]) == (6, 6)
    a, b = report.objects["a"], report.objects["b"]
    assert a.first_detection_t == 0.0 and b.first_detection_t == 0.0
    assert a.detection_to_track_s == 0.0 and b.detection_to_track_s == 1.0  # b's track starts at t = 1
    assert report.detection_to_track_mean_s == pytest.approx(0.5) and report.detection_to_track_max_s == 1.0


def test_alert_times_and_confusion_matrix_need_the_alert_lines() -> None:
    without = score_tracks(TRUTHS, TRACKS, FRAME, sensors=[RADAR], detections=PLOTS)
    assert without.confusion_matrix is None and without.classification_accuracy is None
    assert without.detection_to_alert_mean_s is None and without.objects["a"].called_class is None
    assert any("--alerts" in note for note in without.notes)

    report = score_tracks(TRUTHS, TRACKS, FRAME, sensors=[RADAR], detections=PLOTS, alerts=ALERTS)
    a, b = report.objects["a"], report.objects["b"]
    assert a.detection_to_alert_s == 3.0  # T2's alert at t = 3; T9's alert is nobody's
    assert b.detection_to_alert_s == 2.0  # T3's alert at t = 2
    # latest calls: a "unknown" (T2 at t = 5), b "bird" (T3's track line at t = 5 after its "drone" alert)
    assert (a.called_class, b.called_class) == ("unknown", "bird")
    matrix = report.confusion_matrix
    assert matrix is not None
    assert matrix["drone"]["unknown"] == 1 and matrix["bird"]["bird"] == 1
    assert sum(n for row in matrix.values() for n in row.values()) == 2
    assert report.classification_accuracy == pytest.approx(0.5)
    assert "confusion" in report.format_table() and "SIAP" in report.format_table()


def test_no_tracks_at_all() -> None:
    report = score_tracks(TRUTHS, [], FRAME, alerts=[])
    assert report.completeness == 0.0 and report.ambiguity is None and report.spuriousness is None
    assert report.longest_segment == 0.0 and report.track_number_changes == 0
    assert report.track_number_changes_per_tracked_hour is None
    assert report.confusion_matrix is not None and report.confusion_matrix["drone"]["none"] == 1
    assert report.classification_accuracy is None
