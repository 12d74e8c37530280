"""Where a radar's false alarms fall: a clutter map of range x azimuth x elevation cells.

Real radars do not report their false-alarm rate, and it is not uniform: ground clutter
crowds the lowest elevations close in, and a road or a wind farm is a hot spot. The map
counts, per cell, the plots no confirmed track took, with exponential forgetting over
about ``memory_scans`` scans, and gives each plot's false-alarm density from its cell.

A cell's rate is trusted only beyond what chance would give: its first ``allowance``
plots count toward the background instead, spread evenly over the coverage, so one
stray plot does not make a cell look hot (and punish the target that flies through it
next). The background starts from the sensor's declared (or default) figure, weighted
as ``prior_scans`` scans of evidence:

    background = (sum_k min(c_k, allowance) + prior_scans * declared) / (S + prior_scans)
    rate_k     = max(background / cells, (c_k - allowance) / (S + prior_scans))
    density_k  = rate_k / volume of a cell        (per rad x rad x m)

with ``c_k`` the forgotten count of cell ``k`` and ``S`` the forgotten number of scans.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from dronewatch.model import Sensor

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

DEFAULT_MAX_RANGE_M = 10_000.0
_CELL_RANGE_M = 100.0
_CELL_AZIMUTH_DEG = 5.0
_CELL_ELEVATION_DEG = 2.0
_MAX_RANGE_CELLS = 200


class ClutterMap:
    """Per radar: false plots per scan and cell, learnt from the plots no confirmed track took."""

    def __init__(self, sensor: Sensor, declared_per_scan: float, *, memory_scans: float = 100.0,
                 prior_scans: float = 5.0, allowance: float = 2.0) -> None:
        self.azimuth_min = math.radians(sensor.azimuth_min_deg or 0.0)
        azimuth_span = 360.0
        if sensor.azimuth_min_deg is not None and sensor.azimuth_max_deg is not None:
            azimuth_span = (sensor.azimuth_max_deg - sensor.azimuth_min_deg) % 360.0 or 360.0
        self.azimuth_span = math.radians(azimuth_span)
        self.elevation_min = math.radians(sensor.min_elevation_deg if sensor.min_elevation_deg is not None else 0.0)
        high = sensor.max_elevation_deg if sensor.max_elevation_deg is not None else 90.0
        self.elevation_span = max(math.radians(high) - self.elevation_min, math.radians(1.0))
        self.range_min = sensor.min_range_m or 0.0
        self.range_span = max((sensor.max_range_m or DEFAULT_MAX_RANGE_M) - self.range_min, 1.0)
        self.shape = (min(_MAX_RANGE_CELLS, max(1, math.ceil(self.range_span / _CELL_RANGE_M))),
                      max(1, math.ceil(math.degrees(self.azimuth_span) / _CELL_AZIMUTH_DEG)),
                      max(1, math.ceil(math.degrees(self.elevation_span) / _CELL_ELEVATION_DEG)))
        self.cells = int(np.prod(self.shape))
        self.cell_volume = self.range_span * self.azimuth_span * self.elevation_span / self.cells
        self.counts = np.zeros(self.cells)
        self.free = np.zeros(self.cells)
        self.scans = 0.0
        self.declared_per_scan = declared_per_scan
        self.keep = 1.0 - 1.0 / memory_scans
        self.prior_scans, self.allowance = prior_scans, allowance
        self.background_per_scan = declared_per_scan
        """False plots per scan over the whole coverage, hot cells' excess left out."""

    def cell_of(self, z: FloatArray) -> IntArray:
        """The cell of each radar measurement ``(K, >=3)``: azimuth, elevation (rad), range (m). Plots
        outside the declared coverage count in its edge cells."""
        n_range, n_azimuth, n_elevation = self.shape
        azimuth = ((z[:, 0] - self.azimuth_min) % (2 * math.pi)) / self.azimuth_span
        elevation = (z[:, 1] - self.elevation_min) / self.elevation_span
        slant = (z[:, 2] - self.range_min) / self.range_span
        r = np.clip((slant * n_range).astype(np.intp), 0, n_range - 1)
        a = np.clip((azimuth * n_azimuth).astype(np.intp), 0, n_azimuth - 1)
        e = np.clip((elevation * n_elevation).astype(np.intp), 0, n_elevation - 1)
        return np.asarray((r * n_azimuth + a) * n_elevation + e, dtype=np.intp)

    def record_scan(self, unclaimed: FloatArray, untracked: NDArray[np.bool_]) -> None:
        """One scan's plots that no confirmed track took, ``(K, >=3)`` radar measurements, and which of
        them no tentative track took either. A hot spot shows in the first (it feeds tentative tracks
        of its own); the background is counted from the second, or the early plots of every new
        target would raise it."""
        self.counts *= self.keep
        self.free *= self.keep
        self.scans = self.scans * self.keep + 1.0
        if unclaimed.shape[0]:
            cells = self.cell_of(unclaimed)
            self.counts += np.bincount(cells, minlength=self.cells)
            self.free += np.bincount(cells[untracked], minlength=self.cells)
        ordinary = float(np.minimum(self.free, self.allowance).sum())
        self.background_per_scan = ((ordinary + self.prior_scans * self.declared_per_scan)
                                    / (self.scans + self.prior_scans))

    def total_per_scan(self) -> float:
        """False plots per scan over the whole coverage."""
        return (float(self.free.sum()) + self.prior_scans * self.declared_per_scan) / (self.scans + self.prior_scans)

    def per_scan(self, z: FloatArray) -> FloatArray:
        """The expected false plots per scan in the cell of each measurement ``(K, >=3)``."""
        excess = np.maximum(self.counts[self.cell_of(z)] - self.allowance, 0.0) / (self.scans + self.prior_scans)
        return np.maximum(self.background_per_scan / self.cells, excess)

    def log_density(self, z: FloatArray) -> FloatArray:
        """ln of the false-alarm density (per rad x rad x m) at each measurement ``(K, >=3)``."""
        return np.log(np.maximum(self.per_scan(z), 1e-9) / self.cell_volume)
