"""kill -9 during ingest, then a restart: nothing acknowledged or stored is lost, the audit chain holds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from dronewatch.formats.scenario import record_to_line
from dronewatch.geo.frames import LocalFrame, enu2aer
from dronewatch.model import Detection, Scan, Sensor
from dronewatch.sim.scenarios import SITE, station_sensors, station_zones
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


def radar_scan(radar: Sensor, east_north_up: tuple[float, float, float], t: float) -> list[str]:
    """One scan of the radar seeing one target at a point of the site frame (no noise)."""
    lat, lon, alt = SITE.to_geodetic(np.array(east_north_up))
    local = LocalFrame(radar.lat, radar.lon, radar.alt).from_geodetic(lat, lon, alt)
    azimuth, elevation, slant = enu2aer(*local)
    return [record_to_line(Detection(t=t, sensor=radar.id, range_m=float(slant), azimuth_deg=float(azimuth),
                                      elevation_deg=float(elevation))),
            record_to_line(Scan(t=t, sensor=radar.id))]


def test_a_restarted_site_is_guarded_before_its_sensors_speak_again(
        tmp_path: Path, free_port: Callable[..., int], started: list[subprocess.Popen[str]]) -> None:
    """Sensors declared over UDP and a zone set through the API; kill -9; restarted, the radar's detections
    are taken without its sensor line, and a drone flying into the zone raises the zone's alert."""
    port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    config = tmp_path / "site.toml"
    config.write_text(f'[site]\nid = "station"\n[service]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[sources]\nudp = "127.0.0.1:{udp_port}"\n')
    process, said = start(config, started)
    password = next(line for line in [*said, process.stderr.readline()]  # type: ignore[union-attr]
                    if "password '" in line).split("password '")[1].split("'")[0]
    radar = station_sensors()[0]
    compound = station_zones()[0]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        csrf = client.post("/api/login", json={"name": "admin", "password": password}).json()["csrf_token"]
        headers = {"Authorization": "Bearer " + client.post(
            "/api/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf}).json()["token"]}
        client.cookies.clear()
        body = {"level": compound.level, "floor_m": compound.floor_m, "ceiling_m": compound.ceiling_m,
                "polygon": [list(p) for p in compound.polygon]}
        assert client.put(f"/api/sites/station/zones/{compound.id}", json=body, headers=headers).status_code == 200
        sender.sendto(record_to_line(radar).encode(), ("127.0.0.1", udp_port))
        deadline = time.monotonic() + 30
        while not client.get("/api/sites/station/sensors", headers=headers).json():
            assert time.monotonic() < deadline, "the radar's sensor line was not stored"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

        again, said_again = start(config, started)
        try:
            assert any(line.startswith("restored from storage: 1 sensor(s), 1 zone(s) in force")
                       for line in said_again), said_again
            alert = None
            deadline = time.monotonic() + 90
            for k in range(90):  # 15 m/s from 600 m west of the compound's centre, 60 m up, straight in
                now = time.time()
                for line in radar_scan(radar, (-600.0 + 15.0 * k, 0.0, 60.0), round(now, 3)):
                    sender.sendto(line.encode(), ("127.0.0.1", udp_port))
                alerts = client.get("/api/sites/station/alerts", headers=headers).json()
                alert = next((a for a in alerts if a.get("zone") == compound.id and a["level"] != "info"), None)
                if alert is not None or time.monotonic() > deadline:
                    break
                time.sleep(max(0.0, now + 1.0 - time.time()))
            assert alert is not None, alerts
            assert alert["kind"] in ("zone_breach_predicted", "zone_entry"), alert
            stats = client.get("/api/stats", headers=headers).json()["station"]
            listener = stats[f"udp-{udp_port}"]
            # none refused for want of a sensor line
            assert listener["bad_input"] == {} and listener["records"] > 10, listener
        finally:
            sender.close()
            again.send_signal(signal.SIGINT)
            again.wait(20)
