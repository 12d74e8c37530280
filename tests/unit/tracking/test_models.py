"""Each measurement model's analytic Jacobian against central differences, and angle wrapping."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.geo import LocalFrame
from dronewatch.tracking import models

SITE = LocalFrame(31.7775, -106.5290, 1130.0)
SENSOR = LocalFrame(31.7850, -106.5200, 1142.0)


def _numerical_jacobian(model: models.Model, state: np.ndarray, pose: models.Pose) -> np.ndarray:
    step = 1e-4
    columns = []
    for i in range(6):
        plus, minus = state.copy(), state.copy()
        plus[i] += step
        minus[i] -= step
        z_plus = model.function(plus[None, :], pose)[0][0]
        z_minus = model.function(minus[None, :], pose)[0][0]
        columns.append(model.residual(z_plus, z_minus) / (2 * step))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("model", [models.RADAR, models.RADAR_DOPPLER, models.AZIMUTH, models.AZIMUTH_ELEVATION,
                                   models.POSITION, models.POSITION_VELOCITY], ids=lambda m: m.name)
@pytest.mark.parametrize("state", [
    [850.0, 420.0, 160.0, -12.0, 7.0, 1.5],
    [0.5, 2200.0, 90.0, 3.0, -20.0, 0.0],     # due north of the site
    [-1500.0, -1.0, 40.0, 0.0, 15.0, -2.0],   # due west, just south of the axis
    [300.0, -900.0, 1200.0, 5.0, 5.0, 5.0],   # steep elevation
])
def test_analytic_jacobian_matches_central_differences(model: models.Model, state: list[float]) -> None:
    pose = SITE.transform_to(SENSOR)
    x = np.array(state)
    _, analytic = model.function(x[None, :], pose)
    numerical = _numerical_jacobian(model, x, pose)
    assert np.allclose(analytic[0], numerical, rtol=1e-5, atol=1e-8)


def test_radar_measures_azimuth_clockwise_from_north_in_the_sensor_frame() -> None:
    pose = SITE.transform_to(SITE)
    z, _ = models.RADAR.function(np.array([[1000.0, 0.0, 0.0, 0, 0, 0], [0.0, -1000.0, 1000.0, 0, 0, 0]]), pose)
    assert np.isclose(np.degrees(z[0, 0]), 90.0) and np.isclose(z[0, 2], 1000.0)
    assert np.isclose(np.degrees(z[1, 0]) % 360.0, 180.0) and np.isclose(np.degrees(z[1, 1]), 45.0)


def test_radial_speed_is_positive_when_receding() -> None:
    pose = SITE.transform_to(SITE)
    z, _ = models.RADAR_DOPPLER.function(np.array([[0.0, 1000.0, 0.0, 0.0, 10.0, 0.0]]), pose)
    assert np.isclose(z[0, 3], 10.0)


@pytest.mark.parametrize(("measured", "predicted", "expected"), [
    (359.5, 0.5, -1.0),    # across north, both ways
    (0.5, 359.5, 1.0),
    (-179.5, 179.5, 1.0),  # across due south (atan2 branch cut)
    (10.0, 350.0, 20.0),
])
def test_azimuth_residual_wraps_to_the_short_way_round(measured: float, predicted: float, expected: float) -> None:
    nu = models.AZIMUTH.residual(np.radians([[measured]]), np.radians([[predicted]]))
    assert np.isclose(np.degrees(nu[0, 0]), expected)


def test_polar_to_site_inverts_the_radar_model() -> None:
    pose = SITE.transform_to(SENSOR)
    states = np.array([[850.0, 420.0, 160.0, 0, 0, 0], [-20.0, 3000.0, 300.0, 0, 0, 0]])
    z, _ = models.RADAR.function(states, pose)
    positions, jac = models.polar_to_site(z[:, 0], z[:, 1], z[:, 2], pose)
    assert np.allclose(positions, states[:, :3], atol=1e-6)
    _, h = models.RADAR.function(states, pose)
    assert np.allclose(h[:, :, :3] @ jac, np.eye(3), atol=1e-9)
