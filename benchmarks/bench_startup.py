"""Whole-process time of the batch commands a user types (issue 16, item 5).

Measures, as separate processes started from this interpreter's ``dronewatch`` entry point:

- ``dronewatch --help`` (goal <= 0.3 s);
- ``dronewatch track FILE -o OUT`` on a single-radar file of about 7,500 detections
  (``radar_scenario``: 60 targets, 10 false plots a scan, Pd 0.9, 120 s; goal <= 1.5 s);
- the same on a multi-sensor simulator file (``border-station``, seed 7, 10 minutes), whose
  many small per-sensor batches cost more per detection (no goal; for the record).

Each command runs ``--repeats`` times (default 5) after one unmeasured warm-up run (the page
cache, Python's bytecode cache); the table gives the median and the fastest.

Run: ``python3 dev.py bench benchmarks/bench_startup.py [--repeats N]``; writes
``benchmarks/results/bench_startup.md``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.model import Detection
from dronewatch.sim import engine
from dronewatch.sim.radar_scenario import RadarScenarioConfig, write_radar_scenario
from dronewatch.sim.scenarios import built_in

HERE = Path(__file__).resolve().parent
DRONEWATCH = Path(sys.executable).with_name("dronewatch")


def timed(command: list[str], repeats: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(HERE / "results" / "bench_startup.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        radar = Path(work, "radar.jsonl")
        radar_detections = write_radar_scenario(
            RadarScenarioConfig(n_targets=60, clutter_per_scan=10.0, duration_s=120.0, seed=11), radar)["detections"]
        station = Path(work, "border-station.jsonl")
        records = list(engine.generate(built_in("border-station", 7)))
        with station.open("w", encoding="utf-8") as out:
            ScenarioWriter(out).write_all(records)
        station_detections = sum(isinstance(r, Detection) for r in records)
        cases = [("dronewatch --help", [str(DRONEWATCH), "--help"], None, 0.3),
                 ("dronewatch track (one radar)", [str(DRONEWATCH), "track", str(radar), "-o",
                                                   str(Path(work, "radar.tracks.jsonl"))], radar_detections, 1.5),
                 ("dronewatch track (border-station, 7 sensors)",
                  [str(DRONEWATCH), "track", str(station), "-o", str(Path(work, "station.tracks.jsonl"))],
                  station_detections, None)]
        rows = []
        for name, command, detections, goal in cases:
            print(f"{name} ...", flush=True)
            seconds = timed(command, args.repeats)
            rows.append((name, detections, statistics.median(seconds), min(seconds), goal))
    lines = ["# Whole-process time of batch commands", "",
             f"`python3 dev.py bench benchmarks/bench_startup.py --repeats {args.repeats}`: median and fastest of "
             f"{args.repeats} runs after a warm-up, each a new process.", "",
             "| command | detections | median | fastest | goal |", "|---|---:|---:|---:|---|"]
    for name, detections, median, fastest, goal in rows:
        verdict = "" if goal is None else f"<= {goal:g} s {'(met)' if median <= goal else '(MISS)'}"
        lines.append(f"| {name} | {detections if detections is not None else '-'} | {median:.2f} s | "
                     f"{fastest:.2f} s | {verdict} |")
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.output).write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
