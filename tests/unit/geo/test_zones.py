"""Zones: validation, point-in-zone with floor and ceiling, predicted entry on straight and turning paths."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.errors import ConfigError
from dronewatch.geo import LocalFrame
from dronewatch.geo.zones import ZoneSet, check_zone, predicted_path
from dronewatch.model import Zone

SITE = LocalFrame(31.7775, -106.5290, 1130.0)


def square_zone(half_m: float = 150.0, zone_id: str = "compound", floor: float = 1130.0,
                ceiling: float = 1630.0) -> Zone:
    corners = np.array([[-half_m, -half_m, 0.0], [half_m, -half_m, 0.0], [half_m, half_m, 0.0], [-half_m, half_m, 0.0]])
    lat, lon, _ = SITE.to_geodetic(corners)
    return Zone(zone_id, "critical", floor, ceiling, tuple(zip(lon.tolist(), lat.tolist(), strict=True)))


@pytest.mark.parametrize(("zone", "reason"), [
    (Zone("bowtie", "critical", 0.0, 100.0, ((0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0))),
     "zone 'bowtie': polygon is not simple: Self-intersection"),
    (Zone("upside-down", "warning", 200.0, 100.0, ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))),
     "zone 'upside-down': floor_m 200.0 must be below ceiling_m 100.0"),
    (Zone("line", "info", 0.0, 100.0, ((0.0, 0.0), (1.0, 1.0), (2.0, 2.0))), "zone 'line': polygon is not simple"),
    (Zone("two", "info", 0.0, 100.0, ((0.0, 0.0), (1.0, 1.0), (0.0, 0.0))), "at least 3 distinct points"),
])
def test_bad_zones_are_rejected_by_name(zone: Zone, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        check_zone(zone)


def test_duplicate_zone_ids_are_rejected() -> None:
    with pytest.raises(ConfigError, match="compound declared more than once"):
        ZoneSet.build([square_zone(), square_zone(100.0)], SITE)


def test_inside_checks_the_polygon_and_the_heights() -> None:
    zones = ZoneSet.build([square_zone(), square_zone(1500.0, "approach", ceiling=1930.0)], SITE)
    points = np.array([[0.0, 0.0, 50.0], [149.0, -149.0, 499.0], [151.0, 0.0, 50.0], [0.0, 0.0, 501.0],
                       [0.0, 0.0, -1.0], [1000.0, 1000.0, 100.0]])
    assert zones.inside(points).tolist() == [[True, True], [True, True], [False, True], [False, True],
                                             [False, False], [False, True]]
    near = zones.inside(np.array([[170.0, 0.0, 50.0]]), margin_m=25.0)
    assert near[0, 0]


def test_entry_time_of_a_straight_approach() -> None:
    zones = ZoneSet.build([square_zone()], SITE)
    eta = zones.entry_times(np.array([[0.0, 800.0, 40.0], [0.0, 800.0, 40.0], [0.0, 0.0, 40.0]]),
                            np.array([[0.0, -15.0, 0.0], [0.0, 15.0, 0.0], [5.0, 0.0, 0.0]]),
                            np.zeros(3), horizon_s=120.0, velocity_sigma_mps=0.0)
    assert eta[0, 0] == pytest.approx(np.ceil(650.0 / 15.0))  # first whole second inside
    assert np.isinf(eta[1, 0]) and eta[2, 0] == 0.0


def test_an_orbit_is_predicted_as_a_circle_not_its_tangent() -> None:
    zones = ZoneSet.build([square_zone()], SITE)
    # 600 m north, flying west at 7 m/s: the tangent misses; turning left at 7/100 rad/s it circles 100 m
    position, velocity = np.array([[0.0, 600.0, 100.0]]), np.array([[-7.0, 0.0, 0.0]])
    tangent_towards = zones.entry_times(np.array([[100.0, 600.0, 100.0]]), np.array([[0.0, -7.0, 0.0]]),
                                        np.array([10.0]), 120.0, velocity_sigma_mps=0.0)
    circling = zones.entry_times(np.array([[100.0, 600.0, 100.0]]), np.array([[0.0, -7.0, 0.0]]),
                                 np.array([10.0]), 120.0, velocity_sigma_mps=0.0, turn_rate_rps=np.array([-0.07]))
    assert np.isfinite(tangent_towards[0, 0]) and np.isinf(circling[0, 0])
    path = predicted_path(position, velocity, np.array([0.0, np.pi / 0.07, 2 * np.pi / 0.07]), np.array([0.07]))
    # counter-clockwise from the top of a circle centred 100 m further south: half a turn down, then back
    assert path[0, :, :2] == pytest.approx(np.array([[0.0, 600.0], [0.0, 400.0], [0.0, 600.0]]), abs=1e-6)
