"""dronewatch's TAK output (``outputs/tak.py``) through real third-party TAK software: taky and
FreeTAKServer as the TAK server dronewatch connects to, a pytak client as the partner's device, and
pytak on the mesh multicast group in a network namespace. What arrives must be what we sent (type,
uid, point, ``<track>``, callsign, remarks) and valid against the MITRE schema; from taky within 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from tak_peers import (
    MULTICAST_GROUP,
    MULTICAST_PORT,
    FtsServer,
    PytakReceiver,
    Received,
    TakServer,
    multicast_namespace,
    schema_errors,
    taky_server,
)

from dronewatch.bus import Message, subject
from dronewatch.config import TakConfig
from dronewatch.formats import cot
from dronewatch.model import Alert, Sensor, TrackReport, Zone
from dronewatch.outputs.tak import TakOutput
from dronewatch.service.pipeline import Pipeline

RADAR = Sensor(id="radar-1", kind="radar", lat=31.7775, lon=-106.529, alt=1140.0,
               sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5})
ZONE = Zone(id="compound", level="critical", floor_m=1100.0, ceiling_m=1300.0,
            polygon=((-106.5300, 31.7770), (-106.5280, 31.7770), (-106.5280, 31.7785), (-106.5300, 31.7785)))
ORIGIN_UID = "dronewatch-station"
TRACK_UID = f"{ORIGIN_UID}.track.it.T1"


def drone(t: float, north_m: float = 0.0) -> TrackReport:
    return TrackReport(t=t, id="T1", lat=31.7801 + north_m / 111_000, lon=-106.5212, alt=1210.4,
                       vel_enu=(-8.0, -6.0, 0.7), cls="drone", confidence=0.93, sensors=("radar-1",))


def alert(state: str, t: float) -> Alert:
    return Alert(t=t, id="A1", track="T1", level="critical", kind="zone_breach_predicted",
                 state=state, reasons=("drone without Remote ID",), zone="compound", eta_s=31.0)  # type: ignore[arg-type]


def destination(server: TakServer, **extra: object) -> TakConfig:
    tls = {} if not server.tls else {"cert_file": str(server.cert_path), "key_file": str(server.key_path),
                                     "ca_file": str(server.ca_path), "check_hostname": server.check_hostname}
    return TakConfig(url=server.url, emergency=True, **tls, **extra)  # type: ignore[arg-type]


async def run_site(config: TakConfig, body: Callable[[Pipeline, TakOutput], Awaitable[None]]) -> dict[str, int]:
    """A pipeline that has placed its site and knows the compound zone, with the TAK output attached and
    connected; ``body`` publishes the picture and the alerts. Returns the output's counters."""
    pipeline = Pipeline("station", live=True)
    output = TakOutput(config, run="it", reconnect_s=(0.5, 1.0))
    pipeline.add_output("tak", output)
    running = asyncio.create_task(pipeline.run())
    await pipeline.publish("ingest", [RADAR, ZONE])
    try:
        await asyncio.wait_for(output.connected.wait(), 30.0)
        await body(pipeline, output)
    finally:
        pipeline.stop()
        await running
    return dict(pipeline.stage(f"tak {output.name}").counts)


async def publish(pipeline: Pipeline, stream: str, *records: TrackReport | Alert) -> float:
    """Publish on a site stream; the ``perf_counter`` stamp of the publish."""
    stamp = time.perf_counter()
    await pipeline.bus.publish(Message(subject("station", stream), records=list(records)))
    return stamp


async def received(receiver: PytakReceiver, predicate: Callable[[Received], bool], after_s: float,
                   timeout_s: float) -> Received:
    return await asyncio.to_thread(receiver.wait_for, predicate, timeout_s, after_s=after_s)


def by_type(kind: str, uid: str | None = None) -> Callable[[Received], bool]:
    return lambda r: r.cot_type == kind and (uid is None or r.uid == uid)


def assert_our_track(got: Received, report: TrackReport, kind: str) -> None:
    """The track as a partner's device gets it: our fields, unchanged, and valid CoT."""
    event = got.event
    assert event is not None and schema_errors(event) == []
    assert (event.get("uid"), event.get("type"), event.get("how")) == (TRACK_UID, kind, "m-r")
    point = event.find("point")
    assert point is not None
    # taky writes what it relays with 6 decimals (11 cm): the position survives to that
    assert float(point.get("lat", "nan")) == pytest.approx(report.lat, abs=1.01e-6)
    assert float(point.get("lon", "nan")) == pytest.approx(report.lon, abs=1.01e-6)
    assert float(point.get("hae", "nan")) == pytest.approx(report.alt, abs=0.051)
    course, speed = cot.course_speed(report.vel_enu)
    track = event.find("detail/track")
    assert track is not None and (float(track.get("course", "nan")), float(track.get("speed", "nan"))) == (
        round(course, 1), round(speed, 2))
    assert event.find("detail/contact").get("callsign") == "DRONE T1"  # type: ignore[union-attr]
    level = "critical" if kind.startswith("a-h") else None
    assert event.findtext("detail/remarks") == cot.describe_track(report, level)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ taky
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_taky_passes_our_tracks_zone_and_alert_to_a_pytak_client_within_1s(tmp_path: Path, tls: bool) -> None:
    latencies: dict[str, float] = {}
    got: dict[str, Received] = {}

    with taky_server(tmp_path, tls=tls) as server, PytakReceiver(server.url, config=server.pytak_config()) as rx:
        async def body(pipeline: Pipeline, output: TakOutput) -> None:
            now = time.time()
            sent = await publish(pipeline, "picture", drone(now))
            got["track"] = await received(rx, by_type("a-u-A-M-H-Q", TRACK_UID), sent, 1.0)
            latencies["track"] = got["track"].t_s - sent
            sent = await publish(pipeline, "alerts", alert("open", now + 1))
            got["chat"] = await received(rx, by_type("b-t-f"), sent, 1.0)
            got["emergency"] = await received(rx, by_type("b-a-o-tbl"), sent, 1.0)
            latencies["alert"] = got["chat"].t_s - sent
            sent = await publish(pipeline, "picture", drone(now + 1, north_m=12.0))
            got["hostile"] = await received(rx, by_type("a-h-A-M-H-Q", TRACK_UID), sent, 1.0)
            sent = await publish(pipeline, "alerts", alert("resolved", now + 2))
            got["cancel"] = await received(rx, by_type("b-a-o-can"), sent, 1.0)
            sent = await publish(pipeline, "picture")  # the track has ended
            got["delete"] = await received(rx, by_type("t-x-d-d"), sent, 1.0)

        counts = asyncio.run(run_site(destination(server), body))
        everything = rx.received()

    assert_our_track(got["track"], drone(0.0), "a-u-A-M-H-Q")
    assert_our_track(got["hostile"], drone(0.0, north_m=12.0), "a-h-A-M-H-Q")
    assert got["chat"].event is not None and got["chat"].event.findtext("detail/remarks") == cot.alert_text(
        alert("open", 0.0), "DRONE T1")
    emergency = got["emergency"].event
    assert emergency is not None and emergency.get("uid") == f"{ORIGIN_UID}.alert.A1-9-1-1"
    assert got["cancel"].event is not None and got["cancel"].event.get("uid") == emergency.get("uid")
    assert got["delete"].event.find("detail/link").get("uid") == TRACK_UID  # type: ignore[union-attr]
    assert all(schema_errors(r.event) == [] for r in everything if r.event is not None)
    zone = next(r.event for r in everything if r.cot_type == "u-d-f")
    assert zone is not None and zone.find("detail/__geofence").get("monitor") == "Hostile"  # type: ignore[union-attr]
    assert counts["connects"] == 1 and counts["events_sent"] >= 8
    print(f"taky {'tls' if tls else 'tcp'}: track {latencies['track'] * 1000:.1f} ms, "
          f"alert {latencies['alert'] * 1000:.1f} ms from publish to the pytak client")


# ------------------------------------------------------------------------------------------- multicast
@pytest.mark.parametrize("protocol", ["xml", "takproto"])
def test_the_mesh_multicast_group_reaches_a_pytak_receiver(protocol: str) -> None:
    with multicast_namespace() as netns, PytakReceiver(
            f"udp+ro://{MULTICAST_GROUP}:{MULTICAST_PORT}", tak_proto=1,
            config={"PYTAK_MULTICAST_LOCAL_ADDR": "127.0.0.1"}, netns=netns) as rx:
        async def body(pipeline: Pipeline, output: TakOutput) -> None:
            sent = await publish(pipeline, "picture", drone(time.time()))
            await received(rx, lambda r: r.message is not None and r.message.cotEvent.uid == TRACK_UID, sent, 2.0)

        config = TakConfig(url=f"udp://{MULTICAST_GROUP}:{MULTICAST_PORT}", protocol=protocol,
                           multicast_interface="127.0.0.1")
        # the output's socket must be made inside the namespace: run the whole site in a thread there
        netns.call(lambda: asyncio.run(run_site(config, body)))
        messages = [r.message for r in rx.received() if r.message is not None]
    track = next(m.cotEvent for m in messages if m.cotEvent.uid == TRACK_UID)
    course, speed = cot.course_speed(drone(0.0).vel_enu)
    assert (track.type, track.how, track.lat, track.detail.track.course, track.detail.track.speed) == (
        "a-u-A-M-H-Q", "m-r", round(drone(0.0).lat, 7), round(course, 1), round(speed, 2))
    assert [m.cotEvent.type for m in messages][:2] == [cot.SA_TYPE, "u-d-f"]


# ------------------------------------------------------------------------------------ FreeTAKServer 2.2.1
@pytest.mark.integration
@pytest.mark.xdist_group("freetakserver")
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_freetakserver_passes_our_track_and_alert_on(fts: FtsServer, transport: str) -> None:
    server: TakServer = getattr(fts, transport)
    got: dict[str, Received] = {}
    with PytakReceiver(server.url, config=server.pytak_config()) as rx:
        fts.wait_registered(rx)

        async def body(pipeline: Pipeline, output: TakOutput) -> None:
            # FTS takes our SA as who we are and relays nothing of ours until it has registered us (0.4-2 s
            # here, more under load): the picture goes on updating, as a live one does, until a track arrives
            started = time.perf_counter()
            while "track" not in got:
                now = time.time()
                sent = await publish(pipeline, "picture", drone(now))
                with contextlib.suppress(AssertionError):
                    got["track"] = await received(rx, by_type("a-u-A-M-H-Q", TRACK_UID), sent, 1.0)
                assert time.perf_counter() - started < 30.0, "FreeTAKServer relayed none of our tracks in 30 s"
            sent = await publish(pipeline, "alerts", alert("open", now + 1))
            got["emergency"] = await received(rx, lambda r: r.uid == f"{ORIGIN_UID}.alert.A1-9-1-1", sent, 15.0)
            sent = await publish(pipeline, "picture", drone(now + 1, north_m=12.0))
            got["hostile"] = await received(rx, by_type("a-h-A-M-H-Q", TRACK_UID), sent, 15.0)

        asyncio.run(run_site(replace(destination(server), zones=False), body))
    # FreeTAKServer re-serialises what it relays (FTS_REWRITES in tak_peers.py); what a device uses survives
    assert_our_track(got["track"], drone(0.0), "a-u-A-M-H-Q")
    assert_our_track(got["hostile"], drone(0.0, north_m=12.0), "a-h-A-M-H-Q")
    emergency = got["emergency"].event
    assert emergency is not None and emergency.find("detail/emergency") is not None
    print(f"FreeTAKServer {transport}: the emergency came back as type {emergency.get('type')!r}, "
          f"remarks {emergency.findtext('detail/remarks')!r}")
