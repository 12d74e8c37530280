"""dronewatch as a SAPIENT fusion node, edge-node side: a TCP server edge nodes connect to.

Per connection a :class:`~dronewatch.formats.sapient.FrameReader`; each read's messages are
decoded, validated against the ICD and handled in order, the replies written, and the records
they make published to ``dw.<site>.ingest`` in one batch. Several nodes may share a connection
(a middleware such as Apex forwards all its children over one): nodes are known by ``node_id``.

What each message does:

- **Registration** -> RegistrationAck. Refused, with the reasons, for an ICD version other than
  BSI Flex 335 v2.0 or a node dronewatch cannot fuse (see :mod:`dronewatch.formats.sapient.convert`);
  a re-registration replaces the last one (where the node stands is kept). The node's ``Sensor``
  record goes to ingest as soon as its location is known.
- **StatusReport** -> kept: location (the sensor is placed, and placed again when it moves),
  platform heading, field of view, mode, the heartbeat. A node silent for 3 status intervals is
  counted stale (and again live when it speaks); ``SYSTEM_GOODBYE`` is a clean leave.
- **DetectionReport** -> a ``Detection`` of the node's sensor at the message's timestamp; the
  (node, object) pair is kept so that the fused track that grows from it can name it upward.
- **Task** -> TaskAck REJECTED (an edge node does not task its fusion node); **Alert** -> AlertAck
  ACCEPTED (counted and logged; sensor alerts are not yet fused); **TaskAck**, **AlertAck**,
  **Error** -> counted and logged.

Error policy: anything that cannot be used — a bad frame, bytes that are not a SapientMessage,
an ICD problem (:func:`~dronewatch.formats.sapient.validate`), a report from a node that has not
registered or cannot be placed yet, a location that cannot be converted — is answered with an
``Error`` carrying the packet and the reasons, counted per reason in the stage's counters
(``bad_input``), and the connection is kept. An Error is never answered with an Error.

Clock: a message whose timestamp is more than 1 s off our clock is accepted and counted
(``clock_skew``); detections are timed by the message's timestamp, as the ICD says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sapient_msg.bsi_flex_335_v2_0.alert_ack_pb2 import AlertAck
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage
from sapient_msg.bsi_flex_335_v2_0.status_report_pb2 import StatusReport
from sapient_msg.bsi_flex_335_v2_0.task_ack_pb2 import TaskAck

from dronewatch.errors import DecodeError, FormatError
from dronewatch.formats.sapient import build, convert
from dronewatch.formats.sapient.framing import MAX_MESSAGE_BYTES, FrameError, FrameReader, frame
from dronewatch.formats.sapient.messages import (
    ICD_VERSION,
    decode,
    encode,
    is_uuid4,
    kind_of,
    seconds_of,
    site_node_id,
    validate,
)
from dronewatch.geo.frames import enu2aer, geodetic2enu
from dronewatch.ingest.gate import Origin
from dronewatch.model import Detection, Record, Sensor, TrackReport
from dronewatch.service.worker import StageCounters

if TYPE_CHECKING:
    from dronewatch.service.pipeline import Pipeline

log = logging.getLogger(__name__)
ICD_VERSIONS = (ICD_VERSION,)
STALE_INTERVALS = 3.0
CLOCK_SKEW_S = 1.0
RECENT_OBJECT_S = 3.0
"""How recent a node's object must be to be named behind a fused track (as the tracker's ``sensors``)."""
MAX_OBJECTS_PER_NODE = 2000
KEEP_OBJECT_S = 60.0
_READ_BYTES = 1 << 16
_ORIGIN = Origin("sapient")
_LOG_EVERY_S = 10.0
# For naming contributors: the angular and range gates, in standard deviations and at least these.
_GATE_SIGMAS = 5.0
_MIN_ANGLE_DEG = 1.0
_MIN_RANGE_M = 30.0


@dataclass(slots=True)
class SeenObject:
    """A node's object as last reported."""

    object_id: str
    t: float
    detection: Detection


@dataclass(slots=True)
class Node:
    """What the fusion node knows about one edge node."""

    profile: convert.NodeProfile
    last_heard_s: float
    point: convert.GeoPoint | None = None
    sensor: Sensor | None = None
    heading_deg: float | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    system: str = "SYSTEM_UNSPECIFIED"
    mode: str = ""
    status_new_seen: bool = False
    stale: bool = False
    left: bool = False
    geoid_noted: bool = False
    objects: OrderedDict[str, SeenObject] = field(default_factory=OrderedDict)

    @property
    def node_id(self) -> str:
        return self.profile.node_id


class SapientNodes:
    """The edge nodes this fusion node knows, shared by the listener (which fills it) and the upward
    output (which names the nodes and their objects behind each fused track)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._by_sensor: dict[str, str] = {}

    def get(self, node_id: str) -> Node | None:
        return self.nodes.get(node_id)

    def register(self, profile: convert.NodeProfile, now_s: float) -> Node:
        """Add a node, or replace its registration (keeping where it stands)."""
        previous = self.nodes.get(profile.node_id)
        node = Node(profile, now_s)
        if previous is not None:
            node.point, node.heading_deg, node.coverage = previous.point, previous.heading_deg, previous.coverage
            node.objects = previous.objects
        self.nodes[profile.node_id] = node
        self._by_sensor[profile.sensor_id] = profile.node_id
        return node

    def node_of_sensor(self, sensor_id: str) -> Node | None:
        node_id = self._by_sensor.get(sensor_id)
        return self.nodes.get(node_id) if node_id is not None else None

    def dependent_nodes(self) -> list[str]:
        """The ids of the nodes registered and not gone (in registration order)."""
        return [node_id for node_id, node in self.nodes.items() if not node.left]

    def observe(self, node: Node, object_id: str, detection: Detection) -> None:
        """Keep a node's object as last reported; the objects stay in the order they were last reported."""
        node.objects[object_id] = SeenObject(object_id, detection.t, detection)
        node.objects.move_to_end(object_id)
        while node.objects and (len(node.objects) > MAX_OBJECTS_PER_NODE
                                or next(iter(node.objects.values())).t < detection.t - KEEP_OBJECT_S):
            node.objects.popitem(last=False)

    def check_stale(self, now_s: float) -> list[Node]:
        """The nodes that just went stale: silent for 3 status intervals (and not gone)."""
        out = []
        for node in self.nodes.values():
            if not node.left and not node.stale and now_s - node.last_heard_s > STALE_INTERVALS * (
                    node.profile.status_interval_s):
                node.stale = True
                out.append(node)
        return out

    def contributors(self, track: TrackReport, recent_s: float = RECENT_OBJECT_S) -> list[build.Contributor]:
        """The SAPIENT objects behind a fused track: for each node among the sensors that updated it,
        the node's recent object nearest the track as that node sees it (within 5 sigma)."""
        out: list[build.Contributor] = []
        for sensor_id in track.sensors or ():
            node = self.node_of_sensor(sensor_id)
            if node is None or node.sensor is None or not node.objects:
                continue
            sensor = node.sensor
            aer = enu2aer(*geodetic2enu(track.lat, track.lon, track.alt, sensor.lat, sensor.lon, sensor.alt))
            azimuth, elevation, range_m = float(aer[0]), float(aer[1]), float(aer[2])
            sigma_az = max(sensor.sigma.get("azimuth_deg", 1.0), _MIN_ANGLE_DEG / _GATE_SIGMAS)
            sigma_el = max(sensor.sigma.get("elevation_deg", 1.0), _MIN_ANGLE_DEG / _GATE_SIGMAS)
            sigma_r = max(sensor.sigma.get("range_m", 10.0), _MIN_RANGE_M / _GATE_SIGMAS)
            best: tuple[float, SeenObject] | None = None
            for seen in reversed(node.objects.values()):
                if track.t - seen.t > recent_s:
                    break
                d = seen.detection
                if d.azimuth_deg is None:
                    continue
                d_az = (d.azimuth_deg - azimuth + 180.0) % 360.0 - 180.0
                score = (d_az * math.cos(math.radians(elevation)) / sigma_az) ** 2
                if d.elevation_deg is not None:
                    score += ((d.elevation_deg - elevation) / sigma_el) ** 2
                if d.range_m is not None:
                    score += ((d.range_m - range_m) / sigma_r) ** 2
                if score <= _GATE_SIGMAS**2 and (best is None or score < best[0]):
                    best = (score, seen)
            if best is not None:
                out.append(build.Contributor(node.node_id, best[1].object_id, best[1].t))
        return out


class _RateLimited:
    """A log line at most once per 10 s per key."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __call__(self, key: str, level: int, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) >= _LOG_EVERY_S:
            self._last[key] = now
            log.log(level, text, *args)


class ErrorPolicy:
    """How both SAPIENT connections (the edge nodes' listener and the link to a parent) refuse a message:
    counted by reason in the stage's counters, logged (rate-limited there), and, unless the refused
    message is itself an Error, answered with an Error that carries the packet and the reasons."""

    node_id: str
    stage: str
    clock: Callable[[], float]

    def _reject(self, counters: StageCounters, replies: list[SapientMessage], where: str, packet: bytes,
                destination: str | None, reason: str, details: list[str], *, answer: bool = True) -> None:
        counters.bad(self.stage, where, f"{reason}: {'; '.join(details)}")
        if answer:
            replies.append(build.error(self.node_id, self.clock(), destination, packet,
                                       [f"{reason}: {d}" for d in details]))


@dataclass
class SapientListener(ErrorPolicy):
    """Pipeline source: accept SAPIENT edge nodes on ``host:port`` (port 0: any; ``bound`` tells).

    ``node_id`` is ours (empty: :func:`~dronewatch.formats.sapient.site_node_id` of the site);
    ``nodes`` may be shared with a :class:`~dronewatch.outputs.sapient.SapientParent`;
    ``undulation_m`` is the geoid undulation at the site, if known (for WGS84_G heights).
    """

    host: str = "127.0.0.1"
    port: int = 0
    node_id: str = ""
    nodes: SapientNodes = field(default_factory=SapientNodes)
    clock: Callable[[], float] = time.time
    undulation_m: float | None = None
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_connections: int = 64
    stage: str = "sapient"
    bound: asyncio.Future[tuple[str, int]] | None = None
    _connections: set[asyncio.StreamWriter] = field(default_factory=set, init=False, repr=False)
    _log: _RateLimited = field(default_factory=_RateLimited, init=False, repr=False)

    async def __call__(self, pipeline: Pipeline) -> None:
        self.node_id = self.node_id or site_node_id(pipeline.site_id)
        counters = pipeline.stage(self.stage)
        self.bound = self.bound or asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(pipeline, counters, reader, writer)

        server = await asyncio.start_server(serve, self.host, self.port)
        address = server.sockets[0].getsockname()
        if not self.bound.done():
            self.bound.set_result((str(address[0]), int(address[1])))
        log.info("sapient: fusion node %s listening on %s:%s", self.node_id, address[0], address[1])
        watchdog = asyncio.create_task(self._watch(counters))
        try:
            async with server:
                await server.serve_forever()
        finally:
            watchdog.cancel()
            for writer in list(self._connections):
                writer.close()

    async def _watch(self, counters: StageCounters) -> None:
        while True:
            await asyncio.sleep(1.0)
            for node in self.nodes.check_stale(self.clock()):
                counters.counts["stale"] += 1
                log.warning("sapient: node %s (%s) is stale: silent for %g status intervals", node.node_id,
                            node.profile.name, STALE_INTERVALS)

    async def _serve(self, pipeline: Pipeline, counters: StageCounters, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        peer_address = writer.get_extra_info("peername")
        peer = f"{peer_address[0]}:{peer_address[1]}" if peer_address else "?"
        if len(self._connections) >= self.max_connections:
            counters.bad(self.stage, peer, f"too many connections: over {self.max_connections}")
            writer.close()
            return
        self._connections.add(writer)
        counters.counts["connections"] += 1
        frames = FrameReader(self.max_message_bytes)
        try:
            while data := await reader.read(_READ_BYTES):
                counters.counts["bytes"] += len(data)
                replies: list[SapientMessage] = []
                records: list[Record] = []
                try:
                    payloads = frames.feed(data)
                    broken: FrameError | None = None
                except FrameError as error:
                    payloads, broken = error.frames, error
                for payload in payloads:
                    self._handle(payload, peer, counters, records, replies)
                if broken is not None:
                    self._reject(counters, replies, peer, broken.dropped, None, "bad frame",
                                 [f"{broken.reason} at byte {broken.offset}; the bytes held were dropped"])
                for reply in replies:
                    writer.write(frame(encode(reply)))
                if replies:
                    await writer.drain()
                counters.counts["records"] += len(records)
                await pipeline.admit(records, _ORIGIN, counters, peer)
        except (ConnectionError, OSError) as error:
            log.info("sapient: connection %s closed: %s", peer, error)
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    # ----------------------------------------------------------------- messages
    def _handle(self, payload: bytes, peer: str, counters: StageCounters, records: list[Record],
                replies: list[SapientMessage]) -> None:
        counters.counts["messages"] += 1
        try:
            message = decode(payload)
        except DecodeError as error:
            self._reject(counters, replies, peer, payload, None, "bad protobuf", [error.reason])
            return
        kind = kind_of(message) or "none"
        counters.counts[f"received_{kind}"] += 1
        sender = message.node_id if is_uuid4(message.node_id) else None
        where = f"{peer} node {message.node_id or '?'}"
        problems = validate(message)
        if problems:
            self._reject(counters, replies, where, payload, sender, "invalid message", problems,
                         answer=kind != "error")
            if kind == "registration" and sender:
                replies.append(build.registration_ack(self.node_id, self.clock(), sender, False, problems))
            return
        assert sender is not None  # the validator checked node_id
        now = self.clock()
        skew = seconds_of(message.timestamp) - now
        if abs(skew) > CLOCK_SKEW_S:
            counters.counts["clock_skew"] += 1
            self._log("skew " + sender, logging.WARNING, "sapient: node %s's clock is %+.1f s off ours "
                      "(accepted; peers such as Apex reject more than 0.9 s)", sender, skew)
        handler = {"registration": self._registration, "status_report": self._status,
                   "detection_report": self._detection, "task": self._task, "alert": self._alert}.get(kind)
        if handler is not None:
            handler(message, payload, where, counters, records, replies)
            return
        node = self.nodes.get(sender)
        if node is not None:
            node.last_heard_s = now
        if kind == "task_ack":
            status = TaskAck.TaskStatus.Name(message.task_ack.task_status)
            counters.counts[f"task_ack_{status.removeprefix('TASK_STATUS_').lower()}"] += 1
            log.info("sapient: node %s: TaskAck %s for task %s %s", sender, status, message.task_ack.task_id,
                     list(message.task_ack.reason))
        elif kind == "alert_ack":
            status = AlertAck.AlertAckStatus.Name(message.alert_ack.alert_ack_status)
            counters.counts[f"alert_ack_{status.removeprefix('ALERT_ACK_STATUS_').lower()}"] += 1
        elif kind == "error":
            counters.counts["errors_received"] += 1
            self._log("error " + sender, logging.WARNING, "sapient: node %s sent an Error: %s", sender,
                      "; ".join(message.error.error_message))
        else:  # a RegistrationAck: not for a fusion node to receive from an edge node
            counters.counts["unexpected"] += 1

    def _registration(self, message: SapientMessage, payload: bytes, where: str, counters: StageCounters,
                      records: list[Record], replies: list[SapientMessage]) -> None:
        sender = message.node_id
        version = message.registration.icd_version
        if version.replace("_", " ") not in ICD_VERSIONS:
            reason = f"unsupported icd_version {version!r}: dronewatch speaks {ICD_VERSION}"
            counters.bad(self.stage, where, f"registration refused: {reason}")
            replies.append(build.registration_ack(self.node_id, self.clock(), sender, False, [reason]))
            return
        try:
            profile = convert.profile_of(message)
        except FormatError as error:
            counters.bad(self.stage, where, f"registration refused: {error.reason}")
            replies.append(build.registration_ack(self.node_id, self.clock(), sender, False, [error.reason]))
            return
        node = self.nodes.register(profile, self.clock())
        counters.counts["registered"] += 1
        replies.append(build.registration_ack(self.node_id, self.clock(), sender, True,
                                              [f"registered as {profile.kind} sensor {profile.sensor_id}"]))
        log.info("sapient: node %s (%s, %s) registered as %s", sender, profile.name, ", ".join(profile.node_types),
                 profile.kind)
        if node.point is not None:
            try:
                self._place(node, counters, records)
            except FormatError as error:
                counters.bad(self.stage, where, f"unusable location: {error.reason}")

    def _place(self, node: Node, counters: StageCounters, records: list[Record]) -> None:
        """(Re)place the node's sensor and publish it when it changed; FormatError if it cannot be placed."""
        assert node.point is not None
        sensor = convert.place(node.profile, node.point, undulation_m=self.undulation_m, coverage=node.coverage)
        if node.point.geoid and self.undulation_m is None and not node.geoid_noted:
            node.geoid_noted = True
            counters.counts["geoid_heights"] += 1
            log.warning("sapient: node %s reports heights above the geoid and the site's geoid undulation is not "
                        "configured: its sensor is placed at its geoid height as if above the ellipsoid",
                        node.node_id)
        if sensor != node.sensor:
            node.sensor = sensor
            records.append(sensor)
            counters.counts["sensors_placed"] += 1

    def _status(self, message: SapientMessage, payload: bytes, where: str, counters: StageCounters,
                records: list[Record], replies: list[SapientMessage]) -> None:
        node = self._known(message, payload, where, counters, replies)
        if node is None:
            return
        status = message.status_report
        if node.stale:
            node.stale = False
            counters.counts["recovered"] += 1
        system = StatusReport.System.Name(status.system)
        node.system, node.mode = system, status.mode
        if system == "SYSTEM_GOODBYE":
            node.left = True
            counters.counts["goodbye"] += 1
            log.info("sapient: node %s (%s) said goodbye", node.node_id, node.profile.name)
            return
        node.left = False
        if status.info == StatusReport.INFO_NEW:
            node.status_new_seen = True
        elif not node.status_new_seen:
            counters.counts["unchanged_before_new"] += 1  # Apex refuses this; a heartbeat is still a heartbeat
        heading = convert.heading_of(status)
        if heading is not None:
            node.heading_deg = heading
        try:
            point = convert.node_point(status, node.profile)
        except FormatError as error:
            self._reject(counters, replies, where, payload, node.node_id, "unusable location", [error.reason])
            return
        if point is None:
            return
        node.point, node.coverage = point, convert.field_of_view(status) or node.coverage
        try:
            self._place(node, counters, records)
        except FormatError as error:
            node.point = None
            self._reject(counters, replies, where, payload, node.node_id, "unusable location", [error.reason])

    def _known(self, message: SapientMessage, payload: bytes, where: str, counters: StageCounters,
               replies: list[SapientMessage]) -> Node | None:
        node = self.nodes.get(message.node_id)
        if node is None:
            self._reject(counters, replies, where, payload, message.node_id, "unregistered node",
                         [f"node {message.node_id} has not registered: send a Registration first"])
            return None
        node.last_heard_s = self.clock()
        return node

    def _detection(self, message: SapientMessage, payload: bytes, where: str, counters: StageCounters,
                   records: list[Record], replies: list[SapientMessage]) -> None:
        node = self._known(message, payload, where, counters, replies)
        if node is None:
            return
        if node.sensor is None or node.point is None:
            self._reject(counters, replies, where, payload, node.node_id, "unplaced node",
                         [f"node {node.node_id} has no usable location yet: send a StatusReport with node_location"])
            return
        if convert.carries_range(message) and node.profile.kind != "radar":
            node.profile = convert.three_d(node.profile)
            counters.counts["made_3d"] += 1
            self._place(node, counters, records)  # the same place as before, so it cannot fail now
        try:
            detection = convert.detection_of(message, node.sensor, node.point, zone=node.profile.detection_zone,
                                             heading_deg=node.heading_deg, undulation_m=self.undulation_m)
        except FormatError as error:
            self._reject(counters, replies, where, payload, node.node_id, "unusable location", [error.reason])
            return
        self.nodes.observe(node, message.detection_report.object_id, detection)
        records.append(detection)
        counters.counts["detections"] += 1

    def _task(self, message: SapientMessage, payload: bytes, where: str, counters: StageCounters,
              records: list[Record], replies: list[SapientMessage]) -> None:
        counters.counts["tasks_refused"] += 1
        replies.append(build.task_ack(self.node_id, self.clock(), message.node_id, message.task.task_id, "REJECTED",
                                      ["dronewatch's fusion node takes no tasks from its edge nodes"]))

    def _alert(self, message: SapientMessage, payload: bytes, where: str, counters: StageCounters,
               records: list[Record], replies: list[SapientMessage]) -> None:
        node = self._known(message, payload, where, counters, replies)
        if node is None:
            return
        alert = message.alert
        counters.counts["alerts_received"] += 1
        log.info("sapient: node %s alert %s: %s", node.node_id, alert.alert_id, alert.description)
        replies.append(build.alert_ack(self.node_id, self.clock(), node.node_id, alert.alert_id, "ACCEPTED"))
