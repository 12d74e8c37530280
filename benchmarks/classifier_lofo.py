"""The track classifier judged leave-one-flight-out on the real flights (issue 16, item 2).

Rows: once a second, the window features (:data:`dronewatch.assessment.classify.FEATURES`) of the
confirmed track nearest the object (within 50 m), labelled with the object's class:

- *simulated*: the training runs of ``benchmarks/train_classifier.py`` (built-in scenarios, seeds
  101-112 and 101-106, less its ``LEFT_OUT_KINDS``), every row also as a radar-only site sees it;
- *real*: every flight in ``--flights`` through the sensor model of ``benchmarks/bench_real_flights.py``
  (its site, radar, direction finders and clutter), on placements drawn with ``--seed`` (default 7,
  not the seed that script reports on), with and without the direction finders.

Two ways to train, each judged on every real flight it never saw:

- ``sim``: simulated rows only (how the shipped model is trained);
- ``sim+real``: simulated rows and the real rows of every *other* flight (leave one flight out).

The judged figure is the full classifier's call (evidence accumulated along each track as
``Classifier.update`` does, ``unknown`` before ``min_age_s`` or under ``min_confidence``), as a share of
the flight's tracked seconds.

Run: ``python3 dev.py bench benchmarks/classifier_lofo.py [--flights DIR] [--seed S] [--placements N]``;
rows are cached in ``benchmarks/work/`` (``--fresh`` rebuilds them); writes
``benchmarks/results/classifier_lofo.md``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import bench_real_flights as real
import train_classifier as train
from dronewatch.assessment.classify import MODEL_CLASSES, Classifier, SoftmaxModel, accumulate, posterior
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor
from dronewatch.tracking import Tracker, track_records

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
CALLS = (*MODEL_CLASSES, "unknown")


def real_rows(job: real.Job) -> list[tuple[str, bool, str, float, list[float]]]:
    """(flight, with RF, track key, t, features) per tracked second of one placement, both RF settings."""
    placement = job.placement
    times = placement.scan_times()
    truth, present = placement.truth(times)
    out = []
    for with_rf, lines in real.run_lines(job).items():
        records = list(ScenarioReader(lines, source=placement.flight.name, on_error="raise"))
        sensors = [r for r in records if isinstance(r, Sensor)]
        frame = LocalFrame(sensors[0].lat, sensors[0].lon, sensors[0].alt)
        classifier = Classifier(frame, sensors, train.FLAT_MODEL)
        last = -math.inf
        for snapshot in track_records(records, Tracker()):
            k = round(snapshot.t - real.BASE_EPOCH)
            if snapshot.t - last < 1.0 - 1e-9 or abs(snapshot.t - real.BASE_EPOCH - k) > 0.05:
                continue  # as the assessment: once a second, at the radar's scans
            last = snapshot.t
            reports = snapshot.reports(frame)
            classifier.update(snapshot.t, reports)
            if not reports or not 0 <= k < times.size or not present[k]:
                continue
            enu = job.site.from_geodetic(np.array([r.lat for r in reports]), np.array([r.lon for r in reports]),
                                         np.array([r.alt for r in reports]))
            distance = np.linalg.norm(enu - truth[k], axis=1)
            nearest = int(np.argmin(distance))
            if distance[nearest] <= real.GATE_M:
                key = f"{placement.index}:{with_rf}:{reports[nearest].id}"
                out.append((placement.flight.name, with_rf, key, snapshot.t,
                            classifier.last_features[nearest].tolist()))
    return out


def load_rows(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    WORK.mkdir(exist_ok=True)
    sim_path, real_path = WORK / "lofo_sim.npz", WORK / f"lofo_real_seed{args.seed}_p{args.placements}.npz"
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        if args.fresh or not sim_path.exists():
            print(f"simulating and tracking {len(train.TRAIN)} training runs ...", file=sys.stderr)
            rows = [row for part in pool.map(train.run_scenario, *zip(*[(n, s, None) for n, s in train.TRAIN],
                                                                      strict=True)) for row in part]
            np.savez(sim_path, x=np.array([r[0] for r in rows]), y=np.array([r[1] for r in rows]),
                     kind=np.array([r[4] for r in rows]))
        if args.fresh or not real_path.exists():
            flights = [real.load_flight(p) for p in sorted(Path(args.flights).glob("*.csv"))]
            site = real.make_site(args.seed)
            jobs = [real.Job(n, placement, site, args.seed, None) for n, flight in enumerate(flights)
                    for placement in real.placements_for(flight, n, args.seed, args.placements, False)]
            jobs.sort(key=lambda job: -job.placement.flight.duration_s)
            print(f"tracking {len(jobs)} placements of {len(flights)} real flights ...", file=sys.stderr)
            rows_real = [row for part in pool.map(real_rows, jobs) for row in part]
            classes = {f.name: f.cls for f in flights}
            np.savez(real_path, flight=np.array([r[0] for r in rows_real]), rf=np.array([r[1] for r in rows_real]),
                     key=np.array([r[2] for r in rows_real]), t=np.array([r[3] for r in rows_real]),
                     x=np.array([r[4] for r in rows_real]),
                     y=np.array([MODEL_CLASSES.index(classes[r[0]]) for r in rows_real]))
    return dict(np.load(sim_path)), dict(np.load(real_path))


def fit_on(sim: dict[str, np.ndarray], real_part: dict[str, np.ndarray] | None) -> SoftmaxModel:
    learnt = ~np.isin(sim["kind"], train.LEFT_OUT_KINDS)
    x, y, kind = sim["x"][learnt], sim["y"][learnt], sim["kind"][learnt]
    x, y, kind = np.vstack([x, train.without_support(x)]), np.concatenate([y, y]), np.concatenate([kind, kind])
    if real_part is not None and len(real_part["y"]):
        x = np.vstack([x, real_part["x"]])
        y = np.concatenate([y, real_part["y"]])
        kind = np.concatenate([kind, np.char.add("real:", real_part["flight"].astype(str))])
    return train.fit(x, y, train.balanced_weights(y, kind))


def calls(model: SoftmaxModel, rows: dict[str, np.ndarray]) -> np.ndarray:
    """The classifier's call at every row, evidence accumulated along each track as ``Classifier`` does."""
    judge = Classifier(LocalFrame(0.0, 0.0, 0.0), [], model)  # for its defaults: window, memory, age, confidence
    log_p = model.log_proba(rows["x"])
    out = np.empty(len(log_p), dtype=object)
    by_track: dict[str, list[int]] = defaultdict(list)
    for n, key in enumerate(rows["key"]):
        by_track[f"{rows['flight'][n]}:{key}"].append(n)
    for indices in by_track.values():
        evidence, last, first = np.zeros(len(MODEL_CLASSES)), None, rows["t"][indices[0]]
        for n in sorted(indices, key=lambda i: rows["t"][i]):
            t = rows["t"][n]
            step = judge.window_s if last is None else t - last
            evidence = accumulate(evidence, log_p[n], step, judge.window_s, judge.memory_s)
            last = t
            belief = posterior(evidence)
            best = int(np.argmax(belief))
            young = t - first < judge.min_age_s
            out[n] = "unknown" if young or belief[best] < judge.min_confidence else MODEL_CLASSES[best]
    return out


def table(title: str, shares: dict[tuple[str, bool], Counter[str]], classes: dict[str, str]) -> list[str]:
    lines = [f"### {title}", "", "| flight | class | RF | tracked s | drone | bird | aircraft | unknown |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for (flight, with_rf), counted in sorted(shares.items(), key=lambda item: (classes[item[0][0]], item[0][0],
                                                                                not item[0][1])):
        total = sum(counted.values())
        lines.append(f"| {flight} | {classes[flight]} | {'with RF' if with_rf else 'radar only'} | {total} | "
                     + " | ".join(f"{counted[c] / total:.1%}" for c in CALLS) + " |")
    lines += ["", "| true class | RF | tracked s | drone | bird | aircraft | unknown |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for cls in ("drone", "bird"):
        for with_rf in (True, False):
            counted = sum((c for (f, r), c in shares.items() if classes[f] == cls and r == with_rf), Counter())
            total = sum(counted.values())
            if total:
                lines.append(f"| {cls} | {'with RF' if with_rf else 'radar only'} | {total} | "
                             + " | ".join(f"{counted[c] / total:.1%}" for c in CALLS) + " |")
    lowest_rf = min((c["drone"] / sum(c.values()), f) for (f, r), c in shares.items()
                    if classes[f] == "drone" and r)
    lowest_radar = min((c["drone"] / sum(c.values()), f) for (f, r), c in shares.items()
                       if classes[f] == "drone" and not r)
    bird = max((c["drone"] / sum(c.values()), f, r) for (f, r), c in shares.items() if classes[f] == "bird")
    return [*lines, "", f"Lowest drone call with RF {lowest_rf[0]:.1%} ({lowest_rf[1]}), radar only "
                        f"{lowest_radar[0]:.1%} ({lowest_radar[1]}); bird called drone at most {bird[0]:.1%} "
                        f"({bird[1]}, {'with RF' if bird[2] else 'radar only'}).", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flights", default=str(real.DEFAULT_FLIGHTS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--placements", type=int, default=2, help="placements of each kind per flight")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached rows")
    args = parser.parse_args()
    start = time.perf_counter()
    sim, rows = load_rows(args)
    flights = list(dict.fromkeys(rows["flight"].tolist()))
    classes = {f: MODEL_CLASSES[int(rows["y"][rows["flight"] == f][0])] for f in flights}
    print(f"{len(sim['y'])} simulated rows, {len(rows['y'])} real rows", file=sys.stderr)
    shipped = fit_on(sim, None)
    results: dict[str, dict[tuple[str, bool], Counter[str]]] = {"sim": {}, "sim+real": {}}
    for flight in flights:
        held = rows["flight"] == flight
        print(f"leaving out {flight} ...", file=sys.stderr)
        others = {k: v[~held] for k, v in rows.items()}
        judged = {k: v[held] for k, v in rows.items()}
        for name, model in (("sim", shipped), ("sim+real", fit_on(sim, others))):
            called = calls(model, judged)
            for with_rf in (True, False):
                results[name][(flight, with_rf)] = Counter(called[judged["rf"] == with_rf].tolist())
    text = ["# Track classifier, leave one flight out on the real flights", "",
            f"`python3 dev.py bench benchmarks/classifier_lofo.py --seed {args.seed} --placements {args.placements}`",
            "", f"{len(sim['y'])} simulated rows (each also radar-only), {len(rows['y'])} real rows "
            f"({len(flights)} flights, placements of seed {args.seed}); {time.perf_counter() - start:.0f} s. "
            "Share of each flight's tracked seconds by the class called, the flight never seen in training.", ""]
    text += table("Trained on the simulator only", results["sim"], classes)
    text += table("Trained on the simulator and the other real flights", results["sim+real"], classes)
    output = HERE / "results" / "classifier_lofo.md"
    output.write_text("\n".join(text), encoding="utf-8")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
