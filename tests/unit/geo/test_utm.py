"""UTM against PROJ and against its own definition (grid north by finite differences)."""

from __future__ import annotations

import math

import pytest

from dronewatch.errors import FormatError
from dronewatch.geo.utm import (
    UtmZone,
    convergence_deg,
    geodetic2utm,
    parse_zone,
    utm2geodetic,
    utm2geodetic_checked,
    zone_of,
)

# (zone, lat, lon) -> easting, northing, meridian convergence: PROJ 9 via pyproj 3.8 (etmerc, WGS84),
# computed once in a scratch environment (pyproj is not a dependency).
PROJ = [
    (13, 31.7775, -106.529, 355222.39348377875, 3516791.143248015, -0.8053452229150063),
    (30, 51.1739726374, -1.82237671048, 582322.7154224226, 5669830.717612613, 0.9174824264744029),
    (33, -33.9, 18.4, 814420.3309513011, 6243724.840074809, -1.8978894468226228),
    (30, 70.0, -6.0, 385526.28525420174, 7768690.108775233, -2.8193798273331434),
    (33, -60.0, 9.5, 193458.67018245178, 3335832.3210475026, 4.766814016567044),
]


@pytest.mark.parametrize(("zone", "lat", "lon", "easting", "northing", "gamma"), PROJ)
def test_matches_proj_to_the_nanometre(zone: int, lat: float, lon: float, easting: float, northing: float,
                                       gamma: float) -> None:
    e, n, z, north = geodetic2utm(lat, lon, zone)
    assert (z, north) == (zone, lat >= 0)
    assert e == pytest.approx(easting, abs=1e-6) and n == pytest.approx(northing, abs=1e-6)
    assert convergence_deg(lat, lon, zone) == pytest.approx(gamma, abs=1e-9)
    back = utm2geodetic(e, n, zone, north)
    assert back == pytest.approx((lat, lon), abs=1e-11)


@pytest.mark.parametrize(("zone", "lat", "lon"), [(13, 31.7775, -106.529), (30, 51.17, -1.82), (33, -33.9, 18.4)])
def test_convergence_is_the_angle_from_true_north_to_grid_north(zone: int, lat: float, lon: float) -> None:
    # step 1 m along grid north and see where that goes in true terms
    e, n, _, north = geodetic2utm(lat, lon, zone)
    lat2, lon2 = utm2geodetic(e, n + 1.0, zone, north)
    d_north = math.radians(lat2 - lat) * 6_371_000.0
    d_east = math.radians(lon2 - lon) * 6_371_000.0 * math.cos(math.radians(lat))
    true_azimuth_of_grid_north = math.degrees(math.atan2(d_east, d_north))
    assert true_azimuth_of_grid_north == pytest.approx(convergence_deg(lat, lon, zone), abs=0.01)


def test_zones_with_their_exceptions() -> None:
    assert zone_of(31.7775, -106.529) == 13
    assert zone_of(51.17, -1.82) == 30
    assert zone_of(60.0, 5.0) == 32  # south-west Norway
    assert zone_of(78.0, 15.0) == 33  # Svalbard
    assert zone_of(0.0, 180.0) == 1 and zone_of(0.0, 179.99) == 60
    assert parse_zone("30U") == UtmZone(30, "U") and parse_zone(" 13 s ") == UtmZone(13, "S")
    assert parse_zone("13") == UtmZone(13)
    for bad in ("61N", "30I", "x", ""):
        with pytest.raises(FormatError, match="UTM zone"):
            parse_zone(bad)


def test_received_coordinates_are_checked_against_zone_and_band() -> None:
    e, n, _, _ = geodetic2utm(51.17, -1.82, 30)
    assert utm2geodetic_checked(e, n, parse_zone("30U"), "here") == pytest.approx((51.17, -1.82))
    assert utm2geodetic_checked(e, n, parse_zone("30N"), "here") == pytest.approx((51.17, -1.82))  # hemisphere N
    e2, n2, _, _ = geodetic2utm(-33.9, 18.4, 33)
    assert utm2geodetic_checked(e2, n2, parse_zone("33S"), "here") == pytest.approx((-33.9, 18.4))  # hemisphere S
    e3, n3, _, _ = geodetic2utm(35.0, 15.0, 33)
    assert utm2geodetic_checked(e3, n3, parse_zone("33S"), "here") == pytest.approx((35.0, 15.0))  # band S
    with pytest.raises(FormatError, match=r"here: easting x=51.17 m is outside UTM zone 30 .* look like degrees"):
        utm2geodetic_checked(51.17, -1.82, parse_zone("30U"), "here")
    with pytest.raises(FormatError, match="outside band U"):
        utm2geodetic_checked(318720.0, 176487.0, parse_zone("30U"), "here")
    with pytest.raises(FormatError, match="ambiguous"):
        utm2geodetic_checked(e, n, parse_zone("30"), "here")
