"""The clutter map against its formulas, recomputed by hand (module docstring of tracking.clutter)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dronewatch.model import Sensor
from dronewatch.tracking.clutter import ClutterMap

RADAR = Sensor(id="radar-1", kind="radar", lat=31.0, lon=-106.0, alt=1000.0, min_range_m=100.0, max_range_m=3000.0,
               min_elevation_deg=0.0, max_elevation_deg=30.0)


def plot(azimuth_deg: float, elevation_deg: float, range_m: float) -> list[float]:
    return [math.radians(azimuth_deg), math.radians(elevation_deg), range_m]


def test_cells_are_100_m_by_5_deg_by_2_deg_over_the_declared_coverage() -> None:
    m = ClutterMap(RADAR, 1.0)
    assert m.shape == (29, 72, 15)  # 2900 m, 360 deg, 30 deg
    assert m.cell_volume == pytest.approx(2900.0 * 2 * math.pi * math.radians(30.0) / (29 * 72 * 15))
    z = np.array([plot(0.0, 0.0, 100.0),       # first cell
                  plot(7.0, 3.0, 250.0),       # range cell 1, azimuth cell 1, elevation cell 1
                  plot(359.9, 29.9, 2999.0),   # last cell
                  plot(-5.0, -1.0, 50.0),      # outside: azimuth wraps to 355, the rest clips to the edge
                  plot(10.0, 45.0, 9000.0)])   # above and beyond: the edge cells
    expected = [0, (1 * 72 + 1) * 15 + 1, 29 * 72 * 15 - 1, (0 * 72 + 71) * 15 + 0, (28 * 72 + 2) * 15 + 14]
    assert m.cell_of(z).tolist() == expected


def test_before_any_scan_the_density_is_the_declared_figure_spread_evenly() -> None:
    m = ClutterMap(RADAR, 12.0)
    volume = 2900.0 * 2 * math.pi * math.radians(30.0)
    density = m.log_density(np.array([plot(40.0, 5.0, 1000.0), plot(200.0, 25.0, 2500.0)]))
    assert density == pytest.approx([math.log(12.0 / volume)] * 2)


def test_a_hot_cell_is_learnt_and_one_stray_plot_is_not() -> None:
    m = ClutterMap(RADAR, 1.0, memory_scans=100.0, prior_scans=5.0, allowance=2.0)
    hot, stray, quiet = plot(120.0, 1.0, 1500.0), plot(300.0, 20.0, 800.0), plot(60.0, 10.0, 2000.0)
    scans = 30
    for k in range(scans):
        plots = [hot] * 4 + ([stray] if k == 0 else [])
        m.record_scan(np.array(plots), np.ones(len(plots), dtype=bool))
    keep = 1.0 - 1.0 / 100.0
    weight = sum(keep**k for k in range(scans))          # forgotten number of scans, S
    hot_count = 4.0 * weight                             # c_k of the hot cell
    stray_count = keep ** (scans - 1)                    # its one plot, forgotten since
    background = (2.0 + stray_count + 5.0 * 1.0) / (weight + 5.0)   # min(c, 2) summed, plus the prior
    assert m.scans == pytest.approx(weight)
    assert m.background_per_scan == pytest.approx(background)
    per_scan = m.per_scan(np.array([hot, stray, quiet]))
    assert per_scan[0] == pytest.approx((hot_count - 2.0) / (weight + 5.0))
    assert per_scan[1] == per_scan[2] == pytest.approx(background / m.cells)
    assert m.total_per_scan() == pytest.approx((hot_count + stray_count + 5.0) / (weight + 5.0))


def test_the_background_counts_only_plots_no_track_took() -> None:
    m = ClutterMap(RADAR, 0.0, prior_scans=1.0)
    z = np.array([plot(10.0, 5.0, 500.0), plot(50.0, 5.0, 900.0), plot(90.0, 5.0, 1300.0)])
    m.record_scan(z, np.array([True, False, True]))  # the second fed a tentative track
    assert m.background_per_scan == pytest.approx(2.0 / 2.0)
    assert m.total_per_scan() == pytest.approx(2.0 / 2.0)
    assert m.counts.sum() == 3.0  # a hot spot shows even where it feeds tentative tracks
