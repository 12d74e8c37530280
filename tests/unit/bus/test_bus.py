"""The bus, in process and on a real NATS JetStream server (tests/conftest.py): the same behaviour from both."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest

from dronewatch.bus import Bus, InProcessBus, Message, subject_matches
from dronewatch.bus.nats import NatsBus, split_payload
from dronewatch.errors import TransportError
from dronewatch.ingest.sources import FileReplay
from dronewatch.model import Detection
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository, open_database

OpenBus = Callable[[], Awaitable[Bus]]
NOW = 1_764_000_000.0


@pytest.fixture(params=["in-process", "nats"])
def open_bus(request: pytest.FixtureRequest) -> OpenBus:
    if request.param == "in-process":
        async def in_process() -> Bus:
            return InProcessBus()
        return in_process
    url = request.getfixturevalue("nats_url")

    async def on_nats() -> Bus:
        return await NatsBus.connect(url)
    return on_nats


def lines(first: int, count: int) -> list[Message]:
    return [Message("dw.s.ingest", f'{{"n":{n}}}\n'.encode()) for n in range(first, first + count)]


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("dw.s.ingest", "dw.s.ingest", True), ("dw.s.*", "dw.s.alerts", True), ("dw.*.tracks", "dw.x.tracks", True),
    ("dw.s.*", "dw.s.alerts.more", False), ("dw.s.*", "dw.t.alerts", False), ("dw.>", "dw.s.alerts", True),
    ("dw.>", "dw", False), ("dw.s.ingest", "dw.s.ingest.x", False), ("dw.s", "dw.s.ingest", False)])
def test_patterns_are_nats_wildcards(pattern: str, name: str, matches: bool) -> None:
    assert subject_matches(pattern, name) is matches


def test_a_blocking_subscriber_gets_every_message_in_order(open_bus: OpenBus) -> None:
    async def scenario() -> tuple[list[bytes], int]:
        bus = await open_bus()
        subscription = bus.subscribe("dw.s.*", overflow="block", maxsize=5)
        await subscription.ready.wait()
        got: list[bytes] = []

        async def read_slowly() -> None:
            while len(got) < 300:
                message = await subscription.get()
                assert message is not None
                got.append(message.data)
                if len(got) % 50 == 0:
                    await asyncio.sleep(0.05)

        reader = asyncio.create_task(read_slowly())
        for message in lines(0, 300):
            await bus.publish(message)
        await asyncio.wait_for(reader, 30)
        await bus.close()
        return got, subscription.dropped

    got, dropped = asyncio.run(scenario())
    assert got == [m.data for m in lines(0, 300)] and dropped == 0


def test_a_live_subscriber_drops_its_own_oldest_and_counts_them(open_bus: OpenBus) -> None:
    async def scenario() -> tuple[list[bytes], int, list[bytes]]:
        bus = await open_bus()
        live = bus.subscribe("dw.s.ingest", overflow="drop_oldest", maxsize=10)
        keeping = bus.subscribe("dw.s.ingest", overflow="block", maxsize=1000)
        other_site = bus.subscribe("dw.t.*", overflow="block")
        await asyncio.gather(live.ready.wait(), keeping.ready.wait(), other_site.ready.wait())
        for message in lines(0, 100):
            await bus.publish(message)
        while keeping.received < 100 or live.received < 100:
            await asyncio.sleep(0.01)
        kept = [live.queue.get_nowait().data for _ in range(live.queue.qsize())]  # type: ignore[union-attr]
        everything = [keeping.queue.get_nowait().data for _ in range(keeping.queue.qsize())]  # type: ignore[union-attr]
        assert other_site.received == 0
        await bus.close()
        return kept, live.dropped, everything

    kept, dropped, everything = asyncio.run(scenario())
    assert kept == [m.data for m in lines(90, 10)] and dropped == 90
    assert everything == [m.data for m in lines(0, 100)]


def test_records_go_over_nats_as_json_lines(nats_url: str) -> None:
    detection = Detection(t=NOW, sensor="radar-1", range_m=800.0, azimuth_deg=12.5)

    async def scenario() -> tuple[Message | None, Message | None]:
        bus, elsewhere = await NatsBus.connect(nats_url), await NatsBus.connect(nats_url)
        here, there = bus.subscribe("dw.r.ingest"), elsewhere.subscribe("dw.r.ingest")
        await asyncio.gather(here.ready.wait(), there.ready.wait())
        await bus.publish(Message("dw.r.ingest", records=[detection]))
        received = await asyncio.wait_for(here.get(), 10), await asyncio.wait_for(there.get(), 10)
        await bus.close()
        await elsewhere.close()
        return received

    own, other = asyncio.run(scenario())
    # another process gets the JSON Lines; the publishing process its own records back, not parsed again
    assert other is not None and other.records is None
    assert other.data == Message("x", records=[detection]).data
    assert own is not None and own.records == [detection]


def test_a_payload_over_max_payload_goes_in_pieces_of_whole_lines(
        tmp_path: Path, nats_server: Callable[..., contextlib.AbstractContextManager[str]]) -> None:
    data = b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"x" * 150) for n in range(60))
    assert list(split_payload(data, 10**6)) == [data]
    pieces = list(split_payload(data, 1000))
    assert b"".join(pieces) == data and all(len(p) <= 1000 and p.endswith(b"\n") for p in pieces)
    with pytest.raises(TransportError, match="a line of over 100 bytes"):
        list(split_payload(data, 100))

    async def scenario(url: str) -> list[bytes]:
        bus = await NatsBus.connect(url)
        assert bus.client.max_payload == 4096
        subscription = bus.subscribe("dw.p.*")
        await subscription.ready.wait()
        await bus.publish(Message("dw.p.ingest", data))
        got = []
        while sum(map(len, got)) < len(data):
            message = await asyncio.wait_for(subscription.get(), 10)
            assert message is not None
            got.append(message.data)
        await bus.close()
        return got

    with nats_server(tmp_path, max_payload=4096) as url:
        got = asyncio.run(scenario(url))
    assert len(got) == 3 and all(len(piece) <= 4096 - 256 for piece in got) and b"".join(got) == data


def test_the_stream_keeps_what_was_published_for_later_readers(nats_url: str) -> None:
    async def scenario() -> list[bytes]:
        bus = await NatsBus.connect(nats_url)
        for message in lines(0, 3):
            await bus.publish(Message("dw.kept.alerts", message.data))
        await bus.close()
        # an investigator's client, after the fact: reads the site's alerts from the start of the stream
        client = await nats.connect(nats_url)
        reader = await client.jetstream().subscribe("dw.kept.alerts", ordered_consumer=True)
        got = [(await reader.next_msg(10)).data for _ in range(3)]
        await client.close()
        return got

    assert asyncio.run(scenario()) == [m.data for m in lines(0, 3)]


def test_no_server_is_a_clear_error(free_port: Callable[..., int]) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(TransportError, match=f"NATS server {url}: cannot connect"):
        asyncio.run(NatsBus.connect(url, wait_s=1.0))


def test_a_replay_through_the_pipeline_on_nats_stores_what_it_stores_in_process(
        tmp_path: Path, nats_url: str, scenario_lines: Callable[[float], list[str]]) -> None:
    replay = tmp_path / "scenario.jsonl"
    replay.write_text("".join(scenario_lines(120.0)))

    async def run(bus: Bus, name: str) -> dict[str, int]:
        repository = Repository(open_database(f"sqlite:///{tmp_path / name}.db"))
        repository.ensure_site("station", "Border station", NOW)
        pipeline = Pipeline("station", repository, bus, live=False, ingest_queue=100)
        pipeline.add_source("replay", FileReplay(str(replay), speed=0.0))
        task = asyncio.create_task(pipeline.run())
        while not pipeline.stage("replay").counts["records"]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await pipeline.drain(120.0)
        pipeline.stop()
        await task
        await bus.close()
        return {table: repository.count(table) for table in ("detections", "track_points", "alerts", "zones")}

    async def both() -> tuple[dict[str, int], dict[str, int]]:
        return await run(InProcessBus(), "in-process"), await run(await NatsBus.connect(nats_url), "nats")

    in_process, on_nats = asyncio.run(both())
    assert in_process["detections"] > 1000 and in_process["alerts"] > 0
    assert on_nats == in_process


def test_a_blocking_subscriber_loses_nothing_when_the_server_restarts(
        tmp_path: Path, nats_server: Callable[..., contextlib.AbstractContextManager[str]]) -> None:
    async def scenario() -> list[bytes]:
        with nats_server(tmp_path) as url:
            bus = await NatsBus.connect(url)
            subscription = bus.subscribe("dw.s.*")
            await subscription.ready.wait()
            for message in lines(0, 5):
                await bus.publish(message)
            got = [(await asyncio.wait_for(subscription.get(), 10)).data for _ in range(2)]  # type: ignore[union-attr]
        port = int(url.rsplit(":", 1)[1])
        with nats_server(tmp_path, port=port) as again:  # the same store, the same address
            assert again == url
            while not bus.client.is_connected:
                await asyncio.sleep(0.05)
            for message in lines(5, 5):
                await bus.publish(message)
            while len(got) < 10:
                got.append((await asyncio.wait_for(subscription.get(), 20)).data)  # type: ignore[union-attr]
        await bus.close()
        return got

    assert asyncio.run(scenario()) == [m.data for m in lines(0, 10)]
