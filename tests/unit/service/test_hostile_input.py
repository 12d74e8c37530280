"""Hostile input at the live edge: every kind of bad line an outside probe sent (and a generated corpus of
broken lines), over UDP and over TCP, interleaved with a real scenario. Every valid detection is stored,
every bad line is counted by its reason, the tracks are exactly those of the clean run, and no stage fails."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from dronewatch.ingest.sources import JsonLinesListener
from dronewatch.model import Zone
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.hostile import designed_bad_lines, generated_bad_lines, interleave
from dronewatch.sim.scenarios import station_zones
from dronewatch.storage import Repository, open_database

SECONDS = 60.0


async def send_udp(address: tuple[str, int], lines: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for k in range(0, len(lines), 20):
            sender.sendto("".join(lines[k:k + 20]).encode("utf-8", errors="surrogateescape"), address)
            await asyncio.sleep(0.001)


async def send_tcp(address: tuple[str, int], lines: list[str]) -> None:
    _, writer = await asyncio.open_connection(*address)
    writer.write(b"x" * 100_000 + b"\n")  # a line over the limit: refused whole, the next one still read
    for k in range(0, len(lines), 50):
        writer.write("".join(lines[k:k + 50]).encode("utf-8", errors="surrogateescape"))
        await writer.drain()
        await asyncio.sleep(0.001)
    writer.close()
    await writer.wait_closed()


def run_feed(path: Path, protocol: str, lines: list[str], zones: list[Zone]) -> tuple[Repository, Pipeline]:
    repo = Repository(open_database(f"sqlite:///{path}"))
    repo.ensure_site("station", "Border station", time.time())
    for zone in zones:  # set through the API before: restored at start
        repo.put_zone("station", zone)

    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=True)
        listener = JsonLinesListener(protocol, "127.0.0.1", 0)
        listener.bound = asyncio.get_running_loop().create_future()
        pipeline.add_source(protocol, listener)
        task = asyncio.create_task(pipeline.run())
        address = await listener.bound
        await (send_udp if protocol == "udp" else send_tcp)(address, lines)
        await asyncio.sleep(0.3)
        await pipeline.drain(180.0)
        pipeline.stop()
        await task
        return pipeline

    return repo, asyncio.run(scenario())


def track_points(repo: Repository) -> list[tuple[object, ...]]:
    """Where every track was (a live picture's class is the one of the step done by then: a matter of timing)."""
    return [(r.id, r.t, round(r.lat, 9), round(r.lon, 9), round(r.alt, 4))
            for r in repo.track_history("station", 0.0, 4e9)]


@pytest.fixture(scope="module")
def feeds(scenario_lines: Callable[..., list[str]]) -> dict[str, object]:
    lines = [line for line in scenario_lines(SECONDS, live=True) if '"type":"zone"' not in line]
    now = time.time()
    designed = designed_bad_lines(now)
    generated = generated_bad_lines(lines, 300, seed=15)
    return {"valid": lines, "designed": designed, "generated": generated,
            "hostile": interleave(lines, [line for line, _ in designed] + generated, seed=15)}


@pytest.fixture(scope="module")
def clean(feeds: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> list[tuple[object, ...]]:
    repo, _ = run_feed(tmp_path_factory.mktemp("clean") / "dw.db", "udp", feeds["valid"],  # type: ignore[arg-type]
                       station_zones())
    points = track_points(repo)
    assert len(points) > 500 and repo.count("alerts") > 0
    return points


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_hostile_lines_among_a_real_scenario_change_nothing_but_counters(
        protocol: str, feeds: dict[str, object], clean: list[tuple[object, ...]], tmp_path: Path) -> None:
    valid: list[str] = feeds["valid"]  # type: ignore[assignment]
    designed: list[tuple[str, str]] = feeds["designed"]  # type: ignore[assignment]
    generated: list[str] = feeds["generated"]  # type: ignore[assignment]
    repo, pipeline = run_feed(tmp_path / "dw.db", protocol, feeds["hostile"], station_zones())  # type: ignore[arg-type]

    assert repo.count("detections") == sum('"type":"detection"' in line for line in valid)
    assert track_points(repo) == clean  # the tracks of the clean run, point for point
    assert {z.id for z in repo.zones("station")} == {z.id for z in station_zones()}  # no zone changed from outside
    stats = pipeline.stats()
    bad = Counter(stats[f"{protocol}-0"]["bad_input"])
    expected = Counter(category for _, category in designed) + Counter({"line too long": protocol == "tcp"})
    for category, count in expected.items():
        assert bad[category] >= count, (category, bad)
    assert bad.total() == len(designed) + len(generated) + (protocol == "tcp"), bad
    for stage in ("tracker", "assessment", "storage", f"{protocol}-0"):
        assert "restarts" not in stats.get(stage, {}), (stage, stats[stage])
        assert "internal error" not in stats.get(stage, {}).get("bad_input", {}), (stage, stats[stage])
