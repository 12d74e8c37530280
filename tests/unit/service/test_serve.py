"""The service end to end, as a user meets it: a real HTTP server, UDP in, a real WebSocket client out;
storage on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import nats
import pytest
import websockets

from dronewatch.cli.serve import build_pipeline, serve
from dronewatch.config import BusConfig, Config, ServiceConfig, SiteConfig, SourcesConfig, StorageConfig, load_config
from dronewatch.errors import TransportError
from dronewatch.formats.adsb import ModeSFrame, beast_frames
from dronewatch.ingest.sapient import SapientListener
from dronewatch.outputs.sapient import SapientParent
from dronewatch.storage import Repository, open_database


async def udp_to_websocket(config: Config, udp_port: int, lines: list[str], wanted: int = 20
                           ) -> list[dict[str, object]]:
    """Run the service, send it these lines over UDP and read its stream until ``wanted`` items came."""
    said: list[str] = []
    service = asyncio.create_task(serve(config, announce=said.append))
    while len(said) < 2:
        if service.done():  # it could not start: say why, rather than wait for it for ever
            raise AssertionError(f"the service stopped before it served: {said}") from service.exception()
        await asyncio.sleep(0.05)
    password = said[1].split("password '")[1].split("'")[0]
    base = f"http://127.0.0.1:{config.service.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/api/sites/station/tracks")).status_code == 401
        login = await client.post("/api/login", json={"name": "admin", "password": password})
        csrf = login.json()["csrf_token"]
        token = (await client.post("/api/tokens", json={"name": "ws"}, headers={"X-CSRF-Token": csrf})).json()
    received: list[dict[str, object]] = []
    async with websockets.connect(f"ws://127.0.0.1:{config.service.port}/api/sites/station/stream",
                                  additional_headers={"Authorization": f"Bearer {token['token']}"}) as ws:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for k in range(0, len(lines), 25):
                sender.sendto("".join(lines[k:k + 25]).encode(), ("127.0.0.1", udp_port))
                await asyncio.sleep(0.002)
        while len(received) < wanted:
            received += json.loads(await asyncio.wait_for(ws.recv(), 20))  # each message: a batch
    service.cancel()
    await asyncio.gather(service, return_exceptions=True)
    return received


def test_udp_detections_reach_a_websocket_client_as_tracks(tmp_path: Path, free_port: Callable[..., int],
                                                           database_url: str,
                                                           scenario_lines: Callable[..., list[str]]) -> None:
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    config = Config(site=SiteConfig(id="station"),
                    service=ServiceConfig(port=http_port, data_dir=str(tmp_path)),
                    storage=StorageConfig(url=database_url),
                    sources=SourcesConfig(udp=f"127.0.0.1:{udp_port}"))
    received = asyncio.run(udp_to_websocket(config, udp_port, scenario_lines(60.0, live=True)))
    assert all(m["type"] in ("track", "alert", "operator") for m in received)  # an admin sees operators
    tracks = [m for m in received if m["type"] == "track"]
    assert tracks and all(m["class"] in ("drone", "bird", "aircraft", "unknown") for m in tracks)
    stored = Repository(open_database(database_url))
    assert stored.count("detections") > 0 and stored.count("track_points") > 0
    assert stored.verify_audit().ok


def test_the_service_on_nats_jetstream_streams_stores_and_keeps_its_messages(
        tmp_path: Path, free_port: Callable[..., int], nats_url: str,
        scenario_lines: Callable[..., list[str]]) -> None:
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    config = Config(site=SiteConfig(id="station"), service=ServiceConfig(port=http_port, data_dir=str(tmp_path)),
                    bus=BusConfig(url=nats_url),
                    sources=SourcesConfig(udp=f"127.0.0.1:{udp_port}"))

    async def scenario() -> tuple[list[dict[str, object]], dict[str, int]]:
        received = await udp_to_websocket(config, udp_port, scenario_lines(60.0, live=True))
        # another process on the same server (a worker, a gateway) reads the site's streams from the start
        client = await nats.connect(nats_url)
        stream = await client.jetstream().stream_info("DRONEWATCH", subjects_filter="dw.station.>")
        await client.close()
        return received, dict(stream.state.subjects or {})

    received, subjects = asyncio.run(scenario())
    assert any(m["type"] == "track" for m in received)
    assert {"dw.station.ingest", "dw.station.tracks", "dw.station.picture"} <= set(subjects)
    stored = Repository(open_database(config.database_url))
    assert stored.count("detections") > 0 and stored.count("track_points") > 0


def test_sapient_section_and_its_wiring(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[site]\nid = "station-7"\n[sapient]\nlisten = "127.0.0.1:0"\nparent = "127.0.0.1:5001"\n'
                    'name = "Border station 7"\n')
    config = load_config(site, {})
    assert (config.sapient.listen, config.sapient.parent, config.sapient.node_id) == (
        "127.0.0.1:0", "127.0.0.1:5001", "")
    pipeline = build_pipeline(config, Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}")))
    ((_, listener),) = [(n, s) for n, s in pipeline._sources if n == "sapient"]
    ((_, parent),) = [(n, o) for n, o in pipeline._outputs if n == "sapient-parent"]
    assert isinstance(listener, SapientListener) and isinstance(parent, SapientParent)
    assert parent.nodes is listener.nodes and (parent.host, parent.port, parent.name) == (
        "127.0.0.1", 5001, "Border station 7")


def test_a_bus_url_with_no_server_behind_it_stops_the_service_with_the_reason(
        tmp_path: Path, free_port: Callable[..., int]) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    config = Config(site=SiteConfig(id="station"), service=ServiceConfig(port=free_port(), data_dir=str(tmp_path)),
                    bus=BusConfig(url=url))
    with pytest.raises(TransportError, match=f"NATS server {url}: cannot connect"):
        asyncio.run(serve(config, announce=lambda text: None))


async def _beast_replay(frames: list[tuple[float, bytes]], port: int, served: asyncio.Event) -> asyncio.Server:
    """A receiver's port 30005: each client gets the recording's frames at their recorded pace."""

    async def client(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        start, first = asyncio.get_running_loop().time(), frames[0][0]
        for t, raw in frames:
            await asyncio.sleep(max(0.0, start + (t - first) - asyncio.get_running_loop().time()))
            writer.write(raw)
            await writer.drain()
        served.set()
        writer.close()

    return await asyncio.start_server(client, "127.0.0.1", port)


def test_a_live_beast_feed_becomes_aircraft_tracks_with_their_identity_and_is_stored(
        tmp_path: Path, free_port: Callable[..., int]) -> None:
    data = (Path(__file__).resolve().parents[2] / "data" / "feeds" / "adsb" / "ulss7_beast_2018-04-03.bin").read_bytes()
    frames, _, _ = beast_frames(data)

    def beast(frame: ModeSFrame) -> bytes:  # the frame as the receiver sent it: 1a, type, escaped body
        body = round(frame.t * 12e6).to_bytes(6, "big") + bytes([frame.signal or 0]) + frame.data  # type: ignore[operator]
        return bytes([0x1A, {2: 0x31, 7: 0x32, 14: 0x33}[len(frame.data)]]) + body.replace(b"\x1a", b"\x1a\x1a")

    timed = [(frame.t, beast(frame)) for frame in frames]
    assert b"".join(r for _, r in timed) == data  # byte for byte: the file holds no status frames
    timed = [(t, r) for t, r in timed if t - frames[0].t <= 8.0]  # type: ignore[operator]
    http_port, feed_port = free_port(), free_port()
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    config = Config(site=SiteConfig(id="station"), service=ServiceConfig(port=http_port, data_dir=str(tmp_path)),
                    storage=StorageConfig(url=url),
                    sources=SourcesConfig(adsb=f"beast+tcp://127.0.0.1:{feed_port}", adsb_receiver="59.80,30.26,20"))

    async def scenario() -> list[dict[str, object]]:
        served = asyncio.Event()
        server = await _beast_replay(timed, feed_port, served)
        said: list[str] = []
        service = asyncio.create_task(serve(config, announce=said.append))
        await asyncio.wait_for(served.wait(), 30)
        await asyncio.sleep(1.5)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:
            password = said[1].split("password '")[1].split("'")[0]
            await client.post("/api/login", json={"name": "admin", "password": password})
            tracks = (await client.get("/api/sites/station/tracks")).json()
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
        server.close()
        return tracks  # type: ignore[no-any-return]

    tracks = asyncio.run(scenario())
    icaos = {t.get("icao") for t in tracks}
    assert {"400159", "504DD9"} <= icaos, tracks
    assert all(t["class"] == "aircraft" for t in tracks if t.get("icao"))
    named = {t["icao"]: t["callsign"] for t in tracks if t.get("callsign")}
    assert named and named.items() <= {"400159": "SDM6244", "504DD9": "MLD185", "780A5C": "CPA238",
                                       "42460C": "UTA582", "4249B5": "AFL032", "424263": "UTA470",
                                       "4CAAAE": "SDM6414", "71BE34": "AAR542", "780C5D": "CAO1024",
                                       "4242E5": "AFL030", "4248E7": "SDM6620"}.items(), named
    stored = Repository(open_database(url))
    assert stored.count("detections") > 50
