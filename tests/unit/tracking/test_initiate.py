"""Track initiation: the prior, a plot's covariance and two bearings that cross, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor
from dronewatch.tracking import Tracker, initiate

SITE = LocalFrame(31.7775, -106.5290, 1130.0)


def test_the_prior_is_the_position_at_rest_with_the_velocity_sigmas() -> None:
    x, p = initiate.prior(np.array([[1.0, 2.0, 3.0]]), 4.0 * np.eye(3)[None], 15.0, 4.0)
    assert x[0].tolist() == [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]
    assert np.array_equal(p[0], np.diag([4.0, 4.0, 4.0, 225.0, 225.0, 16.0]))


def test_a_plots_covariance_is_j_r_j_transposed() -> None:
    jacobian = np.array([[[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]]])
    noise = np.diag([1.0, 4.0, 9.0, 100.0])  # the radial speed's variance plays no part
    # J R J' = [[4 + 9, 0, 9], [0, 36, 0], [9, 0, 9]]
    assert np.array_equal(initiate.plot_covariances(jacobian, noise)[0],
                          np.array([[13.0, 0.0, 9.0], [0.0, 36.0, 0.0], [9.0, 0.0, 9.0]]))


def direction_finder(sensor_id: str, east_m: float) -> Sensor:
    lat, lon, alt = SITE.to_geodetic(np.array([east_m, 0.0, 0.0]))
    return Sensor(id=sensor_id, kind="rf", lat=float(lat), lon=float(lon), alt=float(alt),
                  sigma={"azimuth_deg": 1.0}, pd=0.8, period_s=1.0)


def test_two_bearings_at_right_angles_cross_where_the_geometry_says() -> None:
    tracker = Tracker(site=SITE)
    west, east = tracker.add_sensor(direction_finder("df-w", 0.0)), tracker.add_sensor(direction_finder("df-e", 1000.0))
    a = initiate.LooseBearing(10.0, west, math.radians(45.0), None)
    b = initiate.LooseBearing(10.5, east, math.radians(315.0), None)
    found = initiate.crossing(a, b, math.sin(math.radians(10.0)), 100.0, 100.0)
    assert found is not None
    sin_angle, position, covariance = found
    assert sin_angle == pytest.approx(1.0, abs=1e-6)
    # both 707.1 m out; at 1 deg each bearing is 12.34 m wide across, and the two are orthogonal
    assert position == pytest.approx([500.0, 500.0, 100.0], abs=0.05)
    cross_range = math.radians(1.0) * 1000.0 / math.sqrt(2.0)
    # (the two sensors' frames differ by the earth's curvature over 1 km: a few parts in 10^4)
    assert covariance[:2, :2] == pytest.approx(cross_range**2 * np.eye(2), abs=0.05)
    assert covariance[2, 2] == 100.0**2
    # a bearing pointing away from the other never crosses it in front of both
    assert initiate.crossing(a, initiate.LooseBearing(10.5, east, math.radians(45.0), None), 0.17, 100.0, 100.0) is None


def test_pairing_takes_the_widest_crossing_and_keeps_the_rest_loose() -> None:
    tracker = Tracker(site=SITE)
    west, east = tracker.add_sensor(direction_finder("df-w", 0.0)), tracker.add_sensor(direction_finder("df-e", 1000.0))
    narrow = initiate.LooseBearing(9.8, east, math.radians(290.0), None)
    square = initiate.LooseBearing(9.9, east, math.radians(315.0), None)
    new = initiate.LooseBearing(10.0, west, math.radians(45.0), None)
    same_site = initiate.LooseBearing(10.0, west, math.radians(60.0), None)
    loose, crossings = initiate.pair_bearings([narrow, square], [new, same_site], 0.17, 100.0, 100.0)
    # the first new bearing takes the square crossing (90 deg, not 65), the second what is left
    assert [k.partner for k in crossings] == [square, narrow] and loose == []
    loose, crossings = initiate.pair_bearings([narrow, square], [new], 0.17, 100.0, 100.0)
    assert loose == [narrow] and len(crossings) == 1
