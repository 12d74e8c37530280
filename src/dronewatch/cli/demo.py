"""``dronewatch demo``: simulate a site, track it, score the tracks, print a summary.

Until the live service exists, this is the quickest look at what dronewatch does:
the ``border-station`` scenario (drones, birds, a helicopter, seven sensors) is
simulated, tracked and scored against its ground truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dronewatch.cli.track import track_file
from dronewatch.sim import engine
from dronewatch.sim.metrics import score_files
from dronewatch.sim.scenarios import BUILT_IN, built_in


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="simulate, track and score a scenario",
        description="Simulate a border station's traffic and sensors, track it, score the tracks.")
    parser.add_argument("--scenario", default="border-station", choices=tuple(BUILT_IN))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic (default 600)")
    parser.add_argument("--workdir", default="out/demo", help="where the scenario and track files go")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    scenario_path, tracks_path = workdir / "scenario.jsonl", workdir / "tracks.jsonl"
    scenario = built_in(args.scenario, args.seed, args.duration)
    with open(scenario_path, "w", encoding="utf-8") as out:
        counts = engine.write(scenario, out)
    print(f"simulated {scenario.name} (seed {scenario.seed}, {scenario.duration_s:g} s): "
          f"{len(scenario.sensors)} sensors, {counts.get('Detection', 0)} detections -> {scenario_path}")
    with open(tracks_path, "w", encoding="utf-8") as out:
        result = track_file(str(scenario_path), out)
    print(f"tracked -> {tracks_path}")
    for line in result.summary():
        print("  " + line)
    report = score_files(scenario_path, tracks_path)
    print("scored against ground truth:")
    for line in report.format_table().splitlines():
        print("  " + line)
    print("  per object: share of its visible time tracked within 50 m")
    for object_id, score in sorted(report.objects.items()):
        print(f"    {object_id:<14} {score.cls:<9} {score.coverage:6.1%}")
    return 0
