"""The nearly-constant-velocity model against the textbook (Bar-Shalom, Li and Kirubarajan 2001,
6.2.2): continuous white-noise acceleration of spectral density q over a step T gives

    Q = q [[T^3/3, T^2/2], [T^2/2, T]]    per axis.
"""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.tracking.motion import predict, process_noise


def test_process_noise_is_the_textbook_matrix_per_axis() -> None:
    q = process_noise(np.array([3.0]), 2.0, 0.5)[0]
    # horizontal, q = 2, T = 3: 2 * 27 / 3 = 18, 2 * 9 / 2 = 9, 2 * 3 = 6; vertical, q = 0.5: 4.5, 2.25, 1.5
    expected = np.zeros((6, 6))
    for axis, (pp, pv, vv) in enumerate([(18.0, 9.0, 6.0), (18.0, 9.0, 6.0), (4.5, 2.25, 1.5)]):
        expected[axis, axis], expected[axis, axis + 3] = pp, pv
        expected[axis + 3, axis], expected[axis + 3, axis + 3] = pv, vv
    assert np.array_equal(q, expected)


def test_process_noise_of_a_negative_step_is_that_of_its_length() -> None:
    assert np.array_equal(process_noise(-2.0, 1.0, 1.0), process_noise(2.0, 1.0, 1.0))


def test_two_half_steps_make_one_step() -> None:
    x = np.array([[0.0, 0.0, 100.0, 5.0, -3.0, 1.0]])
    p = np.diag([25.0, 25.0, 100.0, 4.0, 4.0, 1.0])[None]
    one = predict(x, p, 2.0, 3.0, 0.2)
    two = predict(*predict(x, p, 1.0, 3.0, 0.2), 1.0, 3.0, 0.2)
    assert one[0] == pytest.approx(two[0], abs=1e-12)
    assert one[1] == pytest.approx(two[1], abs=1e-12)
    assert one[0][0].tolist() == [10.0, -6.0, 102.0, 5.0, -3.0, 1.0]
    # east: 25 + 2^2 * 4 + 3 * 8 / 3 = 49
    assert one[1][0, 0, 0] == pytest.approx(49.0, abs=1e-12)
