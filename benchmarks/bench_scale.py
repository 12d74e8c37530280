"""Scale-out: 1,000 targets at 1 Hz (radar, RF and Remote ID mixed) through the embedded service and through
NATS with the tracker and the assessment as worker processes; then 1, 2 and 4 sites on one NATS server.

Set-up per site: SQLite in a temporary directory, a UDP JSON Lines source, the API on 127.0.0.1, and
either ``dronewatch serve`` (one process, in-process bus) or ``dronewatch worker`` processes on a
NATS JetStream server started here: ``api sources outputs`` in one, ``tracker``, ``assessment``
and ``storage`` one each. This process sends the datagrams and reads the site's WebSocket stream.

Targets fly straight and level at 12 m/s, 600-2500 m out, many of them inbound (alerts come).
Every second: one radar scan of all of them, an RF bearing from each of the two direction
finders for the 30 % that carry a control link, and a Remote ID position for the 20 % that
broadcast one. Measured at the WebSocket, after the first 10 s (tracks starting):

- picture interval: time between the arrivals of successive pictures (first track line of each scan time);
- track latency: scan datagram sent -> first track line with that scan's time;
- alert latency: scan datagram sent -> an opening alert line with that scan's time;
- sustained: detections sent per second while the pictures keep up (the last picture's scan time
  is at most 2 s behind the last scan sent).

With ``--kill``: one site as workers at ``--kill-targets`` (about 300 detections/s); at 15, 25 and
35 s the tracker, the assessment and the storage worker are killed with SIGKILL and started again.
Reported: the detections on the bus's stream (read back from the server), stored, lost and stored
twice, and whether the audit chain holds; writes ``bench_scale_kill.md``.

Run: ``python3 dev.py bench benchmarks/bench_scale.py`` (a quiet machine: nothing else running);
``--quick`` for a short run. Writes ``benchmarks/results/bench_scale.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import numpy as np
import websockets
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench_latency import datagrams, free_port, nats_server
from dronewatch.formats.scenario import record_to_line
from dronewatch.geo import enu2aer
from dronewatch.model import Detection, Scan
from dronewatch.sim.scenarios import SITE, station_sensors, station_zones
from dronewatch.storage import Repository, open_database

HERE = Path(__file__).resolve().parent
WARM_S = 10
WORKERS = (("api", "sources", "outputs"), ("tracker",), ("assessment",), ("storage",))


@dataclass
class Site:
    site_id: str
    http_port: int
    udp_port: int
    password: str = ""
    sent: dict[float, float] = field(default_factory=dict)
    picture_at: dict[float, float] = field(default_factory=dict)
    alert_at: dict[float, float] = field(default_factory=dict)
    detections: int = 0
    processes: dict[str, tuple[list[str], subprocess.Popen[str]]] = field(default_factory=dict)
    """The site's processes by their first part, with the arguments that started them."""


def start(argv: list[str], said_until: str, log: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """A dronewatch process; its log read on a thread (a full pipe would stall it), returned up to the line
    starting ``said_until`` (and the password line after it, if any)."""
    process = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", *argv], stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    said: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        said.append(process.stderr.readline())
        if said[-1].startswith(said_until):
            break
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(argv)} ended: {''.join(said)}")
    if "--config" in argv and ("serve" in argv or "api" in argv):
        said.append(process.stderr.readline())

    def keep_reading() -> None:
        with log.open("a") as out:
            for line in process.stderr:  # type: ignore[union-attr]
                out.write(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return process, said


@contextlib.contextmanager
def site_processes(root: Path, site: Site, bus_url: str | None) -> Iterator[None]:
    config = root / f"{site.site_id}.toml"
    bus = f'[bus]\nurl = "{bus_url}"\n' if bus_url else ""
    (root / site.site_id).mkdir()
    config.write_text(f'[site]\nid = "{site.site_id}"\n[service]\nport = {site.http_port}\n'
                      f'data_dir = "{root / site.site_id}"\n[sources]\nudp = "127.0.0.1:{site.udp_port}"\n{bus}',
                      encoding="utf-8")
    ready = f"dronewatch {site.site_id}: "
    runs = [["serve", "--config", str(config)]] if bus_url is None else [
        ["worker", *parts, "--config", str(config)] for parts in WORKERS]
    try:
        for argv in runs:
            process, said = start(argv, ready, root / f"{site.site_id}.log")
            site.processes[argv[1]] = (argv, process)
            if "password '" in said[-1]:
                site.password = said[-1].split("password '")[1].split("'")[0]
        yield
    finally:
        processes = [process for _, process in site.processes.values()]
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def scan_lines(positions: np.ndarray, t: float, rng: np.random.Generator, rf: np.ndarray,
               rid: np.ndarray) -> list[str]:
    """One second of detections: a radar scan of all targets, RF bearings of those with a link, Remote ID."""
    sensors = {s.id: s for s in station_sensors()}
    radar = sensors["radar-1"]
    azimuth, elevation, slant = enu2aer(positions[:, 0], positions[:, 1], positions[:, 2] - 10.0)
    lines = [record_to_line(Detection(t=t, sensor=radar.id, range_m=float(r) + rng.normal(0, 5),
                                      azimuth_deg=float(a) % 360 + rng.normal(0, 0.5),
                                      elevation_deg=float(e) + rng.normal(0, 0.5)))
             for a, e, r in zip(azimuth, elevation, slant, strict=True)]
    lines.append(record_to_line(Scan(t=t, sensor=radar.id)))
    for finder in ("rf-west", "rf-east"):
        sensor = sensors[finder]
        at = SITE.from_geodetic(sensor.lat, sensor.lon, sensor.alt)
        relative = positions[rf] - at
        bearing = np.degrees(np.arctan2(relative[:, 0], relative[:, 1])) % 360
        lines += [record_to_line(Detection(t=t, sensor=finder, azimuth_deg=float(b + rng.normal(0, 2.0)) % 360))
                  for b in bearing]
    lat, lon, alt = SITE.to_geodetic(positions[rid])
    lines += [record_to_line(Detection(t=t, sensor="rid-1", lat=float(la), lon=float(lo), alt=float(al),
                                       uas_id=f"RID{int(k):04d}"))
              for la, lo, al, k in zip(lat, lon, alt, np.flatnonzero(rid), strict=True)]
    return lines


async def drive(site: Site, targets: int, seconds: int, seed: int) -> None:
    """Log in, open the stream, send ``seconds`` of detections at 1 Hz; note what arrives when."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{site.http_port}") as client:
        csrf = (await client.post("/api/login", json={"name": "admin", "password": site.password})).json()
        token = (await client.post("/api/tokens", json={"name": "bench"},
                                   headers={"X-CSRF-Token": csrf["csrf_token"]})).json()["token"]
    rng = np.random.default_rng(seed)
    bearing = rng.uniform(0, 2 * math.pi, targets)
    distance = rng.uniform(600.0, 2500.0, targets)
    position = np.stack([distance * np.sin(bearing), distance * np.cos(bearing), rng.uniform(40, 120, targets)], 1)
    heading = bearing + math.pi + rng.normal(0, 0.6, targets)
    velocity = np.stack([12 * np.sin(heading), 12 * np.cos(heading), np.zeros(targets)], 1)
    rf, rid = rng.random(targets) < 0.3, rng.random(targets) < 0.2
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    header = "".join(record_to_line(r) for r in [*station_sensors(), *station_zones()])
    sender.sendto(header.encode(), ("127.0.0.1", site.udp_port))
    await asyncio.sleep(1.0)
    async with websockets.connect(f"ws://127.0.0.1:{site.http_port}/api/sites/{site.site_id}/stream",
                                  additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:

        async def receive() -> None:
            async for raw in ws:
                now = time.perf_counter()
                for item in json.loads(raw):
                    t = item.get("t")
                    if item["type"] == "track":
                        site.picture_at.setdefault(t, now)
                    elif item["type"] == "alert" and item["state"] == "open":
                        site.alert_at.setdefault(t, now)

        receiver = asyncio.create_task(receive())
        start_t = time.time()
        for k in range(seconds):
            t = round(start_t + k, 3)
            lines = scan_lines(position + velocity * k, t, rng, rf, rid)
            await asyncio.sleep(max(0.0, start_t + k - time.time()))
            site.sent[t] = time.perf_counter()
            for datagram in datagrams(lines):
                sender.sendto(datagram, ("127.0.0.1", site.udp_port))
            site.detections += len(lines) - 1
        await asyncio.sleep(3.0)
        receiver.cancel()
    sender.close()


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (s) in ms; NaN for none."""
    return float(np.percentile(values, q) * 1000) if values else math.nan


def summary(sites: list[Site], seconds: int) -> dict[str, float]:
    track, alert, interval, behind = [], [], [], []
    for site in sites:
        times = sorted(site.sent)[WARM_S:]
        track += [site.picture_at[t] - site.sent[t] for t in times if t in site.picture_at]
        alert += [site.alert_at[t] - site.sent[t] for t in site.alert_at if t in site.sent]
        arrivals = [site.picture_at[t] for t in times if t in site.picture_at]
        interval += list(np.diff(arrivals))
        behind.append(sum(t not in site.picture_at for t in times))
    return {"sites": len(sites), "detections_per_s": sum(s.detections for s in sites) / seconds,
            "pictures_missing": float(sum(behind)), "scans": float(sum(len(s.sent) - WARM_S for s in sites)),
            "interval_p50_ms": pct(interval, 50), "interval_max_ms": max(interval) * 1000 if interval else math.nan,
            "track_p50_ms": pct(track, 50), "track_p99_ms": pct(track, 99),
            "alert_p50_ms": pct(alert, 50), "alert_p99_ms": pct(alert, 99), "alerts": float(len(alert))}


async def run_sites(sites: list[Site], targets: int, seconds: int) -> None:
    await asyncio.gather(*(drive(site, targets, seconds, seed=n + 1) for n, site in enumerate(sites)))


def kill_and_restart(root: Path, site: Site, plan: list[tuple[float, str]]) -> None:
    """At each (second, part) of ``plan``: SIGKILL that worker, then start it again at once."""
    began = time.monotonic()
    for at, part in plan:
        time.sleep(max(0.0, began + at - time.monotonic()))
        argv, process = site.processes[part]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        site.processes[part] = (argv, start(argv, f"dronewatch {site.site_id}: ", root / f"{site.site_id}.log")[0])
        print(f"killed and restarted {part} at {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)


def stream_detections(url: str, site_id: str) -> int:
    """The detection lines on ``dw.<site>.ingest``, read back from the server's stream."""
    async def count() -> int:
        client = await nats.connect(url)
        reader = await client.jetstream().pull_subscribe(f"dw.{site_id}.ingest", config=ConsumerConfig(
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


def measure_kills(targets: int, seconds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data, contextlib.ExitStack() as stack:
        root = Path(data)
        url = stack.enter_context(nats_server(root / "nats"))
        site = Site("site1", free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM))
        stack.enter_context(site_processes(root, site, url))
        killer = threading.Thread(target=kill_and_restart, args=(
            root, site, [(15.0, "tracker"), (25.0, "assessment"), (35.0, "storage")]))
        killer.start()
        asyncio.run(run_sites([site], targets, seconds))
        killer.join()
        on_stream = stream_detections(url, site.site_id)
        repository = Repository(open_database(f"sqlite:///{root / site.site_id / 'dronewatch.db'}"))
        deadline = time.monotonic() + 90  # a killed worker's messages come again once their wait is over
        while repository.count("detections") < on_stream and time.monotonic() < deadline:
            time.sleep(0.5)
        stored = repository.count("detections")
        row = summary([site], seconds)
        row.update(targets=float(targets), sent=float(site.detections), on_stream=float(on_stream),
                   stored=float(stored), lost=float(max(0, on_stream - stored)),
                   twice=float(max(0, stored - on_stream)), audit_ok=float(repository.verify_audit().ok))
        return row


def measure(mode: str, n_sites: int, targets: int, seconds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data, contextlib.ExitStack() as stack:
        root = Path(data)
        bus_url = stack.enter_context(nats_server(root / "nats")) if mode == "workers" else None
        sites = [Site(f"site{n + 1}", free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM))
                 for n in range(n_sites)]
        for site in sites:
            stack.enter_context(site_processes(root, site, bus_url))
        asyncio.run(run_sites(sites, targets, seconds))
        row = summary(sites, seconds)
        row["targets"] = float(targets)
        return row


def table(title: str, rows: list[tuple[str, dict[str, float]]]) -> list[str]:
    lines = [f"## {title}", "", "| run | sites | targets/site | detections/s | pictures missing | picture interval "
             "p50 / max | track p50 | track p99 | alerts | alert p50 | alert p99 |",
             "|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['sites']:.0f} | {r['targets']:.0f} | {r['detections_per_s']:.0f} | "
                     f"{r['pictures_missing']:.0f} of {r['scans']:.0f} | {r['interval_p50_ms']:.0f} / "
                     f"{r['interval_max_ms']:.0f} ms | {r['track_p50_ms']:.0f} ms | {r['track_p99_ms']:.0f} ms | "
                     f"{r['alerts']:.0f} | {r['alert_p50_ms']:.0f} ms | {r['alert_p99_ms']:.0f} ms |")
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="seconds of detections per run")
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--site-targets", type=int, default=250, help="targets per site in the sites table")
    parser.add_argument("--quick", action="store_true", help="30 s runs, 1 and 2 sites")
    parser.add_argument("--kill", action="store_true", help="kill -9 each stage's worker during ingest instead")
    parser.add_argument("--kill-targets", type=int, default=170, help="targets in the --kill run (~300 detections/s)")
    args = parser.parse_args()
    if args.kill:
        r = measure_kills(args.kill_targets, max(args.seconds, 50))
        print(r, file=sys.stderr, flush=True)
        text = "\n".join([
            "# kill -9 of each worker during ingest", "",
            f"`python3 dev.py bench benchmarks/bench_scale.py --kill` ({args.kill_targets} targets, "
            f"{r['detections_per_s']:.0f} detections/s; tracker, assessment and storage killed at 15, 25, 35 s and "
            "started again)", "",
            "| sent | on the stream | stored | lost | stored twice | audit chain | track p50 / p99 (after 10 s) |",
            "|---:|---:|---:|---:|---:|:--|---:|",
            f"| {r['sent']:.0f} | {r['on_stream']:.0f} | {r['stored']:.0f} | {r['lost']:.0f} | {r['twice']:.0f} | "
            f"{'intact' if r['audit_ok'] else 'BROKEN'} | {r['track_p50_ms']:.0f} / {r['track_p99_ms']:.0f} ms |", ""])
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "bench_scale_kill.md").write_text(text)
        print(text)
        return 0
    seconds = 30 if args.quick else args.seconds
    load = []
    for mode in ("workers", "embedded"):
        load.append((mode, measure(mode, 1, args.targets, seconds)))
        print(load[-1], file=sys.stderr, flush=True)
    scaling = []
    for n in (1, 2) if args.quick else (1, 2, 4):
        scaling.append((f"{n} site(s), workers", measure("workers", n, args.site_targets, seconds)))
        print(scaling[-1], file=sys.stderr, flush=True)
    command = "python3 dev.py bench benchmarks/bench_scale.py" + (" --quick" if args.quick else "")
    text = "\n".join([f"# Scale-out: {args.targets} targets at 1 Hz, and sites on one NATS server", "",
                      f"`{command}` ({seconds} s per run, the first {WARM_S} s not counted). \"workers\": "
                      "NATS JetStream, with api+sources+outputs, tracker, assessment and storage as four "
                      "processes per site; \"embedded\": `dronewatch serve`, in-process bus.", "",
                      *table("Load", load), *table("Sites on one NATS server", scaling)])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / ("bench_scale_quick.md" if args.quick else "bench_scale.md")).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
