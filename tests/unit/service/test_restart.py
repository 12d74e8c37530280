"""kill -9 during ingest, then a restart: nothing acknowledged or stored is lost, the audit chain holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dronewatch.storage import Repository, open_database


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """The services a test starts, killed at its end whatever happened: a service left behind would run
    its simulation for the rest of the CI job."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start(config: Path, started: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "serve", "--config", str(config)],
                               stderr=subprocess.PIPE, text=True)
    started.append(process)
    said: list[str] = []
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # up to the line with the URL: the service is up
        said.append(process.stderr.readline())
        if said[-1].startswith("dronewatch station: http"):
            break
    return process, said


def test_kill_9_and_restart(tmp_path: Path, free_port: Callable[..., int], started: list[subprocess.Popen[str]]
                            ) -> None:
    port = free_port()
    config = tmp_path / "site.toml"
    config.write_text(f'[site]\nid = "station"\n[service]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
                      '[sources]\nsimulate = "border-station"\nspeed = 20.0\n')
    process, _ = start(config, started)
    password_line = process.stderr.readline()  # type: ignore[union-attr]
    password = password_line.split("password '")[1].split("'")[0]
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as client:
        csrf = client.post("/api/login", json={"name": "admin", "password": password}).json()["csrf_token"]
        headers = {"Authorization": "Bearer " + client.post(
            "/api/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf}).json()["token"]}
        client.cookies.clear()
        deadline = time.monotonic() + 60
        alert = None
        while alert is None and time.monotonic() < deadline:
            alert = next((a for a in client.get("/api/sites/station/alerts", headers=headers).json()
                          if a["state"] == "open"), None)
            time.sleep(0.2)
        assert alert is not None, "no alert within a minute"
        acked = client.post(f"/api/sites/station/alerts/{alert['id']}/acknowledge", json={"comment": "seen"},
                            headers=headers)
        assert acked.status_code == 200
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'data' / 'dronewatch.db'}"))
    stored_before = repo.count("track_points")
    assert stored_before > 0
    os.kill(process.pid, signal.SIGKILL)  # during ingest: the simulator is still running
    process.wait(10)

    again, said_again = start(config, started)
    try:
        assert not any("first start" in line for line in said_again)  # the admin is not created twice
        assert any(line.startswith("restored from storage: 7 sensor(s), 2 zone(s) in force") for line in said_again)
        assert repo.count("track_points") >= stored_before
        deadline = time.monotonic() + 60
        while repo.alert_events("station", alert["id"])[-1]["state"] != "resolved" and time.monotonic() < deadline:
            time.sleep(0.2)  # the restored alert clears when its track does not come back
        events = repo.alert_events("station", alert["id"])
        states = [e["state"] for e in events]
        assert "acknowledged" in states and states[-1] == "resolved"
        assert events[states.index("acknowledged")]["comment"] == "seen"
        assert repo.verify_audit().ok
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(20)
    assert again.returncode == 0
