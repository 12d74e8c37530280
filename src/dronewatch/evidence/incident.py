"""What an evidence package is made of, read from storage: an alert's track, or a site's tracks and
alerts in a time window, with the sensors, zones, operator positions and sensor health."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dronewatch.assessment.pattern import OPERATOR_CELL_DEG, pattern_of_life
from dronewatch.errors import EvidenceError
from dronewatch.model import Sensor, TrackPoint, Zone
from dronewatch.storage import Repository

FORMAT = "dronewatch-evidence/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public-key.pem"
PATTERN_DAYS = 28.0
ALERT_LEAD_S = 1800.0
"""How far before an alert opened its track is taken into the package (and after it last changed, a tenth)."""


@dataclass(slots=True)
class Incident:
    """What a package is made of."""

    site_id: str
    site_name: str
    t_from: float
    t_to: float
    alert_id: str | None
    tracks: dict[str, list[TrackPoint]]
    alerts: list[dict[str, Any]]
    sensors: list[Sensor]
    zones: list[Zone]
    operators: list[dict[str, Any]] | None
    """Operator positions; None when the one exporting may not see them."""
    sensor_health: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per sensor that reported in the window: detections, first, last, longest silence (filled as the
    detections are written: :class:`HealthCount`)."""
    pattern: dict[str, Any] | None = None
    """The site's pattern of life over the ``PATTERN_DAYS`` to the window's end (``assessment/pattern.py``)."""

    @property
    def name(self) -> str:
        return f"{self.site_id} alert {self.alert_id}" if self.alert_id else f"{self.site_id} incident"


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector off: an hour's package is millions of small objects, none in a cycle, and
    every collection would walk all of them again (it made an export half again as long)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def collect(repository: Repository, site_id: str, *, alert_id: str | None = None, t_from: float | None = None,
            t_to: float | None = None, with_operators: bool = True) -> Incident:
    """The records of one alert (its track from ``ALERT_LEAD_S`` before it opened), or of every track and
    alert of a site in [t_from, t_to]."""
    with without_cyclic_gc():
        return _collect(repository, site_id, alert_id, t_from, t_to, with_operators)


def _collect(repository: Repository, site_id: str, alert_id: str | None, t_from: float | None, t_to: float | None,
             with_operators: bool) -> Incident:
    site_name = repository.site_name(site_id)
    if site_name is None:
        raise EvidenceError(f"site {site_id!r}: no such site in the database")
    if alert_id is not None:
        rows = repository.alert_rows(site_id, alert_id=alert_id)
        if not rows:
            raise EvidenceError(f"alert {alert_id!r}: no such alert at site {site_id!r}")
        alert = rows[0]
        reports = repository.track_points(site_id, alert["opened_at"] - ALERT_LEAD_S,
                                          alert["updated_at"] + ALERT_LEAD_S / 10, alert["track_id"]
                                          ).get(alert["track_id"], [])
        t_from = min([alert["opened_at"], *(r.t for r in reports[:1])])
        t_to = max([alert["updated_at"], *(r.t for r in reports[-1:])])
        alerts = [a for a in repository.alert_rows(site_id, t_from=t_from, t_to=t_to)
                  if a["track_id"] == alert["track_id"]]
        tracks = {alert["track_id"]: reports} if reports else {}
    else:
        if t_from is None or t_to is None or not t_from < t_to:
            raise EvidenceError(f"time window: expected FROM before TO, got {t_from} and {t_to}")
        tracks = repository.track_points(site_id, t_from, t_to)
        alerts = repository.alert_rows(site_id, t_from=t_from, t_to=t_to)
    operators = None
    if with_operators:
        uas_ids = {r.uas_id for reports in tracks.values() for r in reports if r.uas_id}
        operators = [o for o in repository.operator_positions(site_id, t_from, t_to)
                     if alert_id is None or o["uas_id"] in uas_ids]
    pattern_from = min(t_to - PATTERN_DAYS * 86400.0, t_from)
    pattern = pattern_of_life(
        repository.drone_arrivals(site_id, pattern_from, t_to),
        repository.operator_places(site_id, pattern_from, t_to, OPERATOR_CELL_DEG) if with_operators else None,
        pattern_from, t_to)
    return Incident(site_id, site_name, t_from, t_to, alert_id, tracks, alerts, repository.sensors(site_id),
                    repository.zones(site_id), operators, {}, pattern)


class HealthCount:
    """A sensor's health over a window, counted from its detections in time order."""

    def __init__(self, t_from: float, t_to: float) -> None:
        self.t_from, self.t_to = t_from, t_to
        self._seen: dict[str, list[float]] = {}  # sensor: [count, first, last, longest gap]

    def add(self, sensors: Sequence[str], times: Sequence[float]) -> None:
        """A batch of detections, in time order: who and when."""
        codes: dict[str, int] = {}
        which = np.fromiter((codes.setdefault(s, len(codes)) for s in sensors), dtype=np.int64, count=len(sensors))
        t = np.asarray(times, dtype=float)
        for sensor, k in codes.items():
            own = t[which == k]
            held = self._seen.get(sensor)
            before = own[:1] if held is None else np.array([held[2]])
            gap = float(np.max(np.diff(np.concatenate([before, own]))))
            if held is None:
                self._seen[sensor] = [len(own), float(own[0]), float(own[-1]), gap]
            else:
                held[0] += len(own)
                held[2] = float(own[-1])
                held[3] = max(held[3], gap)

    def result(self) -> dict[str, dict[str, Any]]:
        """Per sensor: detections, first, last, and the longest silence (from the window's start, to its end)."""
        return {sensor: {"detections": int(count), "first": first, "last": last,
                         "longest_silence_s": max(gap, first - self.t_from, self.t_to - last)}
                for sensor, (count, first, last, gap) in self._seen.items()}
