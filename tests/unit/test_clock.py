"""The pacer that plays files and simulations back as live feeds."""

from __future__ import annotations

import pytest

from dronewatch.clock import Pacer


def test_records_fall_due_at_speed_times_their_own_pace_from_the_first() -> None:
    now = [50.0]
    pacer = Pacer(4.0, clock=lambda: now[0])
    assert pacer.delay_s(1000.0) == 0.0  # the first record is due at once
    assert pacer.delay_s(1008.0) == pytest.approx(2.0)  # 8 s of file time at x4
    now[0] += 3.0
    assert pacer.delay_s(1008.0) == pytest.approx(-1.0)  # late by a second: due now


def test_speed_zero_never_waits_and_an_origin_can_be_given() -> None:
    assert Pacer(0.0).delay_s(1e9) == 0.0
    now = [0.0]
    pacer = Pacer(origin_s=100.0, clock=lambda: now[0])
    assert pacer.delay_s(105.0) == pytest.approx(5.0)
