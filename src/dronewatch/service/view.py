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
from typing import Any

from dronewatch.bus import Bus, Message, subject
from dronewatch.geo import LocalFrame
from dronewatch.model import Alert, Sensor, TrackReport, Zone
from dronewatch.service.worker import StageCounters, records_of


class SiteView:
    def __init__(self, bus: Bus, site_id: str, counters: StageCounters) -> None:
        self.bus = bus
        self.site_id = site_id
        self.sensors: list[Sensor] = []
        self.zones: list[Zone] = []
        self.open_alerts: dict[str, Alert] = {}
        self._picture: Message | None = None
        self._live_tracks: dict[str, TrackReport] = {}
        self.operators: dict[str, dict[str, Any]] = {}
        """The latest operator position per UAS ID (personal data: see the API's role rule)."""
        self.placed = asyncio.Event()
        """Set once the site has a sensor (and so a frame)."""
        self.counters = counters
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
    def live_tracks(self) -> dict[str, TrackReport]:
        """The latest picture's tracks by id: read when asked for, not at every picture (1,000 tracks a second
        would cost this process more than everything else it does)."""
        if self._picture is not None:
            records = records_of(self._picture, self.counters, "view")
            self._live_tracks = {r.id: r for r in records if isinstance(r, TrackReport)}
            self._picture = None
        return self._live_tracks

    @live_tracks.setter
    def live_tracks(self, tracks: dict[str, TrackReport]) -> None:
        self._picture, self._live_tracks = None, tracks

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
                    self._operator(line, message.subject)
                continue
            if name == "picture":
                self._picture = message
                continue
            records = records_of(message, self.counters, "view")
            self.sensors = [r for r in records if isinstance(r, Sensor)]
            self.zones = [r for r in records if isinstance(r, Zone)]
            self.open_alerts = {r.id: r for r in records if isinstance(r, Alert)}
            if self.sensors:
                self.placed.set()

    def _operator(self, line: bytes, where: str) -> None:
        if not line.strip():
            return
        try:
            position = json.loads(line)
            self.operators[str(position["uas_id"])] = position
        except (ValueError, KeyError, TypeError) as error:
            self.counters.bad("view", where, f"not an operator position: {error}")
