"""The SAPIENT listener over real TCP on 127.0.0.1: Dstl's harness samples as an edge node, our own
edge-node messages, and everything malformed answered with an Error while the connection goes on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from google.protobuf import json_format
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dronewatch.formats.sapient import (
    FrameReader,
    build,
    convert,
    decode,
    encode,
    frame,
    kind_of,
    stable_ulid,
    stable_uuid,
)
from dronewatch.geo import aer2enu, enu2geodetic
from dronewatch.ingest.sapient import SapientListener, SapientNodes
from dronewatch.model import Detection, Sensor, TrackReport
from dronewatch.service.pipeline import Pipeline

DATA = Path(__file__).resolve().parents[2] / "data" / "interop" / "sapient"
ASM = DATA / "dstl-test-harness-samples" / "asm"
DMM = DATA / "dstl-test-harness-samples" / "dmm"
DSTL_NODE = "a8654cdf-4328-47de-81fa-c495589e30c9"
RADAR = Sensor(id="radar-9", kind="radar", lat=31.7775, lon=-106.529, alt=1140.0,
               sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5}, period_s=1.0)


def parse(path: Path) -> SapientMessage:
    return json_format.Parse(path.read_text(), SapientMessage())


class Client:
    """A raw-socket SAPIENT peer: frames out, frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.frames = FrameReader()
        self.inbox: list[SapientMessage] = []

    async def send(self, message: SapientMessage | bytes, *, raw: bool = False) -> None:
        data = message if isinstance(message, bytes) else encode(message)
        self.writer.write(data if raw else frame(data))
        await self.writer.drain()

    async def expect(self, kind: str, timeout_s: float = 5.0) -> SapientMessage:
        deadline = time.monotonic() + timeout_s
        while True:
            for k, message in enumerate(self.inbox):
                if kind_of(message) == kind:
                    return self.inbox.pop(k)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} within {timeout_s} s; got {[kind_of(m) for m in self.inbox]}")
            data = await asyncio.wait_for(self.reader.read(1 << 16), left)
            if not data:
                raise AssertionError("connection closed")
            self.inbox += [decode(p) for p in self.frames.feed(data)]


@contextlib.asynccontextmanager
async def running(listener: SapientListener, site: str = "t") -> AsyncIterator[tuple[Pipeline, Client]]:
    pipeline = Pipeline(site, None)
    pipeline.add_source("sapient", listener)
    task = asyncio.create_task(pipeline.run())
    try:
        host, port = await asyncio.wait_for(asyncio.shield(_bound(listener)), 10)
        reader, writer = await asyncio.open_connection(host, port)
        yield pipeline, Client(reader, writer)
        writer.close()
    finally:
        pipeline.stop()
        await task


async def _bound(listener: SapientListener) -> tuple[str, int]:
    while listener.bound is None:
        await asyncio.sleep(0.01)
    return await listener.bound


def run(coroutine: Callable[[], object]) -> None:
    asyncio.run(asyncio.wait_for(coroutine(), 60))  # type: ignore[arg-type]


def counts(pipeline: Pipeline) -> dict[str, object]:
    return pipeline.stats()["sapient"]


def test_dstl_harness_samples_as_an_edge_node() -> None:
    async def scenario() -> None:
        listener = SapientListener()
        async with running(listener) as (pipeline, client):
            await client.send(parse(ASM / "Default.Registration.json"))
            ack = await client.expect("registration_ack")
            assert ack.registration_ack.acceptance, ack.registration_ack.ack_response_reason
            assert ack.destination_id == DSTL_NODE and ack.node_id == listener.node_id
            # a camera that declares UTM locations for its detections: a 3-D sensor
            assert list(ack.registration_ack.ack_response_reason) == [
                f"registered as radar sensor sapient-{DSTL_NODE}"]

            # the sample status puts 51.17 (a latitude) in x with UTM_M zone 30U: refused, the status kept
            status = parse(ASM / "Default.StatusReport.json")
            await client.send(status)
            error = (await client.expect("error")).error
            assert error.packet == status.SerializeToString()
            assert error.error_message[0].startswith("unusable location: status_report.node_location: easting "
                                                     "x=51.1739726374 m is outside UTM zone 30")
            node = listener.nodes.get(DSTL_NODE)
            assert node is not None and node.system == "SYSTEM_OK" and node.sensor is None

            detection = parse(ASM / "Default.DetectionReport.json")
            await client.send(detection)
            assert (await client.expect("error")).error.error_message[0].startswith("unplaced node: node a8654cdf")

            await client.send(parse(ASM / "Default.Alert.json"))
            alert_ack = (await client.expect("alert_ack")).alert_ack
            assert (alert_ack.alert_id, alert_ack.alert_ack_status) == ("01H4R63D7NVN8444Z5M77WEBY7", 1)

            task_acks = sorted(ASM.glob("Default.TaskAck.*.json"))
            for path in task_acks:
                await client.send(parse(path))

            # placed by a status of our own (where the sample means: Salisbury Plain), the sample
            # detection's own location fails the same way, and says why
            await client.send(build.status_report(DSTL_NODE, time.time(), stable_ulid("s"),
                                                  location=(51.1739726374, -1.82237671048, 788.0)))
            await client.send(detection)
            error = (await client.expect("error")).error
            assert error.error_message == [
                "unusable location: detection_report.location: easting x=51.1739726374 m is outside UTM zone 30 "
                "(100000-900000 m); x and y look like degrees (longitude and latitude, or the other way round), "
                "not UTM metres"]
            await asyncio.sleep(0.2)
            stats = counts(pipeline)
            assert stats["received_registration"] == 1 and stats["received_status_report"] == 2
            assert stats["received_detection_report"] == 2 and stats["received_alert"] == 1
            assert stats["received_task_ack"] == len(task_acks) == 15
            assert stats["task_ack_accepted"] == 13 and stats["task_ack_rejected"] == 2  # Unknown, NotSupported
            assert stats["clock_skew"] == 1 + 1 + 2 + 1 + 15  # the samples carry 2022/2023 timestamps
            assert stats["bad_input"] == {"unusable location": 2, "unplaced node": 1}
            assert stats["sensors_placed"] == 1 and "restarts" not in stats
            assert client.inbox == []
    run(scenario)


def test_dstl_decision_node_samples_do_not_crash_the_listener() -> None:
    async def scenario() -> None:
        listener = SapientListener()
        async with running(listener) as (pipeline, client):
            await client.send(parse(ASM / "Default.Registration.json"))
            await client.expect("registration_ack")
            samples = sorted(DMM.glob("*.json"))
            for path in samples:
                await client.send(parse(path))
            tasks = [p for p in samples if ".Task." in p.name]
            for _ in tasks:
                ack = (await client.expect("task_ack")).task_ack
                assert ack.task_status == 2 and "takes no tasks" in ack.reason[0]  # REJECTED
            await client.expect("alert_ack")
            await asyncio.sleep(0.2)
            stats = counts(pipeline)
            assert stats["received_task"] == len(tasks) == 19 and stats["tasks_refused"] == 19
            assert stats["unexpected"] == 1 and stats["alert_ack_accepted"] == 1  # RegistrationAck, AlertAck
            assert stats["bad_input"] == {"unusable location": 1, "unplaced node": 1}
            # still serving
            await client.send(build.sensor_registration(stable_uuid("x"), time.time(), RADAR))
            assert (await client.expect("registration_ack")).registration_ack.acceptance
    run(scenario)


async def _register(client: Client, node_id: str, sensor: Sensor = RADAR) -> None:
    await client.send(build.sensor_registration(node_id, time.time(), sensor))
    assert (await client.expect("registration_ack")).registration_ack.acceptance
    await client.send(build.sensor_status(node_id, time.time(), stable_ulid(node_id), sensor))


def _detection(node_id: str, azimuth: float = 45.0, elevation: float | None = 3.0, range_m: float | None = 800.0,
               t: float | None = None) -> SapientMessage:
    detection = Detection(t=0.0, sensor=RADAR.id, azimuth_deg=azimuth, elevation_deg=elevation, range_m=range_m)
    return build.sensor_detection(node_id, time.time() if t is None else t, detection, RADAR,
                                  report_id=stable_ulid(f"r{azimuth}"), object_id=stable_ulid(f"o{azimuth}"))


def test_invalid_and_garbage_get_errors_and_the_valid_messages_after_them_still_work() -> None:
    async def scenario() -> None:
        listener = SapientListener()
        async with running(listener) as (pipeline, client):
            ingest = pipeline.bus.subscribe("dw.t.ingest")
            node = stable_uuid("radar-9")
            await _register(client, node)
            invalid = (DATA / "samples" / "INVALID_detection_report_missing_object_id.bin").read_bytes()
            await client.send(invalid, raw=True)
            error = await client.expect("error")
            assert error.error.packet == invalid[4:]
            assert list(error.error.error_message) == [
                "invalid message: detection_report.object_id (mandatory fields present): Missing mandatory field: "
                "object_id"]
            assert error.destination_id == "3f1c6b7e-2d4a-4c1b-9e7f-5a6b7c8d9e01"
            await client.send(frame(b"\xff\x00 not protobuf"), raw=True)
            error = await client.expect("error")
            assert error.error.error_message[0].startswith("bad protobuf: not a SAPIENT v2.0 SapientMessage")
            assert not error.HasField("destination_id")
            await client.send(_detection(node))
            await client.send(b"\xff\xff\xff\x7f rubbish that claims 2 GiB", raw=True)
            error = await client.expect("error")
            assert error.error.error_message[0].startswith("bad frame: SAPIENT frame length 2147483647 exceeds")
            await client.send(_detection(node, azimuth=50.0))
            await client.send(_detection(stable_uuid("stranger")))
            error = await client.expect("error")
            assert error.error.error_message == [
                f"unregistered node: node {stable_uuid('stranger')} has not registered: send a Registration first"]
            detections: list[Detection] = []
            while len(detections) < 2:
                message = await asyncio.wait_for(ingest.get(), 5)
                assert message is not None and message.records is not None
                detections += [r for r in message.records if isinstance(r, Detection)]
            assert [round(d.azimuth_deg or 0.0) for d in detections] == [45, 50]
            assert [(d.sensor, d.range_m) for d in detections] == [(f"sapient-{node}", 800.0)] * 2
            stats = counts(pipeline)
            assert stats["bad_input"] == {"invalid message": 1, "bad protobuf": 1, "bad frame": 1,
                                          "unregistered node": 1}
            assert stats["detections"] == 2
    run(scenario)


def test_registration_policy_versions_replacement_goodbye_and_staleness() -> None:
    now = [time.time()]

    async def scenario() -> None:
        listener = SapientListener(clock=lambda: now[0])
        async with running(listener) as (pipeline, client):
            node = stable_uuid("radar-9")
            old = build.sensor_registration(node, now[0], RADAR)
            old.registration.icd_version = "BSI Flex 335 v1.0"
            await client.send(old)
            ack = (await client.expect("registration_ack")).registration_ack
            assert not ack.acceptance
            assert list(ack.ack_response_reason) == [
                "unsupported icd_version 'BSI Flex 335 v1.0': dronewatch speaks BSI Flex 335 v2.0"]
            await _register(client, node)
            await client.send(build.sensor_registration(node, now[0], RADAR.__class__(
                **{**{f: getattr(RADAR, f) for f in RADAR.__slots__}, "kind": "rf"})))  # type: ignore[arg-type]
            assert (await client.expect("registration_ack")).registration_ack.acceptance
            await asyncio.sleep(0.1)
            registered = listener.nodes.get(node)
            assert registered is not None and registered.profile.kind == "rf"  # replaced, still placed
            assert registered.sensor is not None and registered.sensor.kind == "rf"
            assert listener.nodes.dependent_nodes() == [node]
            now[0] += 16.0  # more than 3 status intervals of 5 s
            await asyncio.sleep(1.3)
            assert registered.stale and counts(pipeline)["stale"] == 1
            await client.send(build.sensor_status(node, now[0], stable_ulid("s2"), RADAR, info="UNCHANGED"))
            await client.send(build.sensor_status(node, now[0], stable_ulid("s3"), RADAR, system="GOODBYE"))
            await asyncio.sleep(0.2)
            assert not registered.stale and registered.left and listener.nodes.dependent_nodes() == []
            stats = counts(pipeline)
            assert (stats["recovered"], stats["goodbye"]) == (1, 1)
            assert stats["bad_input"] == {"registration refused": 1}
    run(scenario)


def test_contributors_are_the_nearest_recent_objects_of_the_nodes_behind_a_track() -> None:
    nodes = SapientNodes()

    profile = convert.profile_of(build.sensor_registration(stable_uuid("radar-9"), 0.0, RADAR))
    node = nodes.register(profile, 0.0)
    node.sensor = convert.place(profile, convert.GeoPoint(RADAR.lat, RADAR.lon, RADAR.alt))
    for object_id, azimuth, t in (("C", 45.2, 1.0), ("A", 45.0, 9.5), ("B", 120.0, 9.6)):
        nodes.observe(node, stable_ulid(object_id), Detection(t=t, sensor=node.sensor.id, azimuth_deg=azimuth,
                                                              elevation_deg=3.0, range_m=800.0))
    lat, lon, alt = enu2geodetic(*aer2enu(45.1, 3.0, 805.0), RADAR.lat, RADAR.lon, RADAR.alt)
    track = TrackReport(t=10.0, id="T1", lat=float(lat), lon=float(lon), alt=float(alt), vel_enu=(0.0, 0.0, 0.0),
                        sensors=(node.sensor.id, "rf-west"))
    (contributor,) = nodes.contributors(track)  # not B (120°), not C (9 s old)
    assert (contributor.node_id, contributor.object_id, contributor.t) == (profile.node_id, stable_ulid("A"), 9.5)
    far = TrackReport(**{**{f: getattr(track, f) for f in track.__slots__}, "lat": RADAR.lat + 0.05})  # type: ignore[arg-type]
    assert nodes.contributors(far) == []


@pytest.mark.parametrize("skew_s", [-2.0, 3.0])
def test_clock_skew_is_accepted_and_counted(skew_s: float) -> None:
    async def scenario() -> None:
        listener = SapientListener()
        async with running(listener) as (pipeline, client):
            node = stable_uuid("radar-9")
            await _register(client, node)
            await client.send(_detection(node, t=time.time() + skew_s))
            await asyncio.sleep(0.3)
            stats = counts(pipeline)
            assert (stats["clock_skew"], stats["detections"], stats["bad_input"]) == (1, 1, {})
    run(scenario)
