"""The probe of issue 15 as a benchmark: hostile datagrams among a real feed, then kill -9 and a restart.

Set-up: ``dronewatch serve --config`` in its own process (SQLite in a temporary directory, a UDP
JSON Lines source, the API on 127.0.0.1), as a site runs it. 30 targets fly straight and level at
12 m/s, 400-2500 m out, many of them inbound, six straight at the compound from 400-1450 m; one
radar scans them once a second (noise 5 m, 0.5 degrees), each scan one datagram. The radar's
sensor line comes over UDP, the compound (critical zone) through the API.

Runs, each on a fresh service:

- **clean**: the feed alone, 60 scans;
- **hostile**: the same feed with every designed bad line of :mod:`dronewatch.sim.hostile` (the
  probe's kinds and more) and 300 broken copies of valid lines mixed into its datagrams;
- **restart**: after the hostile run's 60 scans the service is killed with SIGKILL and started again
  on the same data directory; the feed goes on for 60 more scans **without** its sensor line.

Measured per run: valid detections sent and stored; bad lines sent and counted (by the UDP source's
counters, ``/api/stats``); track coverage: of the scans after the 5th, the share of (scan, target)
pairs with a stored track point at that scan's time within 50 m of the target; zone alerts for the
compound (warning or critical).

Run: ``python3 dev.py bench benchmarks/bench_hostile.py``; writes ``benchmarks/results/bench_hostile.md``.
"""

from __future__ import annotations

import argparse
import contextlib
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
import numpy as np

from bench_latency import datagrams, free_port, scan_lines
from dronewatch.formats.scenario import record_to_line
from dronewatch.model import TrackReport
from dronewatch.sim.hostile import designed_bad_lines, generated_bad_lines, interleave
from dronewatch.sim.scenarios import SITE, station_sensors, station_zones
from dronewatch.storage import Repository, open_database

HERE = Path(__file__).resolve().parent
TARGETS = 30
WARM_SCANS = 5
NEAR_M = 50.0


@dataclass(slots=True)
class Run:
    name: str
    sent_detections: int = 0
    sent_bad: int = 0
    counted_bad: int = 0
    stored_detections: int = 0
    covered: int = 0
    pairs: int = 0
    zone_alerts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.covered / self.pairs if self.pairs else math.nan


class Service:
    """``dronewatch serve`` in its own process; the first start's admin password, read from its output."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.process: subprocess.Popen[str] | None = None
        self.said: list[str] = []

    def start(self, first: bool) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "serve", "--config",
                                         str(self.config)], stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        self.said = []
        while not any(line.startswith("dronewatch ") and "http://" in line for line in self.said):
            line = self.process.stderr.readline()
            if not line:
                raise RuntimeError(f"the service did not start: {self.said}")
            self.said.append(line)
        if first:  # the first admin's password follows the URL
            self.said.append(self.process.stderr.readline())
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # a full pipe would block it

    def kill(self, how: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def site(data: Path) -> Iterator[tuple[Service, int, int]]:
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    config = data / "site.toml"
    config.write_text(f'[site]\nid = "bench"\n[service]\nport = {http_port}\ndata_dir = "{data}"\n'
                      f'[sources]\nudp = "127.0.0.1:{udp_port}"\n', encoding="utf-8")
    service = Service(config)
    service.start(first=True)
    try:
        yield service, http_port, udp_port
    finally:
        service.kill(signal.SIGTERM)


def token(http_port: int, password: str) -> dict[str, str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}") as client:
        csrf = client.post("/api/login", json={"name": "admin", "password": password}).json()["csrf_token"]
        made = client.post("/api/tokens", json={"name": "bench"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    return {"Authorization": f"Bearer {made}"}


def targets(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bearing = rng.uniform(0, 2 * math.pi, TARGETS)
    distance = rng.uniform(600.0, 2500.0, TARGETS)
    position = np.stack([distance * np.sin(bearing), distance * np.cos(bearing), rng.uniform(40, 120, TARGETS)], 1)
    heading = bearing + math.pi + rng.normal(0, 0.6, TARGETS)
    # six fly straight at the compound, so that zone alerts come in each run (before and after the restart)
    distance[:6] = (400.0, 550.0, 700.0, 950.0, 1200.0, 1450.0)
    position[:6, :2] = np.stack([distance[:6] * np.sin(bearing[:6]), distance[:6] * np.cos(bearing[:6])], 1)
    heading[:6] = bearing[:6] + math.pi
    velocity = np.stack([12 * np.sin(heading), 12 * np.cos(heading), np.zeros(TARGETS)], 1)
    return position, velocity


def feed(udp_port: int, scans: range, start: float, seed: int, hostile: bool, run: Run,
         truth: dict[float, np.ndarray]) -> None:
    """Send the scans at 1 Hz (live times), with the hostile lines spread over them when asked."""
    radar = station_sensors()[0]
    position, velocity = targets(seed)
    rng = np.random.default_rng(seed + 1)
    scan_of = {k: scan_lines(radar, position + velocity * k, round(start + k, 3), rng, angle_sigma_deg=0.5)
               for k in scans}
    bad: dict[int, list[str]] = {}
    if hostile:
        valid = [line for k in scans for line in scan_of[k]]
        lines = [line for line, _ in designed_bad_lines(start + scans.start)] + generated_bad_lines(valid, 300, seed)
        mixed = interleave([f"{k}\n" for k in scans], lines, seed)  # which scan's datagram each joins
        k = scans.start
        for item in mixed:
            if item.strip().isdigit():
                k = int(item)
            else:
                bad.setdefault(k, []).append(item)
        run.sent_bad += len(lines)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for k in scans:
            time.sleep(max(0.0, start + k - time.time()))
            lines = scan_of[k]
            for chunk in datagrams([*bad.get(k, []), *lines]):
                sender.sendto(chunk, ("127.0.0.1", udp_port))
            run.sent_detections += len(lines) - 1
            truth[round(start + k, 3)] = position + velocity * k


def score(run: Run, repo: Repository, truth: dict[float, np.ndarray], counted_from: float) -> None:
    reports: dict[float, list[TrackReport]] = {}
    for report in repo.track_history("bench", min(truth), max(truth)):
        reports.setdefault(report.t, []).append(report)
    for t, where in sorted(truth.items()):
        if t < counted_from:
            continue
        tracks = SITE.positions_of(reports.get(t, []))
        for target in where:
            run.pairs += 1
            run.covered += bool(tracks.size) and float(np.min(np.linalg.norm(tracks - target, axis=1))) <= NEAR_M


def counted_bad(http_port: int, headers: dict[str, str], udp_port: int) -> int:
    stats = httpx.get(f"http://127.0.0.1:{http_port}/api/stats", headers=headers).json()["bench"]
    return sum(stats.get(f"udp-{udp_port}", {}).get("bad_input", {}).values())


def zone_alerts(repo: Repository, after: float) -> int:
    return sum(1 for a in repo.alerts("bench") if a.zone == "compound" and a.level != "info"
               and repo.alert_events("bench", a.id)[0]["t"] >= after)


def measure(scans: int, seed: int, hostile: bool) -> list[Run]:
    runs = []
    with tempfile.TemporaryDirectory() as directory, site(Path(directory)) as (service, http_port, udp_port):
        password = next(line for line in service.said if "password '" in line).split("password '")[1].split("'")[0]
        headers = token(http_port, password)
        compound = station_zones()[0]
        httpx.put(f"http://127.0.0.1:{http_port}/api/sites/bench/zones/{compound.id}", headers=headers,
                  json={"level": compound.level, "floor_m": compound.floor_m, "ceiling_m": compound.ceiling_m,
                        "polygon": [list(p) for p in compound.polygon]}).raise_for_status()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(record_to_line(station_sensors()[0]).encode(), ("127.0.0.1", udp_port))
        time.sleep(0.5)
        run = Run("hostile" if hostile else "clean")
        truth: dict[float, np.ndarray] = {}
        start = math.floor(time.time()) + 1.0
        feed(udp_port, range(scans), start, seed, hostile, run, truth)
        time.sleep(2.0)
        run.counted_bad = counted_bad(http_port, headers, udp_port)
        repo = Repository(open_database(f"sqlite:///{Path(directory) / 'dronewatch.db'}"))
        run.stored_detections = repo.count("detections")
        score(run, repo, truth, start + WARM_SCANS)
        run.zone_alerts = zone_alerts(repo, start)
        runs.append(run)
        if not hostile:
            return runs
        service.kill()  # SIGKILL, during ingest
        killed_at = time.time()
        service.start(first=False)
        restored = next((line.strip() for line in service.said if line.startswith("restored from storage")), "")
        again = Run("after kill -9 and restart", notes=[restored or "nothing restored",
                                                        f"back in {time.time() - killed_at:.1f} s"])
        headers = token(http_port, password)
        stored_before = repo.count("detections")
        truth_after: dict[float, np.ndarray] = {}
        resume = math.floor(time.time()) + 1.0 - scans  # the scans go on where the targets are now
        feed(udp_port, range(scans, 2 * scans), resume, seed, False, again, truth_after)
        time.sleep(2.0)
        again.counted_bad = counted_bad(http_port, headers, udp_port)
        again.stored_detections = repo.count("detections") - stored_before
        score(again, repo, truth_after, resume + scans + WARM_SCANS)
        again.zone_alerts = zone_alerts(repo, resume + scans)
        runs.append(again)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=60, help="scans per run (1 Hz)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    runs = measure(args.scans, args.seed, hostile=False) + measure(args.scans, args.seed, hostile=True)
    lines = ["# Hostile input and kill -9 at the live edge (the probe of issue 15)", "",
             "`python3 dev.py bench benchmarks/bench_hostile.py`", "",
             f"{TARGETS} targets, one radar at 1 Hz over UDP, {args.scans} scans a run, seed {args.seed}.", "",
             "| run | valid detections sent | stored | bad lines sent | counted | track coverage | zone alerts | |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for run in runs:
        lines.append(f"| {run.name} | {run.sent_detections} | {run.stored_detections} | {run.sent_bad} | "
                     f"{run.counted_bad} | {run.coverage:.3f} | {run.zone_alerts} | {'; '.join(run.notes)} |")
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_hostile.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
