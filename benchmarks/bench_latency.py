"""Latency through the live service: a detection entering the UDP source -> the track update (and the
alert) on a WebSocket client.

Set-up: ``dronewatch serve`` in process (SQLite in a temporary directory, a UDP JSON Lines
source, the API on 127.0.0.1), a real ``websockets`` client with an API token. N targets fly
straight and level at 12 m/s, 600-2500 m out, some of them towards the compound, so alerts
come too; one radar scans them once a second. Each scan is sent as one datagram
(detections, then the ``scan`` line that closes the batch), with the wall-clock time as ``t``.

Latency of a scan: from its datagram leaving the sender to the first track line with that ``t``
on the WebSocket; of an alert: from the datagram of the scan at ``t`` to the alert line with
that ``t``. Reported: p50 and p99 over 60 scans at 100 targets (goal p99 <= 50 ms), then the
highest rate (targets x 1 Hz) at which the scan p99 stays under 100 ms.

Run: ``python3 dev.py bench benchmarks/bench_latency.py``; writes ``benchmarks/results/bench_latency.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

from dronewatch.cli.serve import serve
from dronewatch.config import Config, ServiceConfig, SiteConfig, SourcesConfig
from dronewatch.formats.scenario import record_to_line
from dronewatch.geo import enu2aer
from dronewatch.model import Detection, Scan
from dronewatch.sim.scenarios import station_sensors, station_zones

HERE = Path(__file__).resolve().parent


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def measure(targets: int, scans: int, seed: int = 1) -> dict[str, float]:
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    with tempfile.TemporaryDirectory() as data:
        config = Config(site=SiteConfig(id="bench"), service=ServiceConfig(port=http_port, data_dir=data),
                        sources=SourcesConfig(udp=f"127.0.0.1:{udp_port}"))
        said: list[str] = []
        service = asyncio.create_task(serve(config, announce=said.append))
        while len(said) < 2:
            await asyncio.sleep(0.05)
        password = said[1].split("password '")[1].split("'")[0]
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
        header = "".join(record_to_line(r) for r in [radar, *station_zones()]).encode()
        sender.sendto(header, ("127.0.0.1", udp_port))
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
                current = position + velocity * k
                azimuth, elevation, slant = enu2aer(current[:, 0], current[:, 1], current[:, 2] - 10.0)
                lines = [record_to_line(Detection(t=t, sensor=radar.id, range_m=float(r) + rng.normal(0, 5),
                                                  azimuth_deg=float(a) + rng.normal(0, 0.5),
                                                  elevation_deg=float(e) + rng.normal(0, 0.5)))
                         for a, e, r in zip(azimuth, elevation, slant, strict=True)]
                lines.append(record_to_line(Scan(t=t, sensor=radar.id)))
                await asyncio.sleep(max(0.0, start + k - time.time()))
                sent[t] = time.perf_counter()
                for datagram in datagrams(lines):
                    sender.sendto(datagram, ("127.0.0.1", udp_port))
            await asyncio.sleep(2.0)
            receiver.cancel()
        sender.close()
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
    warm = [v for t, v in sorted(track_latency.items())][5:]  # the first scans start tracks: no updates yet
    alerts = list(alert_latency.values())
    return {"targets": targets, "scans": len(warm),
            "p50_ms": float(np.percentile(warm, 50) * 1000) if warm else math.nan,
            "p99_ms": float(np.percentile(warm, 99) * 1000) if warm else math.nan,
            "alerts": len(alerts),
            "alert_p50_ms": float(np.percentile(alerts, 50) * 1000) if alerts else math.nan,
            "alert_p99_ms": float(np.percentile(alerts, 99) * 1000) if alerts else math.nan}


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
    parser.add_argument("--scans", type=int, default=60)
    args = parser.parse_args()
    rows = []
    result = asyncio.run(measure(100, args.scans))
    rows.append(result)
    print(result, file=sys.stderr)
    best = None
    for targets in (200, 400, 800, 1200, 1600):
        sweep = asyncio.run(measure(targets, 30))
        rows.append(sweep)
        print(sweep, file=sys.stderr)
        if not sweep["p99_ms"] < 100.0:
            break
        best = targets
    lines = ["# Latency: UDP detection in -> WebSocket out", "",
             "`python3 dev.py bench benchmarks/bench_latency.py`", "",
             "| targets (detections/s) | scans | track p50 | track p99 | alerts | alert p50 | alert p99 |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['targets']:.0f} | {r['scans']:.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
                     f"{r['alerts']:.0f} | {r['alert_p50_ms']:.1f} ms | {r['alert_p99_ms']:.1f} ms |")
    lines += ["", f"Highest rate with track p99 < 100 ms: {best or '< 200'} detections/s (1 Hz scans)."]
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_latency.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
