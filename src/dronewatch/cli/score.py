"""``dronewatch score SCENARIO.jsonl TRACKS.jsonl [--alerts ALERTS.jsonl] [--json]``: judge tracks against
ground truth (the keys: :mod:`dronewatch.sim.metrics`)."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import format_bad_lines, read_all, read_scenario
from dronewatch.errors import ConfigError
from dronewatch.sim.metrics import RANGE_BINS_M, score_records


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "score", help=COMMANDS["score"][1],
        description="Score track lines against the truth lines of a scenario, in the site ENU frame "
                    "(the first sensor's site), at every truth time.")
    parser.add_argument("scenario", help="scenario JSON Lines with truth lines")
    parser.add_argument("tracks", help="track JSON Lines (dronewatch track output)")
    parser.add_argument("--alerts", metavar="ALERTS.jsonl",
                        help="alert lines (dronewatch assess, or run's alerts.jsonl): adds detection-to-alert "
                             "times and the classification confusion matrix")
    parser.add_argument("--cutoff", type=float, default=50.0, help="GOSPA cut-off c in metres (default 50)")
    parser.add_argument("--gate", type=float, default=None,
                        help="SIAP association gate in metres (default: the cut-off)")
    parser.add_argument("--range-bins", default=None, metavar="M,M,...",
                        help="lower edges of the Pd-by-range bins in metres (default 0,250,500,1000,1500,2000,3000)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(run=run)


def _range_bins(text: str | None) -> tuple[float, ...]:
    if text is None:
        return RANGE_BINS_M
    try:
        edges = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--range-bins: not a list of numbers: {text!r}") from None
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] < 0:
        raise ConfigError(f"--range-bins: edges must be increasing and not negative, got {text!r}")
    return edges


def run(args: argparse.Namespace) -> int:
    bins = _range_bins(args.range_bins)
    scenario, scenario_read = read_all(args.scenario, progress=False)  # tracks and alerts may be empty: none
    tracks = read_scenario(args.tracks, progress=False)
    alerts = read_scenario(args.alerts, progress=False) if args.alerts else None
    report = score_records(scenario, tracks, alerts, cutoff_m=args.cutoff, association_gate_m=args.gate,
                           range_bins_m=bins)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_table())
    for read in (scenario_read, tracks.stats, *([alerts.stats] if alerts else [])):
        for line in format_bad_lines(read):
            print(line, file=sys.stderr)
    return 0
