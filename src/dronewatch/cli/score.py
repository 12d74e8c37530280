"""``dronewatch score SCENARIO.jsonl TRACKS.jsonl [--json]``: judge tracks against ground truth."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.sim.metrics import score_files


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "score", help=COMMANDS["score"][1],
        description="Score track lines against the truth lines of a scenario, in the site ENU frame "
                    "(the first sensor's site), at every truth time.")
    parser.add_argument("scenario", help="scenario JSON Lines with truth lines")
    parser.add_argument("tracks", help="track JSON Lines (dronewatch track output)")
    parser.add_argument("--cutoff", type=float, default=50.0, help="GOSPA cut-off c in metres (default 50)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = score_files(args.scenario, args.tracks, cutoff_m=args.cutoff)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_table())
    return 0
