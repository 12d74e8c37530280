"""The Kalman predict and update on a 1-D constant-velocity example worked by hand.

East position and velocity ``[10 m, 2 m/s]``, ``P = [[4, 1], [1, 2]]``, ``q = 0.6`` m^2/s^3, a step
of 1 s, then a position measurement of 13 m with variance 1.8:

    x- = [12, 2]
    P- = F P F' + Q = [[4 + 2 + 2, 1 + 2], [1 + 2, 2]] + 0.6 [[1/3, 1/2], [1/2, 1]] = [[8.2, 3.3], [3.3, 2.6]]
    nu = 1, S = 8.2 + 1.8 = 10, d2 = 0.1, K = [0.82, 0.33]
    x+ = [12.82, 2.33]
    P+ = P- - K S K' = [[8.2 - 6.724, 3.3 - 2.706], [3.3 - 2.706, 2.6 - 1.089]] = [[1.476, 0.594], [0.594, 1.511]]
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dronewatch.tracking import kalman, models
from dronewatch.tracking.motion import predict

EAST = np.array([0, 3])  # the east axis: position and velocity in the 6-D state


def east_only(states: np.ndarray, pose: models.Pose) -> tuple[np.ndarray, np.ndarray]:
    jacobian = np.zeros((states.shape[0], 1, 6))
    jacobian[:, 0, 0] = 1.0
    return states[:, :1].copy(), jacobian


EAST_POSITION = models.Model("east", east_only, (False,))
POSE = (np.eye(3), np.zeros(3))


def test_one_dimensional_constant_velocity_predict_and_update() -> None:
    x = np.zeros((1, 6))
    x[0, EAST] = [10.0, 2.0]
    p = np.eye(6)[None].copy()
    p[0, 0, 0], p[0, 0, 3], p[0, 3, 0], p[0, 3, 3] = 4.0, 1.0, 1.0, 2.0
    x, p = predict(x, p, 1.0, 0.6, 0.1)
    assert x[0, EAST] == pytest.approx([12.0, 2.0], abs=1e-12)
    assert p[0][np.ix_(EAST, EAST)] == pytest.approx(np.array([[8.2, 3.3], [3.3, 2.6]]), abs=1e-12)

    pairs = kalman.innovations(EAST_POSITION, POSE, x, p, np.array([[13.0]]), np.array([[1.8]]),
                               np.array([0]), np.array([0]))
    assert pairs.nu[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert pairs.s[0, 0, 0] == pytest.approx(10.0, abs=1e-12)
    assert pairs.d2[0] == pytest.approx(0.1, abs=1e-12)
    assert pairs.log_det_s[0] == pytest.approx(math.log(10.0), abs=1e-12)
    kalman.update(x, p, pairs)
    assert x[0, EAST] == pytest.approx([12.82, 2.33], abs=1e-12)
    assert p[0][np.ix_(EAST, EAST)] == pytest.approx(np.array([[1.476, 0.594], [0.594, 1.511]]), abs=1e-12)
    # the north and up axes, only predicted: 1 + 1 (a velocity variance of 1 over 1 s) + q/3
    assert p[0, 1, 1] == pytest.approx(2.2, abs=1e-12) and p[0, 2, 2] == pytest.approx(2.0 + 0.1 / 3.0, abs=1e-12)


def test_an_older_detection_is_retrodicted_with_its_process_noise() -> None:
    # the same track seen 0.5 s before its time: h(F x) = 12 - 0.5 * 2 = 11, H F = [1, -0.5]
    x = np.zeros((1, 6))
    x[0, EAST] = [12.0, 2.0]
    p = np.eye(6)[None].copy()
    offset_noise = np.zeros((1, 6, 6))
    offset_noise[0, 0, 0] = 0.25
    pairs = kalman.innovations(EAST_POSITION, POSE, x, p, np.array([[11.5]]), np.array([[1.0]]),
                               np.array([0]), np.array([0]), np.array([-0.5]), offset_noise)
    assert pairs.nu[0, 0] == pytest.approx(0.5, abs=1e-12)
    assert pairs.jacobian[0, 0, [0, 3]] == pytest.approx([1.0, -0.5], abs=1e-12)
    # S = H F P F' H' + R + H Q H' = (1 + 0.25) + 1 + 0.25
    assert pairs.s[0, 0, 0] == pytest.approx(2.5, abs=1e-12)
