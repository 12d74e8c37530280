"""Two neighbouring sites with overlapping coverage, each with its own pipeline, and their region.

The simulator flies one drone west to east across both sites' radars and RF direction finders; each
site's pipeline hears only its own sensors. The region's picture must hold the drone as one track
carrying both sites' identities, and its assessment must raise one alert per zone, where a plain
union of the two sites' tracks would raise two (both sites' tracks enter each zone). Once in one
process, once as three worker processes on NATS (each site's, and the region's with the API).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from dronewatch.bus import InProcessBus, Message, subject
from dronewatch.config import RegionConfig
from dronewatch.formats.scenario import record_to_dict, record_to_line
from dronewatch.geo import LocalFrame
from dronewatch.model import Alert, Detection, Record, Scan, Sensor, TrackReport, Truth, Zone
from dronewatch.service.pipeline import Pipeline
from dronewatch.service.region import RegionalPicture
from dronewatch.sim.custom import load_scenario
from dronewatch.sim.engine import SimScenario, generate


def station(number: int, east_m: float) -> str:
    """A station's radar and RF direction finder, ``east_m`` east of the first one, 2.2 km cover each."""
    return f"""
[[sensor]]
id = "radar-{number}"
kind = "radar"
east_m = {east_m}
north_m = 0
mast_m = 8
sigma = {{ range_m = 5.0, azimuth_deg = 0.5, elevation_deg = 0.5 }}
pd = 0.9
clutter_per_scan = 3
min_range_m = 80
max_range_m = 2200
max_elevation_deg = 60

[[sensor]]
id = "rf-{number}"
kind = "rf"
east_m = {east_m + 30}
north_m = 0
mast_m = 6
sigma = {{ azimuth_deg = 2.0 }}
pd = 0.9
max_range_m = 2200
"""


SCENARIO = """
[scenario]
name = "two-stations"
duration_s = 420
site = { lat = 31.70, lon = -106.40, alt = 1150.0 }
zone = []
""" + station(1, 0.0) + station(2, 3000.0) + """
[[object]]
type = "waypoints"
id = "crosser"
class = "drone"
rf_link = true
start = [-1500, 200, 60]
heading_deg = 90
waypoints = [[4500, 200, 60, 15]]
after = "exit"
"""

SITES = {"west": ("radar-1", "rf-1"), "east": ("radar-2", "rf-2")}
GATE_EAST_M = {"west": 1300.0, "east": 1700.0}
"""Each site's zone ``gate``, a square in the overlap of the two coverages (east of the west station)."""


def gate(frame: LocalFrame, east_m: float) -> Zone:
    corners = [(east_m - 100, 100), (east_m + 100, 100), (east_m + 100, 300), (east_m - 100, 300)]
    lat, lon, _ = frame.to_geodetic(np.array([(e, n, 0.0) for e, n in corners]))
    return Zone(id="gate", level="critical", floor_m=frame.alt0_m - 50, ceiling_m=frame.alt0_m + 400,
                polygon=tuple((float(x), float(y)) for x, y in zip(lon, lat, strict=True)))


def split_by_site(records: list[Record]
                  ) -> tuple[dict[str, list[Sensor]], list[tuple[float, str, Record]], list[Truth]]:
    site_of = {sensor: site for site, sensors in SITES.items() for sensor in sensors}
    sensors: dict[str, list[Sensor]] = defaultdict(list)
    timeline: list[tuple[float, str, Record]] = []
    truths: list[Truth] = []
    for record in records:
        if isinstance(record, Sensor):
            sensors[site_of[record.id]].append(record)
        elif isinstance(record, Detection | Scan):
            timeline.append((record.t, site_of[record.sensor], record))
        elif isinstance(record, Truth):
            truths.append(record)
    return sensors, timeline, truths


async def settled(pipelines: list[Pipeline]) -> None:
    """Every stage's queue empty twice in a row (a stage may be between two of them)."""
    quiet = 0
    while quiet < 3:
        busy = any(s.queue.qsize() for p in pipelines for s in p._subscriptions.values())
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(0.002)


def simulated(directory: Path, changes: dict[str, str] | None = None) -> tuple[SimScenario, list[Record]]:
    """The scenario, with ``changes`` (old text: new text) made to it, and its records (seed 11)."""
    text = SCENARIO
    for old, new in (changes or {}).items():
        assert old in text
        text = text.replace(old, new)
    (directory / "two.toml").write_text(text)
    scenario = load_scenario(directory / "two.toml", seed=11)
    return scenario, list(generate(scenario))


def test_a_drone_crossing_two_sites_is_one_regional_track_with_one_alert_per_zone(tmp_path: Path) -> None:
    scenario, records = simulated(tmp_path)
    sensors, timeline, truths = split_by_site(records)
    frame = scenario.site
    region = RegionConfig(id="border", sites=("west", "east"))

    async def run() -> tuple[list[list[TrackReport]], list[Alert], dict[str, list[Alert]]]:
        bus = InProcessBus()
        sites = {name: Pipeline(name, bus=bus, live=False, stages=("tracker", "assessment"), view=False)
                 for name in SITES}
        regional = Pipeline(region.id, bus=bus, live=False, stages=("assessment",), view=False, region=True)
        regional.add_source("regional", RegionalPicture(region))
        pictures = bus.subscribe(subject(region.id, "picture"), maxsize=100_000)
        region_alerts = bus.subscribe(subject(region.id, "alerts"), maxsize=100_000)
        site_alerts = {name: bus.subscribe(subject(name, "alerts"), maxsize=100_000) for name in SITES}
        everything = [*sites.values(), regional]
        runs = [asyncio.create_task(p.run()) for p in everything]
        for name, pipeline in sites.items():
            await pipeline.publish("ingest", [*sensors[name], gate(frame, GATE_EAST_M[name])])
        await settled(everything)
        second = None
        for t, name, record in sorted(timeline, key=lambda item: item[0]):
            if second is not None and int(t) != second:
                await settled(everything)
            second = int(t)
            await bus.publish(Message(subject(name, "ingest"), records=[record]))
        await settled(everything)
        await asyncio.sleep(0.05)
        for pipeline in everything:
            pipeline.stop()
        await asyncio.gather(*runs)

        def drained(subscription: object) -> list[list[Record]]:
            queue = subscription.queue  # type: ignore[attr-defined]
            return [list(queue.get_nowait().records) for _ in range(queue.qsize())]
        picture = [[r for r in m if isinstance(r, TrackReport)] for m in drained(pictures)]
        alerts = [r for m in drained(region_alerts) for r in m if isinstance(r, Alert)]
        by_site = {name: [r for m in drained(s) for r in m if isinstance(r, Alert)] for name, s in site_alerts.items()}
        return picture, alerts, by_site

    picture, alerts, site_alerts = asyncio.run(run())

    # both sites guard their own zone: each raised its own alert
    for name in SITES:
        assert "gate" in {a.zone for a in site_alerts[name]}, site_alerts[name]

    drone = {round(t.t): t for t in truths}
    near_drone: list[list[TrackReport]] = []
    for reports in picture:
        if reports and (truth := drone.get(round(reports[0].t))) is not None:
            where = frame.positions_of([truth])[0]
            near_drone.append([r for r in reports
                               if np.linalg.norm(frame.positions_of([r])[0] - where) < 150.0])
    assert near_drone
    # one regional track on the drone at (almost) every update, always the same one
    assert sum(len(near) == 1 for near in near_drone) >= 0.95 * len(near_drone)
    ids = {r.id for near in near_drone for r in near}
    assert len(ids) == 1, ids
    # in the overlap it carries both sites' tracks
    both = [near[0] for near in near_drone
            if len(near) == 1 and {m.split("/")[0] for m in near[0].members or ()} == {"west", "east"}]
    crossing_s = 700.0 / 15.0  # the overlap, 800 to 2200 m east, less the time a new track takes
    assert len({round(r.t) for r in both}) >= 0.8 * crossing_s
    assert all(s.split("/")[0] in SITES for r in both for s in r.sensors or ())

    # one alert per zone and kind, each on the regional track
    per_zone: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    for alert in alerts:
        per_zone[(alert.zone, alert.kind)].add(alert.id)
    entries = {zone: ids_ for (zone, kind), ids_ in per_zone.items() if kind == "zone_entry"}
    assert set(entries) == {"west/gate", "east/gate"}, per_zone
    assert all(len(found) == 1 for found in entries.values()), per_zone
    assert all(len(found) == 1 for found in per_zone.values()), per_zone
    assert {a.track for a in alerts} == ids


def one_per_zone(alerts: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Alert ids by zone, of the zone-entry alerts."""
    found: dict[str, set[str]] = defaultdict(set)
    for alert in alerts:
        if alert["kind"] == "zone_entry":
            found[alert["zone"]].add(alert["id"])
    return found


def test_two_sites_and_their_region_as_worker_processes_on_nats(tmp_path: Path, nats_url: str,
                                                                free_port: Callable[..., int]) -> None:
    """Each site one worker process reading UDP, the region another with the API; the test sends both
    sites' lines in time order at 12 times real time (a shorter flight: 3.6 km in 240 s)."""
    scenario, records = simulated(tmp_path, {"start = [-1500,": "start = [-300,", "[[4500, 200": "[[3300, 200",
                                             "duration_s = 420": "duration_s = 240"})
    sensors, timeline, _ = split_by_site(records)
    ports = {name: free_port(socket.SOCK_DGRAM) for name in SITES}
    http_port = free_port()
    common = (f'[bus]\nurl = "{nats_url}"\n[ingest]\nmax_age_s = 1e9\nmax_future_s = 1e9\n'
              '[[regions]]\nid = "border"\nsites = ["west", "east"]\n')
    processes: list[subprocess.Popen[str]] = []
    try:
        for name in SITES:
            (tmp_path / name).mkdir()
            config = tmp_path / f"{name}.toml"
            config.write_text(f'[site]\nid = "{name}"\n[service]\ndata_dir = "{tmp_path / name}"\n'
                              f'[sources]\nudp = "127.0.0.1:{ports[name]}"\n{common}')
            processes.append(worker(config, "sources", "tracker", "assessment", "storage"))
        (tmp_path / "region").mkdir()
        config = tmp_path / "region.toml"
        config.write_text(f'[site]\nid = "west"\n[service]\nport = {http_port}\ndata_dir = "{tmp_path / "region"}"\n'
                          f'{common}')
        processes.append(worker(config, "api", "region"))
        password = ready(tmp_path / "region.log", "password '")[-1].split("password '")[1].split("'")[0]
        for name in SITES:
            ready(tmp_path / f"{name}.log")
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}") as client:
            csrf = client.post("/api/login", json={"name": "admin", "password": password}).json()["csrf_token"]
            assert {s["id"] for s in client.get("/api/sites").json()} == {"west", "east", "border"}
            for name in SITES:  # through the one API, onto each site's own ingest
                zone = record_to_dict(gate(scenario.site, GATE_EAST_M[name]))
                body = {key: zone[key] for key in ("level", "floor_m", "ceiling_m", "polygon")}
                put = client.put(f"/api/sites/{name}/zones/gate", json=body, headers={"X-CSRF-Token": csrf})
                assert put.status_code == 200, put.text
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for name in SITES:
                sender.sendto("".join(record_to_line(r) for r in sensors[name]).encode(), ("127.0.0.1", ports[name]))
            time.sleep(0.5)
            started = time.monotonic()
            by_second: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
            for t, name, record in timeline:
                by_second[int(t - scenario.t0)][name].append(record_to_line(record))
            for second in sorted(by_second):
                time.sleep(max(0.0, started + second / 12.0 - time.monotonic()))
                for name, lines in by_second[second].items():
                    sender.sendto("".join(lines).encode(), ("127.0.0.1", ports[name]))
            deadline = time.monotonic() + 30
            while len(one_per_zone(alerts := client.get("/api/sites/border/alerts").json())) < 2:
                assert time.monotonic() < deadline, alerts
                time.sleep(0.5)
            assert {z["id"] for z in client.get("/api/sites/border/zones").json()} == {"west/gate", "east/gate"}
            tracks = client.get("/api/sites/border/tracks/history", params={"from": scenario.t0,
                                                                           "to": scenario.t0 + 300}).json()
        entries = one_per_zone(alerts)
        assert set(entries) == {"west/gate", "east/gate"} and all(len(i) == 1 for i in entries.values()), alerts
        assert len({a["track"] for a in alerts if a["kind"] == "zone_entry"}) == 1, alerts
        # stored: the alerted regional track from the first second of the flight to its last
        seconds = [t["t"] - scenario.t0 for t in tracks if t["id"] == alerts[0]["track"]]
        assert min(seconds) < 5 and max(seconds) > 230
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def worker(config: Path, *parts: str) -> subprocess.Popen[str]:
    """A worker process, its log beside its config (a pipe nobody reads would stall it once full)."""
    with (config.parent / f"{config.stem}.log").open("a") as log:
        return subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "worker", *parts, "--config", str(config)],
                                stderr=log, text=True)


def ready(log: Path, wanted: str = "dronewatch ") -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        said = log.read_text().splitlines() if log.exists() else []
        if any(wanted in line for line in said):
            return said
        time.sleep(0.05)
    raise AssertionError(f"{log.name}: not started: {log.read_text()}")
