"""``dronewatch demo``: simulate radar traffic, track it, score the tracks, print a summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dronewatch.cli.track import track_file
from dronewatch.sim.metrics import score_files
from dronewatch.sim.radar_scenario import RadarScenarioConfig, write_radar_scenario


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="simulate, track and score a radar scenario",
        description="Simulate drones crossing a radar's coverage with clutter, track them, score the tracks.")
    parser.add_argument("--targets", type=int, default=20, help="drones in the air at any time (default 20)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of traffic (default 120)")
    parser.add_argument("--clutter", type=float, default=10.0, help="false alarms per scan (default 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="out/demo", help="where the scenario and track files go")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    scenario, tracks = workdir / "scenario.jsonl", workdir / "tracks.jsonl"
    config = RadarScenarioConfig(n_targets=args.targets, duration_s=args.duration,
                                 clutter_per_scan=args.clutter, seed=args.seed)
    counts = write_radar_scenario(config, scenario)
    print(f"simulated {args.duration:.0f} s of one radar watching ~{args.targets} drones "
          f"with {args.clutter:g} false alarms per scan (seed {args.seed}):")
    print("  " + ", ".join(f"{value} {key}" for key, value in counts.items()) + f" -> {scenario}")
    with open(tracks, "w", encoding="utf-8") as output:
        result = track_file(str(scenario), output)
    print(f"tracked -> {tracks}")
    for line in result.summary():
        print("  " + line)
    print("scored against ground truth:")
    for line in score_files(scenario, tracks).format_table().splitlines():
        print("  " + line)
    return 0
