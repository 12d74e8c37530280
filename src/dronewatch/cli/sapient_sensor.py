"""``dronewatch sapient-sensor --scenario FILE.jsonl --connect HOST:PORT``: a scenario's sensors as
SAPIENT edge nodes, for tests and demos.

One connection per sensor of the file (radar, camera, acoustic, rf; Remote ID and ADS-B
receivers are skipped: they are not SAPIENT sensors), node ids stable (from the sensor ids).
Each node registers, waits for its RegistrationAck, reports where it stands (StatusReport
NEW with ``node_location``, then heartbeats), and sends its detections as range-bearing
DetectionReports (DEGREES_M, true north) paced at the file's times x ``--speed``, stamped at
send time (one stamp per scan: equal timestamps, as Apex wants them). At the end each says
goodbye; the summary (sent, acks, errors received) goes to stderr. Exit status 0 when every
node was accepted and no Error came back, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import read_scenario
from dronewatch.clock import Pacer
from dronewatch.config import host_port
from dronewatch.errors import ConfigError, DecodeError
from dronewatch.formats.sapient import build
from dronewatch.formats.sapient.framing import FrameError, FrameReader, frame
from dronewatch.formats.sapient.messages import decode, encode, kind_of, stable_uuid, ulid
from dronewatch.model import Detection, Sensor

KINDS = tuple(build.NODE_TYPES)
_PROGRESS_EVERY_S = 5.0


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "sapient-sensor", help=COMMANDS["sapient-sensor"][1],
        description="Each radar, camera, acoustic and RF sensor of the file connects as a SAPIENT (BSI Flex 335 "
                    "v2.0) edge node, registers and streams its detections, stamped at send time.")
    parser.add_argument("--scenario", required=True, metavar="FILE.jsonl", help="scenario JSON Lines (dronewatch sim)")
    parser.add_argument("--connect", required=True, metavar="HOST:PORT", help="the fusion node to connect to")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="pace: 1 real time (default), 2 twice as fast, 0 as fast as possible")
    parser.add_argument("--status-interval", type=float, default=5.0, metavar="S", help="heartbeat period (5 s)")
    parser.add_argument("--ack-timeout", type=float, default=10.0, metavar="S",
                        help="how long to wait for each RegistrationAck (10 s)")
    parser.set_defaults(run=run)


def node_id_of(sensor_id: str) -> str:
    """The stable SAPIENT node id of a scenario sensor."""
    return stable_uuid(f"dronewatch sapient-sensor {sensor_id}")


@dataclass
class _Node:
    sensor: Sensor
    node_id: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ack: asyncio.Future[tuple[bool, list[str]]]
    received: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    accepted: bool = False


class Replay:
    """The edge nodes of one scenario file, connected to one fusion node."""

    def __init__(self, host: str, port: int, *, speed: float = 1.0, status_interval_s: float = 5.0,
                 ack_timeout_s: float = 10.0, clock: Callable[[], float] = time.time,
                 say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)) -> None:
        self.host, self.port = host, port
        self.speed, self.status_interval_s, self.ack_timeout_s = speed, status_interval_s, ack_timeout_s
        self.clock, self.say = clock, say
        self.nodes: dict[str, _Node] = {}
        self.skipped: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[None]] = []

    def _send(self, node: _Node, message: SapientMessage) -> None:
        node.writer.write(frame(encode(message)))
        node.sent[kind_of(message) or "none"] += 1

    async def _listen(self, node: _Node) -> None:
        frames = FrameReader()
        while data := await node.reader.read(1 << 16):
            try:
                payloads = frames.feed(data)
            except FrameError as error:
                payloads = error.frames
                node.errors.append(f"bad frame from the fusion node: {error}")
            for payload in payloads:
                try:
                    message = decode(payload)
                except DecodeError as error:
                    node.errors.append(f"undecodable message from the fusion node: {error}")
                    continue
                kind = kind_of(message) or "none"
                node.received[kind] += 1
                if kind == "registration_ack" and not node.ack.done():
                    ack = message.registration_ack
                    node.ack.set_result((ack.acceptance, list(ack.ack_response_reason)))
                elif kind == "error":
                    node.errors.append("; ".join(message.error.error_message))
                    if len(node.errors) <= 5:
                        self.say(f"sapient-sensor: {node.sensor.id}: Error from the fusion node: {node.errors[-1]}")
                elif kind == "task":
                    self._send(node, build.task_ack(node.node_id, self.clock(), message.node_id,
                                                    message.task.task_id, "REJECTED",
                                                    ["a replayed scenario sensor takes no tasks"]))

    async def _heartbeat(self, node: _Node) -> None:
        while True:
            await asyncio.sleep(self.status_interval_s)
            self._send(node, build.sensor_status(node.node_id, self.clock(), ulid(self.clock), node.sensor,
                                                 info="UNCHANGED"))
            await node.writer.drain()

    async def connect(self, sensors: list[Sensor]) -> None:
        """Connect and register every sensor; those refused are reported and left out."""
        for sensor in sensors:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            node = _Node(sensor, node_id_of(sensor.id), reader, writer, asyncio.get_running_loop().create_future())
            self.nodes[sensor.id] = node
            self._tasks.append(asyncio.create_task(self._listen(node)))
            self._send(node, build.sensor_registration(node.node_id, self.clock(), sensor,
                                                       status_interval_s=self.status_interval_s))
            await writer.drain()
        for node in self.nodes.values():
            try:
                accepted, reasons = await asyncio.wait_for(asyncio.shield(node.ack), self.ack_timeout_s)
            except TimeoutError:
                accepted, reasons = False, [f"no RegistrationAck within {self.ack_timeout_s:g} s"]
            node.accepted = accepted
            if not accepted:
                self.say(f"sapient-sensor: {node.sensor.id} was not registered: {'; '.join(reasons)}")
                continue
            self._send(node, build.sensor_status(node.node_id, self.clock(), ulid(self.clock), node.sensor))
            await node.writer.drain()
            self._tasks.append(asyncio.create_task(self._heartbeat(node)))

    async def run(self, path: str) -> int:
        reader = read_scenario(path, progress=False)
        records = iter(reader)
        sensors: list[Sensor] = []
        first: Detection | None = None
        for record in records:
            if isinstance(record, Sensor):
                if record.kind in KINDS:
                    sensors.append(record)
                else:
                    self.say(f"sapient-sensor: skipping {record.id}: a {record.kind} receiver is not a SAPIENT sensor")
            elif isinstance(record, Detection):
                first = record
                break
        if not sensors:
            raise ConfigError(f"{path}: no radar, camera, acoustic or rf sensor to replay")
        try:
            await self.connect(sensors)
            if first is not None:
                await self._replay(itertools.chain([first], records))
            for node in self.nodes.values():
                if node.accepted:
                    self._send(node, build.sensor_status(node.node_id, self.clock(), ulid(self.clock), node.sensor,
                                                         info="NEW", system="GOODBYE"))
                    await node.writer.drain()
            await asyncio.sleep(0.5)  # the fusion node's last replies (Errors) arrive
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for node in self.nodes.values():
                node.writer.close()
        return self.summary()

    async def _replay(self, records: Any) -> None:
        pacer = Pacer(self.speed)
        start_t: float | None = None
        sent = 0
        last_progress = time.monotonic()
        group: list[Detection] = []

        async def flush() -> None:
            nonlocal sent
            if not group:
                return
            node = self.nodes.get(group[0].sensor)
            if node is None or not node.accepted:
                self.skipped[group[0].sensor] += len(group)
            else:
                stamp = self.clock()  # one timestamp for one scan
                for detection in group:
                    self._send(node, build.sensor_detection(node.node_id, stamp, detection, node.sensor,
                                                            report_id=ulid(self.clock), object_id=ulid(self.clock)))
                await node.writer.drain()
                sent += len(group)
            group.clear()

        for record in records:
            if not isinstance(record, Detection):
                continue
            if group and (record.t != group[0].t or record.sensor != group[0].sensor):
                await flush()
            if start_t is None:
                start_t = record.t
                self.say(f"sapient-sensor: replaying from file time {start_t:.3f} at wall time {self.clock():.3f}, "
                         f"speed {self.speed:g}")
            if (wait := pacer.delay_s(record.t)) > 0:
                await flush()
                await asyncio.sleep(wait)
            group.append(record)
            if time.monotonic() - last_progress >= _PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                self.say(f"sapient-sensor: {sent} detections sent, file time +{record.t - start_t:.0f} s")
        await flush()

    def summary(self) -> int:
        sent: Counter[str] = Counter()
        received: Counter[str] = Counter()
        errors = 0
        for node in self.nodes.values():
            sent.update(node.sent)
            received.update(node.received)
            errors += len(node.errors)
        accepted = sum(node.accepted for node in self.nodes.values())
        self.say(f"sapient-sensor: sent {sent['registration']} registrations, {sent['status_report']} status reports, "
                 f"{sent['detection_report']} detection reports"
                 + (f" ({sum(self.skipped.values())} detections of unregistered sensors skipped)"
                    if self.skipped else ""))
        self.say(f"sapient-sensor: acks: {accepted}/{len(self.nodes)} registrations accepted; "
                 f"errors received: {errors}")
        return 0 if accepted == len(self.nodes) and errors == 0 else 1


def run(args: argparse.Namespace) -> int:
    host, port = host_port(args.connect, "--connect")
    if args.speed < 0 or args.status_interval <= 0:
        raise ConfigError("--speed must not be negative and --status-interval must be positive")
    replay = Replay(host, port, speed=args.speed, status_interval_s=args.status_interval,
                    ack_timeout_s=args.ack_timeout)
    try:
        return asyncio.run(replay.run(args.scenario))
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            replay.summary()
        return 130
