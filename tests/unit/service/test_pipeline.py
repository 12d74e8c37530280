"""The live pipeline end to end: UDP and TCP JSON Lines in, tracks and alerts stored (on SQLite and on
PostgreSQL); bad lines counted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from dronewatch.api.commands import CommandSender
from dronewatch.assessment import AssessmentConfig
from dronewatch.assessment.commands import Command
from dronewatch.config import IngestConfig
from dronewatch.ingest.gate import INPUT_TYPES, Origin
from dronewatch.ingest.sources import FileReplay, JsonLinesListener, Simulator
from dronewatch.model import Detection, Record, TrackReport
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim import engine
from dronewatch.sim.scenarios import built_in, station_sensors, station_zones
from dronewatch.storage import Repository, open_database
from dronewatch.tracking import StreamTracker, Tracker, TrackerConfig

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
    # the replay is trusted for zones (ingest.zone_sources by default): each zone it set is in the audit log
    audited = [r for r in repo.audit_records() if r["action"] == "zone.put"]
    assert {(r["actor"], r["target"]) for r in audited} == {("source replay", f"site/station/zone/{z.id}")
                                                            for z in repo.zones("station")}
    assert len(audited) == 2 and repo.verify_audit().ok


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


class FlakySource:
    """A source that fails on its first run after some records, as a bug or a dead socket would."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.runs = 0

    async def __call__(self, pipeline: Pipeline) -> None:
        self.runs += 1
        half = len(self.records) // 2
        if self.runs == 1:
            await pipeline.admit(self.records[:half], Origin("replay", live=False), pipeline.stage("flaky"), "t")
            raise ConnectionResetError("the source's socket went away")
        await pipeline.admit(self.records[half:], Origin("replay", live=False), pipeline.stage("flaky"), "t")


class TrackerWithABug(Tracker):
    """The real tracker, failing on one scan (as a bug on an input nobody foresaw would)."""

    def process(self, sensor_id: str, t: float, detections: Sequence[Detection]) -> None:
        if any(d.snr_db == 13.0 for d in detections):
            raise IndexError("a bug")
        super().process(sensor_id, t, detections)


class DatabaseAway(Repository):
    """The real repository, whose database is unreachable for the first writes and refuses one row."""

    def __init__(self, repo: Repository, away_for: int) -> None:
        super().__init__(repo.engine)
        self.away_for = away_for

    def store(self, site_id: str, **records: Any) -> None:
        if self.away_for > 0:
            self.away_for -= 1
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        if any(d.sensor == "radar-1" and d.snr_db == 13.0 for d in records.get("detections", ())):
            raise DataError("INSERT", {}, Exception("value too long"))
        super().store(site_id, **records)


def test_a_source_that_fails_is_restarted_and_goes_on(repo: Repository) -> None:
    records = [r for r in engine.generate(built_in("border-station", 3, 60.0)) if isinstance(r, INPUT_TYPES)]
    source = FlakySource(records)

    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=False)
        pipeline.add_source("flaky", source)
        await run_until_drained(pipeline, asyncio.sleep(1.5))  # type: ignore[arg-type]
        return pipeline

    pipeline = asyncio.run(scenario())
    assert source.runs == 2 and pipeline.stats()["flaky"]["restarts"] == 1
    assert repo.count("detections") == sum(isinstance(r, Detection) for r in records)


def test_a_fault_in_a_stage_costs_its_record_only_and_storage_waits_for_its_database(repo: Repository) -> None:
    records = [r for r in engine.generate(built_in("border-station", 3, 60.0)) if isinstance(r, INPUT_TYPES)]
    radar_scans = [r.t for r in records if isinstance(r, Detection) and r.sensor == "radar-1"]
    poisoned_t = radar_scans[len(radar_scans) // 2]
    records = [replace(r, snr_db=13.0) if isinstance(r, Detection) and r.t == poisoned_t and r.sensor == "radar-1"
               else r for r in records]
    poisoned = sum(isinstance(r, Detection) and r.snr_db == 13.0 for r in records)
    flaky = DatabaseAway(repo, away_for=2)

    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", flaky, live=False)
        pipeline.stream = StreamTracker(TrackerWithABug(), immediate=True)
        pipeline.add_source("replay", FlakySource(records))
        await run_until_drained(pipeline, asyncio.sleep(1.5))  # type: ignore[arg-type]
        return pipeline

    pipeline = asyncio.run(scenario())
    stats = pipeline.stats()
    assert stats["tracker"]["bad_input"] == {"internal error": 1}  # the one scan, contained
    assert "restarts" not in stats["tracker"] and "restarts" not in stats["storage"]
    assert stats["tracker"]["snapshots"] > 50  # the tracker went on after it
    assert stats["storage"]["store_retries"] == 2  # the batch kept while the database was away
    assert stats["storage"]["bad_input"] == {"internal error": poisoned}  # the refused rows alone
    assert repo.count("detections") == sum(isinstance(r, Detection) for r in records) - poisoned
    assert repo.count("track_points") > 0


def test_stored_zones_are_in_force_at_start_and_a_deleted_one_leaves_force(repo: Repository) -> None:
    for sensor in station_sensors():
        repo.put_sensor("station", sensor)
    for zone in station_zones():
        repo.put_zone("station", zone)

    async def scenario() -> tuple[list[str], list[str]]:
        pipeline = Pipeline("station", repo, live=False)
        task = asyncio.create_task(pipeline.run())
        for _ in range(1500):  # until the site's state, as restored, is on the bus (a loaded machine is slow)
            if pipeline.site.zones:
                break
            await asyncio.sleep(0.02)
        before = [z.id for z in pipeline.site.zones]
        repo.delete_zone("station", "compound")
        # what DELETE /api/sites/station/zones/compound does: the assessment takes it out of force
        result = await CommandSender(pipeline.bus, "station").send(Command.new("delete_zone", "compound", "ada", NOW))
        assert result.status == "done"
        await pipeline.drain()
        after = [z.id for z in pipeline.site.zones]
        pipeline.stop()
        await task
        return before, after

    before, after = asyncio.run(scenario())
    assert sorted(before) == ["approach", "compound"] and after == ["approach"]


def test_the_site_configuration_tunes_the_pipelines_tracker_and_threat_rules(repo: Repository) -> None:
    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=False, tracking=TrackerConfig(confirm_hits=4),
                            assessment=AssessmentConfig(critical_horizon_s=90.0))
        pipeline.add_source("simulator", Simulator(built_in("border-station", 1, 60.0), speed=0.0,
                                                         clock=lambda: NOW))
        await run_until_drained(pipeline, asyncio.create_task(simulated_once(pipeline)))
        return pipeline

    pipeline = asyncio.run(scenario())
    assert pipeline.stream.tracker.config.confirm_hits == 4
    assert pipeline.assessor is not None and pipeline.assessor.config.critical_horizon_s == 90.0
    assert pipeline.stats()["tracker"]["detections"] > 100


@pytest.mark.parametrize("live", [True, False])
def test_live_a_scan_without_a_scan_line_is_tracked_once_the_feed_pauses(live: bool) -> None:
    """A Remote ID receiver writes no scan lines: its scan is known whole only from a later line. Live, a
    pause in the feed closes it (a quiet site does not wait a scan period); a replay waits for the line."""
    receiver = next(s for s in station_sensors() if s.kind == "remoteid")
    reports = [Detection(t=NOW + k, sensor=receiver.id, lat=31.70 + 1e-5 * k, lon=-106.40, alt=1200.0,
                         uas_id="RID-1") for k in range(5)]

    async def scenario() -> set[float]:
        pipeline = Pipeline("station", live=live)
        seen: set[float] = set()
        tracks = pipeline.bus.subscribe("dw.station.tracks")
        task = asyncio.create_task(pipeline.run())
        await pipeline.admit([receiver, *reports], Origin("replay", live=False), pipeline.stage("test"), "test")

        async def read() -> None:
            while (message := await tracks.get()) is not None:
                seen.update(r.t for r in message.records or () if isinstance(r, TrackReport))

        reader = asyncio.create_task(read())
        await asyncio.sleep(1.0)
        reader.cancel()
        pipeline.stop()
        await task
        return seen

    seen = asyncio.run(scenario())
    assert NOW + 3 in seen  # closed by the next line in either case
    assert (NOW + 4 in seen) is live
