"""The track score and confirmation: a sequential log-likelihood ratio, target vs clutter.

A track's ``score`` is ``ln`` of how much likelier its detections are to come from a target than
from clutter (Blackman and Popoli 1999, 6.2). A detection the track takes adds

    ln(Pd g(z) / beta),     ln g(z) = -(d2 + ln|S| + m ln 2 pi) / 2

``g`` the Gaussian density of the innovation (``d2 = nu' S^-1 nu``, ``m`` the measurement's
dimension) and ``beta`` the false-alarm density of the sensor where the detection fell, per unit
of its measurement space. A scan that should have seen the track and did not adds ``ln(1 - Pd)``
to the score and takes it from the ``miss_score`` (which a hit resets; see :mod:`.delete`).

A tentative track confirms with at least ``confirm_hits`` hits (M) and a score of at least
``confirm_score``. A confirmed track's score stops at ``confirmed_score_cap``, so that a track
whose plots start to look like clutter (a hot spot the clutter map learns) falls below the
deletion score within a few scans: a cumulative-sum test rather than a lifetime's credit.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from dronewatch.tracking.config import TrackerConfig

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# A sensor declared with Pd 1 still misses now and then: a miss costs at most ln 10^6.
MIN_MISS_PROBABILITY = 1e-6


def log_innovation_density(d2: FloatArray, log_det_s: FloatArray, dim: int) -> FloatArray:
    """``ln g(z)``: the log of the Gaussian innovation density of each pair."""
    return np.asarray(-0.5 * (d2 + log_det_s + dim * math.log(2.0 * math.pi)), dtype=np.float64)


def after_hits(score: FloatArray, confirmed: BoolArray, pd: float, log_g: FloatArray,
               log_clutter_density: FloatArray | float, confirmed_cap: float) -> FloatArray:
    """Scores of the tracks that took a detection: ``+ ln Pd + ln g - ln beta``, a confirmed
    track's capped at ``confirmed_cap``."""
    # the terms are added in this order everywhere: a reordered sum changes the last bit
    new = score + math.log(pd) + log_g - log_clutter_density
    cap = np.where(confirmed, confirmed_cap, np.inf)
    return np.asarray(np.minimum(new, cap), dtype=np.float64)


def miss_log_likelihood(pd: float) -> float:
    """``ln(1 - Pd)``: what a scan that should have seen a track and did not adds to its score."""
    return math.log(max(1.0 - pd, MIN_MISS_PROBABILITY))


def confirmable(confirmed: BoolArray, hits: NDArray[np.int32], score: FloatArray, config: TrackerConfig
                ) -> BoolArray:
    """Which tracks confirm now: tentative, at least M hits, and the confirmation score."""
    return ~confirmed & (hits >= config.confirm_hits) & (score >= config.confirm_score)
