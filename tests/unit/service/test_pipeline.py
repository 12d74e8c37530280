"""The live pipeline end to end: UDP and TCP JSON Lines in, tracks and alerts stored (on SQLite and on
PostgreSQL); bad lines counted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from dronewatch.config import IngestConfig
from dronewatch.service.pipeline import Pipeline
from dronewatch.service.sources import FileReplay, JsonLinesListener, Simulator
from dronewatch.sim.scenarios import built_in
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0


@pytest.fixture
def repo(database_url: str) -> Repository:
    """The same tests on SQLite and on a real PostgreSQL server (tests/conftest.py)."""
    repository = Repository(open_database(database_url))
    repository.ensure_site("station", "Border station", NOW)
    return repository


async def run_until_drained(pipeline: Pipeline, feed: asyncio.Future[None] | None = None) -> None:
    task = asyncio.create_task(pipeline.run())
    if feed is not None:
        await feed
    await asyncio.sleep(0.2)
    await pipeline.drain(180.0)  # a loaded 2-core CI machine takes its time over the simulator's backlog
    pipeline.stop()
    await task


def test_udp_lines_with_garbage_between_them_are_all_stored(repo: Repository,
                                                           scenario_lines: Callable[..., list[str]]) -> None:
    lines = scenario_lines(90.0, live=True)
    detections = sum('"type":"detection"' in line for line in lines)
    garbage = ["{not json\n", '{"type":"detection","t":"soon","sensor":"radar-1"}\n', "\n", "\x00\xff\n"]

    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=True, ingest=IngestConfig(zone_sources=("udp",)))
        listener = JsonLinesListener("udp", "127.0.0.1", 0)
        listener.bound = asyncio.get_running_loop().create_future()
        pipeline.add_source("udp", listener)

        async def feed() -> None:
            address = await listener.bound  # type: ignore[misc]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for k in range(0, len(lines), 20):
                    chunk = [*lines[k:k + 20], garbage[k // 20 % len(garbage)]]
                    sender.sendto("".join(chunk).encode(), address)
                    await asyncio.sleep(0.001)

        await run_until_drained(pipeline, asyncio.ensure_future(feed()))
        return pipeline

    pipeline = asyncio.run(scenario())
    assert repo.count("detections") == detections
    assert repo.count("track_points") > 0 and repo.count("sensors") == 7 and repo.count("zones") == 2
    stats = pipeline.stats()
    bad = stats["udp-0"]["bad_input"]
    assert sum(bad.values()) >= 3 and any("not JSON" in reason for reason in bad)
    assert stats["tracker"]["queue_dropped"] == 0


def test_tcp_and_a_file_replay_lose_nothing(repo: Repository, tmp_path: Path,
                                            scenario_lines: Callable[..., list[str]]) -> None:
    lines = scenario_lines(60.0)
    replay = tmp_path / "scenario.jsonl"
    replay.write_text("".join(lines[: len(lines) // 2]) + "garbage line\n")

    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=False, ingest_queue=100)  # a small queue: must wait, not drop
        pipeline.add_source("replay", FileReplay(str(replay), speed=0.0))
        await run_until_drained(pipeline, asyncio.sleep(0.5))  # type: ignore[arg-type]
        return pipeline

    pipeline = asyncio.run(scenario())
    sent = sum('"type":"detection"' in line for line in lines[: len(lines) // 2])
    assert repo.count("detections") == sent
    assert pipeline.stats()["replay"]["bad_input"] == {"not JSON": 1}


async def simulated_once(pipeline: Pipeline) -> None:
    while not pipeline.stage("simulator").counts["runs"]:
        await asyncio.sleep(0.1)


def test_the_simulator_source_raises_and_stores_alerts(repo: Repository) -> None:
    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=False)
        pipeline.add_source("simulator", Simulator(built_in("border-station", 1, 420.0), speed=0.0,
                                                         clock=lambda: NOW))
        await run_until_drained(pipeline, asyncio.create_task(simulated_once(pipeline)))
        return pipeline

    pipeline = asyncio.run(scenario())
    alerts = repo.alerts("station")
    assert any(a.kind == "zone_breach_predicted" and a.level == "critical" for a in alerts)
    assert repo.count("alert_events") >= len(alerts)
    assert pipeline.stats()["tracker"]["detections"] > 1000
    stored = repo.track_history("station", NOW, NOW + 420.0)
    assert {r.cls for r in stored} >= {"drone", "bird"}  # stored with the assessment's classes
