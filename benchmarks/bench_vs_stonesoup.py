"""dronewatch's tracker against Stone Soup 1.9.1 on the same radar scenarios.

Corpus: single-radar scenarios from :mod:`dronewatch.sim.radar_scenario` — 1 Hz
scans, range 100-3000 m, elevation 0-30 deg, noise 5 m / 0.5 deg / 0.5 deg,
drone-like targets at 5-25 m/s on legs with turns and speed changes, births and
deaths, Poisson clutter uniform over the surveillance volume. Cases: N = 5, 20,
100 and 300 targets with Pd 0.9 and 10 clutter per scan over 120 s; 50 targets with
100 clutter per scan and Pd 0.7 (hard) or 0.9 (dense), and with 10 and Pd 0.7
(faint); a real-time case (1,000 targets, 50 clutter per scan) that only
dronewatch runs; and non-uniform clutter (lumpy: 50 targets, Pd 0.9, 10 uniform
false plots a scan plus 60 in the ground clutter within 800 m and the lowest 2 deg,
plus three hot spots of 10 a scan within 100 m, as a road or a wind farm gives).
A case's seed is ``--seed`` plus its place in that list, whichever cases run.
``--undeclared-clutter`` drops ``clutter_per_scan`` from the sensor lines, as real
radars give them: dronewatch then estimates it (a clutter map).

Method: each scenario file is read once into memory per tracker; the timed part
is the tracking loop only (for dronewatch: :func:`dronewatch.tracking.track_records`;
for Stone Soup: its ``MultiTargetTracker`` loop, configured as its tutorials do,
see ``stonesoup_baseline.py``); writing the track lines is not timed. Both run on
one core (BLAS threads pinned to 1). Both track files are scored by
``dronewatch score`` (GOSPA p=1, c=50 m, alpha=2, per truth time, averaged).

Run: ``python3 dev.py bench benchmarks/bench_vs_stonesoup.py`` (about 10 minutes
on 2 cores; ``--quick`` for a smoke run). Writes ``benchmarks/results/bench_vs_stonesoup.md``
and ``.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from dronewatch.formats.scenario import ScenarioWriter, open_scenario  # noqa: E402
from dronewatch.model import Detection  # noqa: E402
from dronewatch.sim.metrics import score_files  # noqa: E402
from dronewatch.sim.radar_scenario import RadarScenarioConfig, write_radar_scenario  # noqa: E402
from dronewatch.tracking import Tracker, track_records  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    targets: int
    clutter: float
    pd: float
    duration_s: float
    stonesoup: bool = True
    ground_clutter: float = 0.0
    """Plus false plots per scan in the ground clutter close in (see ``RadarScenarioConfig``)."""
    hot_spots: int = 0
    hot_spot_clutter: float = 0.0


CASES = [
    Case("N=5", 5, 10.0, 0.9, 120.0),
    Case("N=20", 20, 10.0, 0.9, 120.0),
    Case("N=100", 100, 10.0, 0.9, 120.0),
    Case("N=300", 300, 10.0, 0.9, 120.0),
    Case("hard", 50, 100.0, 0.7, 120.0),
    Case("dense", 50, 100.0, 0.9, 120.0),
    Case("faint", 50, 10.0, 0.7, 120.0),
    Case("realtime-1000", 1000, 50.0, 0.9, 120.0, stonesoup=False),
    Case("lumpy", 50, 10.0, 0.9, 120.0, ground_clutter=60.0, hot_spots=3, hot_spot_clutter=10.0),
]


def run_dronewatch(scenario: Path, tracks: Path) -> dict[str, float]:
    start = time.perf_counter()
    records = list(open_scenario(scenario))
    detections = sum(isinstance(r, Detection) for r in records)
    tracker = Tracker()
    tick = time.perf_counter()
    snapshots = list(track_records(records, tracker))
    tracking_wall_s = time.perf_counter() - tick
    assert tracker.site is not None
    with open(tracks, "w", encoding="utf-8") as out:
        writer = ScenarioWriter(out)
        for snapshot in snapshots:
            writer.write_all(snapshot.reports(tracker.site))
    return {"detections": detections, "scans": tracker.stats.batches, "tracking_wall_s": tracking_wall_s,
            "total_wall_s": time.perf_counter() - start}


def gospa_fields(scenario: Path, tracks: Path) -> dict[str, Any]:
    report = score_files(scenario, tracks).to_dict()
    return {key: report[key] for key in ("gospa", "gospa_localisation", "gospa_missed", "gospa_false",
                                         "id_switches", "fragmentations", "tracks_per_truth")}


def without_declared_clutter(scenario: Path) -> None:
    """Drop ``clutter_per_scan`` from the sensor lines: real radars do not report it."""
    lines = []
    for line in scenario.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        changed = record.get("type") == "sensor" and record.pop("clutter_per_scan", None) is not None
        lines.append(json.dumps(record) if changed else line)
    scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_case(case: Case, seed: int, workdir: Path, with_stonesoup: bool, declared: bool = True) -> dict[str, Any]:
    scenario = workdir / f"{case.name}.jsonl"
    config = RadarScenarioConfig(n_targets=case.targets, clutter_per_scan=case.clutter, pd=case.pd,
                                 duration_s=case.duration_s, seed=seed, ground_clutter_per_scan=case.ground_clutter,
                                 hot_spots=case.hot_spots, hot_spot_clutter_per_scan=case.hot_spot_clutter)
    counts = write_radar_scenario(config, scenario)
    if not declared:
        without_declared_clutter(scenario)
    row: dict[str, Any] = {"case": case.name, "targets": case.targets, "clutter": case.clutter, "pd": case.pd,
                           "duration_s": case.duration_s, "scenario": counts}
    dw_tracks = workdir / f"{case.name}.dronewatch.tracks.jsonl"
    row["dronewatch"] = run_dronewatch(scenario, dw_tracks) | gospa_fields(scenario, dw_tracks)
    dw = row["dronewatch"]
    dw["detections_per_s"] = dw["detections"] / dw["tracking_wall_s"]
    dw["realtime_factor"] = case.duration_s / dw["tracking_wall_s"]
    dw["realtime_factor_with_io"] = case.duration_s / dw["total_wall_s"]
    print(f"  dronewatch: {dw['tracking_wall_s']:.2f} s, {dw['detections_per_s']:,.0f} det/s, "
          f"GOSPA {dw['gospa']:.2f}, real-time factor {dw['realtime_factor']:.1f}", flush=True)
    if case.stonesoup and with_stonesoup:
        from stonesoup_baseline import run_stonesoup  # noqa: PLC0415 - only when Stone Soup runs

        ss_tracks = workdir / f"{case.name}.stonesoup.tracks.jsonl"
        row["stonesoup"] = run_stonesoup(scenario, ss_tracks) | gospa_fields(scenario, ss_tracks)
        ss = row["stonesoup"]
        ss["detections_per_s"] = ss["detections"] / ss["tracking_wall_s"]
        row["speed_ratio"] = dw["detections_per_s"] / ss["detections_per_s"]
        row["gospa_ratio"] = dw["gospa"] / ss["gospa"] if ss["gospa"] else float("nan")
        print(f"  Stone Soup: {ss['tracking_wall_s']:.2f} s, {ss['detections_per_s']:,.0f} det/s, "
              f"GOSPA {ss['gospa']:.2f}; speed x{row['speed_ratio']:.0f}, GOSPA ratio {row['gospa_ratio']:.2f}",
              flush=True)
    return row


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    def gospa(side: dict[str, Any]) -> str:
        return (f"{side['gospa']:.2f} ({side['gospa_localisation']:.2f} / {side['gospa_missed']:.2f} / "
                f"{side['gospa_false']:.2f})")

    lines = [
        "# dronewatch vs Stone Soup 1.9.1",
        "",
        f"`{command}` on {platform.node()} ({platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}), one core each. GOSPA p=1, c=50 m, alpha=2, mean over truth times, "
        "shown as total (localisation / missed / false); lower is better.",
        "",
        "| case | detections | dronewatch s | dronewatch det/s | Stone Soup s | Stone Soup det/s | speed ratio "
        "| dronewatch GOSPA | Stone Soup GOSPA | GOSPA ratio | ID switches dw / ss | real-time factor dw |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|",
    ]
    for row in rows:
        dw, ss = row["dronewatch"], row.get("stonesoup")
        lines.append(
            f"| {row['case']} | {dw['detections']} | {dw['tracking_wall_s']:.2f} | {dw['detections_per_s']:,.0f} | "
            + (f"{ss['tracking_wall_s']:.1f} | {ss['detections_per_s']:,.0f} | {row['speed_ratio']:.0f}x | "
               if ss else "– | – | – | ")
            + f"{gospa(dw)} | " + (f"{gospa(ss)} | {row['gospa_ratio']:.2f} | " if ss else "– | – | ")
            + f"{dw['id_switches']} / {ss['id_switches'] if ss else '–'} | {dw['realtime_factor']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cases", nargs="*", default=[c.name for c in CASES], help="which cases to run")
    parser.add_argument("--no-stonesoup", action="store_true", help="run dronewatch only")
    parser.add_argument("--quick", action="store_true", help="30 s scenarios, for a smoke run")
    parser.add_argument("--undeclared-clutter", action="store_true",
                        help="sensor lines without clutter_per_scan (as real radars give them); Stone Soup's "
                             "set-up does not use it either way")
    parser.add_argument("--workdir", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, chosen in enumerate(CASES):  # a case's seed is the same whichever cases run
        if chosen.name not in args.cases:
            continue
        case = replace(chosen, duration_s=30.0) if args.quick else chosen
        print(f"{case.name}: {case.targets} targets, clutter {case.clutter:g}/scan, Pd {case.pd}, "
              f"{case.duration_s:.0f} s", flush=True)
        rows.append(run_case(case, args.seed + index, args.workdir, not args.no_stonesoup,
                             declared=not args.undeclared_clutter))
    command = "python3 dev.py bench benchmarks/bench_vs_stonesoup.py " + " ".join(argv or sys.argv[1:])
    table = markdown(rows, command.strip())
    print()
    print(table)
    stem = "bench_vs_stonesoup" + ("_undeclared" if args.undeclared_clutter else "") + ("_quick" if args.quick else "")
    (args.results / f"{stem}.md").write_text(table, encoding="utf-8")
    (args.results / f"{stem}.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
