"""The live pipeline: sources -> tracker -> assessment -> storage, as supervised asyncio workers on a bus.

Stages talk only through the bus (``dw.<site>.ingest``, ``.tracks`` from the tracker,
``.picture`` (the tracks with their classes), ``.alerts``, ``.zones``, ``.state`` and
``.results`` from the assessment, ``.commands`` to it; JSON Lines payloads, docs/scale-out.md).
A pipeline runs the stages it is given (``stages``): all of them in one process (``dronewatch
serve``), or one per process on NATS (``dronewatch worker``), each stage then reading through a
durable consumer that goes on where it stopped. The API and the outputs (TAK, SAPIENT upward)
read the site through :class:`~dronewatch.service.view.SiteView`, built from the bus alone.
Every stage keeps counters (:attr:`Pipeline.counters`).

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
  track numbering), so a restarted service guards the site before its first new record;
- storage on NATS keeps, in the same transaction as the rows, the stream sequence it has
  written up to, so a message delivered again after a crash is not stored twice.

The ingest queue drops its oldest messages (counted) only when a live source feeds it; file
replays and the simulator wait for room instead, so they lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from dronewatch.assessment import AlertBook, AssessmentConfig, Assessor
from dronewatch.assessment.airframes import AirframeLists, ListEntry
from dronewatch.assessment.commands import RELOADED, Command, CommandResult, apply_alert_command, parse_command
from dronewatch.assessment.posture import Bulletin, Posture, PostureLevel, at_posture, posture_line
from dronewatch.bus import Bus, InProcessBus, Message, Overflow, Subscription, subject
from dronewatch.config import IngestConfig
from dronewatch.errors import ConfigError, DronewatchError, FormatError, TransportError
from dronewatch.formats.scenario import record_to_dict
from dronewatch.geo import LocalFrame
from dronewatch.geo.zones import check_zone
from dronewatch.ingest.gate import EdgeGate, Origin
from dronewatch.model import Alert, Detection, Record, Scan, ScenarioInfo, Sensor, TrackReport, Zone
from dronewatch.service.view import SiteView
from dronewatch.service.worker import LoopLag, StageCounters, backoff_s, records_of, supervise
from dronewatch.storage import Repository
from dronewatch.tasks import cancel_and_wait
from dronewatch.tracking import StreamTracker, Tracker, TrackerConfig, TrackSnapshot

log = logging.getLogger(__name__)
_STORE_BATCH = 500
STAGES = ("tracker", "assessment", "storage")
CLOSE_WAITING_S = 0.05
"""A live feed's pause after which the scans of sensors without scan lines (direction finders, Remote ID
receivers) are taken as whole: one scan's detections come together, within milliseconds."""


class Pipeline:
    """The stages of one site. ``await run()`` until :meth:`stop`; sources are added with :meth:`add_source`.

    ``stages``: which of :data:`STAGES` run here (storage only with a repository). ``durable``: each
    reads through a durable consumer named ``<site>-<stage>`` (on NATS: one process per stage and
    site). ``view``: follow the site's state for the API and the outputs. ``region``: a region's pipeline
    (:mod:`dronewatch.service.region`), whose sensors and zones come from its sites through ``tracks``."""

    def __init__(self, site_id: str, repository: Repository | None = None, bus: Bus | None = None, *,
                 live: bool = True, ingest_queue: int = 50_000, first_alert_number: int = 1,
                 ingest: IngestConfig | None = None, tracking: TrackerConfig | None = None,
                 assessment: AssessmentConfig | None = None, clock: Callable[[], float] = time.time,
                 stages: Iterable[str] = STAGES, durable: bool = False, view: bool = True,
                 region: bool = False) -> None:
        self.stages = tuple(stages)
        if unknown := set(self.stages) - set(STAGES):
            raise ConfigError(f"unknown stage(s) {', '.join(sorted(unknown))}: stages are {', '.join(STAGES)}")
        self.site_id = site_id
        self.live = live
        self.region = region
        self.durable = durable
        self.first_alert_number = first_alert_number
        self.bus = bus if bus is not None else InProcessBus()
        self.repository = repository
        self.clock = clock
        self.gate = EdgeGate(ingest, clock)
        self.counters: dict[str, StageCounters] = {}
        self.stream = StreamTracker(Tracker(tracking), immediate=True)
        self.assessment_config = assessment or AssessmentConfig()
        self.assessor: Assessor | None = None
        self._sources: list[tuple[str, Callable[[Pipeline], Awaitable[None]]]] = []
        self._outputs: list[tuple[str, Callable[[Pipeline], Awaitable[None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # a durable stage keeps its backlog on the server: it must not drop it
        overflow: Overflow = "drop_oldest" if live and not durable else "block"
        wanted = {"tracker": (subject(site_id, "ingest"), overflow, ingest_queue),
                  "assessment": (subject(site_id, "tracks"), "block", ingest_queue),
                  "commands": (subject(site_id, "commands"), "block", 10_000),
                  "storage": (f"dw.{site_id}.*", "block", ingest_queue)}
        running = set(self.stages) | ({"commands"} if "assessment" in self.stages else set())
        if repository is None:
            running.discard("storage")
        self._subscriptions: dict[str, Subscription] = {
            name: self.bus.subscribe(pattern, overflow=how, maxsize=size,
                                     durable=f"{site_id}-{name}" if durable else None)
            for name, (pattern, how, size) in wanted.items() if name in running}
        self.view = SiteView(self.bus, site_id, self.stage("view")) if view else None
        self.loop_lag = LoopLag()
        self._being_stored: dict[tuple[str, float, str], asyncio.Future[None]] = {}
        """An operator's alert line whose command result waits until storage has written it."""
        self._due: list[TrackReport] | None = None
        """The latest tracks due for an assessment step that has not begun."""
        self._stepping: asyncio.Task[None] | None = None
        self._book_lock = asyncio.Lock()
        """Held by an assessment step and by a command: a command never lands inside a step."""
        self._zones: list[Zone] = []
        self._airframes = AirframeLists(site_id=site_id)
        self._posture = Posture(site_id=site_id)
        self.posture_level: PostureLevel = "normal"
        self._restored = False
        self._busy = 0
        """Messages a stage (tracker, assessment, storage) has taken off its queue and not finished."""
        self._sensors: list[Sensor] = []

    def stage(self, name: str) -> StageCounters:
        return self.counters.setdefault(name, StageCounters())

    def add_source(self, name: str, run: Callable[[Pipeline], Awaitable[None]]) -> None:
        self._sources.append((name, run))

    def add_output(self, name: str, run: Callable[[Pipeline], Awaitable[None]]) -> None:
        """A consumer of the site's streams (a TAK server, a SAPIENT parent): restarted with back-off if it fails."""
        self._outputs.append((name, run))

    @property
    def site(self) -> SiteView:
        """The site as the bus tells it (for the API and the outputs)."""
        if self.view is None:
            raise ConfigError(f"{self.site_id}: this pipeline was made without a view of the site")
        return self.view

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

    def stats(self) -> dict[str, Any]:
        out = {name: counters.as_dict() for name, counters in self.counters.items()}
        for name, subscription in self._subscriptions.items():
            out.setdefault(name, {})["queue_dropped"] = subscription.dropped
            out[name]["queue_waiting"] = subscription.queue.qsize()
        out["event_loop"] = self.loop_lag.as_dict()
        return out

    async def run(self) -> None:
        if self.repository is not None and not self._restored:  # the site as it was, before the first new record
            await self.restore(self.repository)
        readies = [s.ready for s in self._subscriptions.values()] + ([self.view.ready] if self.view else [])
        try:  # on NATS a subscription takes a round trip to the server: no source starts before they all hold
            await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 30.0)
        except TimeoutError:
            raise TransportError(f"{self.site_id}: the bus did not set up the stages' subscriptions in 30 s") from None
        stages: dict[str, Callable[[], Awaitable[None]]] = {
            "tracker": self._tracker, "assessment": self._assessment, "commands": self._commands,
            "storage": self._storage}
        workers = [(name, stages[name]) for name in self._subscriptions]
        if self.view is not None:
            workers.append(("view", self.view.run))
        workers.append(("event_loop", self.loop_lag.run))
        workers += [(name, functools.partial(run, self)) for name, run in [*self._outputs, *self._sources]]
        self._tasks = [asyncio.create_task(supervise(name, work, self.stage(name)), name=name)
                       for name, work in workers]
        await self._stopping.wait()
        await cancel_and_wait([*self._tasks, *([self._stepping] if self._stepping else [])])
        if self.view is not None:
            self.view.close()

    def stop(self) -> None:
        self._stopping.set()

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until every queue is empty and the stages idle (for replays and tests)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._idle():
                await asyncio.sleep(0.05)
                if self._idle():
                    return
            await asyncio.sleep(0.02)
        raise TimeoutError("the pipeline did not drain")

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """Around a message a stage has taken off its queue and not finished: :meth:`drain` waits for it."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    def _idle(self) -> bool:
        """Every queue empty, no assessment step to finish, no message a stage has taken and not finished
        (storage may hold a batch it cannot write yet)."""
        stepping = self._due is not None or (self._stepping is not None and not self._stepping.done())
        return not (self._busy or stepping) and all(s.queue.qsize() == 0 for s in self._subscriptions.values())

    async def restore(self, repository: Repository) -> None:
        """The site as storage holds it, for the parts running here: sensors (for the edge, the tracker and
        the assessment), zones in force, open alerts (they can still be acknowledged, and clear as usual),
        track numbers going on. Storage may lag behind a stage that was killed: the numbering and open
        alerts the stage itself last published, where there are some, are newer and taken instead."""
        sensors, zones, stored_alerts, next_track, entries, bulletins = await asyncio.to_thread(
            lambda: (repository.sensors(self.site_id), repository.zones(self.site_id),
                     [a for a in repository.alerts(self.site_id) if a.state != "resolved"],
                     repository.next_track_number(self.site_id), repository.list_entries(),
                     repository.bulletins()))
        self.gate.restore(sensors)
        if "tracker" in self.stages:
            numbering = published_numbering(await self.last_published("tracks"))
            for sensor in sensors:
                self.stream.feed(sensor)
            self.stream.tracker.first_track_number(max(next_track, numbering.get("next_track_number", 1)))
        if "assessment" in self.stages:
            state = await self.last_published("state")
            numbering = published_numbering(state)
            self.first_alert_number = max(self.first_alert_number, numbering.get("next_alert_number", 1))
            # a state holds every open alert in its latest form
            alerts = [r for r in state if isinstance(r, Alert)] if "next_alert_number" in numbering else stored_alerts
            if self.region:  # its sensors and zones in force too: storage keeps a site's, not a region's
                sensors = [r for r in state if isinstance(r, Sensor)]
                zones = [r for r in state if isinstance(r, Zone)]
            counters = self.stage("assessment")
            self._set_airframes(entries)
            self._posture = Posture((Bulletin.of(b) for b in bulletins), self.site_id)
            for sensor in sensors:
                self._set_sensor(sensor)
            for zone in zones:
                self._set_zone(zone, counters)
            if self.assessor is not None and alerts:
                self.assessor.book.restore(alerts)
            counters.counts["restored_sensors"] = len(sensors)
            counters.counts["restored_zones"] = len(self._zones)
            counters.counts["restored_alerts"] = len(alerts) if self.assessor is not None else 0
        self._restored = True

    async def last_published(self, stream: str) -> Sequence[Record]:
        """The records of the last message on ``dw.<site>.<stream>`` (none: nothing yet)."""
        latest = self.bus.subscribe(subject(self.site_id, stream), overflow="drop_oldest", maxsize=1, last=True)
        try:
            await asyncio.wait_for(latest.ready.wait(), 30.0)
            message = None if latest.queue.empty() else latest.queue.get_nowait()
        except TimeoutError:
            raise TransportError(f"{self.site_id}: the bus did not answer for the last {stream} in 30 s") from None
        finally:
            self.bus.unsubscribe(latest)
        return records_of(message, self.stage("restore"), "restore") if message is not None else []

    # ----------------------------------------------------------------- stages
    async def _tracker(self) -> None:
        counters = self.stage("tracker")
        subscription = self._subscriptions["tracker"]
        getting: asyncio.Task[Message | None] | None = None
        try:
            while True:
                # live, a sensor's scan without a scan line is closed once the feed pauses, not a scan later;
                # a replay closes it at the next later line, as `dronewatch track` does. The wait for the next
                # message goes on across a pause (no cancelled get: nothing taken and dropped on the way)
                getting = getting or asyncio.ensure_future(subscription.get())
                pause = CLOSE_WAITING_S if self.live and self.stream.waiting() else None
                if not (await asyncio.wait({getting}, timeout=pause))[0]:
                    await self._tracker_work(self._close_waiting, counters)
                    continue
                message, getting = getting.result(), None
                if message is None:
                    break
                counters.counts["messages"] += 1
                await self._tracker_work(self._track, records_of(message, counters, "tracker"), counters,
                                         message.subject)
                await subscription.done(message)
        finally:
            if getting is not None:
                getting.cancel()

    async def _tracker_work(self, work: Callable[..., list[Message]], *args: Any) -> None:
        """``work`` on the tracker, then what it gives published, in order."""
        with self._working():
            # the tracker's arithmetic off the event loop, which carries the API and the other stages too
            for out in await asyncio.to_thread(work, *args):
                await self.bus.publish(out)

    def _track(self, records: Sequence[Record], counters: StageCounters, where: str) -> list[Message]:
        """A message's records through the tracker: what to publish, in order. Runs in a thread, one at a time."""
        out: list[Message] = []
        passed: list[Record] = []
        for record in records:
            if isinstance(record, Sensor | Zone):
                passed.append(record)
            try:
                snapshots = self.stream.feed(record)
            except DronewatchError as error:
                counters.bad("tracker", where, f"refused by the tracker: {error}")
                continue
            except Exception as error:
                counters.failed("tracker", f"{where} {type(record).__name__}", error)
                continue
            if isinstance(record, Detection):
                counters.counts["detections"] += 1
                if record.uas_id and record.operator_lat is not None and record.operator_lon is not None:
                    out.append(self._operator(record))
            for snapshot in snapshots:
                out.append(self._snapshot_message(snapshot, passed, counters))
                passed = []
        if passed:
            out.append(Message(subject(self.site_id, "tracks"), records=passed))
        return out

    def _close_waiting(self, counters: StageCounters) -> list[Message]:
        """The snapshots of scans closed because the feed paused (see ``CLOSE_WAITING_S``). Runs in a thread."""
        try:
            snapshots = self.stream.close_waiting()
        except Exception as error:
            counters.failed("tracker", "closing the scans of sensors without scan lines", error)
            return []
        return [self._snapshot_message(snapshot, [], counters) for snapshot in snapshots]

    def _snapshot_message(self, snapshot: TrackSnapshot, passed: list[Record], counters: StageCounters) -> Message:
        frame = self.stream.tracker.site
        assert frame is not None
        counters.counts["snapshots"] += 1
        # where numbering goes on, for a tracker restarted before storage has caught up
        numbering = ScenarioInfo({"next_track_number": self.stream.tracker.next_track_number})
        return Message(subject(self.site_id, "tracks"), records=[*passed, numbering, *snapshot.reports(frame)])

    def _operator(self, detection: Detection) -> Message:
        """Where a Remote ID drone's operator stands: its own subject, which only entitled roles read."""
        position = {"type": "operator", "t": detection.t, "uas_id": detection.uas_id,
                    "lat": detection.operator_lat, "lon": detection.operator_lon}
        return Message(subject(self.site_id, "operators"), (json.dumps(position) + "\n").encode())

    async def _assessment(self) -> None:
        counters = self.stage("assessment")
        subscription = self._subscriptions["assessment"]
        await self._publish_state()  # the site as restored, for views that start before any change
        while (message := await subscription.get()) is not None:
            with self._working():
                try:
                    await self._assess(records_of(message, counters, "assessment"), counters)
                except Exception as error:
                    counters.failed("assessment", message.subject, error)
            await subscription.done(message)

    async def _publish_state(self) -> None:
        """The sensors (the first places the site), zones in force and open alerts, as ``dw.<site>.state``."""
        book = self.assessor.book if self.assessor is not None else None
        numbering = ScenarioInfo({"next_alert_number": book.next_number if book else self.first_alert_number})
        await self.bus.publish(Message(subject(self.site_id, "state"), records=[
            numbering, *self._sensors, *self._zones, *(book.open_alerts if book else [])]))

    async def _assess(self, records: Sequence[Record], counters: StageCounters) -> None:
        reports = [r for r in records if isinstance(r, TrackReport)]
        changed = False
        for record in records:
            if isinstance(record, Sensor):
                self._set_sensor(record)
                changed = True
            elif isinstance(record, Zone) and self._set_zone(record, counters):
                await self.publish("zones", [record])
                changed = True
        if changed:
            await self._publish_state()
        if self.assessor is None:
            return
        if not reports:
            if any(isinstance(r, ScenarioInfo) for r in records):  # a tracker's update with no track left
                await self.bus.publish(Message(subject(self.site_id, "picture"), records=[]))
            return
        assessor = self.assessor
        # the picture first, every track update with the track's latest class, so that a track update
        # never waits for the assessment (its class may be one assessment period old)
        classes = assessor.classes
        picture = [replace(r, cls=classes[r.id].cls, confidence=round(classes[r.id].confidence, 3))
                   if r.id in classes else r for r in reports]
        await self.publish("picture", picture)
        if reports[0].t - assessor.assessed_at < assessor.config.period_s - 1e-9:
            return
        if not self.live:  # a replay: every step in its turn, so that the same file gives the same alerts
            await self._step(assessor, reports, counters)
            return
        # live, the step runs beside the picture: the next track update is not held up by it, and a step
        # that takes longer than the period goes on with the latest tracks, skipping the ones it could not take
        if self._due is not None:
            counters.counts["steps_skipped"] += 1
        self._due = reports
        if self._stepping is None or self._stepping.done():
            self._stepping = asyncio.create_task(self._steps(assessor, counters), name="assessment step")

    async def _steps(self, assessor: Assessor, counters: StageCounters) -> None:
        while (reports := self._due) is not None:
            self._due = None
            if reports[0].t - assessor.assessed_at < assessor.config.period_s - 1e-9:
                continue  # came while the step before ran, and is too soon after it
            try:
                await self._step(assessor, reports, counters)
            except Exception as error:
                counters.failed("assessment", "step", error)

    async def _step(self, assessor: Assessor, reports: list[TrackReport], counters: StageCounters) -> None:
        await self._follow_posture(assessor, reports[0].t, counters)
        async with self._book_lock:
            # the classifier and rules take some ms per hundred tracks: off the event loop
            alerts = await asyncio.to_thread(assessor.update, reports[0].t, reports)
            if alerts:
                counters.counts["updates"] += 1
                await self._publish_alerts(alerts, counters)

    async def _follow_posture(self, assessor: Assessor, t: float, counters: StageCounters) -> None:
        """The assessment's tuning as the bulletins in force at ``t`` set it; a change is published on
        ``dw.<site>.posture`` (TAK destinations tell their users)."""
        level = self._posture.level_at(t)
        if level == self.posture_level:
            return
        self.posture_level = level
        assessor.config = at_posture(self.assessment_config, level)
        counters.counts[f"posture_{level}"] += 1
        line = posture_line(self.site_id, level, t, self._posture.in_force(t))
        await self.bus.publish(Message(subject(self.site_id, "posture"), data=(json.dumps(line) + "\n").encode()))

    async def _publish_alerts(self, alerts: Sequence[Alert], counters: StageCounters) -> None:
        counters.counts["alert_lines"] += len(alerts)
        await self.publish("alerts", alerts)
        await self._publish_state()

    async def _commands(self) -> None:
        """Operators' commands (:mod:`dronewatch.assessment.commands`), applied between assessment steps."""
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
                    result, stored = await self._apply(command, counters)
                await stored
                counters.counts[command.action if result.status == "done" else result.status] += 1
                await self.bus.publish(Message(subject(self.site_id, "results"), data=result.line()))
            await subscription.done(message)

    async def _apply(self, command: Command, counters: StageCounters) -> tuple[CommandResult, Awaitable[None]]:
        """The command's result, and what to wait for before answering (:meth:`_stored`)."""
        if command.action == "delete_zone":
            if command.target not in {z.id for z in self._zones}:
                return CommandResult(command.id, "not_open"), asyncio.sleep(0)
            self._zones = [z for z in self._zones if z.id != command.target]
            if self.assessor is not None:
                self.assessor.set_zones(self._zones)
            await self._publish_state()
            return CommandResult(command.id, "done"), asyncio.sleep(0)
        if command.action == "reload":
            if self.repository is None or command.target not in RELOADED:
                return CommandResult(command.id, "not_started"), asyncio.sleep(0)
            if command.target == "airframes":
                self._set_airframes(await asyncio.to_thread(self.repository.list_entries))
            else:
                bulletins = await asyncio.to_thread(self.repository.bulletins)
                self._posture = Posture((Bulletin.of(b) for b in bulletins), self.site_id)
            return CommandResult(command.id, "done"), asyncio.sleep(0)
        result = apply_alert_command(self.assessor.book if self.assessor is not None else None, command)
        if result.alert is None:
            return result, asyncio.sleep(0)
        stored = self._stored(result.alert)
        await self._publish_alerts([result.alert], counters)
        return result, stored

    def _stored(self, alert: Alert) -> Awaitable[None]:
        """Done once storage here has written ``alert`` (made before it is published): an operator is told
        of a change only once it outlives a crash. The in-process bus keeps nothing; on NATS the server has
        the line once it is published, and storage runs elsewhere."""
        if "storage" not in self._subscriptions:
            return asyncio.sleep(0)
        stored = self._being_stored[(alert.id, alert.t, alert.state)] = asyncio.get_running_loop().create_future()
        return stored

    def _set_sensor(self, sensor: Sensor) -> None:
        known = any(s.id == sensor.id for s in self._sensors)  # in place: the first one places the site
        self._sensors = [sensor if s.id == sensor.id else s for s in self._sensors] + ([] if known else [sensor])
        if self.assessor is None:  # the first sensor places the site, as in the tracker
            frame = LocalFrame(sensor.lat, sensor.lon, sensor.alt)
            self.assessor = Assessor(frame, self._sensors, self._zones,
                                     at_posture(self.assessment_config, self.posture_level))
            self.assessor.book = AlertBook(self.assessor.config.clear_s, first_number=self.first_alert_number)
            self.assessor.airframes = self._airframes
        self.assessor.set_sensors(self._sensors)

    def _set_airframes(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """The allow- and watch-list entries in force (storage's rows)."""
        self._airframes = AirframeLists((ListEntry.of(e) for e in entries), self.site_id)
        self.stage("assessment").counts["list_entries"] = len(self._airframes)
        if self.assessor is not None:
            self.assessor.airframes = self._airframes

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
        reader = f"{self.site_id}-storage"
        stored_up_to = await asyncio.to_thread(repository.bus_position, reader)
        while (message := await subscription.get()) is not None:
            batch = [message]
            while len(batch) < _STORE_BATCH and not subscription.queue.empty():
                nxt = subscription.queue.get_nowait()
                if nxt is None:
                    break
                batch.append(nxt)
            fresh = [m for m in batch if m.sequence is None or m.sequence > stored_up_to]
            counters.counts["redelivered_skipped"] += len(batch) - len(fresh)
            records = [(m.subject.rsplit(".", 1)[-1], r) for m in fresh for r in records_of(m, counters, "storage")]
            sequences = [m.sequence for m in fresh if m.sequence is not None]
            position = (reader, max(sequences)) if sequences else None
            if records or position is not None:  # an empty picture (no track left) has nothing to write
                with self._working():
                    await self._store_until_written(repository, records, counters, position)
            if position is not None:
                stored_up_to = position[1]
            await subscription.done(*batch)

    async def _store_until_written(self, repository: Repository, records: list[tuple[str, Record]],
                                   counters: StageCounters, position: tuple[str, int] | None = None) -> None:
        """Write a batch (one transaction, with the stream ``position`` it reaches); while the database is
        unreachable, keep it and try again with back-off. A batch the database refuses is written record by
        record: one bad row costs only itself."""
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self._store, repository, records, position)
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
                if position is not None:
                    await self._store_until_written(repository, [], counters, position)
                return
            await asyncio.sleep(backoff_s(attempt))
            attempt += 1
        self._settle(records)
        kinds = Counter(type(r).__name__ for stream, r in records if stream in _STORED.get(type(r).__name__, ()))
        counters.counts["detections"] += kinds["Detection"]
        counters.counts["track_points"] += kinds["TrackReport"]
        counters.counts["alert_lines"] += kinds["Alert"]
        counters.counts["scans"] += sum(isinstance(r, Scan) for _, r in records)

    def _settle(self, records: list[tuple[str, Record]]) -> None:
        """Written (or refused): an operator's alert line is not waited for any longer. Only the line on
        ``alerts`` counts, not its copy in a ``state``."""
        for stream, record in records:
            if not isinstance(record, Alert) or stream not in _STORED["Alert"]:
                continue
            if (waiting := self._being_stored.pop((record.id, record.t, record.state), None)) is not None:
                waiting.set_result(None)

    def _store(self, repository: Repository, records: list[tuple[str, Record]],
               position: tuple[str, int] | None) -> None:
        def stored(kind: type[Any]) -> list[Any]:
            return [r for stream, r in records if isinstance(r, kind) and stream in _STORED[kind.__name__]]

        repository.store(self.site_id, detections=stored(Detection), track_points=stored(TrackReport),
                         sensors=stored(Sensor), zones=stored(Zone), alerts=stored(Alert), position=position)


_STORED = {"Detection": ("ingest",), "TrackReport": ("picture",), "Sensor": ("ingest",), "Zone": ("ingest",),
           "Alert": ("alerts",)}
"""Which stream each kind of record is stored from (a track report goes by ``tracks`` and ``picture``)."""


def published_numbering(records: Sequence[Record]) -> dict[str, int]:
    """The numbers a stage published to go on from (``next_track_number``, ``next_alert_number``)."""
    return {key: int(str(value)) for r in records if isinstance(r, ScenarioInfo) for key, value in r.fields.items()
            if key in ("next_track_number", "next_alert_number")}
