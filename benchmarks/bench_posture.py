"""Threat posture: how much earlier a raised posture warns, and what it costs in false alerts.

The same scenarios and seeds (``border-station`` and ``swarm``), simulated, tracked and assessed
as ``bench_alerts.py`` does, once at each posture level (``assessment/posture.py``: normal,
elevated, high). Per level: the compound breaches and those missed, the warning time before a
breach (first critical alert on the compound), the first warning of any kind before it, and the
false warning and critical alerts per hour (alerts on birds, aircraft or clutter).

Run: ``python3 dev.py bench benchmarks/bench_posture.py [--seeds N] [--first-seed S]``; writes
``benchmarks/results/bench_posture.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_alerts import RunResult, run
from dronewatch.assessment.posture import POSTURE_LEVELS

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--output", default=str(HERE / "results" / "bench_posture.md"))
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(name, seed, level) for level in POSTURE_LEVELS for name in ("border-station", "swarm") for seed in seeds]
    by_level: dict[str, list[RunResult]] = {level: [] for level in POSTURE_LEVELS}
    with ProcessPoolExecutor(max_workers=2) as pool:
        for k, (job, result) in enumerate(zip(jobs, pool.map(run, *zip(*jobs, strict=True)), strict=True), start=1):
            by_level[job[2]].append(result)
            print(f"[{k}/{len(jobs)}] {job[2]} {result.scenario} seed {result.seed}: {result.breaches} breaches, "
                  f"missed {len(result.missed)}, false warning {len(result.false_warning)}, false critical "
                  f"{len(result.false_critical)} ({result.wall_s:.0f} s)", file=sys.stderr)
    lines = [f"# Threat posture on seeds {seeds.start}-{seeds.stop - 1} of border-station and swarm", "",
             f"`python3 dev.py bench benchmarks/bench_posture.py --seeds {args.seeds} --first-seed {args.first_seed}`",
             "", "| posture | breaches | missed | critical warning time, median | first warning of any kind, median "
             "| shortest critical warning | false warnings / h | false critical / h |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for level, results in by_level.items():
        hours = sum(r.duration_s for r in results) / 3600.0
        warnings = [w for r in results for w in r.warnings_s]
        first = [w for r in results for w in r.first_warnings_s]
        lines.append(f"| {level} | {sum(r.breaches for r in results)} | {sum(len(r.missed) for r in results)} | "
                     f"{statistics.median(warnings or [0.0]):.1f} s | {statistics.median(first or [0.0]):.1f} s | "
                     f"{min(warnings or [0.0]):.1f} s | "
                     f"{sum(len(r.false_warning) for r in results) / hours:.2f} | "
                     f"{sum(len(r.false_critical) for r in results) / hours:.2f} |")
    text = "\n".join(lines) + "\n"
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
