"""The TAK output against TAK-speaking servers written in the test (TCP, TLS with client certificates, UDP,
TAK Protocol v1 negotiation): what a destination receives, in which order, and what it must not receive."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import pytest
import takproto

from dronewatch.assessment import AssessmentConfig
from dronewatch.bus import Message, subject
from dronewatch.config import TakConfig
from dronewatch.formats import cot
from dronewatch.model import Alert, Sensor, TrackReport, Zone
from dronewatch.outputs.tak import TakOutput
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository, open_database

NOW = 1_780_000_000.0
RADAR = Sensor(id="radar-1", kind="radar", lat=31.7775, lon=-106.529, alt=1140.0,
               sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5})
ZONE = Zone(id="compound", level="critical", floor_m=1100.0, ceiling_m=1300.0,
            polygon=((-106.5300, 31.7770), (-106.5280, 31.7770), (-106.5280, 31.7785), (-106.5300, 31.7785)))


def report(track_id: str, t: float, cls: str = "drone", north_m: float = 0.0) -> TrackReport:
    return TrackReport(t=t, id=track_id, lat=31.78 + north_m / 111_000, lon=-106.52, alt=1200.0,
                       vel_enu=(0.0, 10.0, 0.0), cls=cls, confidence=0.95, sensors=("radar-1",))


def alert(state: str, t: float, level: str = "critical") -> Alert:
    return Alert(t=t, id="A1", track="T1", level=level, kind="zone_breach_predicted", state=state,  # type: ignore[arg-type]
                 reasons=("drone without Remote ID",), zone="compound", eta_s=30.0)


class TakServer:
    """A TAK server's streaming port as far as a client can tell: it collects every event a client sends."""

    def __init__(self, context: ssl.SSLContext | None = None, offer_protocol: bool = False) -> None:
        self.context = context
        self.offer_protocol = offer_protocol
        self.events: list[Element] = []
        self.frames: list[Any] = []  # TAK Protocol v1 messages, after the switch
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:  # a stopped server drops its clients too
            writer.close()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        if self.offer_protocol:
            writer.write(b'<?xml version="1.0"?><event version="2.0" uid="protouid" type="t-x-takp-v" how="m-g" '
                         b'time="2026-01-01T00:00:00Z" start="2026-01-01T00:00:00Z" stale="2026-01-01T00:01:00Z">'
                         b'<point lat="0" lon="0" hae="0" ce="999999" le="999999"/><detail><TakControl>'
                         b'<TakProtocolSupport version="1"/></TakControl></detail></event>')
        buffer, streaming = b"", False
        while chunk := await reader.read(65536):
            buffer += chunk
            if streaming:
                while len(buffer) > 1 and buffer[0] == 0xBF:
                    length, used = _varint(buffer, 1)
                    if len(buffer) < used + length:
                        break
                    self.frames.append(takproto.parse_stream(bytearray(buffer[:used + length])))
                    buffer = buffer[used + length:]
                continue
            events, buffer = cot.split_events(buffer)
            for event in events:
                self.events.append(event)
                if event.get("type") == "t-x-takp-q":
                    writer.write(b'<event version="2.0" uid="protouid" type="t-x-takp-r" how="m-g" '
                                 b'time="2026-01-01T00:00:00Z" start="2026-01-01T00:00:00Z" '
                                 b'stale="2026-01-01T00:01:00Z"><point lat="0" lon="0" hae="0" ce="999999" '
                                 b'le="999999"/><detail><TakControl><TakResponse status="true"/></TakControl>'
                                 b'</detail></event>')
                    streaming = True

    def types(self) -> list[str]:
        return [e.get("type", "") for e in self.events]


def _varint(data: bytes, start: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(start, len(data)):
        value |= (data[index] & 0x7F) << shift
        shift += 7
        if not data[index] & 0x80:
            return value, index + 1
    return 1 << 30, len(data)


async def until(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def with_output(config: TakConfig, body: Callable[[Pipeline, TakOutput], Awaitable[None]]) -> TakOutput:
    """A pipeline that has placed its site and knows the compound zone, with the output attached."""
    pipeline = Pipeline("station", live=True)
    output = TakOutput(config, clock=lambda: NOW, run="r1", reconnect_s=(0.2, 0.5))
    pipeline.add_output("tak", output)
    running = asyncio.create_task(pipeline.run())
    await pipeline.publish("ingest", [RADAR, ZONE])
    await until(lambda: bool(pipeline.site.zones), what="the zone to be in force")
    try:
        await body(pipeline, output)
    finally:
        pipeline.stop()
        await running
    return output


async def picture(pipeline: Pipeline, *reports: TrackReport) -> None:
    await pipeline.bus.publish(Message(subject("station", "picture"), records=list(reports)))


async def alerts(pipeline: Pipeline, *lines: Alert) -> None:
    await pipeline.bus.publish(Message(subject("station", "alerts"), records=list(lines)))


def test_a_tak_server_gets_our_sa_first_then_zones_tracks_alerts_and_deletes() -> None:
    server = TakServer()

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await picture(pipeline, report("T1", NOW), report("T2", NOW, cls="bird"))
        await until(lambda: "a-u-A-M-H-Q" in server.types(), what="the drone track")
        await alerts(pipeline, alert("open", NOW + 1))
        await picture(pipeline, report("T1", NOW + 1, north_m=10.0))
        await until(lambda: "a-h-A-M-H-Q" in server.types(), what="the track turned hostile")
        await alerts(pipeline, alert("resolved", NOW + 2))
        await picture(pipeline)  # T1 has ended
        await until(lambda: "t-x-d-d" in server.types(), what="the delete")

    async def scenario() -> None:
        await server.start()
        await with_output(TakConfig(url=f"tcp://127.0.0.1:{server.port}", emergency=True), body)
        await server.stop()

    asyncio.run(scenario())
    types = server.types()
    assert types[0] == cot.SA_TYPE and types[1] == "u-d-f"  # who we are first, then the zones
    assert not any(t == "a-n-A" for t in types)  # birds are not for this destination
    assert types.index("a-u-A-M-H-Q") < types.index("b-t-f") < types.index("b-a-o-tbl") < types.index(
        "a-h-A-M-H-Q") < types.index("b-a-o-can") < types.index("t-x-d-d")
    uids = {e.get("uid") for e in server.events if e.get("type", "").startswith("a-") and e.get("type") != cot.SA_TYPE}
    assert uids == {"dronewatch-station.track.r1.T1"}  # one uid for the track's whole life
    delete = server.events[types.index("t-x-d-d")]
    assert delete.find("detail/link").get("uid") == "dronewatch-station.track.r1.T1"  # type: ignore[union-attr]
    chats = [e.find("detail/remarks").text for e in server.events if e.get("type") == "b-t-f"]  # type: ignore[union-attr]
    assert chats[0].startswith("CRITICAL zone breach predicted zone compound") and chats[1].startswith("RESOLVED")


def test_need_to_know_a_destination_gets_only_its_classes_and_alert_levels() -> None:
    server = TakServer()

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await picture(pipeline, report("T1", NOW, cls="aircraft"), report("T2", NOW))
        await alerts(pipeline, alert("open", NOW, level="warning"))
        await until(lambda: "a-u-A-M-H-Q" in server.types(), what="the drone track")
        await picture(pipeline, report("T1", NOW + 1, cls="aircraft"), report("T2", NOW + 1, cls="bird"))
        await until(lambda: "t-x-d-d" in server.types(), what="the drone, now a bird, to be deleted")

    async def scenario() -> None:
        await server.start()
        await with_output(TakConfig(url=f"tcp://127.0.0.1:{server.port}", classes=("drone",),
                                    min_alert_level="critical", zones=False), body)

    asyncio.run(scenario())
    assert server.types() == [cot.SA_TYPE, "a-u-A-M-H-Q", "t-x-d-d"]  # no zone, no aircraft, no warning chat


def test_the_rate_limit_merges_track_updates_and_the_latest_position_wins() -> None:
    server = TakServer()

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        for k in range(40):
            await picture(pipeline, *(report(f"T{i}", NOW + k * 0.1, north_m=k) for i in range(5)))
        await until(lambda: sum(1 for e in server.events if e.get("uid", "").endswith("T0")
                                and e.find("point").get("lat") == f"{31.78 + 39 / 111_000:.7f}") == 1,  # type: ignore[union-attr]
                    what="the latest position of T0")

        merged.append(pipeline.stage("tak " + output.name).counts["track_updates_merged"])

    async def scenario() -> None:
        await server.start()
        await with_output(TakConfig(url=f"tcp://127.0.0.1:{server.port}", max_events_per_s=20.0), body)

    merged: list[int] = []
    asyncio.run(scenario())
    tracks = [e for e in server.events if e.get("type") == "a-u-A-M-H-Q"]
    assert len(tracks) < 100  # 200 updates offered at 20 events/s: merged, not queued
    assert merged[0] > 50


def test_after_the_server_restarts_the_output_reconnects_and_greets_it_again(free_port: Callable[..., int]) -> None:
    port = free_port()
    first, second = TakServer(), TakServer()

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await picture(pipeline, report("T1", NOW))
        await until(lambda: "a-u-A-M-H-Q" in first.types(), what="the track at the first server")
        await first.stop()
        await picture(pipeline, report("T1", NOW + 1, north_m=10.0))
        await asyncio.sleep(0.5)
        await second.start(port)
        await picture(pipeline, report("T1", NOW + 2, north_m=20.0))
        await until(lambda: "a-u-A-M-H-Q" in second.types(), timeout_s=20.0, what="the track at the second server")
        counters = pipeline.stage("tak " + output.name).counts
        assert counters["connects"] == 2 and counters["disconnects"] + counters["connect_failures"] >= 1

    async def scenario() -> None:
        await first.start(port)
        await with_output(TakConfig(url=f"tcp://127.0.0.1:{port}"), body)

    asyncio.run(scenario())
    assert second.types()[0] == cot.SA_TYPE


def test_takproto_is_used_once_the_server_offers_and_agrees() -> None:
    server = TakServer(offer_protocol=True)

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await until(lambda: "t-x-takp-q" in server.types(), what="our request for TAK Protocol v1")
        await picture(pipeline, report("T1", NOW))
        await until(lambda: any(f.cotEvent.type == "a-u-A-M-H-Q" for f in server.frames), what="a protobuf track")

    async def scenario() -> None:
        await server.start()
        await with_output(TakConfig(url=f"tcp://127.0.0.1:{server.port}", protocol="takproto"), body)

    asyncio.run(scenario())
    track = next(f.cotEvent for f in server.frames if f.cotEvent.type == "a-u-A-M-H-Q")
    assert track.uid == "dronewatch-station.track.r1.T1" and track.detail.track.speed == 10.0
    assert server.types()[0] == cot.SA_TYPE  # XML until the switch


@pytest.mark.parametrize("protocol", ["xml", "takproto"])
def test_udp_datagrams_carry_one_event_each_as_xml_or_mesh_protobuf(free_port: Callable[..., int],
                                                                    protocol: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", port))
    receiver.setblocking(False)
    datagrams: list[bytes] = []

    def arrived() -> int:
        while True:
            try:
                datagrams.append(receiver.recv(65536))
            except BlockingIOError:
                return len(datagrams)

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await picture(pipeline, report("T1", NOW))
        # the output's SA, the zone, the track: waited for, not slept for (a loaded machine is slower)
        await until(lambda: arrived() >= 3, what="three datagrams")

    asyncio.run(with_output(TakConfig(url=f"udp://127.0.0.1:{port}", protocol=protocol), body))
    receiver.settimeout(0.5)  # and nothing after them
    while True:
        try:
            datagrams.append(receiver.recv(65536))
        except TimeoutError:
            break
    receiver.close()
    messages = [takproto.parse_proto(bytearray(d)) for d in datagrams]
    assert [m.cotEvent.type for m in messages if m is not None] == [cot.SA_TYPE, "u-d-f", "a-u-A-M-H-Q"]
    assert all(d.startswith(b"\xbf\x01\xbf" if protocol == "takproto" else b"<?xml") for d in datagrams)


def test_tls_with_a_client_certificate_and_a_pinned_ca(tmp_path: Path, certificate: Callable[..., Any]) -> None:
    ca_key, ca = certificate(tmp_path, "ca", None)
    certificate(tmp_path, "server", (ca_key, ca))
    certificate(tmp_path, "client", (ca_key, ca))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED  # the server wants our client certificate
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = TakServer(context)

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await picture(pipeline, report("T1", NOW))
        await until(lambda: "a-u-A-M-H-Q" in server.types(), what="the track over TLS")

    async def scenario() -> None:
        await server.start()
        await with_output(TakConfig(url=f"tls://127.0.0.1:{server.port}", cert_file=str(tmp_path / "client.pem"),
                                    key_file=str(tmp_path / "client.key"), ca_file=str(tmp_path / "ca.pem")), body)

    asyncio.run(scenario())
    assert server.types()[0] == cot.SA_TYPE


def test_tls_refuses_a_server_whose_certificate_is_not_from_the_pinned_ca(tmp_path: Path,
                                                                             certificate: Callable[..., Any]) -> None:
    certificate(tmp_path, "ca", None)
    other_key, other = certificate(tmp_path, "other-ca", None)
    certificate(tmp_path, "server", (other_key, other))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = TakServer(context)

    async def body(pipeline: Pipeline, output: TakOutput) -> None:
        await until(lambda: pipeline.stage("tak " + output.name).counts["connect_failures"] >= 1,
                    what="the refused handshake")

    async def scenario() -> None:
        await server.start()
        await with_output(TakConfig(url=f"tls://127.0.0.1:{server.port}", ca_file=str(tmp_path / "ca.pem")), body)

    asyncio.run(scenario())
    assert server.events == []


def test_a_bulletin_raising_the_posture_reaches_tak_users_as_a_chat(tmp_path: Path) -> None:
    server = TakServer()
    repository = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repository.ensure_site("station", "Border station", NOW)
    repository.add_bulletin("Credible threat against the station this week", "high", valid_from=NOW - 60.0,
                            valid_to=NOW + 7 * 86400.0, recorded_by="ann", now=NOW, source="social media")

    async def scenario() -> Pipeline:
        await server.start()
        pipeline = Pipeline("station", repository, live=True)
        pipeline.add_output("tak", TakOutput(TakConfig(url=f"tcp://127.0.0.1:{server.port}"), clock=lambda: NOW,
                                             run="r1", reconnect_s=(0.2, 0.5)))
        running = asyncio.create_task(pipeline.run())
        await pipeline.publish("ingest", [RADAR, ZONE])
        await until(lambda: bool(pipeline.site.zones), what="the zone to be in force")
        await pipeline.publish("tracks", [report("T1", NOW)])  # the assessment's first step sets the posture
        await until(lambda: "b-t-f" in server.types(), what="the posture chat")
        pipeline.stop()
        await running
        await server.stop()
        return pipeline

    pipeline = asyncio.run(scenario())
    assert pipeline.posture_level == "high" and pipeline.assessor is not None
    assert pipeline.assessor.config.warning_horizon_s == 2 * AssessmentConfig().warning_horizon_s
    (chat,) = [e.find("detail/remarks").text for e in server.events if e.get("type") == "b-t-f"]  # type: ignore[union-attr]
    assert chat is not None and chat.startswith("dronewatch station: threat posture HIGH: Credible threat against "
                                                "the station this week (social media; until ")
