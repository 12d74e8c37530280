"""Identity keys and merging the two tracks of one drone, the fusion recomputed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.model import Detection
from dronewatch.tracking import identity
from dronewatch.tracking.table import TrackTable


def test_identity_keys_and_the_latest_report_of_each() -> None:
    a1 = Detection(t=10.0, sensor="rid", lat=0.0, lon=0.0, alt=0.0, uas_id="A")
    b = Detection(t=10.5, sensor="rid", lat=0.0, lon=0.0, alt=0.0, icao="abc123")
    a2 = Detection(t=11.0, sensor="rid", lat=1.0, lon=0.0, alt=0.0, uas_id="A")
    a_old = Detection(t=9.0, sensor="rid", lat=2.0, lon=0.0, alt=0.0, uas_id="A")
    assert identity.identity_key(a1) == "rid:A" and identity.identity_key(b) == "icao:abc123"
    assert identity.latest_per_identity([a1, b, a2, a_old]) == [b, a2]


def test_fuse_is_the_information_weighted_mean() -> None:
    # P_a = 4 I, P_b = 12 I: P = (1/4 + 1/12)^-1 I = 3 I, x = 3 (x_a / 4 + x_b / 12) = 0.75 x_a + 0.25 x_b
    x_a = np.array([100.0, 200.0, 50.0, 4.0, 0.0, 0.0])
    x_b = np.array([104.0, 196.0, 58.0, 0.0, 8.0, 0.0])
    x, p = identity.fuse(x_a, 4.0 * np.eye(6), x_b, 12.0 * np.eye(6))
    assert x == pytest.approx([101.0, 199.0, 52.0, 3.0, 2.0, 0.0], abs=1e-12)
    assert p == pytest.approx(3.0 * np.eye(6), abs=1e-12)


def one_drone_twice() -> TrackTable:
    """Row 0: a radar track (T3, older); row 1: the Remote ID track of the same drone (T7); row 2: a
    radar track far away; row 3: a tentative radar track next to the drone."""
    table = TrackTable(modes=2, sensors=2)
    x = np.array([[100.0, 200.0, 50.0, 4.0, 0.0, 0.0], [104.0, 196.0, 58.0, 0.0, 8.0, 0.0],
                  [2000.0, 0.0, 50.0, 0.0, 0.0, 0.0], [100.0, 200.0, 50.0, 4.0, 0.0, 0.0]])
    p = np.stack([4.0 * np.eye(6), 12.0 * np.eye(6), np.eye(6), 4.0 * np.eye(6)])
    table.append(4, x=x, p=p, xm=x[:, None, :], pm=p[:, None, :, :], mu=[0.5, 0.5], id=[3, 7, 5, 9],
                 confirmed=[True, True, True, False], born=[1.0, 2.0, 1.5, 4.0], last_update=[9.0, 10.0, 8.0, 10.0],
                 last_noncooperative=[9.0, -np.inf, 8.0, 10.0], miss_score=[2.3, 0.0, 0.0, 0.0],
                 seen_at=[[9.0, -np.inf], [-np.inf, 10.0], [8.0, -np.inf], [10.0, -np.inf]],
                 identity=[None, "rid:A", None, None])
    return table


def test_the_remote_id_track_takes_the_radar_track_of_its_drone() -> None:
    table = one_drone_twice()
    # d2 = diff' (16 I)^-1 diff = (16 + 16 + 64 + 16 + 64) / 16 = 11 < chi2_6(0.999) = 22.46
    assert identity.merge_pairs(table, 22.46) == [(1, 0)]
    assert identity.merge_pairs(table, 11.0) == []  # the gate is strict
    identity.merge_into(table, 1, 0)
    assert table.x[1] == pytest.approx([101.0, 199.0, 52.0, 3.0, 2.0, 0.0], abs=1e-12)
    assert table.xm[1, 0] == pytest.approx(table.x[1]) and table.pm[1, 1] == pytest.approx(3.0 * np.eye(6))
    assert table.id[1] == 3 and table.born[1] == 1.0  # the older track's number and birth
    assert table.last_update[1] == 10.0 and table.last_noncooperative[1] == 9.0
    assert table.seen_at[1].tolist() == [9.0, 10.0] and table.miss_score[1] == 0.0
    assert table.identity[1] == "rid:A"


def test_no_merge_without_a_confirmed_partner_or_an_identity() -> None:
    table = one_drone_twice()
    table.confirmed[0] = False
    assert identity.merge_pairs(table, 22.46) == []  # the tentative row 3 is as close, but tentative too
    table.identity[1] = None
    table.confirmed[0] = True
    assert identity.merge_pairs(table, 22.46) == []
