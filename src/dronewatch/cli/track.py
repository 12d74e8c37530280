"""``dronewatch track IN.jsonl -o OUT.jsonl``: run the tracker over a scenario file."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import (
    add_config_option,
    format_bad_lines,
    open_output,
    read_scenario,
    require_records,
    site_tuning,
)
from dronewatch.formats.scenario import OnError, ReadStats, ScenarioWriter
from dronewatch.tracking import Tracker, TrackerConfig, TrackerStats, track_records


@dataclass(slots=True, frozen=True)
class TrackRun:
    """What one run of the tracker over a file did."""

    read: ReadStats
    tracker: TrackerStats
    track_lines: int
    wall_s: float

    def summary(self) -> list[str]:
        rate = self.tracker.detections / self.wall_s if self.wall_s > 0 else 0.0
        lines = [
            f"detections: {self.tracker.detections} in {self.tracker.batches} scans",
            f"tracks confirmed: {self.tracker.tracks_confirmed} (started {self.tracker.tracks_started}, "
            f"merged by identity {self.tracker.merges})",
            f"track lines written: {self.track_lines}",
            f"wall time: {self.wall_s:.2f} s, {rate:,.0f} detections/s",
        ]
        return lines + format_bad_lines(self.read)


def track_file(input_path: str, output: IO[str], *, on_error: OnError = "skip", progress: bool = True,
               config: TrackerConfig | None = None) -> TrackRun:
    """Track every detection of ``input_path``; write ``track`` lines to ``output``."""
    start = time.perf_counter()
    reader = read_scenario(input_path, on_error=on_error, progress=progress)
    tracker = Tracker(config)
    writer = ScenarioWriter(output)
    for snapshot in track_records(reader, tracker):
        assert tracker.site is not None
        writer.write_all(snapshot.reports(tracker.site))
    require_records(reader)
    return TrackRun(reader.stats, tracker.stats, writer.count, time.perf_counter() - start)


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "track", help=COMMANDS["track"][1],
        description="Read scenario JSON Lines, write one track line per confirmed track per update time.")
    parser.add_argument("input", help="scenario JSON Lines file, or - for standard input")
    parser.add_argument("-o", "--output", default="-", help="track JSON Lines file (default: standard output)")
    parser.add_argument("--on-error", choices=("skip", "raise"), default="skip",
                        help="skip and count malformed lines (default) or stop at the first")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_config_option(parser, "[tracking] section")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_output(args.output) as output:
        result = track_file(args.input, output, on_error=args.on_error, progress=not args.no_progress,
                            config=site_tuning(args.config)[0])
    for line in result.summary():
        print(line, file=sys.stderr)
    return 0
