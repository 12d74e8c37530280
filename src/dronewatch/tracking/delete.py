"""Which tracks to delete after a batch, and which to hold unreported outside every coverage.

A track is deleted when any of these holds (``since``: the time since its last update):

- missed: ``miss_score > -ln 0.005``, 3 misses in a row at Pd 0.9, 5 at Pd 0.7 (see :mod:`.score`);
- coasted: ``since > max_coast_s``;
- tentative and stale: ``since > tentative_timeout_s``;
- M of N failed: tentative after ``confirm_window`` scans that expected it;
- lost: position variance (the trace of the 3x3 block) above ``max_position_sigma_m ** 2``;
- looks like clutter: confirmed, without identity, ``score < delete_score`` (half the confirmation
  score);
- out of coverage: coasting and predicted outside the coverage of every sensor that ever updated
  it, a tentative track at once, a confirmed one after ``outside_coverage_s``;
- gone down: no radar has updated it for ``max_coast_s`` and it is predicted under the beam of
  every radar that did (it landed, struck, or dropped behind the ground), even while bearings go
  on updating it: a bearing does not say how far off the object is, and it kept a struck drone's
  track flying underground on another drone's bearings until a clutter plot pulled it 400 m away.
  A track over a radar (above its beam) stays with its bearings.

A confirmed track held outside coverage is not reported meanwhile: a target crossing the blind
cone above a radar keeps its track when it comes back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from dronewatch.tracking.config import TrackerConfig
from dronewatch.tracking.sites import SensorSite
from dronewatch.tracking.table import TrackTable

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

DELETE_MISS_SCORE = -math.log(0.005)


def doomed(tracks: TrackTable, since_update: FloatArray, config: TrackerConfig) -> BoolArray:
    """The tracks the rules above, but coverage, delete."""
    c = config
    position_variance = np.trace(tracks.p[:, :3, :3], axis1=1, axis2=2)
    return np.asarray(
        (tracks.miss_score > DELETE_MISS_SCORE)
        | (since_update > c.max_coast_s)
        | (~tracks.confirmed & (since_update > c.tentative_timeout_s))
        | (~tracks.confirmed & (tracks.scans >= c.confirm_window))
        | (position_variance > c.max_position_sigma_m**2)
        | (tracks.confirmed & (tracks.score < c.delete_score) & ~tracks.has_identity()),
        dtype=np.bool_)


def visible(tracks: TrackTable, rows: IntArray, sites: Iterable[SensorSite]) -> BoolArray:
    """Of ``rows``, which are predicted inside the coverage of a sensor that has updated them (a
    sensor with no declared limits covers everywhere)."""
    out = np.zeros(rows.size, dtype=bool)
    for site in sites:
        seen = np.isfinite(tracks.seen_at[rows, site.index])
        if not seen.any():
            continue
        if site.limited:
            out[seen] |= site.covers(tracks.x[rows[seen], :3])
        else:
            out |= seen
    return out


def gone_down(tracks: TrackTable, t: float, sites: Iterable[SensorSite], config: TrackerConfig) -> BoolArray:
    """Which tracks no radar has updated for ``max_coast_s`` and are predicted under the beam of every radar
    that has (below its lowest elevation)."""
    n = len(tracks)
    under, any_radar, radar_seen = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.full(n, -np.inf)
    for site in sites:
        seen = np.isfinite(tracks.seen_at[:, site.index])
        if site.sensor.kind != "radar" or not seen.any():
            continue
        radar_seen = np.fmax(radar_seen, tracks.seen_at[:, site.index])
        below = np.zeros(n, dtype=bool)
        if site.sensor.min_elevation_deg is not None:
            rot, offset = site.pose
            rel = tracks.x[:, :3] @ rot.T + offset
            below = np.degrees(np.arctan2(rel[:, 2], np.hypot(rel[:, 0], rel[:, 1]))) < site.sensor.min_elevation_deg
        under = np.where(seen, below & (under | ~any_radar), under)
        any_radar |= seen
    return under & (t - radar_seen > config.max_coast_s)


def deletions(tracks: TrackTable, t: float, sites: Iterable[SensorSite], config: TrackerConfig
              ) -> tuple[BoolArray, BoolArray]:
    """At time ``t``: which tracks to delete, and which are coasting outside every coverage."""
    sites = list(sites)
    since_update = t - tracks.last_update
    gone = doomed(tracks, since_update, config) | gone_down(tracks, t, sites, config)
    outside = np.zeros(len(tracks), dtype=bool)
    coasting = np.flatnonzero(~gone & (since_update > 0))
    if coasting.size:
        out = coasting[~visible(tracks, coasting, sites)]
        outside[out] = True
        gone[out] = ~tracks.confirmed[out] | (since_update[out] > config.outside_coverage_s)
    return gone, outside
