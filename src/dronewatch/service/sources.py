"""Where the pipeline's records come from: file replay, the simulator, UDP and TCP JSON Lines
listeners, and live Remote ID receivers. Each is a callable ``source(pipeline)`` run (and
supervised) by the pipeline; bad input is counted in the source's own stage counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dronewatch.errors import FormatError
from dronewatch.formats.scenario import parse_line
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.ingest.remoteid_live import ReceiverStream, live_detections
from dronewatch.model import Record, Sensor, Truth
from dronewatch.service.pipeline import Pipeline, StageCounters, parse_payload
from dronewatch.sim import engine
from dronewatch.sim.engine import SimScenario

_REPLAYED = ("Sensor", "Zone", "Detection", "Scan")


async def _paced(pipeline: Pipeline, records: Iterable[Record], speed: float, counters: StageCounters) -> None:
    """Publish records to ingest at ``speed`` times their own pace (0: as fast as the pipeline takes them)."""
    start_wall: float | None = None
    start_t: float | None = None
    batch: list[Record] = []
    for record in records:
        if type(record).__name__ not in _REPLAYED:
            continue  # truth and tracks are not sensor input
        t = getattr(record, "t", None)
        if t is not None and speed > 0:
            if start_t is None:
                start_t, start_wall = t, time.monotonic()
            assert start_wall is not None
            wait = (t - start_t) / speed - (time.monotonic() - start_wall)
            if wait > 0:
                await pipeline.publish("ingest", batch)
                batch = []
                await asyncio.sleep(wait)
        batch.append(record)
        counters.counts["records"] += 1
        if len(batch) >= 200:
            await pipeline.publish("ingest", batch)
            batch = []
    await pipeline.publish("ingest", batch)


@dataclass(slots=True)
class FileReplay:
    """A scenario JSON Lines file, at ``speed`` times real time (0: as fast as possible)."""

    path: str
    speed: float = 1.0

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage("replay")
        source = Path(self.path).name

        def records() -> Iterable[Record]:
            with open(self.path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    try:
                        record = parse_line(line, source=source, line=number)
                    except FormatError as error:
                        counters.bad("replay", f"{source}:{number}", error.reason)
                        continue
                    if record is not None:
                        yield record

        await _paced(pipeline, records(), self.speed, counters)


@dataclass(slots=True)
class Simulator:
    """The simulator in process, at ``speed`` times real time."""

    scenario: SimScenario
    speed: float = 1.0

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage("simulator")
        records = (r for r in engine.generate(self.scenario) if not isinstance(r, Truth))
        await _paced(pipeline, records, self.speed, counters)


@dataclass(slots=True)
class JsonLinesListener:
    """Scenario JSON Lines over UDP (one or more lines a datagram) or TCP (receivers connect and push)."""

    protocol: str
    host: str
    port: int
    bound: asyncio.Future[tuple[str, int]] | None = field(default=None)

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"{self.protocol}-{self.port}")
        loop = asyncio.get_running_loop()
        self.bound = self.bound or loop.create_future()
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

        def take(peer: str, data: bytes) -> None:
            counters.counts["bytes"] += len(data)
            queue.put_nowait((peer, data))

        closer: contextlib.AsyncExitStack = contextlib.AsyncExitStack()
        async with closer:
            if self.protocol == "udp":
                class Datagrams(asyncio.DatagramProtocol):
                    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
                        take(f"{addr[0]}:{addr[1]}", data)

                transport, _ = await loop.create_datagram_endpoint(Datagrams, local_addr=(self.host, self.port))
                closer.callback(transport.close)
                address = transport.get_extra_info("sockname")[:2]
            else:
                async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    peer = writer.get_extra_info("peername")
                    try:
                        while line := await reader.readline():
                            take(f"{peer[0]}:{peer[1]}", line)
                    except ValueError:
                        counters.bad("tcp", f"{peer[0]}:{peer[1]}", "line too long: connection closed")
                    finally:
                        writer.close()

                server = await asyncio.start_server(serve, self.host, self.port, limit=1 << 20)
                closer.callback(server.close)
                address = server.sockets[0].getsockname()[:2]
            if not self.bound.done():
                self.bound.set_result((str(address[0]), int(address[1])))
            while True:
                peer, data = await queue.get()
                records = parse_payload(data, peer, counters, f"{self.protocol} listener")
                counters.counts["records"] += len(records)
                await pipeline.publish("ingest", records)


@dataclass(slots=True)
class RemoteIdReceivers:
    """Live Remote ID receiver lines from ``url`` (see docs/remoteid.md), as ``remoteid`` detections."""

    url: str
    receiver: Sensor

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"remoteid {self.url}")
        await pipeline.publish("ingest", [self.receiver])
        assembler = RemoteIdAssembler(sensor_id=self.receiver.id, ground_alt_m=self.receiver.alt)
        async with ReceiverStream(self.url) as stream:
            async for detection in live_detections(stream, assembler):
                counters.counts["detections"] += 1
                await pipeline.publish("ingest", [detection])
                counters.bad_input = Counter(stream.stats.rejected)
