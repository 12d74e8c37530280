"""dronewatch upward: a SAPIENT child fusion node reporting to a higher decision-making node.

:class:`SapientParent` is a pipeline output (``pipeline.add_output``). It connects to the parent
(reconnecting with back-off: 0.5, 1, 2, 5, 10 s), sends dronewatch's Registration
(``NODE_TYPE_FUSION_NODE``, the connected edge nodes as ``dependent_nodes``, again whenever
they change), then:

- a StatusReport every status interval: ``INFO_NEW`` when what it says changed (first one,
  location, dependent nodes), ``INFO_UNCHANGED`` otherwise;
- the fused tracks of each ``picture`` as DetectionReports: a stable ``object_id`` per track,
  a new ``report_id`` each time, the track's position sigma as the location errors, ENU
  velocity, class, and ``associated_detection`` naming the edge-node objects behind it. All
  reports of one picture carry the same timestamp: the clock at send time (never earlier than
  the last), not the track's own time. Pictures are sent at most every ``report_interval_s``
  (Apex flags detection messages 1-79 ms apart); in between only the newest is kept. A track
  that leaves the picture gets one last report with ``state`` "lost";
- the alert lines of ``alerts`` as Alerts (stable ``alert_id`` per alert; on reconnect the
  open alerts are sent again);
- Tasks addressed to us are answered with a TaskAck: REJECTED with the reason (dronewatch
  accepts no tasking), except a Request for Registration or Status, which it honours by
  sending them again (ACCEPTED, then COMPLETED). AlertAcks and Errors are counted and logged;
  anything malformed is answered with an Error, as the listener does.

The live queues drop their oldest messages when the parent is slow (counted); while
disconnected, pictures are dropped (they would be stale by the time the link is back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sapient_msg.bsi_flex_335_v2_0.alert_ack_pb2 import AlertAck
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dronewatch import __version__
from dronewatch.bus import Subscription, subject
from dronewatch.errors import DecodeError
from dronewatch.formats.sapient import build
from dronewatch.formats.sapient.framing import MAX_MESSAGE_BYTES, FrameError, FrameReader, frame
from dronewatch.formats.sapient.messages import decode, encode, kind_of, site_node_id, stable_ulid, ulid, validate
from dronewatch.ingest.sapient import ErrorPolicy, SapientNodes
from dronewatch.model import Alert, TrackReport
from dronewatch.service.worker import StageCounters, backoff_s, records_of

if TYPE_CHECKING:
    from dronewatch.service.pipeline import Pipeline

log = logging.getLogger(__name__)
_READ_BYTES = 1 << 16
HONOURED_REQUESTS = ("registration", "status")


@dataclass
class SapientParent(ErrorPolicy):
    """Pipeline output: report fused tracks and alerts to the SAPIENT node at ``host:port``."""

    host: str
    port: int
    node_id: str = ""
    """Ours (empty: :func:`~dronewatch.formats.sapient.site_node_id` of the site)."""
    name: str = ""
    nodes: SapientNodes | None = None
    """The edge nodes of our listener, if any: dependent_nodes and associated detections."""
    clock: Callable[[], float] = time.time
    randbytes: Callable[[int], bytes] = os.urandom
    status_interval_s: float = 5.0
    report_interval_s: float = 0.5
    queue_size: int = 256
    connect_timeout_s: float = 10.0
    stage: str = "sapient-parent"
    connected: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _object_ids: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _alert_ids: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _last_tracks: dict[str, TrackReport] = field(default_factory=dict, init=False, repr=False)
    _last_stamp: float = field(default=-math.inf, init=False, repr=False)
    _last_status: tuple[object, ...] | None = field(default=None, init=False, repr=False)
    _registered_nodes: tuple[str, ...] | None = field(default=None, init=False, repr=False)

    async def __call__(self, pipeline: Pipeline) -> None:
        self.node_id = self.node_id or site_node_id(pipeline.site_id)
        self.name = self.name or f"dronewatch {pipeline.site_id}"
        counters = pipeline.stage(self.stage)
        pictures = pipeline.bus.subscribe(subject(pipeline.site_id, "picture"), overflow="drop_oldest",
                                          maxsize=self.queue_size)
        alerts = pipeline.bus.subscribe(subject(pipeline.site_id, "alerts"), overflow="drop_oldest",
                                        maxsize=self.queue_size)
        attempt = 0
        try:
            while True:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                            self.connect_timeout_s)
                except (OSError, TimeoutError) as error:
                    counters.counts["connect_failures"] += 1
                    if attempt == 0:
                        log.warning("sapient parent %s:%s: cannot connect: %s (retrying)", self.host, self.port, error)
                else:
                    attempt = 0
                    counters.counts["connections"] += 1
                    try:
                        await self._session(pipeline, counters, reader, writer, pictures, alerts)
                    except (ConnectionError, OSError) as error:
                        log.warning("sapient parent %s:%s: connection lost: %s", self.host, self.port, error)
                    finally:
                        self.connected.clear()
                        writer.close()
                        with contextlib.suppress(ConnectionError, OSError):
                            await writer.wait_closed()
                    counters.counts["disconnects"] += 1
                counters.counts["queue_dropped"] = pictures.dropped + alerts.dropped
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1
        finally:
            pipeline.bus.unsubscribe(pictures)
            pipeline.bus.unsubscribe(alerts)

    # ----------------------------------------------------------------- session
    async def _session(self, pipeline: Pipeline, counters: StageCounters, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter, pictures: Subscription, alerts: Subscription) -> None:
        stale = 0
        while not pictures.queue.empty():  # pictures from while we were away: stale now
            pictures.queue.get_nowait()
            stale += 1
        counters.counts["pictures_dropped_offline"] += stale
        self._last_status = None
        await self._send(writer, [self._registration()], counters, "registrations_sent")
        self.connected.set()
        log.info("sapient parent %s:%s: connected as %s", self.host, self.port, self.node_id)
        resend = [self._alert(a) for a in pipeline.site.open_alerts.values()]
        if resend:
            await self._send(writer, resend, counters, "alerts_sent")
        tasks = [asyncio.create_task(self._receive(reader, writer, counters, pipeline)),
                 asyncio.create_task(self._status_loop(writer, counters, pipeline)),
                 asyncio.create_task(self._picture_loop(writer, counters, pipeline, pictures)),
                 asyncio.create_task(self._alert_loop(writer, counters, pipeline, alerts))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def _send(self, writer: asyncio.StreamWriter, messages: list[SapientMessage], counters: StageCounters,
                    counter: str) -> None:
        for message in messages:
            writer.write(frame(encode(message)))
        counters.counts[counter] += len(messages)
        await writer.drain()

    def _new_id(self) -> str:
        return ulid(self.clock, self.randbytes)

    def _registration(self) -> SapientMessage:
        dependent = tuple(self.nodes.dependent_nodes()) if self.nodes is not None else ()
        self._registered_nodes = dependent
        return build.fusion_registration(self.node_id, self.clock(), name=self.name, short_name=self.name,
                                         dependent_nodes=dependent, status_interval_s=self.status_interval_s,
                                         software_version=__version__)

    def _status(self, pipeline: Pipeline, info: str | None = None) -> SapientMessage:
        site = pipeline.site.frame
        location = (site.lat0_deg, site.lon0_deg, site.alt0_m) if site is not None else None
        content = (location, self._registered_nodes)
        if info is None:
            info = "UNCHANGED" if content == self._last_status else "NEW"
        self._last_status = content
        return build.status_report(self.node_id, self.clock(), self._new_id(), info=info, location=location)

    async def _status_loop(self, writer: asyncio.StreamWriter, counters: StageCounters, pipeline: Pipeline) -> None:
        while True:
            if self.nodes is not None and tuple(self.nodes.dependent_nodes()) != self._registered_nodes:
                # the dependent nodes changed: register again with them
                await self._send(writer, [self._registration()], counters, "registrations_sent")
            await self._send(writer, [self._status(pipeline)], counters, "status_sent")
            await asyncio.sleep(self.status_interval_s)

    # ----------------------------------------------------------------- tracks and alerts
    def _object_id(self, track_id: str) -> str:
        object_id = self._object_ids.get(track_id)
        if object_id is None:
            object_id = self._object_ids[track_id] = self._new_id()
        return object_id

    def track_reports(self, tracks: list[TrackReport]) -> list[SapientMessage]:
        """One picture as DetectionReports, all with one timestamp (now, never before the last);
        tracks gone since the last picture get a final report with state "lost"."""
        stamp = self._last_stamp = max(self.clock(), self._last_stamp)
        out = []
        current = {track.id: track for track in tracks}
        for track in tracks:
            contributors = self.nodes.contributors(track) if self.nodes is not None else []
            out.append(build.track_report(self.node_id, stamp, track, report_id=self._new_id(),
                                          object_id=self._object_id(track.id), sigma_m=track.sigma_m,
                                          contributors=contributors))
        for track_id, track in self._last_tracks.items():
            if track_id not in current:
                out.append(build.track_report(self.node_id, stamp, track, report_id=self._new_id(),
                                              object_id=self._object_id(track_id), sigma_m=None, state="lost"))
                self._object_ids.pop(track_id, None)
        self._last_tracks = current
        return out

    async def _picture_loop(self, writer: asyncio.StreamWriter, counters: StageCounters, pipeline: Pipeline,
                            pictures: Subscription) -> None:
        last_sent = -math.inf
        while (message := await pictures.get()) is not None:
            wait = last_sent + self.report_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            while not pictures.queue.empty():  # only the newest picture is worth sending
                newer = pictures.queue.get_nowait()
                if newer is None:
                    return
                message = newer
                counters.counts["pictures_coalesced"] += 1
            tracks = [r for r in records_of(message, counters, self.stage) if isinstance(r, TrackReport)]
            reports = self.track_reports(tracks)
            last_sent = time.monotonic()
            counters.counts["pictures_sent"] += 1
            await self._send(writer, reports, counters, "detection_reports_sent")

    def _alert(self, item: Alert) -> SapientMessage:
        alert_id = self._alert_ids.get(item.id)
        if alert_id is None:
            alert_id = self._alert_ids[item.id] = self._new_id()
        if item.state == "resolved":
            self._alert_ids.pop(item.id, None)
        region = stable_ulid(f"{self.node_id} zone {item.zone}") if item.zone else None
        return build.alert(self.node_id, self.clock(), item, alert_id=alert_id, region_id=region,
                           track_object_id=self._object_ids.get(item.track))

    async def _alert_loop(self, writer: asyncio.StreamWriter, counters: StageCounters, pipeline: Pipeline,
                          alerts: Subscription) -> None:
        while (message := await alerts.get()) is not None:
            items = [r for r in records_of(message, counters, self.stage) if isinstance(r, Alert)]
            await self._send(writer, [self._alert(item) for item in items], counters, "alerts_sent")

    # ----------------------------------------------------------------- what the parent sends
    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counters: StageCounters,
                       pipeline: Pipeline) -> None:
        frames = FrameReader(MAX_MESSAGE_BYTES)
        while data := await reader.read(_READ_BYTES):
            replies: list[SapientMessage] = []
            try:
                payloads = frames.feed(data)
            except FrameError as error:
                payloads = error.frames
                self._reject(counters, replies, self._where, error.dropped, None, "bad frame",
                             [f"{error.reason} at byte {error.offset}"])
            for payload in payloads:
                self._handle(payload, counters, pipeline, replies)
            if replies:
                await self._send(writer, replies, counters, "replies_sent")

    @property
    def _where(self) -> str:
        return f"parent {self.host}:{self.port}"

    def _handle(self, payload: bytes, counters: StageCounters, pipeline: Pipeline,
                replies: list[SapientMessage]) -> None:
        try:
            message = decode(payload)
        except DecodeError as error:
            self._reject(counters, replies, self._where, payload, None, "bad protobuf", [error.reason])
            return
        kind = kind_of(message) or "none"
        counters.counts[f"received_{kind}"] += 1
        problems = validate(message)
        if problems:
            self._reject(counters, replies, self._where, payload, message.node_id or None, "invalid message",
                         problems,
                         answer=kind != "error")
            return
        sender = message.node_id
        if kind == "registration_ack":
            ack = message.registration_ack
            counters.counts["registration_accepted" if ack.acceptance else "registration_rejected"] += 1
            if not ack.acceptance:
                log.error("sapient parent %s:%s refused our registration: %s", self.host, self.port,
                          "; ".join(ack.ack_response_reason) or "no reason given")
        elif kind == "task":
            if message.destination_id and message.destination_id != self.node_id:
                counters.counts["tasks_not_for_us"] += 1
                return
            replies.extend(self._task(message, pipeline, counters))
        elif kind == "alert_ack":
            status = AlertAck.AlertAckStatus.Name(message.alert_ack.alert_ack_status)
            counters.counts[f"alert_ack_{status.removeprefix('ALERT_ACK_STATUS_').lower()}"] += 1
        elif kind == "error":
            counters.counts["errors_received"] += 1
            log.warning("sapient parent %s sent an Error: %s", sender, "; ".join(message.error.error_message))

    def _task(self, message: SapientMessage, pipeline: Pipeline, counters: StageCounters) -> list[SapientMessage]:
        task = message.task
        sender = message.node_id
        command = task.command.WhichOneof("command") if task.HasField("command") else None
        request = task.command.request.strip().lower() if command == "request" else ""
        if request in HONOURED_REQUESTS:
            counters.counts[f"tasks_honoured_{request}"] += 1
            again = self._registration() if request == "registration" else self._status(pipeline, "NEW")
            return [build.task_ack(self.node_id, self.clock(), sender, task.task_id, "ACCEPTED"), again,
                    build.task_ack(self.node_id, self.clock(), sender, task.task_id, "COMPLETED",
                                   [f"{request} sent again"])]
        counters.counts["tasks_rejected"] += 1
        what = f"request {task.command.request!r}" if command == "request" else (command or "no command")
        return [build.task_ack(self.node_id, self.clock(), sender, task.task_id, "REJECTED",
                               [f"dronewatch accepts no tasking ({what}): it is an early-warning fusion node and "
                                "honours only the requests for Registration and Status"])]
