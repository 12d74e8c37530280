"""Multi-sensor multi-target tracking in one site ENU frame: predict, gate, associate, update,
initiate, delete, all on arrays of tracks."""

from dronewatch.tracking.config import TrackerConfig
from dronewatch.tracking.stream import ScanScheduler, StreamTracker, track_records
from dronewatch.tracking.tracker import Tracker, TrackerStats, TrackSnapshot

__all__ = ["ScanScheduler", "StreamTracker", "TrackSnapshot", "Tracker", "TrackerConfig", "TrackerStats",
           "track_records"]
