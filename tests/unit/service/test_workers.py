"""A site run as worker processes on a real NATS JetStream server: each stage killed with SIGKILL during ingest
and started again loses nothing and stores nothing twice; the API and operators' commands work across them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from test_commands import tracks_in_the_compound  # drones hovering over the compound

import dronewatch.bus.nats
from dronewatch.bus import InProcessBus, Message, subject
from dronewatch.bus.nats import NatsBus
from dronewatch.model import Detection
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.scenarios import station_sensors, station_zones
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0


@pytest.fixture
def workers() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """The workers a test starts, by part, killed at its end whatever happened."""
    running: dict[str, subprocess.Popen[str]] = {}
    yield running
    for process in running.values():
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start(config: Path, part: str, running: dict[str, subprocess.Popen[str]]) -> list[str]:
    """A worker running ``part``, its log in ``<part>.log`` beside the config (a pipe nobody reads would stall
    it once full); what it said up to its ready line."""
    log = config.parent / f"{part}.log"
    with log.open("a") as output:
        process = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "worker", part, "--config", str(config)],
                                   stderr=output, text=True)
    running[part] = process
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        said = log.read_text().splitlines()[-3:]
        ready = [n for n, line in enumerate(said) if line.startswith("dronewatch station: ")]
        if ready and (part != "api" or "password" in said[-1]):
            return said
        assert process.poll() is None, f"worker {part} ended: {log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"worker {part} did not start: {log.read_text()}")


def detections_in_the_stream(url: str) -> int:
    """The detection lines the sources put on the bus, read back from the server's stream."""
    async def count() -> int:
        client = await nats.connect(url)
        stream = client.jetstream()
        reader = await stream.pull_subscribe("dw.station.ingest", config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE))
        found = 0
        while True:
            try:
                messages = await reader.fetch(500, timeout=2.0)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            found += sum(m.data.count(b'"type":"detection"') for m in messages)
        await client.close()
        return found

    return asyncio.run(count())


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_kill_9_of_each_worker_during_ingest_loses_and_duplicates_nothing(
        tmp_path: Path, free_port: Callable[..., int], nats_server: Callable[..., AbstractContextManager[str]],
        workers: dict[str, subprocess.Popen[str]]) -> None:
    (tmp_path / "nats").mkdir()
    with nats_server(tmp_path / "nats") as url:
        port = free_port()
        config = tmp_path / "site.toml"
        config.write_text(f'[site]\nid = "station"\n[service]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
                          f'[bus]\nurl = "{url}"\n[sources]\nsimulate = "border-station"\nspeed = 10.0\n')
        said = start(config, "api", workers)
        password = said[-1].split("password '")[1].split("'")[0]
        for part in ("storage", "tracker", "assessment"):
            start(config, part, workers)
        repo = Repository(open_database(f"sqlite:///{tmp_path / 'data' / 'dronewatch.db'}"))
        start(config, "sources", workers)  # the simulator: about 150 detections/s at 10x
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            csrf = client.post("/api/login", json={"name": "admin", "password": password}).json()["csrf_token"]
            headers = {"X-CSRF-Token": csrf}
            until(lambda: bool(client.get("/api/sites/station/tracks", headers=headers).json()), 60,
                  "the API's live picture, from the bus")
            until(lambda: any(a["state"] == "open" for a in client.get("/api/sites/station/alerts",
                                                                       headers=headers).json()), 90, "an alert")
            for part in ("tracker", "assessment", "storage"):
                os.kill(workers[part].pid, signal.SIGKILL)
                workers[part].wait(10)
                time.sleep(1.0)  # the sources go on meanwhile
                start(config, part, workers)
            alert = next(a for a in client.get("/api/sites/station/alerts", headers=headers).json()
                         if a["state"] == "open")
            acknowledged = client.post(f"/api/sites/station/alerts/{alert['id']}/acknowledge",
                                       json={"comment": "seen"}, headers=headers)
            assert acknowledged.status_code in (200, 404), acknowledged.text  # 404: it resolved meanwhile
        workers["sources"].send_signal(signal.SIGTERM)
        workers["sources"].wait(30)
        sent = detections_in_the_stream(url)
        until(lambda: repo.count("detections") >= sent, 60,
              f"storage to catch up: {repo.count('detections')} of {sent}; {(tmp_path / 'storage.log').read_text()}")
        time.sleep(1.0)
        assert repo.count("detections") == sent > 1000  # none lost, none twice
        assert repo.verify_audit().ok


def test_storage_does_not_store_twice_what_the_bus_delivers_again(
        tmp_path: Path, nats_server: Callable[..., AbstractContextManager[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dronewatch.bus.nats, "ACK_WAIT_S", 1.0)
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repo.ensure_site("station", "Border station", NOW)
    detections = [Detection(t=NOW + k, sensor="rid-1", lat=31.78, lon=-106.53, alt=1200.0, uas_id="UAS1")
                  for k in range(200)]

    async def storage(url: str, acknowledges: bool) -> int:
        """A storage worker; one that does not acknowledge died between writing and acknowledging."""
        bus = await NatsBus.connect(url)
        pipeline = Pipeline("station", repo, bus, stages=["storage"], durable=True, view=False)
        if not acknowledges:
            pipeline._subscriptions["storage"].done = no_acknowledgement  # type: ignore[method-assign]
        running = asyncio.create_task(pipeline.run())
        await asyncio.sleep(0.5)
        if not acknowledges:
            for k in range(0, len(detections), 10):
                await bus.publish(Message(subject("station", "ingest"), records=detections[k:k + 10]))
        deadline = time.monotonic() + 20
        while pipeline.stage("storage").counts["detections"] + pipeline.stage("storage").counts[
                "redelivered_skipped"] * 10 < len(detections) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        pipeline.stop()
        await running
        await bus.close()
        return pipeline.stage("storage").counts["redelivered_skipped"]

    async def no_acknowledgement(*messages: Message) -> None:
        pass

    (tmp_path / "nats").mkdir()
    with nats_server(tmp_path / "nats") as url:
        assert asyncio.run(storage(url, acknowledges=False)) == 0
        assert repo.count("detections") == len(detections)
        skipped = asyncio.run(storage(url, acknowledges=True))  # the restarted worker gets them all again
    assert skipped == len(detections) // 10
    assert repo.count("detections") == len(detections)


def test_a_restarted_stage_numbers_on_from_what_it_last_published_when_storage_lags(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, set[str]]:
        bus = InProcessBus()
        first = Pipeline("station", None, bus, stages=["assessment"], view=False)
        running = asyncio.create_task(first.run())
        tracks = subject("station", "tracks")
        await bus.publish(Message(tracks, records=[*station_sensors(), *station_zones()]))
        for step in range(10):
            await bus.publish(Message(tracks, records=tracks_in_the_compound(NOW + step)))
        await first.drain()
        first.stop()
        await running
        assert first.assessor is not None
        opened = {a.id for a in first.assessor.book.open_alerts}
        # a new assessment whose storage has the sensors but no alerts yet (it lags): the bus's last state tells it
        empty = Repository(open_database(f"sqlite:///{tmp_path / 'empty.db'}"))
        empty.ensure_site("station", "Border station", NOW)
        for sensor in station_sensors():
            empty.put_sensor("station", sensor)
        second = Pipeline("station", empty, bus, stages=["assessment"], view=False)
        await second.restore(empty)
        assert second.assessor is not None
        return first.assessor.book.next_number, second.assessor.book.next_number, {
            a.id for a in second.assessor.book.open_alerts} ^ opened

    before, after, differing = asyncio.run(scenario())
    assert before > 1 and after == before and not differing
