"""Where the pipeline's records come from: file replay, the simulator, UDP and TCP JSON Lines
listeners, live Remote ID receivers and ADS-B receivers. Each is a callable ``source(pipeline)`` run (and
supervised: restarted with back-off if it fails) by the pipeline. Every record goes through
:meth:`Pipeline.admit`, the site's edge; bad input is counted in the source's own stage counters.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from dronewatch.clock import Pacer
from dronewatch.errors import FormatError
from dronewatch.formats.scenario import MAX_LINE_CHARS, parse_line
from dronewatch.ingest.adsb import ModeSDecoder, live_feed
from dronewatch.ingest.asterix import DROP_REASONS, AsterixDecoder, live_asterix, system_detection
from dronewatch.ingest.gate import INPUT_TYPES, Origin
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.ingest.remoteid_live import ReceiverStream, live_detections
from dronewatch.model import Record, Sensor, TrackReport, Truth
from dronewatch.service.worker import StageCounters, bounded_category, parse_payload
from dronewatch.sim import engine
from dronewatch.sim.engine import SimScenario

if TYPE_CHECKING:
    from dronewatch.service.pipeline import Pipeline


async def _paced(pipeline: Pipeline, records: Iterable[Record], speed: float, counters: StageCounters,
                 origin: Origin) -> None:
    """Admit records at ``speed`` times their own pace (0: as fast as the pipeline takes them)."""
    pacer = Pacer(speed)
    batch: list[Record] = []
    for record in records:
        if not isinstance(record, INPUT_TYPES):
            continue  # truth and tracks are not sensor input
        t = getattr(record, "t", None)
        if t is not None:
            wait = pacer.delay_s(t)
            if wait > 0:
                await pipeline.admit(batch, origin, counters, origin.name)
                batch = []
                await asyncio.sleep(wait)
        batch.append(record)
        counters.counts["records"] += 1
        if len(batch) >= 200:
            await pipeline.admit(batch, origin, counters, origin.name)
            batch = []
    await pipeline.admit(batch, origin, counters, origin.name)


def _socket_rejects(stream: ReceiverStream, counters: StageCounters) -> None:
    """What the socket layer refused (lines too long, undecodable receiver lines), by category, as counted."""
    totals: Counter[str] = Counter()
    for reason, count in stream.stats.rejected.items():
        totals[bounded_category(counters.bad_input, reason)] += count
    for category, count in totals.items():
        counters.bad_input[category] = max(counters.bad_input[category], count)


@dataclass(slots=True)
class FileReplay:
    """A scenario JSON Lines file, at ``speed`` times real time (0: as fast as possible)."""

    path: str
    speed: float = 1.0
    lines_read: int = 0
    """How far the replay has gone: restarted after a failure, it goes on from there."""

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage("replay")
        source = Path(self.path).name

        def records() -> Iterable[Record]:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle, start=1):
                    if number <= self.lines_read:
                        continue  # admitted before the restart
                    self.lines_read = number
                    try:
                        record = parse_line(line, source=source, line=number)
                    except FormatError as error:
                        counters.bad("replay", f"{source}:{number}", error.reason)
                        continue
                    if record is not None:
                        yield record

        await _paced(pipeline, records(), self.speed, counters, Origin("replay", live=False))


@dataclass(slots=True)
class Simulator:
    """The simulator in process, at ``speed`` times real time, starting at ``clock()``.

    With ``repeat`` the scenario starts again when it ends, with the next seed and time going
    on, so a simulated site (the demo) stays live until the service stops.
    """

    scenario: SimScenario
    speed: float = 1.0
    repeat: bool = False
    clock: Callable[[], float] = time.time

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage("simulator")
        first = replace(self.scenario, t0=self.clock())

        def records() -> Iterator[Record]:
            for run in itertools.count():
                scenario = replace(first, seed=first.seed + run, t0=first.t0 + run * first.duration_s)
                yield from (r for r in engine.generate(scenario) if not isinstance(r, Truth))
                counters.counts["runs"] += 1
                if not self.repeat:
                    return

        await _paced(pipeline, records(), self.speed, counters, Origin("simulate", live=False))


@dataclass(slots=True)
class JsonLinesListener:
    """Scenario JSON Lines over UDP (one or more lines a datagram) or TCP (receivers connect and push),
    through the same socket handling as the live Remote ID receivers."""

    protocol: str
    host: str
    port: int
    bound: asyncio.Future[tuple[str, int]] | None = field(default=None)

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"{self.protocol}-{self.port}")
        self.bound = self.bound or asyncio.get_running_loop().create_future()
        scheme = "udp" if self.protocol == "udp" else "tcp-listen"
        origin = Origin(self.protocol)
        async with ReceiverStream(f"{scheme}://{self.host}:{self.port}", max_line_bytes=MAX_LINE_CHARS) as stream:
            assert stream.address is not None
            if not self.bound.done():
                self.bound.set_result((str(stream.address[0]), int(stream.address[1])))
            async for _, peer, lines in stream.chunks():
                counters.counts["bytes"] += sum(len(line) + 1 for line in lines)
                records = parse_payload(b"\n".join(lines), peer, counters, self.protocol)
                _socket_rejects(stream, counters)
                counters.counts["records"] += len(records)
                await pipeline.admit(records, origin, counters, peer)


@dataclass(slots=True)
class RemoteIdReceivers:
    """Live Remote ID receiver lines from ``url`` (see docs/remoteid.md), as ``remoteid`` detections."""

    url: str
    receiver: Sensor

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"remoteid {self.url}")
        origin = Origin("remoteid")
        await pipeline.admit([self.receiver], origin, counters, "configuration")
        assembler = RemoteIdAssembler(sensor_id=self.receiver.id, ground_alt_m=self.receiver.alt)
        async with ReceiverStream(self.url) as stream:
            async for detection in live_detections(stream, assembler):
                counters.counts["detections"] += 1
                await pipeline.admit([detection], origin, counters, self.url)
                _socket_rejects(stream, counters)


@dataclass(slots=True)
class AdsbReceiver:
    """A site's ADS-B receiver (dump1090, readsb) over TCP, ``FORMAT+tcp://HOST:PORT``, as ``adsb`` detections:
    one per decoded position. Frames and lines that cannot be decoded are counted by reason in the stage's
    bad-input counters; the connection is re-opened with back-off when it drops (the pipeline restarts the
    source). The decoder, and so what it knows of each aircraft, outlives a reconnection."""

    url: str
    receiver: Sensor
    decoder: ModeSDecoder = field(init=False)

    def __post_init__(self) -> None:
        self.decoder = ModeSDecoder((self.receiver.lat, self.receiver.lon))

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"adsb {self.url}")
        origin = Origin("adsb")
        await pipeline.admit([self.receiver], origin, counters, "configuration")
        async for messages in live_feed(self.url, self.decoder):
            detections = [d for d in (self.decoder.detection(m, self.receiver.id) for m in messages) if d is not None]
            counters.counts["messages"] += len(messages)
            counters.counts["detections"] += len(detections)
            for kind in ("crc_failed", "undecodable", "unheard_address", "implausible_position", "bad_line",
                         "beast_error"):
                if self.decoder.counts[kind]:
                    counters.bad_input[kind] = self.decoder.counts[kind]
            if detections:
                await pipeline.admit(detections, origin, counters, self.url)


@dataclass
class AsterixReceiver:
    """Live ASTERIX feeds over UDP (``sources.asterix``): the CAT048 plots and CAT034 scans of the radars
    configured by SAC/SIC as radar detections and scans; the CAT062 tracks of the ``systems`` configured
    (the sensors they report as) as position reports of aircraft with a Mode S address (those without one
    are counted, ``system_tracks_without_address``). What is not taken (garbage, duplicates, unknown sources,
    plots without a height) is counted by reason in the stage's bad-input counters. Decoding runs off the
    event loop."""

    urls: tuple[str, ...]
    decoder: AsterixDecoder
    systems: list[Sensor] = field(default_factory=list)

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage("asterix")
        origin = Origin("asterix")
        await pipeline.admit([*self.decoder.radars.values(), *self.systems], origin, counters, "configuration")
        async for records in live_asterix(self.urls, self.decoder, clock=pipeline.clock):
            taken: list[Record] = []
            for record in records:
                if not isinstance(record, TrackReport):
                    taken.append(record)
                elif (report := system_detection(record)) is not None:
                    taken.append(report)
                else:
                    counters.counts["system_tracks_without_address"] += 1
            counters.counts["records"] += len(records)
            for reason, count in self.decoder.counts.items():
                if reason in DROP_REASONS and count:
                    counters.bad_input[reason] = count
            if taken:
                await pipeline.admit(taken, origin, counters, "asterix")
