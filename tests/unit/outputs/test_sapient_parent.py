"""SapientParent against a TCP server in the test standing in for the higher node: registration, status
NEW/UNCHANGED, pictures and alerts upward, Dstl's decision-node samples (tasks) answered, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from google.protobuf import json_format
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dronewatch.formats.sapient import FrameReader, decode, encode, frame, kind_of, seconds_of, validate
from dronewatch.model import Alert, TrackReport
from dronewatch.outputs.sapient import SapientParent
from dronewatch.service.pipeline import Pipeline

DMM = Path(__file__).resolve().parents[2] / "data" / "interop" / "sapient" / "dstl-test-harness-samples" / "dmm"
US = "a8654cdf-4328-47de-81fa-c495589e30c1"  # the node the Dstl decision-node samples address


class Higher:
    """The higher node: accepts our connections, collects what we send, can talk back."""

    def __init__(self) -> None:
        self.received: list[SapientMessage] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        frames = FrameReader()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                self.received += [decode(p) for p in frames.feed(data)]

    async def send(self, data: bytes) -> None:
        self.writers[-1].write(data)
        await self.writers[-1].drain()

    def of(self, kind: str) -> list[SapientMessage]:
        return [m for m in self.received if kind_of(m) == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout_s: float = 30.0) -> list[SapientMessage]:
        deadline = time.monotonic() + timeout_s
        while len(self.of(kind)) < count:
            if time.monotonic() > deadline:
                got = [kind_of(m) for m in self.received]
                raise AssertionError(f"{len(self.of(kind))} {kind} of {count}; got {got}")
            await asyncio.sleep(0.02)
        return self.of(kind)


@contextlib.asynccontextmanager
async def running(parent: SapientParent) -> AsyncIterator[Pipeline]:
    pipeline = Pipeline("t", None)
    pipeline.add_output("sapient-parent", parent)
    task = asyncio.create_task(pipeline.run())
    try:
        yield pipeline
    finally:
        pipeline.stop()
        await task


def parse(path: Path) -> SapientMessage:
    return json_format.Parse(path.read_text(), SapientMessage())


def track(track_id: str, north_m: float = 0.0) -> TrackReport:
    return TrackReport(t=1000.0, id=track_id, lat=31.78 + north_m / 111_000.0, lon=-106.53, alt=1230.0,
                       vel_enu=(1.0, 2.0, 0.0), cls="drone", confidence=0.9, sensors=("radar-1",))


def test_registration_status_tracks_and_alerts_go_up() -> None:
    async def scenario() -> None:
        higher = Higher()
        port = await higher.start()
        parent = SapientParent("127.0.0.1", port, node_id=US, status_interval_s=0.3, report_interval_s=0.2)
        async with running(parent) as pipeline:
            (registration,) = await higher.wait_for("registration")
            assert validate(registration) == [] and registration.node_id == US
            assert registration.registration.node_definition[0].node_type == 20  # FUSION_NODE
            assert registration.registration.name == "dronewatch t"
            statuses = await higher.wait_for("status_report", 2)
            assert [s.status_report.info for s in statuses[:2]] == [1, 2]  # NEW, then UNCHANGED
            before = time.time()
            await pipeline.publish("picture", [track("T1"), track("T2", 200.0)])
            first = await higher.wait_for("detection_report", 2)
            assert {seconds_of(m.timestamp) for m in first} == {seconds_of(first[0].timestamp)}  # one stamp
            assert before - 0.1 <= seconds_of(first[0].timestamp) <= time.time() + 0.1  # send time, not t=1000
            await pipeline.publish("picture", [track("T1", 5.0)])
            reports = await higher.wait_for("detection_report", 4)
            t1 = [m.detection_report for m in reports if abs(m.detection_report.location.y - 31.78) < 0.0001]
            assert len({r.object_id for r in t1}) == 1 and len({r.report_id for r in t1}) == 2  # stable object
            (lost,) = [m.detection_report for m in reports[2:] if m.detection_report.state == "lost"]
            assert lost.object_id == first[1].detection_report.object_id  # T2 left the picture
            assert all(validate(m) == [] for m in reports)
            assert seconds_of(reports[2].timestamp) >= seconds_of(reports[0].timestamp)

            alert = Alert(t=1000.0, id="A1", track="T1", level="warning", kind="zone_entry", state="open",
                          reasons=("inside zone approach",), zone="approach")
            await pipeline.publish("alerts", [alert])
            await pipeline.publish("alerts", [Alert(**{**{f: getattr(alert, f) for f in alert.__slots__},  # type: ignore[arg-type]
                                                       "state": "resolved"})])
            opened, cleared = (m.alert for m in await higher.wait_for("alert", 2))
            assert (opened.status, cleared.status, opened.alert_type, opened.priority) == (1, 5, 2, 2)
            assert opened.alert_id == cleared.alert_id and opened.region_id == cleared.region_id != ""
            assert opened.associated_detection[0].object_id == t1[0].object_id
            stats = pipeline.stats()["sapient-parent"]
            assert stats["pictures_sent"] == 2 and stats["detection_reports_sent"] == 4 and stats["alerts_sent"] == 2
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_dstl_decision_node_samples_tasks_are_answered() -> None:
    async def scenario() -> None:
        higher = Higher()
        port = await higher.start()
        parent = SapientParent("127.0.0.1", port, node_id=US, status_interval_s=60.0)
        async with running(parent) as pipeline:
            await higher.wait_for("registration")
            samples = sorted(DMM.glob("*.json"))
            for path in samples:
                await higher.send(frame(parse(path).SerializeToString()))
            tasks = [p for p in samples if ".Task." in p.name]
            acks = [m.task_ack for m in await higher.wait_for("task_ack", len(tasks) + 2)]
            by_status: dict[int, int] = {}
            for ack in acks:
                by_status[ack.task_status] = by_status.get(ack.task_status, 0) + 1
            assert by_status == {1: 2, 3: 2, 2: len(tasks) - 2}  # ACCEPTED and COMPLETED twice, the rest REJECTED
            rejected = [a for a in acks if a.task_status == 2]
            assert "dronewatch accepts no tasking (request 'Start')" in " ".join(r.reason[0] for r in rejected)
            assert any("(look_at)" in r.reason[0] for r in rejected)
            assert len(await higher.wait_for("registration", 2)) == 2  # Request Registration honoured
            assert [s.status_report.info for s in await higher.wait_for("status_report", 2)] == [1, 1]
            other = parse(DMM / "Default.Task.Request.Stop.json")
            other.destination_id = "6f582b41-6c88-481c-bb0f-6021a1739f57"
            await higher.send(frame(encode(other)) + frame(b"\xff\xfe garbage"))
            (error,) = await higher.wait_for("error")
            assert error.error.error_message[0].startswith("bad protobuf")
            await asyncio.sleep(0.2)
            stats = pipeline.stats()["sapient-parent"]
            assert stats["received_task"] == len(tasks) + 1 == 20 and stats["tasks_not_for_us"] == 1
            assert stats["registration_accepted"] == 1 and stats["alert_ack_accepted"] == 1
            assert stats["received_detection_report"] == stats["received_status_report"] == 1
            assert stats["bad_input"] == {"bad protobuf": 1}
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_reconnects_and_drops_the_oldest_while_the_parent_is_away(free_port: object) -> None:
    async def scenario() -> None:
        port = free_port()  # type: ignore[operator]
        parent = SapientParent("127.0.0.1", port, node_id=US, queue_size=3, status_interval_s=60.0)
        async with running(parent) as pipeline:
            while not pipeline.stats().get("sapient-parent", {}).get("connect_failures"):
                await asyncio.sleep(0.02)  # it has subscribed and tried
            for k in range(10):
                await pipeline.publish("picture", [track(f"T{k}")])
            await asyncio.sleep(1.0)  # another attempt at least (0.5 s back-off)
            stats = pipeline.stats()["sapient-parent"]
            assert stats["connect_failures"] >= 1 and stats["queue_dropped"] == 7
            higher = Higher()
            higher.server = await asyncio.start_server(higher._serve, "127.0.0.1", port)
            await higher.wait_for("registration")
            await asyncio.sleep(0.3)
            assert higher.of("detection_report") == []  # the pictures from while away were stale: dropped
            assert pipeline.stats()["sapient-parent"]["pictures_dropped_offline"] == 3
            higher.writers[-1].close()
            await higher.wait_for("registration", 2, timeout_s=15.0)  # back again after the parent hung up
            assert higher.connections == 2
    asyncio.run(asyncio.wait_for(scenario(), 60))
