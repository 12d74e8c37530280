"""The live pipeline: sources -> tracker -> assessment -> storage, as supervised asyncio workers on a bus.

Stages talk only through the bus (``dw.<site>.ingest``, ``.tracks`` from the tracker,
``.picture`` (the tracks with their classes), ``.alerts`` and ``.zones`` (the zones in force)
from the assessment; JSON Lines payloads), so each can later run as its own worker on NATS.
Outputs (TAK, SAPIENT upward) subscribe to those streams and are restarted when they fail. Every stage keeps
counters (:attr:`Pipeline.counters`); a stage that fails is logged, counted and restarted
with back-off; a bad line is counted by reason, logged at most once per 10 s per stage, and
skipped. The ingest queue drops its oldest messages (counted) only when a live source feeds
it; file replays and the simulator wait for room instead, so they lose nothing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dronewatch.assessment import AlertBook, Assessor
from dronewatch.bus import Bus, InProcessBus, Message, Overflow, Subscription, subject
from dronewatch.errors import DronewatchError, FormatError, TransportError
from dronewatch.formats.scenario import parse_line
from dronewatch.geo import LocalFrame
from dronewatch.geo.zones import check_zone
from dronewatch.model import Alert, Detection, Record, Scan, Sensor, TrackReport, Zone
from dronewatch.storage import Repository
from dronewatch.tracking import StreamTracker

log = logging.getLogger(__name__)
_RESTART_S = (0.5, 1.0, 2.0, 5.0, 10.0)
_LOG_EVERY_S = 10.0
_STORE_BATCH = 500


@dataclass(slots=True)
class StageCounters:
    counts: Counter[str] = field(default_factory=Counter)
    bad_input: Counter[str] = field(default_factory=Counter)
    _last_log: float = 0.0
    _unlogged: int = 0

    def bad(self, stage: str, where: str, reason: str) -> None:
        """Count a bad input; log it, at most once per 10 s (with how many came since)."""
        self.bad_input[reason.split(":", maxsplit=1)[0][:80]] += 1
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            more = f" (+{self._unlogged} more since the last report)" if self._unlogged else ""
            log.warning("%s: bad input at %s: %s%s", stage, where, reason, more)
            self._last_log, self._unlogged = now, 0
        else:
            self._unlogged += 1

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "bad_input": dict(self.bad_input)}


def records_of(message: Message, counters: StageCounters, stage: str) -> Sequence[Record]:
    """A message's records: as published in process, or parsed from its bytes (bad lines counted)."""
    if message.records is not None:
        return message.records
    return parse_payload(message.data, message.subject, counters, stage)


def parse_payload(data: bytes, source: str, counters: StageCounters, stage: str) -> list[Record]:
    """The records of a JSON Lines payload; bad lines counted and skipped."""
    out: list[Record] = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        try:
            record = parse_line(line, source=source, line=number)
        except FormatError as error:
            counters.bad(stage, f"{source}:{number}", error.reason)
            continue
        if record is not None:
            out.append(record)
    return out


class Pipeline:
    """The stages of one site. ``await run()`` until :meth:`stop`; sources are added with :meth:`add_source`."""

    def __init__(self, site_id: str, repository: Repository | None = None, bus: Bus | None = None, *,
                 live: bool = True, ingest_queue: int = 50_000, first_alert_number: int = 1) -> None:
        self.site_id = site_id
        self.first_alert_number = first_alert_number
        self.bus = bus if bus is not None else InProcessBus()
        self.repository = repository
        self.counters: dict[str, StageCounters] = {}
        self.stream = StreamTracker(immediate=True)
        self.assessor: Assessor | None = None
        self.live_tracks: dict[str, TrackReport] = {}
        self.track_sigma_m: dict[str, float] = {}
        """Per live track, the RMS of its position standard deviations (m), from the latest snapshot."""
        self.open_alerts: dict[str, Alert] = {}
        self.operators: dict[str, dict[str, Any]] = {}
        """The latest operator position per UAS ID (personal data: see the API's role rule)."""
        self._sources: list[tuple[str, Callable[[Pipeline], Awaitable[None]]]] = []
        self._outputs: list[tuple[str, Callable[[Pipeline], Awaitable[None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        overflow: Overflow = "drop_oldest" if live else "block"
        self._subscriptions: dict[str, Subscription] = {
            "tracker": self.bus.subscribe(subject(site_id, "ingest"), overflow=overflow, maxsize=ingest_queue),
            "assessment": self.bus.subscribe(subject(site_id, "tracks"), maxsize=ingest_queue),
            "storage": self.bus.subscribe(f"dw.{site_id}.*", maxsize=ingest_queue),
        }
        self._zones: list[Zone] = []
        self._sensors: list[Sensor] = []

    def stage(self, name: str) -> StageCounters:
        return self.counters.setdefault(name, StageCounters())

    def add_source(self, name: str, run: Callable[[Pipeline], Awaitable[None]]) -> None:
        self._sources.append((name, run))

    def add_output(self, name: str, run: Callable[[Pipeline], Awaitable[None]]) -> None:
        """A consumer of the site's streams (a TAK server, a SAPIENT parent): restarted with back-off if it fails."""
        self._outputs.append((name, run))

    @property
    def sensors(self) -> list[Sensor]:
        return list(self._sensors)

    @property
    def zones(self) -> list[Zone]:
        """The zones in force (checked ones only); each change is also published on ``dw.<site>.zones``."""
        return list(self._zones)

    async def publish(self, stream: str, records: Sequence[Record]) -> None:
        if records:
            await self.bus.publish(Message(subject(self.site_id, stream), records=records))

    def stats(self) -> dict[str, Any]:
        out = {name: counters.as_dict() for name, counters in self.counters.items()}
        for name, subscription in self._subscriptions.items():
            out.setdefault(name, {})["queue_dropped"] = subscription.dropped
            out[name]["queue_waiting"] = subscription.queue.qsize()
        return out

    async def run(self) -> None:
        try:  # on NATS a subscription takes a round trip to the server: no source starts before they all hold
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in self._subscriptions.values())), 30.0)
        except TimeoutError:
            raise TransportError(f"{self.site_id}: the bus did not set up the stages' subscriptions in 30 s") from None
        workers: list[tuple[str, Callable[[], Awaitable[None]]]] = [("tracker", self._tracker),
                                                                    ("assessment", self._assessment)]
        if self.repository is not None:
            workers.append(("storage", self._storage))
        workers += [(name, functools.partial(run, self)) for name, run in self._outputs]
        self._tasks = [asyncio.create_task(self._supervise(name, work), name=name) for name, work in workers]
        self._tasks += [asyncio.create_task(self._supervise(name, functools.partial(run, self), restart=False),
                                            name=name) for name, run in self._sources]
        await self._stopping.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until every queue is empty and the stages idle (for replays and tests)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(s.queue.qsize() == 0 for s in self._subscriptions.values()):
                await asyncio.sleep(0.05)
                if all(s.queue.qsize() == 0 for s in self._subscriptions.values()):
                    return
            await asyncio.sleep(0.02)
        raise TimeoutError("the pipeline did not drain")

    async def _supervise(self, name: str, work: Callable[[], Awaitable[None]], restart: bool = True) -> None:
        attempt = 0
        while True:
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stage(name).counts["restarts"] += 1
                log.exception("%s failed; restarting", name)
                if not restart:
                    return
                await asyncio.sleep(_RESTART_S[min(attempt, len(_RESTART_S) - 1)])
                attempt += 1

    # ----------------------------------------------------------------- stages
    async def _tracker(self) -> None:
        counters = self.stage("tracker")
        subscription = self._subscriptions["tracker"]
        while (message := await subscription.get()) is not None:
            counters.counts["messages"] += 1
            passed: list[Record] = []
            for record in records_of(message, counters, "tracker"):
                if isinstance(record, Sensor | Zone):
                    passed.append(record)
                try:
                    snapshots = self.stream.feed(record)
                except DronewatchError as error:
                    counters.bad("tracker", message.subject, str(error))
                    continue
                if isinstance(record, Detection):
                    counters.counts["detections"] += 1
                    if record.uas_id and record.operator_lat is not None and record.operator_lon is not None:
                        await self._publish_operator(record)
                for snapshot in snapshots:
                    frame = self.stream.tracker.site
                    assert frame is not None
                    reports = snapshot.reports(frame)
                    self.track_sigma_m = snapshot.position_sigma_m()
                    counters.counts["snapshots"] += 1
                    await self.publish("tracks", [*passed, *reports])
                    passed = []
            await self.publish("tracks", passed)

    async def _publish_operator(self, detection: Detection) -> None:
        """Where a Remote ID drone's operator stands: its own subject, which only entitled roles read."""
        position = {"type": "operator", "t": detection.t, "uas_id": detection.uas_id,
                    "lat": detection.operator_lat, "lon": detection.operator_lon}
        self.operators[str(detection.uas_id)] = position
        await self.bus.publish(Message(subject(self.site_id, "operators"), (json.dumps(position) + "\n").encode()))

    async def _assessment(self) -> None:
        counters = self.stage("assessment")
        subscription = self._subscriptions["assessment"]
        while (message := await subscription.get()) is not None:
            records = records_of(message, counters, "assessment")
            reports = [r for r in records if isinstance(r, TrackReport)]
            for record in records:
                if isinstance(record, Sensor):
                    self._sensors = [s for s in self._sensors if s.id != record.id] + [record]
                    if self.assessor is None:  # the first sensor places the site, as in the tracker
                        frame = LocalFrame(record.lat, record.lon, record.alt)
                        self.assessor = Assessor(frame, self._sensors, self._zones)
                        self.assessor.book = AlertBook(self.assessor.config.clear_s,
                                                       first_number=self.first_alert_number)
                    self.assessor.set_sensors(self._sensors)
                elif isinstance(record, Zone) and self._set_zone(record, counters):
                    await self.publish("zones", [record])
            if not reports or self.assessor is None:
                continue
            assessor = self.assessor
            # the picture first, every track update with the track's latest class, so that a track update
            # never waits for the assessment (its class may be one assessment period old)
            classes = assessor.classes
            picture = [replace(r, cls=classes[r.id].cls, confidence=round(classes[r.id].confidence, 3))
                       if r.id in classes else r for r in reports]
            self.live_tracks = {r.id: r for r in picture}
            await self.publish("picture", picture)
            if reports[0].t - assessor.assessed_at < assessor.config.period_s - 1e-9:
                continue
            # the classifier and rules take some ms per hundred tracks: off the event loop
            alerts = await asyncio.to_thread(assessor.update, reports[0].t, reports, self.track_sigma_m)
            if not alerts:
                continue
            counters.counts["updates"] += 1
            counters.counts["alert_lines"] += len(alerts)
            for alert in alerts:
                if alert.state == "resolved":
                    self.open_alerts.pop(alert.id, None)
                else:
                    self.open_alerts[alert.id] = alert
            await self.publish("alerts", alerts)

    def _set_zone(self, zone: Zone, counters: StageCounters) -> bool:
        """Add or replace a zone; a bad one is counted and the zones stay as they were."""
        zones = [z for z in self._zones if z.id != zone.id] + [zone]
        try:
            check_zone(zone)
            if self.assessor is not None:
                self.assessor.set_zones(zones)
        except DronewatchError as error:
            counters.bad("assessment", f"zone {zone.id}", str(error))
            return False
        self._zones = zones
        return True

    async def _storage(self) -> None:
        assert self.repository is not None
        repository = self.repository
        counters = self.stage("storage")
        subscription = self._subscriptions["storage"]
        while (message := await subscription.get()) is not None:
            batch = [message]
            while len(batch) < _STORE_BATCH and not subscription.queue.empty():
                nxt = subscription.queue.get_nowait()
                if nxt is None:
                    break
                batch.append(nxt)
            records = [(m.subject.rsplit(".", 1)[-1], r) for m in batch
                       for r in records_of(m, counters, "storage")]
            await asyncio.to_thread(self._store, repository, records, counters)

    def _store(self, repository: Repository, records: list[tuple[str, Record]], counters: StageCounters) -> None:
        detections = [r for stream, r in records if stream == "ingest" and isinstance(r, Detection)]
        reports = [r for stream, r in records if stream == "picture" and isinstance(r, TrackReport)]
        repository.add_detections(self.site_id, detections)
        repository.add_track_points(self.site_id, reports)
        for stream, record in records:
            if stream == "ingest" and isinstance(record, Sensor):
                repository.put_sensor(self.site_id, record)
            elif stream == "ingest" and isinstance(record, Zone):
                repository.put_zone(self.site_id, record)
            elif stream == "alerts" and isinstance(record, Alert):
                repository.save_alert(self.site_id, record)
                counters.counts["alert_lines"] += 1
        counters.counts["detections"] += len(detections)
        counters.counts["track_points"] += len(reports)
        counters.counts["scans"] += sum(isinstance(r, Scan) for _, r in records)
