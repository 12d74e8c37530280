"""What a site looks like now, built from its bus alone: for the API and the outputs, in any process.

It reads three subjects:

- ``dw.<site>.state`` (from the assessment, whenever its sensors, zones or open alerts change,
  and at its start): the sensor lines, the first of them placing the site, then the zones in
  force, then the open alerts. A view that starts late gets the latest state at once;
- ``dw.<site>.picture``: the live tracks, each with its class;
- ``dw.<site>.operators``: where Remote ID drones' operators stand (personal data).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from dronewatch.bus import Bus, Message, subject
from dronewatch.formats.scenario import parse_line
from dronewatch.geo import LocalFrame
from dronewatch.model import Alert, Record, Sensor, TrackReport, Zone


def state_records(sensors: Sequence[Sensor], zones: Sequence[Zone], alerts: Sequence[Alert]) -> list[Record]:
    return [*sensors, *zones, *alerts]


class SiteView:
    def __init__(self, bus: Bus, site_id: str) -> None:
        self.bus = bus
        self.site_id = site_id
        self.sensors: list[Sensor] = []
        self.zones: list[Zone] = []
        self.open_alerts: dict[str, Alert] = {}
        self.live_tracks: dict[str, TrackReport] = {}
        self.operators: dict[str, dict[str, Any]] = {}
        """The latest operator position per UAS ID (personal data: see the API's role rule)."""
        self.placed = asyncio.Event()
        """Set once the site has a sensor (and so a frame)."""
        self.bad_lines = 0
        self._subscriptions = {
            "state": bus.subscribe(subject(site_id, "state"), overflow="drop_oldest", maxsize=10, last=True),
            "picture": bus.subscribe(subject(site_id, "picture"), overflow="drop_oldest", maxsize=10),
            "operators": bus.subscribe(subject(site_id, "operators"), overflow="drop_oldest", maxsize=1000),
        }

    @property
    def frame(self) -> LocalFrame | None:
        first = self.sensors[0] if self.sensors else None
        return LocalFrame(first.lat, first.lon, first.alt) if first is not None else None

    @property
    def ready(self) -> asyncio.Event:
        return self._subscriptions["state"].ready

    async def run(self) -> None:
        await asyncio.gather(*(self._follow(name) for name in self._subscriptions))

    def close(self) -> None:
        for subscription in self._subscriptions.values():
            self.bus.unsubscribe(subscription)

    async def _follow(self, name: str) -> None:
        subscription = self._subscriptions[name]
        while (message := await subscription.get()) is not None:
            if name == "operators":
                for line in message.data.split(b"\n"):
                    self._operator(line)
                continue
            records = self._records(message)
            if name == "picture":
                self.live_tracks = {r.id: r for r in records if isinstance(r, TrackReport)}
            else:
                self.sensors = [r for r in records if isinstance(r, Sensor)]
                self.zones = [r for r in records if isinstance(r, Zone)]
                self.open_alerts = {r.id: r for r in records if isinstance(r, Alert)}
                if self.sensors:
                    self.placed.set()

    def _records(self, message: Message) -> Sequence[Record]:
        if message.records is not None:
            return message.records
        out = []
        for line in message.data.decode("utf-8", errors="replace").split("\n"):
            try:
                record = parse_line(line, source=message.subject)
            except ValueError:
                self.bad_lines += 1
                continue
            if record is not None:
                out.append(record)
        return out

    def _operator(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            position = json.loads(line)
            self.operators[str(position["uas_id"])] = position
        except (ValueError, KeyError, TypeError):
            self.bad_lines += 1
