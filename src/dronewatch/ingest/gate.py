"""The edge of a site: every record a source brings is checked here once, before anything else sees it.

:func:`~dronewatch.formats.scenario.parse_line` has already checked each line alone (size,
nesting, types, physical ranges). The gate adds what needs the site's state:

- a detection or scan names a sensor declared before it (by a ``sensor`` line, or restored
  from storage at start-up), and a detection carries the keys its sensor's kind needs;
- from a live source (a network listener, a receiver), a time lies within
  ``max_future_s`` ahead of the service's clock and ``max_age_s`` behind it: one record
  from the far future would otherwise move the tracker's clock there for good;
- a site holds at most ``max_sensors`` sensors (a flood of made-up sensor ids is refused);
- a zone comes only from a source the configuration trusts for zones
  (``ingest.zone_sources``); the API changes zones through its own, audited, route;
- ground truth, tracks and alerts are no sensor input: they are passed over (counted).

A refused record raises :class:`~dronewatch.errors.FormatError`; its ``reason`` starts with
the category that counters count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dronewatch.config import IngestConfig
from dronewatch.errors import DronewatchError, FormatError
from dronewatch.formats.scenario import check_detection
from dronewatch.geo.zones import check_zone
from dronewatch.model import Detection, Record, Scan, Sensor, Zone

INPUT_TYPES = (Sensor, Detection, Scan, Zone)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where records come from, as the gate judges them."""

    name: str
    """The source's name in the configuration: ``udp``, ``tcp``, ``replay``, ``simulate``, ``remoteid``, ``sapient``."""
    live: bool = True
    """Its times are now (a network feed), not those of a recording."""


class EdgeGate:
    """The checks of one site's records (see the module docstring); one gate for all the site's sources."""

    def __init__(self, config: IngestConfig | None = None, clock: Callable[[], float] | None = None) -> None:
        self.config = config or IngestConfig()
        self.clock = clock if clock is not None else time.time
        self.sensors: dict[str, Sensor] = {}

    def restore(self, sensors: Iterable[Sensor]) -> None:
        """The sensors a site had before a restart: their detections are taken at once."""
        for sensor in sensors:
            self.sensors[sensor.id] = sensor

    def check(self, record: Record, origin: Origin) -> bool:
        """Whether ``record`` goes on into the pipeline (``False``: not sensor input, passed over);
        :class:`FormatError` if it is refused."""
        if isinstance(record, Detection | Scan):
            if origin.live:
                self._check_time(record.t)
            if isinstance(record, Detection):
                check_detection(record, self.sensors.get(record.sensor))
            elif record.sensor not in self.sensors:
                raise FormatError(f"scan of an undeclared sensor: '{record.sensor}' has no sensor line yet")
            return True
        if isinstance(record, Sensor):
            if record.id not in self.sensors and len(self.sensors) >= self.config.max_sensors:
                raise FormatError(f"too many sensors: the site has {len(self.sensors)}, at most "
                                  f"{self.config.max_sensors} (ingest.max_sensors); '{record.id}' refused")
            self.sensors[record.id] = record
            return True
        if isinstance(record, Zone):
            if origin.name not in self.config.zone_sources:
                raise FormatError(f"zone from an untrusted source: '{record.id}' from {origin.name} refused; zones "
                                  "change through the API, or from a source in ingest.zone_sources")
            try:
                check_zone(record)
            except DronewatchError as error:
                raise FormatError(f"zone unusable: {error}") from None
            return True
        return False

    def _check_time(self, t: float) -> None:
        now = self.clock()
        if t > now + self.config.max_future_s:
            raise FormatError(f"time in the future: t {t:.3f} is {t - now:.1f} s ahead of the service's clock "
                              f"(at most {self.config.max_future_s:g} s, ingest.max_future_s)")
        if t < now - self.config.max_age_s:
            raise FormatError(f"time too old: t {t:.3f} is {now - t:.1f} s behind the service's clock "
                              f"(at most {self.config.max_age_s:g} s, ingest.max_age_s)")
