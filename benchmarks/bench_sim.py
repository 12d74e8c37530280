"""How fast the simulator writes each built-in scenario, and how well the tracker follows border-station.

Corpus: the built-in scenarios (``border-station``, ``swarm``, ``stress``), ten
minutes each, seeds given on the command line (default 7 8 9). Method: wall time
of ``dronewatch sim`` writing to a file (the whole command's work, JSON included),
then for border-station and swarm, ``dronewatch track`` and ``dronewatch score``
with per-object coverage (share of an object's truth times with a track within
50 m). Issue 3 asks: stress generated in under 60 s; every drone and the
helicopter tracked >= 90 % of their visible time.

Run: ``python3 dev.py bench benchmarks/bench_sim.py``; writes ``benchmarks/results/bench_sim.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dronewatch.cli.track import track_file
from dronewatch.sim import engine
from dronewatch.sim.metrics import score_files
from dronewatch.sim.scenarios import built_in

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 8, 9])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--workdir", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    generation = ["| scenario | seed | lines | detections | wall s |", "|---|---:|---:|---:|---:|"]
    tracking = ["| scenario | seed | object | class | truth times | coverage | ID switches |",
                "|---|---:|---|---|---:|---:|---:|"]
    for name in ("border-station", "swarm", "stress"):
        for seed in args.seeds if name != "stress" else args.seeds[:1]:
            path = args.workdir / f"sim-{name}-{seed}.jsonl"
            start = time.perf_counter()
            with open(path, "w", encoding="utf-8") as out:
                counts = engine.write(built_in(name, seed, args.duration), out)
            wall = time.perf_counter() - start
            generation.append(f"| {name} | {seed} | {sum(counts.values())} | {counts.get('Detection', 0)} | "
                              f"{wall:.1f} |")
            print(generation[-1], flush=True)
            if name == "stress":
                continue
            tracks = args.workdir / f"sim-{name}-{seed}.tracks.jsonl"
            with open(tracks, "w", encoding="utf-8") as out:
                track_file(str(path), out, progress=False)
            report = score_files(path, tracks)
            for object_id, score in sorted(report.objects.items()):
                tracking.append(f"| {name} | {seed} | {object_id} | {score.cls} | {score.samples} | "
                                f"{score.coverage:.1%} | {score.id_switches} |")
            print(f"  GOSPA {report.gospa:.1f}, coverage by class {report.coverage_by_class}", flush=True)
    command = " ".join(["python3 dev.py bench benchmarks/bench_sim.py", *(argv or sys.argv[1:])])
    table = "\n".join(["# Simulator", "", f"`{command}`", "", "## Generation (10 minutes of traffic)", "",
                       *generation, "", "## Tracking the scripted scenarios", "", *tracking, ""])
    (args.results / "bench_sim.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
