"""Track score, confirmation and deletion on hand-built sequences of hits and misses, the
log-likelihood arithmetic recomputed here from the formulas of tracking.score and tracking.delete."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dronewatch.model import Detection, Sensor
from dronewatch.tracking import Tracker, TrackerConfig, delete, score
from dronewatch.tracking.table import TrackTable

CONFIG = TrackerConfig()  # M = 2 hits, confirm at ln 1000 = 6.9, cap ln 10^6 = 13.8, delete below 3.45


def hit_gain(pd: float, d2: float, det_s: float, dim: int, clutter_density: float) -> float:
    """ln(Pd g(z) / beta), g the Gaussian innovation density: written out once more."""
    g = math.exp(-0.5 * d2) / math.sqrt((2.0 * math.pi) ** dim * det_s)
    return math.log(pd * g / clutter_density)


def test_log_innovation_density_is_the_log_of_the_gaussian_density() -> None:
    got = score.log_innovation_density(np.array([0.0, 4.0]), np.log(np.array([1.0, 100.0])), 2)
    assert got[0] == pytest.approx(-math.log(2.0 * math.pi), rel=1e-14)
    assert got[1] == pytest.approx(math.log(math.exp(-2.0) / (2.0 * math.pi * 10.0)), rel=1e-14)
    assert got[1] == pytest.approx(-2.0 - 1.8378770664093453 - 2.302585092994046, rel=1e-14)  # -6.1405


def test_a_sequence_of_hits_and_misses_confirms_then_deletes_the_track() -> None:
    pd, dim, beta = 0.9, 3, 1e-7  # a radar plot: beta per rad^2 m
    s = np.zeros(1)
    confirmed = np.zeros(1, dtype=bool)
    hits = np.ones(1, dtype=np.int32)  # the plot that started it

    def take(d2: float, det_s: float) -> None:
        nonlocal s
        log_g = score.log_innovation_density(np.array([d2]), np.array([math.log(det_s)]), dim)
        s = score.after_hits(s, confirmed, pd, log_g, math.log(beta), CONFIG.confirmed_score_cap)
        hits[:] += 1

    def miss() -> None:
        s[:] += score.miss_log_likelihood(pd)

    # scan 2: a poor fit, d2 = 9 with |S| = 1e6: ln 0.9 - 4.5 - 6.908 - 2.757 + 16.118 = 1.848
    take(9.0, 1e6)
    expected = hit_gain(0.9, 9.0, 1e6, 3, 1e-7)
    assert expected == pytest.approx(1.84816, abs=1e-5)
    assert s[0] == pytest.approx(expected, rel=1e-13)
    assert not score.confirmable(confirmed, hits, s, CONFIG)[0]  # 2 hits, but the score is short
    # scan 3: missed; ln(1 - 0.9) = -2.303
    miss()
    expected += math.log(0.1)
    assert s[0] == pytest.approx(expected, rel=1e-13)
    # scan 4: a good fit, d2 = 1: ln 0.9 - 0.5 - 6.908 - 2.757 + 16.118 = 5.848; total 5.394, still short
    take(1.0, 1e6)
    expected += hit_gain(0.9, 1.0, 1e6, 3, 1e-7)
    assert s[0] == pytest.approx(5.39374, abs=1e-5)
    assert s[0] == pytest.approx(expected, rel=1e-13)
    assert not score.confirmable(confirmed, hits, s, CONFIG)[0]
    # scan 5: another good fit: 11.24 >= 6.9 with 4 hits: confirmed
    take(1.0, 1e6)
    expected += hit_gain(0.9, 1.0, 1e6, 3, 1e-7)
    assert s[0] == pytest.approx(expected, rel=1e-13)
    assert score.confirmable(confirmed, hits, s, CONFIG)[0]
    confirmed[:] = True
    # scan 6: confirmed now, the score stops at ln 10^6 = 13.8 instead of 17.09
    take(1.0, 1e6)
    assert expected + hit_gain(0.9, 1.0, 1e6, 3, 1e-7) == pytest.approx(17.0901, abs=1e-4)
    assert s[0] == 13.8
    # then the plots look like clutter (a hot spot the map learnt: beta 100 times higher): each hit
    # now adds 5.848 - ln 100 = 1.243 ... and misses take 2.303: after 5 misses 13.8 - 11.51 = 2.29 < 3.45
    for _ in range(5):
        miss()
    assert s[0] == pytest.approx(13.8 + 5 * math.log(0.1), rel=1e-13)
    table = TrackTable(modes=1)
    table.append(1, p=np.eye(6), confirmed=True, score=s, last_update=100.0)
    assert delete.doomed(table, np.zeros(1), CONFIG).tolist() == [True]
    table.identity[0] = "rid:A"  # an identity track is not deleted for its score
    assert delete.doomed(table, np.zeros(1), CONFIG).tolist() == [False]


def test_a_miss_costs_at_most_ln_a_million() -> None:
    assert score.miss_log_likelihood(0.7) == pytest.approx(math.log(0.3), rel=1e-15)
    assert score.miss_log_likelihood(1.0) == math.log(1e-6)


def tracks(n: int, **columns: object) -> TrackTable:
    table = TrackTable(modes=1)
    table.append(n, p=np.eye(6), last_update=0.0, **columns)
    return table


def test_each_deletion_rule_alone() -> None:
    c = CONFIG
    since = np.zeros(2)
    # misses: -ln 0.005 = 5.298; two misses at Pd 0.9 cost 4.605, three 6.908
    assert round(delete.DELETE_MISS_SCORE, 6) == 5.298317
    assert delete.doomed(tracks(2, confirmed=True, score=10.0, miss_score=[-2 * math.log(0.1), -3 * math.log(0.1)]),
                         since, c).tolist() == [False, True]
    # coasting, 8 s
    assert delete.doomed(tracks(2, confirmed=True, score=10.0), np.array([8.0, 8.5]), c).tolist() == [False, True]
    # tentative and stale, 3 s
    assert delete.doomed(tracks(2), np.array([3.0, 3.5]), c).tolist() == [False, True]
    # M of N: tentative after 4 scans that expected it
    assert delete.doomed(tracks(2, scans=[3, 4]), since, c).tolist() == [False, True]
    assert delete.doomed(tracks(1, scans=9, confirmed=True, score=10.0), since[:1], c).tolist() == [False]
    # lost: the trace of the position covariance above 300^2
    wide = tracks(2, confirmed=True, score=10.0)
    wide.p[0, :3, :3] = np.eye(3) * 30000.0
    wide.p[1, :3, :3] = np.eye(3) * 30001.0
    assert delete.doomed(wide, since, c).tolist() == [False, True]
    # score: confirmed below 3.45; a tentative track's low score is M of N's business
    assert delete.doomed(tracks(2, confirmed=True, score=[3.45, 3.44]), since, c).tolist() == [False, True]
    assert delete.doomed(tracks(1, score=-50.0), since[:1], c).tolist() == [False]


def radar(pd: float) -> Sensor:
    return Sensor(id="radar-1", kind="radar", lat=31.7775, lon=-106.529, alt=1130.0,
                  sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5}, pd=pd, period_s=1.0)


def test_m_of_n_drops_a_lone_plot_after_n_scans_expecting_it() -> None:
    # Pd 0.5: three misses cost 3 ln 2 = 2.08, far from the miss deletion; the 4th scan ends it
    tracker = Tracker()
    tracker.add_sensor(radar(0.5))
    t0 = 1_764_000_000.0
    tracker.process("radar-1", t0, [Detection(t=t0, sensor="radar-1", azimuth_deg=40.0, elevation_deg=5.0,
                                              range_m=1500.0)])
    sizes = [tracker.size]
    for k in (1, 2, 3):
        tracker.process("radar-1", t0 + k, [])
        sizes.append(tracker.size)
    assert sizes == [1, 1, 1, 0]
    assert tracker.stats.tracks_started == 1 and tracker.stats.tracks_deleted == 1
    assert tracker.stats.tracks_confirmed == 0


def test_three_misses_at_pd_09_delete_a_confirmed_track() -> None:
    tracker = Tracker()
    tracker.add_sensor(radar(0.9))
    t0 = 1_764_000_000.0
    plot = {"azimuth_deg": 40.0, "elevation_deg": 5.0, "range_m": 1500.0}
    for k in range(4):
        tracker.process("radar-1", t0 + k, [Detection(t=t0 + k, sensor="radar-1", **plot)])  # type: ignore[arg-type]
    assert len(tracker.snapshot()) == 1
    sizes = []
    for k in (4, 5, 6):
        tracker.process("radar-1", t0 + k, [])
        sizes.append(tracker.size)
    assert sizes == [1, 1, 0]  # 2 ln 10 = 4.61 < 5.30 < 3 ln 10 = 6.91
