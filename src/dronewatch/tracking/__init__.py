"""Multi-sensor multi-target tracking in one site ENU frame: predict, gate, associate, update,
initiate, delete, all on arrays of tracks.

The tracker itself is imported on first use: the site configuration needs only
:class:`TrackerConfig`, and commands that read it should not pay for NumPy and SciPy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dronewatch.tracking.config import TrackerConfig

if TYPE_CHECKING:
    from dronewatch.tracking.stream import ScanScheduler, StreamTracker, track_records
    from dronewatch.tracking.tracker import Tracker, TrackerStats, TrackSnapshot

_MODULE_OF = {"ScanScheduler": "stream", "StreamTracker": "stream", "track_records": "stream",
              "Tracker": "tracker", "TrackerStats": "tracker", "TrackSnapshot": "tracker"}

__all__ = ["ScanScheduler", "StreamTracker", "TrackSnapshot", "Tracker", "TrackerConfig", "TrackerStats",
           "track_records"]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
