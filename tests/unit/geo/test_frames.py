"""Geodesy against pymap3d, to the millimetre, and exact round trips."""

from __future__ import annotations

import numpy as np
import pymap3d
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dronewatch.geo import (
    LocalFrame,
    aer2enu,
    ecef2geodetic,
    ecef_vectors2enu,
    enu2aer,
    enu2geodetic,
    geodetic2ecef,
    geodetic2enu,
)

latitudes = st.floats(-89.9, 89.9)
longitudes = st.floats(-180.0, 180.0)
altitudes = st.floats(-500.0, 20_000.0)
offsets = st.floats(-20_000.0, 20_000.0)


@settings(max_examples=300)
@given(latitudes, longitudes, altitudes)
def test_geodetic_to_ecef_matches_pymap3d_and_round_trips(lat: float, lon: float, alt: float) -> None:
    x, y, z = geodetic2ecef(lat, lon, alt)
    assert np.allclose([x, y, z], pymap3d.geodetic2ecef(lat, lon, alt), rtol=0, atol=1e-3)
    lat2, lon2, alt2 = ecef2geodetic(x, y, z)
    assert abs(alt2 - alt) < 1e-3
    assert abs(lat2 - lat) < 1e-8
    assert abs((lon2 - lon + 180.0) % 360.0 - 180.0) < 1e-8


@settings(max_examples=300)
@given(latitudes, longitudes, altitudes, offsets, offsets, st.floats(-500.0, 5000.0))
def test_enu_matches_pymap3d_and_round_trips(lat0: float, lon0: float, alt0: float, e: float, n: float,
                                             u: float) -> None:
    lat, lon, alt = enu2geodetic(e, n, u, lat0, lon0, alt0)
    expected = pymap3d.enu2geodetic(e, n, u, lat0, lon0, alt0)
    assert np.allclose([lat, lon], expected[:2], rtol=0, atol=1e-9)  # ~0.1 mm in degrees
    assert abs(alt - expected[2]) < 1e-3
    back = geodetic2enu(lat, lon, alt, lat0, lon0, alt0)
    assert np.allclose(back, [e, n, u], rtol=0, atol=1e-3)


@settings(max_examples=300)
@given(offsets, offsets, st.floats(-2000.0, 5000.0))
def test_aer_matches_pymap3d_with_azimuth_clockwise_from_north(e: float, n: float, u: float) -> None:
    # pymap3d rounds components under a millimetre to zero; we keep them
    assume(all(v == 0.0 or abs(v) >= 1e-2 for v in (e, n, u)))
    az, el, r = enu2aer(e, n, u)
    expected = pymap3d.enu2aer(e, n, u)
    assert abs(r - expected[2]) < 1e-3
    if r > 1.0:
        assert abs(el - expected[1]) < 1e-6
        if np.hypot(e, n) > 1.0:
            assert abs((az - expected[0] + 180.0) % 360.0 - 180.0) < 1e-6
    assert np.allclose(aer2enu(az, el, r), [e, n, u], rtol=0, atol=1e-3)


def test_cardinal_directions() -> None:
    for east, north, azimuth in [(0, 1, 0.0), (1, 0, 90.0), (0, -1, 180.0), (-1, 0, 270.0)]:
        assert np.isclose(enu2aer(east * 1000.0, north * 1000.0, 0.0)[0], azimuth)


def test_vectorised_over_arrays_and_leaves_inputs_alone() -> None:
    lat = np.array([31.7, 31.8, -33.9])
    before = lat.copy()
    x, _, _ = geodetic2ecef(lat, [-106.5, -106.4, 18.4], [1130.0, 1200.0, 0.0])
    assert x.shape == (3,)
    assert np.array_equal(lat, before)


def test_frame_transform_is_exact_between_sites() -> None:
    site, other = LocalFrame(31.7775, -106.5290, 1130.0), LocalFrame(31.80, -106.49, 1180.0)
    points = np.array([[1000.0, 2000.0, 300.0], [-2500.0, 100.0, 50.0]])
    rot, offset = site.transform_to(other)
    lat, lon, alt = site.to_geodetic(points)
    assert np.allclose(points @ rot.T + offset, other.from_geodetic(lat, lon, alt), rtol=0, atol=1e-6)


def test_velocity_rotation_into_a_local_enu_frame() -> None:
    site = LocalFrame(31.7775, -106.5290, 1130.0)
    velocity_site = np.array([[10.0, 0.0, 0.0]])
    lat, lon, _ = site.to_geodetic(np.array([[50_000.0, 0.0, 0.0]]))
    local = ecef_vectors2enu(velocity_site @ site.rotation, lat, lon)
    expected = pymap3d.ecef2enuv(*(velocity_site @ site.rotation)[0], lat[0], lon[0])
    assert np.allclose(local[0], expected, atol=1e-9)
    assert np.isclose(np.linalg.norm(local), 10.0)
