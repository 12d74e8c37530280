"""What each track is: ``drone``, ``bird``, ``aircraft`` or ``unknown``, with a confidence and reasons.

Method, in order:

1. Identity decides: an ADS-B identity (ICAO address) makes an aircraft, a Remote ID
   broadcast a drone (a spoofed one is the threat rules' business, not this one's).
2. Otherwise a small softmax regression (multinomial logistic model) over kinematic and
   sensor features of the track's last ``window_s`` seconds gives class probabilities at
   every update; their logarithms accumulate with exponential forgetting (time constant
   ``memory_s``), so the class settles over several updates and can still change when the
   track's behaviour does. A track younger than ``min_age_s`` or whose best class has a
   probability under ``min_confidence`` is ``unknown``.

Features (:data:`FEATURES`): mean horizontal speed and its spread; mean absolute climb
rate; height above the site; mean absolute turn rate and its spread; path straightness
(displacement over path length); share of time hovering (< 2 m/s) and how long the track has
hovered without a break (a kestrel hangs in the wind for seconds, a multirotor for minutes: beyond
the window, up to 2 min); share of time creeping (2-6 m/s: slower than a bird flies, faster
than it hovers); share of updates an RF
direction finder (a drone's control link) supported the track, of those at which one covered
it; the same for acoustic arrays (motors); tracks flying alongside (within 80 m, velocity
within 4 m/s: a flock). Distance from the site is not one: birds and small drones are alike
small targets, and in the simulator it told them apart for reasons of its own (where it
starts each kind), which made real birds far out drones.

A sensor kind that is not on site, or whose sensors do not cover the track, gives no evidence
either way: its share is missing (NaN), and a missing feature drops out of the model (its
standardised value and every product with it count 0). Nor does a bearing sensor at an update
when another track lies on nearly the same bearing from it (:meth:`Classifier.support`).

The model is trained on simulator output, with and without those shares, by
``benchmarks/train_classifier.py`` on seeds separate from the ones ``benchmarks/bench_alerts.py``
judges, and shipped as ``classifier_model.json``.
"""

from __future__ import annotations

import functools
import json
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from dronewatch.errors import ConfigError
from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.geo.coverage import in_coverage
from dronewatch.model import Sensor, TrackReport

FloatArray = NDArray[np.float64]
TrackClass = Literal["drone", "bird", "aircraft", "unknown"]
MODEL_CLASSES: tuple[TrackClass, ...] = ("drone", "bird", "aircraft")
FEATURES = ("speed_mps", "speed_spread_mps", "climb_mps", "height_m", "turn_rate_dps", "turn_spread_dps",
            "straightness", "hover_share", "hover_s", "creep_share", "rf_share", "acoustic_share", "flock_neighbours")
_HOVER_MPS = 2.0
_CREEP_MPS = 6.0
"""Below a bird's slowest flapping flight: birds hover or fly faster, a multirotor also creeps."""
_HOVER_BREAK_S = 3.0
"""A hover goes on through shorter spells above hover speed (a gust, a noisy velocity)."""
_HOVER_CAP_S = 120.0
_FLOCK_RADIUS_M = 80.0
_FLOCK_VELOCITY_MPS = 4.0
_SUPPORT_KINDS = ("rf", "acoustic")
"""Sensor kinds whose support is a feature: a control link, motor noise."""


@dataclass(frozen=True, slots=True)
class Classification:
    cls: TrackClass
    confidence: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SoftmaxModel:
    """``p = softmax(W @ terms(f) + b)`` over :data:`MODEL_CLASSES`, ``terms`` the standardised
    features ``(f - mean) / scale`` and, for a quadratic model, their pairwise products."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    bias: FloatArray

    def log_proba(self, features: FloatArray, terms: FloatArray | None = None) -> FloatArray:
        """Per row of ``features`` (or of their ``terms``, when the caller has them), the log-probability of
        each class."""
        logits = (self.terms(features) if terms is None else terms) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p: FloatArray = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return log_p

    def terms(self, features: FloatArray) -> FloatArray:
        """The model's inputs: standardised features, then their pairwise products (interactions,
        e.g. low *and* straight), when the weights cover them."""
        z = np.nan_to_num((np.atleast_2d(features) - self.mean) / self.scale, nan=0.0)  # missing: no evidence
        if self.weights.shape[1] == z.shape[1]:
            return z
        first, second = _pairs(z.shape[1])
        return np.hstack([z, z[:, first] * z[:, second]])

    def to_json(self) -> dict[str, Any]:
        return {"classes": list(MODEL_CLASSES), "features": list(FEATURES), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "weights": self.weights.tolist(), "bias": self.bias.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SoftmaxModel:
        if list(data.get("features", ())) != list(FEATURES) or list(data.get("classes", ())) != list(MODEL_CLASSES):
            raise ConfigError("classifier model: its features or classes differ from this version's")
        return cls(np.array(data["mean"], dtype=float), np.array(data["scale"], dtype=float),
                   np.array(data["weights"], dtype=float), np.array(data["bias"], dtype=float))

    @classmethod
    def shipped(cls) -> SoftmaxModel:
        text = resources.files("dronewatch.assessment").joinpath("classifier_model.json").read_text("utf-8")
        return cls.from_json(json.loads(text))


@dataclass(slots=True)
class _History:
    t: deque[float] = field(default_factory=deque)
    position: deque[FloatArray] = field(default_factory=deque)
    velocity: deque[FloatArray] = field(default_factory=deque)
    rf: deque[float] = field(default_factory=deque)
    """1 supported by an RF direction finder, 0 covered by one but not supported, NaN covered by none."""
    acoustic: deque[float] = field(default_factory=deque)
    first_t: float = 0.0
    still_since: float | None = None
    """Start of the hover going on, if one is."""
    moving_since: float | None = None
    """Start of the spell above hover speed going on, if one is."""
    log_evidence: FloatArray = field(default_factory=lambda: np.zeros(len(MODEL_CLASSES)))
    last_t: float | None = None


class Classifier:
    """Feed every track update with :meth:`update`; it returns each track's class."""

    def __init__(self, frame: LocalFrame, sensors: Sequence[Sensor], model: SoftmaxModel | None = None, *,
                 window_s: float = 20.0, memory_s: float = 20.0, min_age_s: float = 3.0,
                 min_confidence: float = 0.6) -> None:
        self.frame = frame
        self.set_sensors(sensors)
        self.model = model if model is not None else SoftmaxModel.shipped()
        self.window_s, self.memory_s = window_s, memory_s
        self.min_age_s, self.min_confidence = min_age_s, min_confidence
        self._tracks: dict[str, _History] = {}
        self.last_features = np.zeros((0, len(FEATURES)))
        """The features of the last :meth:`update`, a row per report."""

    def set_sensors(self, sensors: Sequence[Sensor]) -> None:
        self._support = {kind: [(s, self.frame.from_geodetic(s.lat, s.lon, s.alt).reshape(3)) for s in sensors
                                if s.kind == kind] for kind in _SUPPORT_KINDS}

    def support(self, kind: str, position: FloatArray, reports: Sequence[TrackReport]) -> FloatArray:
        """``(N,)``: 1 where a sensor of ``kind`` supported the track, 0 where one covered it (as its sensor
        line states) and none supported it, NaN where none covered it. A sensor whose bearing to the track
        passes within three standard deviations of another track's counts for neither: a bird on the
        bearing of a drone's control link is "supported" by it, and says nothing either way."""
        out = np.full(position.shape[0], np.nan)
        for sensor, place in self._support[kind]:
            azimuth, elevation, slant = enu2aer(*(position - place).T)
            supported = np.array([sensor.id in (r.sensors or ()) for r in reports])
            # a sensor that supports a track covers it, whatever its line says
            covered = supported | in_coverage(sensor, azimuth, elevation, slant)
            shared = _nearest_bearing_apart(azimuth) < 3.0 * sensor.sigma.get("azimuth_deg", 1.0)
            out = np.where(covered & ~shared, np.fmax(out, supported), out)
        return out

    def features(self, t: float, reports: Sequence[TrackReport], position: FloatArray | None = None) -> FloatArray:
        """``(N, len(FEATURES))`` for the tracks reported at ``t``; records them in the history.
        ``position``: the reports' site ENU positions, when the caller has them already."""
        if not reports:
            return np.zeros((0, len(FEATURES)))
        if position is None:
            position = self.frame.positions_of(reports)
        velocity = np.array([r.vel_enu for r in reports], dtype=float)
        live = {r.id for r in reports}
        for gone in [k for k in self._tracks if k not in live]:
            del self._tracks[gone]
        histories = []
        hover_s = np.zeros(len(reports))
        rf, acoustic = self.support("rf", position, reports), self.support("acoustic", position, reports)
        for n, report in enumerate(reports):
            history = self._tracks.setdefault(report.id, _History(first_t=t))
            history.t.append(t)
            history.position.append(position[n])
            history.velocity.append(velocity[n])
            history.rf.append(float(rf[n]))
            history.acoustic.append(float(acoustic[n]))
            hover_s[n] = _hover_time(history, t, float(np.hypot(velocity[n, 0], velocity[n, 1])))
            while history.t[0] < t - self.window_s:
                for column in (history.t, history.position, history.velocity, history.rf, history.acoustic):
                    column.popleft()
            histories.append(history)
        out = _window_features(histories)
        out[:, FEATURES.index("hover_s")] = hover_s
        out[:, FEATURES.index("flock_neighbours")] = _flock_neighbours(position, velocity)
        return out

    def update(self, t: float, reports: Sequence[TrackReport], position: FloatArray | None = None
               ) -> dict[str, Classification]:
        features = self.last_features = self.features(t, reports, position)
        if not reports:
            return {}
        terms = self.model.terms(features)
        log_p = self.model.log_proba(features, terms)
        histories = [self._tracks[report.id] for report in reports]
        # every track's evidence and belief at once: a thousand tracks a second
        steps = [self.window_s if history.last_t is None else t - history.last_t for history in histories]
        evidence = accumulate(np.array([history.log_evidence for history in histories]), log_p, steps,
                              self.window_s, self.memory_s)
        beliefs = posterior(evidence)
        best, runner_up = beliefs.argmax(axis=1), np.argsort(beliefs, axis=1)[:, -2]
        out: dict[str, Classification] = {}
        told: list[int] = []  # the tracks classified by the model: their reasons next, all at once
        for n, (report, history) in enumerate(zip(reports, histories, strict=True)):
            history.log_evidence, history.last_t = evidence[n], t
            decided = self._decide(report, t - history.first_t, beliefs[n], int(best[n]), int(runner_up[n]))
            if decided is None:
                told.append(n)
            else:
                out[report.id] = decided
        if told:
            rows = np.array(told)
            reasons = self._reasons(best[rows], features[rows], terms[rows], log_p[rows])
            for n, cls, why in zip(told, best[rows], reasons, strict=True):
                out[reports[n].id] = Classification(MODEL_CLASSES[cls], float(beliefs[n, cls]), why)
        return {report.id: out[report.id] for report in reports}

    def _decide(self, report: TrackReport, age_s: float, belief: FloatArray, best: int, runner_up: int
                ) -> Classification | None:
        """The class of a track with an identity, or too new or too doubtful to say; none: the model's class
        (``belief``: the class probabilities; ``best`` and ``runner_up``: the likeliest two)."""
        if report.icao:
            return Classification("aircraft", 0.99, (f"ADS-B identity {report.icao}",))
        if report.uas_id:
            return Classification("drone", 0.99, (f"broadcasts Remote ID {report.uas_id}",))
        confidence = float(belief[best])
        if age_s < self.min_age_s:
            return Classification("unknown", confidence, ("too new to classify",))
        if confidence < self.min_confidence:
            return Classification("unknown", confidence,
                                  (f"between {MODEL_CLASSES[best]} and {MODEL_CLASSES[runner_up]}",))
        return None

    def _reasons(self, cls: NDArray[np.intp], features: FloatArray, terms: FloatArray, log_p: FloatArray
                 ) -> list[tuple[str, ...]]:
        """Per row, the two features that most favour its class ``cls`` over the runner-up class of this
        update (each product term's share split between its two features)."""
        runner_up = np.argsort(log_p, axis=1)[:, -2]
        margin = (self.model.weights[cls] - self.model.weights[runner_up]) * terms
        count = len(FEATURES)
        contribution = margin[:, :count].copy()
        if margin.shape[1] > count:
            half = margin[:, count:] / 2
            for feature, terms_of_it in enumerate(_terms_of_feature(count)):
                contribution[:, feature] += half[:, terms_of_it].sum(axis=1)
        top = np.argsort(contribution, axis=1)[:, ::-1][:, :2]
        return [tuple(_describe(FEATURES[k], float(features[n, k])) for k in top[n] if contribution[n, k] > 0)
                for n in range(top.shape[0])]


def posterior(log_evidence: FloatArray) -> FloatArray:
    """Class probabilities from a track's accumulated log-evidence (a row a track, for several)."""
    evidence = np.exp(log_evidence - log_evidence.max(axis=-1, keepdims=True))
    result: FloatArray = evidence / evidence.sum(axis=-1, keepdims=True)
    return result


def accumulate(log_evidence: FloatArray, log_p: FloatArray, step_s: float | Sequence[float], window_s: float,
               memory_s: float) -> FloatArray:
    """A track's class log-evidence after one more update ``step_s`` after the last (its first: one
    window): the old evidence forgotten with time constant ``memory_s``, plus this update's log-probabilities.
    For several tracks at once: a row each, and a step each."""
    steps = np.atleast_1d(np.asarray(step_s, dtype=float))
    forget = np.array([math.exp(-step / memory_s) for step in steps.tolist()])
    # updates a second apart see windows that overlap by all but a second: each counts for
    # its share of a window's worth of evidence, not as a new, independent look
    weight = np.minimum(1.0, 2.0 * steps / window_s)
    result: FloatArray = forget[:, None] * np.atleast_2d(log_evidence) + weight[:, None] * np.atleast_2d(log_p)
    return result if steps.shape == np.shape(step_s) else result[0]


def _nearest_bearing_apart(azimuth_deg: FloatArray) -> FloatArray:
    """``(N,)``: per bearing, degrees to the nearest other one (around the circle; ``inf`` when alone)."""
    if azimuth_deg.size < 2:
        return np.full(azimuth_deg.size, np.inf)
    order = np.argsort(azimuth_deg % 360.0)
    ring = azimuth_deg[order] % 360.0
    gap = np.diff(ring, append=ring[0] + 360.0)  # from each bearing to the next one round
    nearest = np.empty_like(ring)
    nearest[order] = np.minimum(gap, np.roll(gap, 1))
    return nearest


def _window_features(histories: Sequence[_History]) -> FloatArray:
    """``(N, len(FEATURES))``: each track's window features, for all tracks at once.

    The windows are of different lengths: each is padded at its start with copies of its oldest
    sample, which add nothing to differences (turns, steps), and the padding is masked out of
    the means. The hover time and flock neighbours are the caller's.
    """
    n, width = len(histories), max(len(h.t) for h in histories)
    t = np.empty((n, width))
    p, v = np.empty((n, width, 3)), np.empty((n, width, 3))
    rf, acoustic = np.full((n, width), np.nan), np.full((n, width), np.nan)
    valid = np.zeros((n, width), bool)
    for k, history in enumerate(histories):
        pad = width - len(history.t)
        t[k, pad:], p[k, pad:], v[k, pad:] = history.t, history.position, history.velocity
        t[k, :pad], p[k, :pad], v[k, :pad] = history.t[0], history.position[0], history.velocity[0]
        rf[k, pad:], acoustic[k, pad:], valid[k, pad:] = history.rf, history.acoustic, True

    def mean(values: FloatArray, mask: NDArray[np.bool_] = valid) -> FloatArray:
        total = mask.sum(axis=1)
        return np.where(total > 0, (values * mask).sum(axis=1) / np.maximum(total, 1), 0.0)

    def share(values: FloatArray) -> FloatArray:  # NaN where no update had a value
        known = valid & ~np.isnan(values)
        return np.where(known.any(axis=1), mean(np.nan_to_num(values), known), np.nan)

    def spread(values: FloatArray, mask: NDArray[np.bool_] = valid) -> FloatArray:
        return np.sqrt(mean((values - mean(values, mask)[:, None]) ** 2, mask))

    speed = np.hypot(v[:, :, 0], v[:, :, 1])
    heading = np.unwrap(np.arctan2(v[:, :, 0], v[:, :, 1]), axis=1)
    dt = np.diff(t, axis=1)
    turn = np.degrees(np.abs(np.diff(heading, axis=1)) / np.where(dt > 0, dt, 1.0))
    turning = valid[:, :-1] & (speed[:, 1:] > _HOVER_MPS)
    path = np.linalg.norm(np.diff(p[:, :, :2], axis=1), axis=2).sum(axis=1)
    straight = np.linalg.norm(p[:, -1, :2] - p[:, 0, :2], axis=1) / np.where(path > 1.0, path, 1.0)
    columns = {
        "speed_mps": mean(speed), "speed_spread_mps": spread(speed), "climb_mps": mean(np.abs(v[:, :, 2])),
        "height_m": p[:, -1, 2], "turn_rate_dps": mean(turn, turning), "turn_spread_dps": spread(turn, turning),
        "straightness": np.where(path > 1.0, straight, 1.0), "hover_share": mean((speed < _HOVER_MPS).astype(float)),
        "creep_share": mean(((speed >= _HOVER_MPS) & (speed < _CREEP_MPS)).astype(float)),
        "rf_share": share(rf), "acoustic_share": share(acoustic),
    }
    out = np.zeros((n, len(FEATURES)))
    for name, values in columns.items():
        out[:, FEATURES.index(name)] = values
    return out


def _hover_time(history: _History, t: float, speed_mps: float) -> float:
    """Seconds the track has hovered without a break, up to ``_HOVER_CAP_S``; records the update."""
    if speed_mps < _HOVER_MPS:
        history.moving_since = None
        if history.still_since is None:
            history.still_since = t
    elif history.moving_since is None:
        history.moving_since = t
    elif t - history.moving_since >= _HOVER_BREAK_S:
        history.still_since = None
    return 0.0 if history.still_since is None else min(t - history.still_since, _HOVER_CAP_S)


@functools.cache
def _pairs(count: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column of each pairwise product term (the upper triangle, diagonal included)."""
    first, second = np.triu_indices(count)
    return first, second


@functools.cache
def _terms_of_feature(count: int) -> tuple[NDArray[np.intp], ...]:
    """Per feature, the pairwise product terms it is in (a square twice: half its share is each factor's)."""
    first, second = _pairs(count)
    return tuple(np.concatenate([np.flatnonzero(first == k), np.flatnonzero(second == k)]) for k in range(count))


def _flock_neighbours(position: FloatArray, velocity: FloatArray) -> FloatArray:
    """How many other tracks fly alongside each: close, with nearly the same velocity."""
    count = np.zeros(position.shape[0])
    if position.shape[0] < 2:
        return count
    for a, b in cKDTree(position).query_pairs(_FLOCK_RADIUS_M, output_type="ndarray"):
        if np.linalg.norm(velocity[a] - velocity[b]) < _FLOCK_VELOCITY_MPS:
            count[a] += 1
            count[b] += 1
    return count


def _describe(name: str, value: float) -> str:
    return {
        "speed_mps": f"speed {value:.0f} m/s",
        "speed_spread_mps": f"speed varies by {value:.1f} m/s",
        "climb_mps": f"climbs or sinks at {value:.1f} m/s",
        "height_m": f"{value:.0f} m above the site",
        "turn_rate_dps": f"turns {value:.0f} deg/s on average",
        "turn_spread_dps": f"turn rate varies by {value:.0f} deg/s",
        "straightness": f"path straightness {value:.2f}",
        "hover_share": f"hovers {value:.0%} of the time",
        "hover_s": f"has hovered for {value:.0f} s",
        "creep_share": f"creeps at 2-6 m/s {value:.0%} of the time",
        "rf_share": f"RF control link seen {value:.0%} of the time",
        "acoustic_share": f"motor noise heard {value:.0%} of the time",
        "flock_neighbours": f"flies with {value:.0f} other track(s) alongside",
    }[name]
