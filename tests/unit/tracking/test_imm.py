"""The IMM cycle's pieces against the formulas of tracking.imm, recomputed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.tracking import imm


def test_transition_matrix_stays_by_the_power_of_dt_and_leaves_evenly() -> None:
    pi = imm.transition_matrix(np.array([0.9, 0.8, 0.5]), 2.0)
    assert pi == pytest.approx(np.array([[0.81, 0.095, 0.095], [0.18, 0.64, 0.18], [0.375, 0.375, 0.25]]))


def test_no_mode_moves_into_an_on_demand_one() -> None:
    pi = imm.transition_matrix(np.array([0.9, 0.8, 0.5]), 1.0, np.array([False, False, True]))
    assert pi == pytest.approx(np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.25, 0.25, 0.5]]))
    alone = imm.transition_matrix(np.array([0.9, 0.5]), 1.0, np.array([False, True]))
    assert alone == pytest.approx(np.array([[1.0, 0.0], [0.5, 0.5]]))  # nowhere else to go


def test_mix_weights_states_and_adds_their_spread() -> None:
    states = np.zeros((1, 2, 6))
    states[0, 1, 0] = 10.0                      # the modes disagree by 10 m east
    covariances = np.stack([np.eye(6), 4.0 * np.eye(6)])[None]
    mu = np.array([[0.75, 0.25]])
    pi = np.array([[0.9, 0.1], [0.2, 0.8]])
    mixed, mixed_cov, c = imm.mix(states, covariances, mu, pi)
    assert c == pytest.approx(np.array([[0.75 * 0.9 + 0.25 * 0.2, 0.75 * 0.1 + 0.25 * 0.8]]))
    w = np.array([0.75 * 0.9, 0.25 * 0.2]) / c[0, 0]            # mu_{i|0}
    assert mixed[0, 0, 0] == pytest.approx(w[1] * 10.0)
    spread = w[0] * mixed[0, 0, 0] ** 2 + w[1] * (10.0 - mixed[0, 0, 0]) ** 2
    assert mixed_cov[0, 0, 0, 0] == pytest.approx(w[0] * 1.0 + w[1] * 4.0 + spread)
    assert mixed_cov[0, 0, 1, 1] == pytest.approx(w[0] * 1.0 + w[1] * 4.0)


def test_combine_and_posterior() -> None:
    states = np.zeros((1, 2, 6))
    states[0, 1, 2] = 4.0
    covariances = np.stack([np.eye(6), np.eye(6)])[None]
    x, p = imm.combine(states, covariances, np.array([[0.5, 0.5]]))
    assert x[0, 2] == pytest.approx(2.0) and p[0, 2, 2] == pytest.approx(1.0 + 4.0)
    mu = imm.posterior(np.array([[0.5, 0.5]]), np.array([[0.0, np.log(3.0)]]))
    assert mu == pytest.approx(np.array([[0.25, 0.75]]))


def test_switch_on_gives_the_entry_share_and_switch_off_renormalises() -> None:
    on_demand = np.array([False, False, True])
    mu = np.array([[0.6, 0.4, 0.0], [0.5, 0.3, 0.2]])
    on = imm.switch_on(mu, on_demand, 0.5)
    assert on == pytest.approx(np.array([[0.3, 0.2, 0.5], [0.5, 0.3, 0.2]]))  # the second was on already
    off = imm.switch_off(np.array([[0.5, 0.495, 0.005], [0.3, 0.2, 0.5]]), on_demand, 0.01)
    assert off == pytest.approx(np.array([[0.5 / 0.995, 0.495 / 0.995, 0.0], [0.3, 0.2, 0.5]]))


def test_mixing_probabilities_of_two_modes_by_hand() -> None:
    # mu = (3/4, 1/4), Pi = [[0.9, 0.1], [0.2, 0.8]]:
    # c_0 = 0.675 + 0.05 = 0.725, c_1 = 0.075 + 0.2 = 0.275
    # mu_{.|0} = (0.675, 0.05) / 0.725 = (27/29, 2/29); mu_{.|1} = (0.075, 0.2) / 0.275 = (3/11, 8/11)
    # with x_0 = 0 and x_1 = 1 on one axis, the mixed state of mode j is mu_{1|j}
    states = np.zeros((1, 2, 6))
    states[0, 1, 0] = 1.0
    covariances = np.zeros((1, 2, 6, 6))
    mixed, mixed_cov, c = imm.mix(states, covariances, np.array([[0.75, 0.25]]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert c[0] == pytest.approx([0.725, 0.275], abs=1e-15)
    assert mixed[0, :, 0] == pytest.approx([2.0 / 29.0, 8.0 / 11.0], abs=1e-15)
    # the spread term alone (P_i = 0): mu_{0|j} mu_{1|j}, a Bernoulli variance
    assert mixed_cov[0, :, 0, 0] == pytest.approx([27.0 * 2.0 / 29.0**2, 3.0 * 8.0 / 11.0**2], abs=1e-15)
    # one second on: c_j then feeds the update; the posterior with likelihoods (1, 3): (0.725, 0.825) / 1.55
    mu = imm.posterior(c, np.log(np.array([[1.0, 3.0]])))
    assert mu[0] == pytest.approx([0.725 / 1.55, 0.825 / 1.55], abs=1e-15)
