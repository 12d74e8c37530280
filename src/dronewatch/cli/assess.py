"""``dronewatch assess`` (tracks -> alerts) and ``dronewatch run`` (track + assess + score + report)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronewatch.assessment import Assessor
from dronewatch.cli import COMMANDS
from dronewatch.cli._io import (
    add_config_option,
    format_bad_lines,
    open_output,
    progress_bar,
    read_all,
    read_scenario,
    site_tuning,
)
from dronewatch.errors import ConfigError
from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.model import Alert, Detection, Record, ScenarioInfo, Sensor, TrackReport, Truth, Zone
from dronewatch.outputs.site_plot import site_svg
from dronewatch.sim.metrics import score_tracks, site_frame
from dronewatch.tracking import Tracker, track_records


def add_parser(commands: Any) -> None:
    assess = commands.add_parser(
        "assess", help=COMMANDS["assess"][1],
        description="Read the sensor and zone lines of SCENARIO and the track lines of TRACKS; write alert lines.")
    assess.add_argument("scenario", help="scenario JSON Lines with sensor and zone lines")
    assess.add_argument("tracks", help="track JSON Lines (dronewatch track's output)")
    assess.add_argument("-o", "--output", default="-", help="alert JSON Lines (default: standard output)")
    add_config_option(assess, "[assessment] section")
    assess.set_defaults(run=run_assess)
    run = commands.add_parser(
        "run", help=COMMANDS["run"][1],
        description="Writes DIR/tracks.jsonl, DIR/alerts.jsonl, DIR/site.svg (zones, tracks by class, alerts) "
                    "and DIR/report.md.")
    run.add_argument("scenario", help="scenario JSON Lines (e.g. from dronewatch sim)")
    run.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for the results")
    add_config_option(run, "[tracking] and [assessment] sections")
    run.set_defaults(run=run_all)


@dataclass(slots=True)
class Assessment:
    """What one assessment run saw: alert lines, each track's reports and final class."""

    alerts: list[Alert] = field(default_factory=list)
    tracks: dict[str, list[TrackReport]] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> list[str]:
        opened = {a.id: a for a in self.alerts if a.state != "resolved"}
        by_kind = Counter(f"{a.kind} ({a.level})" for a in opened.values())
        classes = Counter(self.classes.values())
        return [f"alerts: {len(opened)} ({', '.join(f'{n} {k}' for k, n in sorted(by_kind.items())) or 'none'}), "
                f"{len(self.alerts)} alert lines",
                f"tracks by class: {', '.join(f'{n} {c}' for c, n in sorted(classes.items())) or 'none'}"]


def assess_snapshots(assessor: Assessor, updates: Iterable[tuple[float, list[TrackReport]]],
                     writer: ScenarioWriter) -> Assessment:
    """Feed track updates (time, reports) to ``assessor``; write alert lines."""
    result = Assessment()
    for t, reports in updates:
        for report in reports:
            result.tracks.setdefault(report.id, []).append(report)
        lines = assessor.update(t, reports)
        writer.write_all(lines)
        result.alerts += lines
        for track_id, cls in assessor.classes.items():
            if cls.cls != "unknown" or track_id not in result.classes:
                result.classes[track_id] = cls.cls
    return result


def _site(records: Iterable[Record]) -> tuple[list[Sensor], list[Zone], list[Truth], str]:
    sensors: list[Sensor] = []
    zones: list[Zone] = []
    truths: list[Truth] = []
    name = ""
    for record in records:
        if isinstance(record, Sensor):
            sensors.append(record)
        elif isinstance(record, Zone):
            zones.append(record)
        elif isinstance(record, Truth):
            truths.append(record)
        elif isinstance(record, ScenarioInfo):
            name = f"{record.fields.get('name', '')} (seed {record.fields.get('seed', '?')})"
    if not sensors:
        raise ConfigError("the scenario file has no sensor lines: nothing places the site")
    return sensors, zones, truths, name


def _grouped(reports: Iterable[Record]) -> Iterator[tuple[float, list[TrackReport]]]:
    """Track lines grouped by time (a tracker writes one group per update)."""
    group: list[TrackReport] = []
    for record in reports:
        if not isinstance(record, TrackReport):
            continue
        if group and record.t != group[0].t:
            yield group[0].t, group
            group = []
        group.append(record)
    if group:
        yield group[0].t, group


def run_assess(args: argparse.Namespace) -> int:
    site, site_read = read_all(args.scenario, progress=False)
    sensors, zones, _, _ = _site(site)
    assessor = Assessor(site_frame(sensors), sensors, zones, site_tuning(args.config)[1])
    tracks = read_scenario(args.tracks)
    with open_output(args.output) as output:
        result = assess_snapshots(assessor, _grouped(tracks), ScenarioWriter(output))
    for line in [*result.summary(), *format_bad_lines(site_read), *format_bad_lines(tracks.stats)]:
        print(line, file=sys.stderr)
    return 0


def run_all(args: argparse.Namespace) -> int:
    out = Path(args.output)
    records, read = read_all(args.scenario)
    sensors, zones, truths, name = _site(records)
    out.mkdir(parents=True, exist_ok=True)
    frame = site_frame(sensors)
    tracking, assessment = site_tuning(args.config)
    assessor = Assessor(frame, sensors, zones, assessment)
    tracker = Tracker(tracking)

    def updates(writer: ScenarioWriter) -> Iterator[tuple[float, list[TrackReport]]]:
        for snapshot in track_records(progress_bar(records, desc="tracking and assessing", unit=" lines"), tracker):
            reports = snapshot.reports(frame)
            writer.write_all(reports)
            yield snapshot.t, reports

    with open(out / "tracks.jsonl", "w", encoding="utf-8") as tracks_file, \
            open(out / "alerts.jsonl", "w", encoding="utf-8") as alerts_file:
        result = assess_snapshots(assessor, updates(ScenarioWriter(tracks_file)), ScenarioWriter(alerts_file))
    (out / "site.svg").write_text(site_svg(frame, zones, result.tracks, result.classes, result.alerts,
                                           title=f"{name or Path(args.scenario).name}: tracks and alerts"),
                                  encoding="utf-8")
    all_reports = [r for reps in result.tracks.values() for r in reps]
    detections = [r for r in records if isinstance(r, Detection)]
    score = score_tracks(truths, sorted(all_reports, key=lambda r: r.t), frame, sensors=sensors, detections=detections,
                         alerts=result.alerts) if truths else None
    report = _report(name or Path(args.scenario).name, tracker, result, score.format_table() if score else None)
    (out / "report.md").write_text(report, encoding="utf-8")
    for line in [*result.summary(), *format_bad_lines(read)]:
        print(line, file=sys.stderr)
    print(f"-> {out / 'report.md'}, {out / 'site.svg'}, {out / 'tracks.jsonl'}, {out / 'alerts.jsonl'}",
          file=sys.stderr)
    return 0


def _report(name: str, tracker: Tracker, result: Assessment, score_table: str | None) -> str:
    alerts: dict[str, list[Alert]] = {}
    for alert in result.alerts:
        alerts.setdefault(alert.id, []).append(alert)
    lines = [f"# {name}", "", "![site](site.svg)", "",
             f"{tracker.stats.detections} detections, {tracker.stats.tracks_confirmed} tracks confirmed; "
             + result.summary()[1] + ".", "", "## Alerts", ""]
    if alerts:
        lines += ["| alert | opened (s) | kind | highest level | zone | track | first reasons | resolved (s) |",
                  "|---|---:|---|---|---|---|---|---:|"]
        start = min(a.t for a in result.alerts)
        order = ("info", "warning", "critical")
        for alert_id, states in alerts.items():
            top = max(states, key=lambda a: order.index(a.level))
            end = next((a.t for a in states if a.state == "resolved"), None)
            reasons = "; ".join(top.reasons[:2]).replace("|", "/")
            lines.append(f"| {alert_id} | {states[0].t - start:.0f} | {top.kind} | {top.level} | {top.zone or ''} | "
                         f"{top.track} | {reasons} | {'' if end is None else f'{end - start:.0f}'} |")
    else:
        lines.append("No alerts.")
    if score_table is not None:
        lines += ["", "## Tracks against ground truth", "", "```", score_table, "```"]
    return "\n".join(lines) + "\n"
