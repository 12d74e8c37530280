"""End to end on 127.0.0.1: a real Pipeline with SapientListener and SapientParent; `dronewatch sapient-sensor`
(a subprocess) replaying the border station and a raw-socket edge node written here register and stream
detections; the fused tracks come out upward as DetectionReports to a server standing in for the higher node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from google.protobuf import json_format
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dronewatch.cli import main
from dronewatch.cli.sapient_sensor import node_id_of
from dronewatch.formats.sapient import FrameReader, build, decode, encode, frame, kind_of, seconds_of, validate
from dronewatch.formats.sapient.messages import stable_uuid, ulid
from dronewatch.geo import LocalFrame
from dronewatch.ingest.sapient import SapientListener, SapientNodes
from dronewatch.outputs.sapient import SapientParent
from dronewatch.service.pipeline import Pipeline

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "interop" / "sapient" / "samples"
SITE = LocalFrame(31.7775, -106.5290, 1130.0)
RAW_NODE = stable_uuid("test raw-socket edge node")
HOVER_ENU = (-700.0, 900.0, 150.0)  # the raw node's target: well away from the scenario's traffic


class Higher:
    def __init__(self) -> None:
        self.received: list[SapientMessage] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                self.received += [decode(p) for p in frames.feed(data)]


class RawNode:
    """A SAPIENT edge node written with nothing but a socket, our framing and the protobuf classes: a radar
    reporting absolute locations (LAT_LNG_DEG_M) of one hovering object."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.errors: list[SapientMessage] = []
        self.acks: list[SapientMessage] = []
        self.sent_after_bad = 0

    async def run(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        frames = FrameReader()
        inbox: asyncio.Queue[SapientMessage] = asyncio.Queue()

        async def listen() -> None:
            while data := await reader.read(1 << 16):
                for payload in frames.feed(data):
                    message = decode(payload)
                    (self.errors if kind_of(message) == "error" else self.acks).append(message)
                    inbox.put_nowait(message)

        listening = asyncio.create_task(listen())
        registration = json_format.Parse((SAMPLES / "registration_radar.json").read_text(), SapientMessage())
        registration.node_id = RAW_NODE
        registration.timestamp.FromNanoseconds(time.time_ns())
        node_lat, node_lon, node_alt = (float(v) for v in SITE.to_geodetic([300.0, -200.0, 8.0]))

        async def send(message: SapientMessage | bytes) -> None:
            writer.write(frame(message if isinstance(message, bytes) else encode(message)))
            await writer.drain()

        await send(registration)
        ack = await asyncio.wait_for(inbox.get(), 10)
        assert kind_of(ack) == "registration_ack" and ack.registration_ack.acceptance
        await send(build.status_report(RAW_NODE, time.time(), ulid(), location=(node_lat, node_lon, node_alt)))
        rng = random.Random(3)
        object_id = ulid()
        k = 0
        while not stop.is_set():
            east, north, up = (c + rng.gauss(0.0, 3.0) for c in HOVER_ENU)
            lat, lon, alt = (float(v) for v in SITE.to_geodetic([east, north, up]))
            message = build.envelope(RAW_NODE, time.time())
            message.detection_report.report_id = ulid()
            message.detection_report.object_id = object_id  # TRACKLET: one object id while it is held
            message.detection_report.location.CopyFrom(build.latlng(lat, lon, alt, 3.0))
            await send(message)
            k += 1
            if k == 4:  # the invalid sample and a garbage frame, then carry on
                await send((SAMPLES / "INVALID_detection_report_missing_object_id.bin").read_bytes()[4:])
                await send(b"\x0a\xff\xff garbage, not protobuf")
            elif k > 4:
                self.sent_after_bad += 1
            await asyncio.sleep(0.5)
        listening.cancel()
        writer.close()


def _truth(path: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    out: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "truth":
            out[record["id"]].append((record["t"], record["lat"], record["lon"], record["alt"]))
    return out


def _distance_m(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    ea, eb = SITE.from_geodetic(*a), SITE.from_geodetic(*b)
    return float(math.dist(ea.tolist(), eb.tolist()))


@pytest.mark.slow
def test_edge_nodes_register_stream_and_the_fused_track_comes_out_upward(tmp_path: Path) -> None:
    scenario = tmp_path / "s.jsonl"
    assert main(["sim", "--scenario", "border-station", "--seed", "7", "--duration", "60", "-o", str(scenario)]) == 0
    truth = _truth(scenario)["hobby-1"]
    radar_node = node_id_of("radar-1")

    async def run() -> None:
        higher = Higher()
        server = await asyncio.start_server(higher.serve, "127.0.0.1", 0)
        nodes = SapientNodes()
        listener = SapientListener(nodes=nodes)
        parent = SapientParent("127.0.0.1", int(server.sockets[0].getsockname()[1]), nodes=nodes,
                               status_interval_s=1.0)
        pipeline = Pipeline("border", None)
        pipeline.add_source("sapient", listener)
        pipeline.add_output("sapient-parent", parent)
        running = asyncio.create_task(pipeline.run())
        while listener.bound is None:
            await asyncio.sleep(0.01)
        host, port = await listener.bound
        sensor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dronewatch.cli", "sapient-sensor", "--scenario", str(scenario),
            "--connect", f"{host}:{port}", "--speed", "1", stderr=asyncio.subprocess.PIPE)
        raw = RawNode(host, port)
        stop = asyncio.Event()
        raw_task = asyncio.create_task(raw.run(stop))
        assert sensor.stderr is not None
        offset: list[float] = []

        async def read_stderr() -> None:
            assert sensor.stderr is not None
            while line := await sensor.stderr.readline():
                found = re.search(r"replaying from file time ([\d.]+) at wall time ([\d.]+)", line.decode())
                if found:
                    offset.append(float(found.group(2)) - float(found.group(1)))

        reading = asyncio.create_task(read_stderr())

        def tracks_of(node_id: str) -> dict[str, list[SapientMessage]]:
            out: dict[str, list[SapientMessage]] = defaultdict(list)
            for message in higher.received:
                if kind_of(message) == "detection_report" and not message.detection_report.state and any(
                        a.node_id == node_id for a in message.detection_report.associated_detection):
                    out[message.detection_report.object_id].append(message)
            return out

        def near_hobby(message: SapientMessage) -> float:
            t_file = seconds_of(message.timestamp) - offset[0]
            location = message.detection_report.location
            return min(_distance_m((location.y, location.x, location.z), (lat, lon, alt))
                       for t, lat, lon, alt in truth if abs(t - t_file) <= 1.5)

        def done() -> bool:
            if not offset or raw.sent_after_bad < 6:
                return False
            hovering = [r for reports in tracks_of(RAW_NODE).values() for r in reports]
            hobby = [reports for reports in tracks_of(radar_node).values() if len(reports) >= 5]
            return bool(hovering) and any(all(near_hobby(r) < 60.0 for r in reports[-5:]) for reports in hobby)

        deadline = time.monotonic() + 120.0
        while not done():
            assert time.monotonic() < deadline, (pipeline.stats(), len(higher.received))
            await asyncio.sleep(0.5)
        stop.set()
        await raw_task
        sensor.terminate()
        await sensor.wait()
        reading.cancel()
        pipeline.stop()
        await running
        server.close()

        # the fused track of the hobby drone: stable object id, new report ids, near the truth, named sources
        (hobby,) = [reports for reports in tracks_of(radar_node).values()
                    if len(reports) >= 5 and all(near_hobby(r) < 60.0 for r in reports[-5:])][:1]
        assert len({r.detection_report.report_id for r in hobby}) == len(hobby)
        assert len({r.detection_report.object_id for r in hobby}) == 1
        associated = {a.node_id for r in hobby for a in r.detection_report.associated_detection}
        assert radar_node in associated and associated <= set(nodes.dependent_nodes())
        # the raw node's hovering object
        hovering = [r for reports in tracks_of(RAW_NODE).values() for r in reports]
        target = tuple(float(v) for v in SITE.to_geodetic(list(HOVER_ENU)))
        location = hovering[-1].detection_report.location
        assert _distance_m((location.y, location.x, location.z), target) < 30.0  # type: ignore[arg-type]
        # everything we sent upward is valid; one timestamp per picture, never going back
        reports = [m for m in higher.received if kind_of(m) == "detection_report"]
        assert all(validate(m) == [] for m in higher.received)
        stamps = [seconds_of(m.timestamp) for m in reports]
        assert stamps == sorted(stamps)
        registrations = [m.registration for m in higher.received if kind_of(m) == "registration"]
        expected_nodes = {node_id_of(s) for s in ("radar-1", "rf-west", "rf-east", "camera-1", "acoustic-1")}
        assert expected_nodes | {RAW_NODE} <= set(registrations[-1].dependent_nodes)
        # the invalid sample and the garbage frame: an Error each, counted; the valid messages after them worked
        assert [e.error.error_message[0].split(":")[0] for e in raw.errors] == ["invalid message", "bad protobuf"]
        assert "object_id" in raw.errors[0].error.error_message[0]
        stats = pipeline.stats()["sapient"]
        assert stats["bad_input"] == {"invalid message": 1, "bad protobuf": 1}
        assert stats["registered"] == 6 and stats["sensors_placed"] == 6
        assert stats["detections"] > 100
        assert pipeline.stats()["tracker"]["bad_input"] == {}

    asyncio.run(asyncio.wait_for(run(), 180))


def test_sapient_sensor_summary_and_exit_status(tmp_path: Path) -> None:
    scenario = tmp_path / "s.jsonl"
    assert main(["sim", "--scenario", "border-station", "--seed", "3", "--duration", "4", "-o", str(scenario)]) == 0

    async def run() -> tuple[int, str, dict[str, object]]:
        listener = SapientListener()
        pipeline = Pipeline("border", None)
        pipeline.add_source("sapient", listener)
        running = asyncio.create_task(pipeline.run())
        while listener.bound is None:
            await asyncio.sleep(0.01)
        host, port = await listener.bound
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dronewatch.cli", "sapient-sensor", "--scenario", str(scenario),
            "--connect", f"{host}:{port}", "--speed", "0", stderr=asyncio.subprocess.PIPE)
        _, stderr = await process.communicate()
        await asyncio.sleep(0.2)
        pipeline.stop()
        await running
        assert process.returncode is not None
        return process.returncode, stderr.decode(), pipeline.stats()["sapient"]

    status, stderr, stats = asyncio.run(asyncio.wait_for(run(), 120))
    detections = sum(1 for line in scenario.read_text().splitlines()
                     if '"type":"detection"' in line and '"sensor":"rid-1"' not in line and '"adsb-1"' not in line)
    assert status == 0, stderr
    assert "skipping rid-1: a remoteid receiver is not a SAPIENT sensor" in stderr
    assert f"sent 5 registrations, 10 status reports, {detections} detection reports" in stderr  # NEW + GOODBYE
    assert "acks: 5/5 registrations accepted; errors received: 0" in stderr
    assert (stats["detections"], stats["goodbye"], stats["bad_input"]) == (detections, 5, {})


def test_sapient_sensor_needs_something_to_connect_to(tmp_path: Path, free_port: object,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.jsonl"
    assert main(["sim", "--scenario", "border-station", "--duration", "2", "-o", str(scenario)]) == 0
    assert main(["sapient-sensor", "--scenario", str(scenario), "--connect", "nowhere"]) == 2
    assert "--connect: expected HOST:PORT, got 'nowhere'" in capsys.readouterr().err
    port = free_port()  # type: ignore[operator]
    assert main(["sapient-sensor", "--scenario", str(scenario), "--connect", f"127.0.0.1:{port}"]) == 2
    assert "Connect call failed" in capsys.readouterr().err
