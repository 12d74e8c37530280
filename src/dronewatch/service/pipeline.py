"""The live pipeline: sources -> tracker -> assessment -> storage, as supervised asyncio workers on a bus.

Stages talk only through the bus (``dw.<site>.ingest``, ``.tracks`` from the tracker,
``.picture`` (the tracks with their classes), ``.alerts`` and ``.zones`` (the zones in force)
from the assessment; JSON Lines payloads), so each can later run as its own worker on NATS.
Outputs (TAK, SAPIENT upward) subscribe to those streams and are restarted when they fail. Every stage keeps
counters (:attr:`Pipeline.counters`).

Never going quiet:

- sources hand their records to :meth:`Pipeline.admit`, the site's edge
  (:class:`~dronewatch.ingest.gate.EdgeGate`): a record it refuses is counted by reason in the
  source's counters, logged at most once per 10 s per stage, and goes no further;
- a record that still makes a stage fail is contained to that record (counted as an internal
  error, logged with its traceback at a limited rate); the stage goes on with the next one;
- a source, stage or output that fails all the same is logged, counted and restarted with back-off;
- storage that cannot write (the database is away) keeps its batch and tries again, with
  back-off, until it can: nothing is dropped; a row the database refuses is set aside alone,
  counted, and the rest of its batch is written;
- :meth:`Pipeline.run` first restores the site from storage (sensors, zones, open alerts,
  track numbering), so a restarted service guards the site before its first new record.

The ingest queue drops its oldest messages (counted) only when a live source feeds it; file
replays and the simulator wait for room instead, so they lose nothing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from dronewatch.assessment import AlertBook, AssessmentConfig, Assessor
from dronewatch.assessment.commands import apply_command, parse_command
from dronewatch.bus import Bus, InProcessBus, Message, Overflow, Subscription, subject
from dronewatch.config import IngestConfig
from dronewatch.errors import DronewatchError, FormatError, TransportError
from dronewatch.formats.scenario import parse_line, record_to_dict
from dronewatch.geo import LocalFrame
from dronewatch.geo.zones import check_zone
from dronewatch.ingest.gate import EdgeGate, Origin
from dronewatch.model import Alert, Detection, Record, Scan, Sensor, TrackReport, Zone
from dronewatch.storage import Repository
from dronewatch.tracking import StreamTracker, Tracker, TrackerConfig

log = logging.getLogger(__name__)
_RESTART_S = (0.5, 1.0, 2.0, 5.0, 10.0)
_LOG_EVERY_S = 10.0
_STORE_BATCH = 500
INTERNAL_ERROR = "internal error"


MAX_CATEGORIES = 100


def bounded_category(counted: Counter[str], reason: str) -> str:
    """The category a reason is counted under: its text up to the first colon; past ``MAX_CATEGORIES``
    different ones, ``other``, so that a stream of made-up reasons cannot grow the counters without end."""
    category = reason.split(":", maxsplit=1)[0][:80]
    return category if category in counted or len(counted) < MAX_CATEGORIES else "other"


@dataclass(slots=True)
class StageCounters:
    counts: Counter[str] = field(default_factory=Counter)
    bad_input: Counter[str] = field(default_factory=Counter)
    _last_log: float = 0.0
    _unlogged: int = 0

    def bad(self, stage: str, where: str, reason: str) -> None:
        """Count a bad input by its category (the reason up to its first colon); log it, at most once
        per 10 s (with how many came since)."""
        self.bad_input[bounded_category(self.bad_input, reason)] += 1
        if self._may_log():
            log.warning("%s: bad input at %s: %s%s", stage, where, reason, self._since())

    def failed(self, stage: str, where: str, error: BaseException) -> None:
        """Count a record that made the stage fail (a bug, not bad input): contained to that record,
        logged with its traceback at the same limited rate."""
        self.bad_input[INTERNAL_ERROR] += 1
        if self._may_log():
            log.error("%s: %s at %s contained to that record%s", stage, type(error).__name__, where,
                      self._since(), exc_info=error)

    def _may_log(self) -> bool:
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            return True
        self._unlogged += 1
        return False

    def _since(self) -> str:
        more, self._unlogged = self._unlogged, 0
        return f" (+{more} more since the last report)" if more else ""

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
    # split at newlines only: str.splitlines() also splits at U+2028 and others, which JSON strings may hold
    for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), start=1):
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
                 live: bool = True, ingest_queue: int = 50_000, first_alert_number: int = 1,
                 ingest: IngestConfig | None = None, tracking: TrackerConfig | None = None,
                 assessment: AssessmentConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.site_id = site_id
        self.first_alert_number = first_alert_number
        self.bus = bus if bus is not None else InProcessBus()
        self.repository = repository
        self.clock = clock
        self.gate = EdgeGate(ingest, clock)
        self.counters: dict[str, StageCounters] = {}
        self.stream = StreamTracker(Tracker(tracking), immediate=True)
        self.assessment_config = assessment or AssessmentConfig()
        self.assessor: Assessor | None = None
        self.live_tracks: dict[str, TrackReport] = {}
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
            "commands": self.bus.subscribe(subject(site_id, "commands")),
            "storage": self.bus.subscribe(f"dw.{site_id}.*", maxsize=ingest_queue),
        }
        self._being_stored: dict[tuple[str, float, str], asyncio.Future[None]] = {}
        """An operator's alert line whose command result waits until storage has written it."""
        self._book_lock = asyncio.Lock()
        """Held by an assessment step and by a command: a command never lands inside a step."""
        self._zones: list[Zone] = []
        self._zones_removed: set[str] = set()
        self._restored = False
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

    async def admit(self, records: Iterable[Record], origin: Origin, counters: StageCounters, where: str) -> int:
        """A source's records through the site's edge (:class:`EdgeGate`) onto ``ingest``: refused ones
        counted by reason in ``counters``; zones from a trusted source audited. How many went on."""
        admitted: list[Record] = []
        for record in records:
            try:
                if self.gate.check(record, origin):
                    admitted.append(record)
                else:
                    counters.counts["not_input"] += 1
            except FormatError as error:
                counters.bad(origin.name, where, error.reason)
            except Exception as error:  # a bug in a check must not stop the source
                counters.failed(origin.name, where, error)
        zones = [r for r in admitted if isinstance(r, Zone)]
        if zones and self.repository is not None:
            repository = self.repository
            for zone in zones:
                await asyncio.to_thread(repository.audit, f"source {origin.name}", "zone.put",
                                        f"site/{self.site_id}/zone/{zone.id}", at=self.clock(), source=where,
                                        detail=record_to_dict(zone))
        await self.publish("ingest", admitted)
        return len(admitted)

    def remove_zone(self, zone_id: str) -> None:
        """Take a zone out of force (the API has deleted it); applied by the assessment stage."""
        self._zones_removed.add(zone_id)

    def stats(self) -> dict[str, Any]:
        out = {name: counters.as_dict() for name, counters in self.counters.items()}
        for name, subscription in self._subscriptions.items():
            out.setdefault(name, {})["queue_dropped"] = subscription.dropped
            out[name]["queue_waiting"] = subscription.queue.qsize()
        return out

    async def run(self) -> None:
        if self.repository is not None and not self._restored:  # the site as it was, before the first new record
            await self.restore(self.repository)
        try:  # on NATS a subscription takes a round trip to the server: no source starts before they all hold
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in self._subscriptions.values())), 30.0)
        except TimeoutError:
            raise TransportError(f"{self.site_id}: the bus did not set up the stages' subscriptions in 30 s") from None
        workers: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("tracker", self._tracker), ("assessment", self._assessment), ("commands", self._commands)]
        if self.repository is not None:
            workers.append(("storage", self._storage))
        workers += [(name, functools.partial(run, self)) for name, run in self._outputs]
        self._tasks = [asyncio.create_task(self._supervise(name, work), name=name) for name, work in workers]
        self._tasks += [asyncio.create_task(self._supervise(name, functools.partial(run, self)), name=name)
                        for name, run in self._sources]
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

    async def restore(self, repository: Repository) -> None:
        """The site as storage holds it: sensors (for the edge, the tracker and the assessment), zones in
        force, open alerts (they can still be acknowledged, and clear as usual), track numbers going on."""
        sensors, zones, alerts, next_track = await asyncio.to_thread(
            lambda: (repository.sensors(self.site_id), repository.zones(self.site_id),
                     [a for a in repository.alerts(self.site_id) if a.state != "resolved"],
                     repository.next_track_number(self.site_id)))
        self.gate.restore(sensors)
        for sensor in sensors:
            self.stream.feed(sensor)
        self.stream.tracker.first_track_number(next_track)
        counters = self.stage("assessment")
        for sensor in sensors:
            self._set_sensor(sensor)
        for zone in zones:
            self._set_zone(zone, counters)
        if self.assessor is not None and alerts:
            self.assessor.book.restore(alerts)
            self.open_alerts.update({a.id: a for a in alerts})
        counters.counts["restored_sensors"] = len(sensors)
        counters.counts["restored_zones"] = len(self._zones)
        counters.counts["restored_alerts"] = len(alerts) if self.assessor is not None else 0
        self._restored = True

    async def _supervise(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` until it returns; when it fails, log, count and start it again with back-off."""
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
                    counters.bad("tracker", message.subject, f"refused by the tracker: {error}")
                    continue
                except Exception as error:
                    counters.failed("tracker", f"{message.subject} {type(record).__name__}", error)
                    continue
                if isinstance(record, Detection):
                    counters.counts["detections"] += 1
                    if record.uas_id and record.operator_lat is not None and record.operator_lon is not None:
                        await self._publish_operator(record)
                for snapshot in snapshots:
                    frame = self.stream.tracker.site
                    assert frame is not None
                    reports = snapshot.reports(frame)
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
            try:
                await self._assess(records_of(message, counters, "assessment"), counters)
            except Exception as error:
                counters.failed("assessment", message.subject, error)

    async def _assess(self, records: Sequence[Record], counters: StageCounters) -> None:
        if self._zones_removed:
            gone, self._zones_removed = self._zones_removed, set()
            self._zones = [z for z in self._zones if z.id not in gone]
            if self.assessor is not None:
                self.assessor.set_zones(self._zones)
        reports = [r for r in records if isinstance(r, TrackReport)]
        for record in records:
            if isinstance(record, Sensor):
                self._set_sensor(record)
            elif isinstance(record, Zone) and self._set_zone(record, counters):
                await self.publish("zones", [record])
        if not reports or self.assessor is None:
            return
        assessor = self.assessor
        # the picture first, every track update with the track's latest class, so that a track update
        # never waits for the assessment (its class may be one assessment period old)
        classes = assessor.classes
        picture = [replace(r, cls=classes[r.id].cls, confidence=round(classes[r.id].confidence, 3))
                   if r.id in classes else r for r in reports]
        self.live_tracks = {r.id: r for r in picture}
        await self.publish("picture", picture)
        if reports[0].t - assessor.assessed_at < assessor.config.period_s - 1e-9:
            return
        async with self._book_lock:
            # the classifier and rules take some ms per hundred tracks: off the event loop
            alerts = await asyncio.to_thread(assessor.update, reports[0].t, reports)
            if alerts:
                counters.counts["updates"] += 1
                await self._publish_alerts(alerts, counters)

    async def _publish_alerts(self, alerts: Sequence[Alert], counters: StageCounters) -> None:
        counters.counts["alert_lines"] += len(alerts)
        for alert in alerts:
            if alert.state == "resolved":
                self.open_alerts.pop(alert.id, None)
            else:
                self.open_alerts[alert.id] = alert
        await self.publish("alerts", alerts)

    async def _commands(self) -> None:
        """Operators' commands on alerts (:mod:`dronewatch.assessment.commands`), applied between steps."""
        counters = self.stage("commands")
        subscription = self._subscriptions["commands"]
        while (message := await subscription.get()) is not None:
            for number, line in enumerate(message.data.split(b"\n"), start=1):
                try:
                    command = parse_command(line, f"{message.subject}:{number}")
                except FormatError as error:
                    counters.bad("commands", error.source, error.reason)
                    continue
                if command is None:
                    continue
                async with self._book_lock:
                    result = apply_command(self.assessor.book if self.assessor is not None else None, command)
                    if result.alert is not None:
                        stored = self._when_stored(result.alert)
                        await self._publish_alerts([result.alert], counters)
                if result.alert is not None:
                    await stored
                counters.counts[command.action if result.status == "done" else result.status] += 1
                await self.bus.publish(Message(subject(self.site_id, "results"), data=result.line()))

    def _when_stored(self, alert: Alert) -> Awaitable[None]:
        """Done once storage has written ``alert``: an operator is told of a change only once it outlives a
        crash (the in-process bus keeps nothing; on NATS the server has the line once it is published)."""
        if self.repository is None:
            return asyncio.sleep(0)
        stored = asyncio.get_running_loop().create_future()
        self._being_stored[(alert.id, alert.t, alert.state)] = stored
        return stored

    def _set_sensor(self, sensor: Sensor) -> None:
        self._sensors = [s for s in self._sensors if s.id != sensor.id] + [sensor]
        if self.assessor is None:  # the first sensor places the site, as in the tracker
            frame = LocalFrame(sensor.lat, sensor.lon, sensor.alt)
            self.assessor = Assessor(frame, self._sensors, self._zones, self.assessment_config)
            self.assessor.book = AlertBook(self.assessor.config.clear_s, first_number=self.first_alert_number)
        self.assessor.set_sensors(self._sensors)

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
            await self._store_until_written(repository, records, counters)

    async def _store_until_written(self, repository: Repository, records: list[tuple[str, Record]],
                                   counters: StageCounters) -> None:
        """Write a batch (one transaction); while the database is unreachable, keep it and try again with
        back-off. A batch the database refuses is written record by record: one bad row costs only itself."""
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self._store, repository, records)
                break
            except OperationalError as error:  # the connection, not the data: wait, keeping everything
                counters.counts["store_retries"] += 1
                if attempt == 0:
                    log.warning("storage: cannot write (%s); keeping %d records and trying again",
                                error.orig, len(records))
            except (DBAPIError, DronewatchError, ValueError, TypeError) as error:
                if len(records) == 1:
                    counters.failed("storage", f"{records[0][0]} {type(records[0][1]).__name__}", error)
                    self._settle(records)  # refused, and counted: nobody waits for it any longer
                    return
                for one in records:
                    await self._store_until_written(repository, [one], counters)
                return
            await asyncio.sleep(_RESTART_S[min(attempt, len(_RESTART_S) - 1)])
            attempt += 1
        self._settle(records)
        kinds = Counter(type(r).__name__ for stream, r in records if stream in _STORED.get(type(r).__name__, ()))
        counters.counts["detections"] += kinds["Detection"]
        counters.counts["track_points"] += kinds["TrackReport"]
        counters.counts["alert_lines"] += kinds["Alert"]
        counters.counts["scans"] += sum(isinstance(r, Scan) for _, r in records)

    def _settle(self, records: list[tuple[str, Record]]) -> None:
        for _, record in records:
            if isinstance(record, Alert) and (waiting := self._being_stored.pop((record.id, record.t, record.state),
                                                                                None)):
                waiting.set_result(None)

    def _store(self, repository: Repository, records: list[tuple[str, Record]]) -> None:
        def stored(kind: type[Any]) -> list[Any]:
            return [r for stream, r in records if isinstance(r, kind) and stream in _STORED[kind.__name__]]

        repository.store(self.site_id, detections=stored(Detection), track_points=stored(TrackReport),
                         sensors=stored(Sensor), zones=stored(Zone), alerts=stored(Alert))


_STORED = {"Detection": ("ingest",), "TrackReport": ("picture",), "Sensor": ("ingest",), "Zone": ("ingest",),
           "Alert": ("alerts",)}
"""Which stream each kind of record is stored from (a track report goes by ``tracks`` and ``picture``)."""
