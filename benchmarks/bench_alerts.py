"""Alerts against ground truth: warning time before each compound breach, false alerts, classification.

Runs ``border-station`` and ``swarm`` for seeds 1-20 each (the classifier was trained on
seeds 101-112): simulate, track and assess in process, exactly as ``dronewatch run`` does.

- **Breach**: a true drone's first moment inside the ``compound`` zone (the critical one).
- **Warning time**: breach time minus the first ``critical`` alert line on the compound
  (``zone_breach_predicted``, ``zone_entry`` or ``swarm``) whose track was that drone when the
  alert rose to critical (track within 100 m of it). No such alert before the breach: missed.
  An object is held where its truth lines end for 2 min (drones that land drop out of every
  sensor's coverage, and so out of the truth lines, but are still there).
- **First warning**: breach time minus the first line at ``warning`` or above, of any kind on any zone,
  on that drone (the approach ring's warnings included): what a rule that delays warnings costs.
- **False alerts**: alerts that reached ``warning`` or ``critical`` while their track was a
  bird, an aircraft or clutter (no true object within 100 m), counted once per alert at its
  highest level, per hour of scenario time.
- **Classification**: share of track-time (once a second, after each track's first 10 s)
  classified as the class of the true object within 50 m, per true class.

Run: ``python3 dev.py bench benchmarks/bench_alerts.py [--seeds N] [--first-seed S] [--output F]``;
writes ``benchmarks/results/bench_alerts.md`` by default.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dronewatch.assessment import AssessmentConfig, Assessor
from dronewatch.assessment.posture import PostureLevel, at_posture
from dronewatch.model import LEVELS, Sensor, Truth, Zone
from dronewatch.sim import engine
from dronewatch.sim.metrics import TruthIndex, site_frame
from dronewatch.sim.scenarios import built_in
from dronewatch.tracking import Tracker, track_records

HERE = Path(__file__).resolve().parent
CRITICAL_ZONE = "compound"
_CLASSES = ("drone", "bird", "aircraft")
SHORT_WARNING_S = 20.0


@dataclass
class RunResult:
    scenario: str
    seed: int
    duration_s: float
    breaches: int = 0
    warnings_s: list[float] = field(default_factory=list)
    first_warnings_s: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    short: list[str] = field(default_factory=list)
    """The drones warned less than ``SHORT_WARNING_S`` before their breach, with that time."""
    false_critical: list[str] = field(default_factory=list)
    false_warning: list[str] = field(default_factory=list)
    class_time: Counter[tuple[str, str]] = field(default_factory=Counter)
    alert_lines: int = 0
    wall_s: float = 0.0


def run(name: str, seed: int, posture: PostureLevel = "normal") -> RunResult:
    """One scenario and seed, assessed at a threat posture (``normal``: the configuration as it is)."""
    start = time.perf_counter()
    scenario = built_in(name, seed)
    records = list(engine.generate(scenario))
    truths = [r for r in records if isinstance(r, Truth)]
    sensors = [r for r in records if isinstance(r, Sensor)]
    frame = site_frame(sensors)  # the tracker's frame: the first sensor's site
    index = TruthIndex(truths, frame, hold_s=120.0)
    zones = [r for r in records if isinstance(r, Zone)]
    assessor = Assessor(frame, sensors, zones, at_posture(AssessmentConfig(), posture))
    result = RunResult(name, seed, scenario.duration_s)
    tracker = Tracker()
    first_seen: dict[str, float] = {}
    # per alert id: (highest level, who its track was then); per drone: first critical time
    highest: dict[str, tuple[int, str]] = {}
    first_critical: dict[str, float] = {}
    first_warning: dict[str, float] = {}
    for snapshot in track_records(records, tracker):
        reports = snapshot.reports(frame)
        lines = assessor.update(snapshot.t, reports)
        if not lines and assessor.assessed_at != snapshot.t:  # not an assessment step
            continue
        positions = snapshot.states[:, :3]
        who = [index.ids[k] if k is not None else "clutter" for k in index.label(snapshot.t, positions, 100.0)]
        who_of = dict(zip(snapshot.ids, who, strict=True))
        cls_of_object = dict(zip(index.ids, index.classes, strict=True))
        for alert in lines:
            result.alert_lines += 1
            if alert.state == "resolved":
                continue
            level = LEVELS.index(alert.level)
            subjects = alert.evidence.get("tracks", [alert.track]) if alert.evidence else [alert.track]
            objects = [who_of.get(s, "clutter") for s in subjects]
            for obj in objects:
                if cls_of_object.get(obj) != "drone":
                    continue
                if level >= LEVELS.index("warning"):
                    first_warning.setdefault(obj, alert.t)
                if alert.level == "critical" and alert.zone == CRITICAL_ZONE:
                    first_critical.setdefault(obj, alert.t)
            if level > highest.get(alert.id, (-1, ""))[0]:
                lead = objects[0]
                called = alert.evidence.get("class", "?") if alert.evidence else "?"
                highest[alert.id] = (level, f"{alert.kind}:{cls_of_object.get(lead, 'clutter')}:{lead} "
                                            f"(called {called})")
        labels = index.label(snapshot.t, positions, 50.0)
        for k, track_id in enumerate(snapshot.ids):
            first_seen.setdefault(track_id, snapshot.t)
            if labels[k] is None or snapshot.t - first_seen[track_id] < 10.0:
                continue
            truth_class = index.classes[labels[k]]
            if truth_class in _CLASSES and track_id in assessor.classes:
                result.class_time[(truth_class, assessor.classes[track_id].cls)] += 1
    for level, what in highest.values():
        kind, cls, obj = what.split(":", 2)
        if cls == "drone" or level < LEVELS.index("warning"):
            continue
        (result.false_critical if level == LEVELS.index("critical") else result.false_warning).append(
            f"{kind} on {cls} {obj}")
    compound = next(z for z in assessor.zones.zones if z.id == CRITICAL_ZONE)
    zone_index = assessor.zones.zones.index(compound)
    for obj, cls in zip(index.ids, index.classes, strict=True):
        if cls != "drone":
            continue
        own = [r for r in truths if r.id == obj]
        times = np.array([r.t for r in own])
        points = frame.positions_of(own)
        inside = assessor.zones.inside(points)[:, zone_index]
        if not inside.any():
            continue
        breach = float(times[np.argmax(inside)])
        result.breaches += 1
        if first_warning.get(obj, math.inf) <= breach:
            result.first_warnings_s.append(breach - first_warning[obj])
        alerted = first_critical.get(obj)
        if alerted is None or alerted > breach:
            result.missed.append(obj)
        else:
            result.warnings_s.append(breach - alerted)
            if breach - alerted < SHORT_WARNING_S:
                result.short.append(f"{obj} {breach - alerted:.0f} s")
    result.wall_s = time.perf_counter() - start
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--output", default=str(HERE / "results" / "bench_alerts.md"))
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(name, seed) for name in ("border-station", "swarm") for seed in seeds]
    results: list[RunResult] = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for k, result in enumerate(pool.map(run, *zip(*jobs, strict=True)), start=1):
            results.append(result)
            print(f"[{k}/{len(jobs)}] {result.scenario} seed {result.seed}: {result.breaches} breaches, warning "
                  f"{', '.join(f'{w:.0f}' for w in result.warnings_s) or '-'} s, missed {len(result.missed)}, "
                  f"false critical {len(result.false_critical)}, false warning {len(result.false_warning)} "
                  f"({result.wall_s:.0f} s)", file=sys.stderr)
    hours = sum(r.duration_s for r in results) / 3600.0
    warnings = [w for r in results for w in r.warnings_s]
    run_minimum = [min(r.warnings_s) for r in results if r.warnings_s]
    first_warnings = [w for r in results for w in r.first_warnings_s]
    class_time: Counter[tuple[str, str]] = Counter()
    for r in results:
        class_time.update(r.class_time)
    lines = [
        f"# Alerts on seeds {seeds.start}-{seeds.stop - 1} of border-station and swarm ({hours:.1f} h of traffic)",
        "", f"`python3 dev.py bench benchmarks/bench_alerts.py --seeds {args.seeds} --first-seed {args.first_seed}`",
        "",
        "| figure | value | goal |", "|---|---:|---|",
        f"| compound breaches by drones | {sum(r.breaches for r in results)} | |",
        f"| missed breaches (no critical alert before) | {sum(len(r.missed) for r in results)} | 0 |",
        f"| warning time, median | {statistics.median(warnings or [0.0]):.1f} s | >= 30 s |",
        f"| warning time, shortest (every run) | {min(run_minimum or [0.0]):.1f} s | >= 20 s |",
        f"| first warning of any kind before a breach, median | {statistics.median(first_warnings or [0.0]):.1f} s | |",
        f"| false critical alerts per hour | {sum(len(r.false_critical) for r in results) / hours:.2f} | <= 1 |",
        f"| false warning alerts per hour | {sum(len(r.false_warning) for r in results) / hours:.2f} | <= 5 |",
        "", "Classification, share of track-time after each track's first 10 s:", "",
        "| true class | track-seconds | drone | bird | aircraft | unknown |", "|---|---:|---:|---:|---:|---:|",
    ]
    for truth_class in _CLASSES:
        total = sum(n for (c, _), n in class_time.items() if c == truth_class)
        if total:
            lines.append(f"| {truth_class} | {total} | " + " | ".join(
                f"{class_time[(truth_class, p)] / total:.1%}" for p in (*_CLASSES, "unknown")) + " |")
    lines += ["", "Per run:", "",
              "| run | breaches | warning times (s) | under 20 s | missed | false critical | false warning |",
              "|---|---:|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.scenario} {r.seed} | {r.breaches} | {', '.join(f'{w:.0f}' for w in r.warnings_s)} | "
                     f"{', '.join(r.short)} | {', '.join(r.missed)} | {'; '.join(r.false_critical)} | "
                     f"{'; '.join(r.false_warning)} |")
    text = "\n".join(lines) + "\n"
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
