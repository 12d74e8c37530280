"""Train the track classifier's softmax model on simulator output; judge it on other seeds.

Data: the built-in ``border-station`` and ``swarm`` scenarios, simulated and tracked in
process; every confirmed track once a second gives one feature vector
(:data:`dronewatch.assessment.classify.FEATURES`), labelled with the class of the true
object nearest to it (within 50 m; tracks of clutter are left out). Identity-bearing
tracks (ADS-B, Remote ID) are classified by rule, not by the model, but their kinematics
still teach it. Training seeds: 101-112 (border-station) and 101-106 (swarm). Judged on
seeds 1-5 of each with the full classifier (smoothing, ``unknown`` below 0.6), counting
track-time after each track's first 10 s.

Every row is used twice: as the site saw it, and with the RF and acoustic shares missing, as a
site without those sensors sees it (a missing feature drops out of the model).

Fit: multinomial logistic regression on the standardised features and their pairwise
products (so that e.g. "low and straight" can differ from "low" and "straight"), L2
penalty 1e-2, by L-BFGS (scipy). Rows are weighted so that every class counts the same, and
within a class every kind of flight (flock, soaring, seabird; attack, observer, photo ...).
Kestrels are left out (:data:`LEFT_OUT_KINDS`).

Run: ``python3 dev.py bench benchmarks/train_classifier.py``; writes
``src/dronewatch/assessment/classifier_model.json`` and ``benchmarks/results/train_classifier.md``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from dronewatch.assessment.classify import FEATURES, MODEL_CLASSES, Classifier, SoftmaxModel
from dronewatch.model import Sensor, Truth
from dronewatch.sim import engine
from dronewatch.sim.metrics import TruthIndex, site_frame
from dronewatch.sim.scenarios import built_in
from dronewatch.tracking import Tracker, track_records

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE.parent / "src" / "dronewatch" / "assessment" / "classifier_model.json"
TRAIN = [("border-station", s) for s in range(101, 113)] + [("swarm", s) for s in range(101, 107)]
JUDGE = [("border-station", s) for s in range(1, 6)] + [("swarm", s) for s in range(1, 6)]
_CLASS_OF_TRUTH = {"drone": 0, "bird": 1, "aircraft": 2}
FLAT_MODEL = SoftmaxModel(np.zeros(len(FEATURES)), np.ones(len(FEATURES)),
                          np.zeros((len(MODEL_CLASSES), len(FEATURES))), np.zeros(len(MODEL_CLASSES)))
"""A model that favours no class: for collecting features when no model is being judged."""
LEFT_OUT_KINDS = ("kestrel",)
"""Flights the model is not trained on. A wind-hovering kestrel is, to a radar alone, a slow, low
hover: trained with it (one bird kind in five, as kinds are balanced), the model took real
multirotors for birds with radar only (critical alerts before 9 of 18 real entries instead of 18:
``benchmarks/bench_real_flights.py``). A missed drone is the worse error, so kestrels are judged
(``benchmarks/bench_alerts.py`` counts their false alerts) but not learnt."""


FloatRow = list[float]


def run_scenario(name: str, seed: int, model: SoftmaxModel | None) -> list[tuple[FloatRow, int, float, str, str]]:
    """Per track update, once a second: (features, true class index, track age, predicted class, the kind of
    flight: the true object's name without its number, e.g. ``seabird``, ``flock``, ``photo``)."""
    scenario = built_in(name, seed)
    records = list(engine.generate(scenario))
    sensors = [r for r in records if isinstance(r, Sensor)]
    frame = site_frame(sensors)  # the tracker's frame, and the assessor's: the first sensor's site
    truths = TruthIndex([r for r in records if isinstance(r, Truth)], frame)
    classifier = Classifier(frame, sensors, model or FLAT_MODEL)
    tracker = Tracker()
    born: dict[str, float] = {}
    out: list[tuple[FloatRow, int, float, str, str]] = []
    last = -np.inf
    for snapshot in track_records(records, tracker):
        if snapshot.t - last < 1.0 - 1e-9:
            continue
        last = snapshot.t
        reports = snapshot.reports(frame)
        classes = classifier.update(snapshot.t, reports)
        features = classifier.last_features
        labels = truths.label(snapshot.t, snapshot.states[:, :3])
        for n, report in enumerate(reports):
            born.setdefault(report.id, snapshot.t)
            if labels[n] is None:
                continue
            truth_class = truths.classes[labels[n]]
            if truth_class not in _CLASS_OF_TRUTH:
                continue
            predicted = classes[report.id].cls
            out.append((features[n].tolist(), _CLASS_OF_TRUTH[truth_class], snapshot.t - born[report.id], predicted,
                        truths.ids[labels[n]].rsplit("-", 1)[0]))
    return out


def without_support(x: np.ndarray) -> np.ndarray:
    """The rows as a site with no RF direction finder or acoustic array would give them (those shares missing)."""
    out = x.copy()
    out[:, [FEATURES.index("rf_share"), FEATURES.index("acoustic_share")]] = np.nan
    return out


MISSED_DRONE_COST = 2.0
"""How much more a drone called something else costs than a bird or aircraft called a drone: a missed
drone is the worse error (a site left unwarned), a false one the lesser (an operator's look)."""


def balanced_weights(y: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Per row: every class weighs the same in all (drones ``MISSED_DRONE_COST`` times more), and within a
    class every kind of flight the same (a rare kind, such as one seabird among flocks, is not given up for
    the common ones)."""
    weight = np.zeros(len(y))
    classes = np.unique(y)
    for c in classes:
        in_class = y == c
        class_kinds = np.unique(kinds[in_class])
        for kind in class_kinds:
            rows = in_class & (kinds == kind)
            weight[rows] = len(y) / (len(classes) * len(class_kinds) * rows.sum())
    return weight * np.where(y == _CLASS_OF_TRUTH["drone"], MISSED_DRONE_COST, 1.0)


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1e-2) -> SoftmaxModel:
    mean, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0) + 1e-6
    count = x.shape[1]
    k = len(MODEL_CLASSES)
    # a stand-in with the quadratic shape, only to compute the terms
    shape = SoftmaxModel(mean, scale, np.zeros((k, count + count * (count + 1) // 2)), np.zeros(k))
    z = shape.terms(x)
    f = z.shape[1]
    onehot = np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k * f].reshape(k, f), theta[k * f:]
        logits = z @ w.T + b
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        value = -float(np.sum(weight * np.sum(onehot * log_p, axis=1))) / len(y) + l2 * float(np.sum(w * w))
        residual = (np.exp(log_p) - onehot) * weight[:, None] / len(y)
        grad_w = residual.T @ z + 2 * l2 * w
        return value, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])

    result = minimize(loss, np.zeros(k * f + k), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return SoftmaxModel(mean, scale, result.x[:k * f].reshape(k, f), result.x[k * f:])


def main() -> int:
    with ProcessPoolExecutor(max_workers=2) as pool:
        print(f"simulating and tracking {len(TRAIN)} training runs ...", file=sys.stderr)
        rows = [row for part in pool.map(run_scenario, *zip(*[(n, s, None) for n, s in TRAIN], strict=True))
                for row in part if row[4] not in LEFT_OUT_KINDS]
        x = np.array([r[0] for r in rows])
        y = np.array([r[1] for r in rows])
        weight = balanced_weights(y, np.array([r[4] for r in rows]))
        print(f"{len(y)} samples: {dict(Counter(MODEL_CLASSES[c] for c in y))}", file=sys.stderr)
        # every row twice: as seen with the site's RF and acoustic sensors, and as a radar-only site sees it
        model = fit(np.vstack([x, without_support(x)]), np.concatenate([y, y]), np.concatenate([weight, weight]))
        MODEL_PATH.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"judging on {len(JUDGE)} other runs ...", file=sys.stderr)
        judged = [row for part in pool.map(run_scenario, *zip(*[(n, s, model) for n, s in JUDGE], strict=True))
                  for row in part]
    table = ["# Track classifier: trained on seeds 101-112/101-106, judged on seeds 1-5", "",
             "`python3 dev.py bench benchmarks/train_classifier.py`", "",
             "Share of track-time (updates once a second, after each track's first 10 s) classified as each class.",
             "", "| true class | updates | drone | bird | aircraft | unknown |", "|---|---:|---:|---:|---:|---:|"]
    for index, name in enumerate(MODEL_CLASSES):
        predicted = Counter(r[3] for r in judged if r[1] == index and r[2] >= 10.0)
        total = sum(predicted.values())
        if total:
            table.append(f"| {name} | {total} | " + " | ".join(
                f"{predicted[c] / total:.1%}" for c in (*MODEL_CLASSES, "unknown")) + " |")
    table += ["", "Weights of the linear terms (standardised features):", "",
              "| feature | " + " | ".join(MODEL_CLASSES) + " |", "|---|" + "---:|" * len(MODEL_CLASSES)]
    table += [f"| {name} | " + " | ".join(f"{model.weights[c, i]:+.2f}" for c in range(len(MODEL_CLASSES))) + " |"
              for i, name in enumerate(FEATURES)]
    text = "\n".join(table) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "train_classifier.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
