"""CPU time per stage of the live pipeline for one radar scan, in one process (no server, no sockets).

Corpus: N targets flying straight and level at 12 m/s, 600-2500 m out, many inbound (as in
``bench_latency.py``), seen by the border station's radar once a second for 40 scans. Per scan it
times, with ``time.process_time`` (CPU time of this process, less sensitive to other load than wall
time): parsing the scan's JSON lines, feeding the tracker, making the track reports and their
sigmas, one assessment (classifier and rules), storing detections and track points in SQLite, and
encoding the picture for the WebSocket. The first 5 scans (track start-up) are left out.

Run: ``python3 dev.py bench benchmarks/bench_stages.py [--targets 100 300]``; writes
``benchmarks/results/bench_stages.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dronewatch.assessment import AlertBook, Assessor
from dronewatch.formats.scenario import record_to_dict, record_to_line
from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.model import Detection, Scan, TrackReport
from dronewatch.service.worker import StageCounters, parse_payload
from dronewatch.sim.scenarios import station_sensors, station_zones
from dronewatch.storage import Repository, open_database
from dronewatch.tracking import StreamTracker

HERE = Path(__file__).resolve().parent
STAGES = ("parse", "track", "reports", "assess", "store", "encode")


def measure(targets: int, scans: int = 40, seed: int = 1) -> dict[str, float]:
    radar = station_sensors()[0]
    rng = np.random.default_rng(seed)
    bearing = rng.uniform(0, 2 * math.pi, targets)
    distance = rng.uniform(600.0, 2500.0, targets)
    position = np.stack([distance * np.sin(bearing), distance * np.cos(bearing), rng.uniform(40, 120, targets)], 1)
    heading = bearing + math.pi + rng.normal(0, 0.6, targets)
    velocity = np.stack([12 * np.sin(heading), 12 * np.cos(heading), np.zeros(targets)], 1)
    stream = StreamTracker(immediate=True)
    for record in (radar, *station_zones()):
        stream.feed(record)
    assessor = Assessor(LocalFrame(radar.lat, radar.lon, radar.alt), [radar], station_zones())
    assessor.book = AlertBook(assessor.config.clear_s)
    counters = StageCounters()
    spent = dict.fromkeys(STAGES, 0.0)
    with tempfile.TemporaryDirectory() as folder:
        repository = Repository(open_database(f"sqlite:///{folder}/bench.db"))
        repository.ensure_site("bench", "bench", 0.0)
        for k in range(scans):
            t = 1_780_000_000.0 + k
            current = position + velocity * k
            azimuth, elevation, slant = enu2aer(current[:, 0], current[:, 1], current[:, 2] - 10.0)
            payload = ("".join(record_to_line(Detection(t=t, sensor=radar.id, range_m=float(r) + rng.normal(0, 5),
                                                        azimuth_deg=float(a) + rng.normal(0, 0.5),
                                                        elevation_deg=float(e) + rng.normal(0, 0.5)))
                               for a, e, r in zip(azimuth, elevation, slant, strict=True))
                       + record_to_line(Scan(t=t, sensor=radar.id))).encode()
            marks = [time.process_time()]
            records = parse_payload(payload, "bench", counters, "bench")
            marks.append(time.process_time())
            snapshots = [s for record in records for s in stream.feed(record)]
            marks.append(time.process_time())
            reports: list[TrackReport] = []
            assert stream.tracker.site is not None
            for snapshot in snapshots:
                reports = snapshot.reports(stream.tracker.site)
            marks.append(time.process_time())
            if reports:
                assessor.update(reports[0].t, reports)
            marks.append(time.process_time())
            repository.add_detections("bench", [r for r in records if isinstance(r, Detection)])
            repository.add_track_points("bench", reports)
            marks.append(time.process_time())
            json.dumps([record_to_dict(r) for r in reports])
            marks.append(time.process_time())
            if k >= 5:
                for stage, start, end in zip(STAGES, marks, marks[1:], strict=False):
                    spent[stage] += end - start
        repository.engine.dispose()
    timed = scans - 5
    return {"targets": targets, "tracks": len(reports), **{s: spent[s] / timed * 1000 for s in STAGES}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[100, 300])
    args = parser.parse_args()
    rows = []
    for targets in args.targets:
        rows.append(measure(targets))
        print(rows[-1], file=sys.stderr)
    lines = ["# CPU time per pipeline stage for one radar scan", "",
             "`python3 dev.py bench benchmarks/bench_stages.py`", "",
             "| targets | tracks | " + " | ".join(STAGES) + " | total |", "|---:|---:|" + "---:|" * (len(STAGES) + 1)]
    for row in rows:
        lines.append(f"| {row['targets']} | {row['tracks']} | " + " | ".join(f"{row[s]:.1f} ms" for s in STAGES)
                     + f" | {sum(row[s] for s in STAGES):.1f} ms |")
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_stages.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
