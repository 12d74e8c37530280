"""The track classifier: identities decide, the shipped model loads, young tracks stay unknown."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from dronewatch.assessment import Classifier, SoftmaxModel
from dronewatch.assessment.classify import FEATURES, _nearest_bearing_apart
from dronewatch.errors import ConfigError
from dronewatch.model import TrackReport
from dronewatch.sim.scenarios import SITE, station_sensors

SENSORS = station_sensors()


def track(t: float, east: float, velocity: tuple[float, float, float], **fields: object) -> TrackReport:
    lat, lon, alt = SITE.to_geodetic(np.array([east, 1000.0, 40.0]))
    return TrackReport(t=t, id="T1", lat=float(lat), lon=float(lon), alt=float(alt), vel_enu=velocity,
                       **fields)  # type: ignore[arg-type]


def test_the_shipped_model_loads_and_round_trips() -> None:
    model = SoftmaxModel.shipped()
    assert model.mean.shape == (len(FEATURES),)
    again = SoftmaxModel.from_json(json.loads(json.dumps(model.to_json())))
    assert np.array_equal(again.weights, model.weights)
    with pytest.raises(ConfigError, match="features or classes differ"):
        SoftmaxModel.from_json({**model.to_json(), "features": ["speed_mps"]})


def test_identities_decide_and_young_tracks_are_unknown() -> None:
    classifier = Classifier(SITE, SENSORS)
    assert classifier.update(0.0, [track(0.0, 0.0, (10.0, 0.0, 0.0))])["T1"].cls == "unknown"
    icao = classifier.update(1.0, [track(1.0, 10.0, (10.0, 0.0, 0.0), icao="A1B2C3")])["T1"]
    assert (icao.cls, icao.reasons) == ("aircraft", ("ADS-B identity A1B2C3",))
    rid = classifier.update(2.0, [track(2.0, 20.0, (10.0, 0.0, 0.0), uas_id="1581F00TEST")])["T1"]
    assert rid.cls == "drone" and rid.confidence == 0.99


def test_a_hovering_track_with_an_rf_link_is_a_drone() -> None:
    classifier = Classifier(SITE, SENSORS)
    for t in range(30):
        result = classifier.update(float(t), [track(float(t), 0.0, (0.2, -0.1, 0.0),
                                                    sensors=("radar-1", "rf-west", "rf-east"))])
    assert result["T1"].cls == "drone" and result["T1"].confidence > 0.9
    assert result["T1"].reasons  # says why
    features = dict(zip(FEATURES, classifier.last_features[0], strict=True))
    assert features["hover_share"] == 1.0 and features["rf_share"] == 1.0


def test_a_sensor_kind_not_on_site_or_out_of_reach_is_missing_not_evidence() -> None:
    radar_only = Classifier(SITE, [s for s in SENSORS if s.kind == "radar"])
    for t in range(5):
        radar_only.update(float(t), [track(float(t), 10.0 * t, (10.0, 0.0, 0.0), sensors=("radar-1",))])
    features = dict(zip(FEATURES, radar_only.last_features[0], strict=True))
    assert np.isnan(features["rf_share"]) and np.isnan(features["acoustic_share"])
    # a missing feature drops out: the same as a feature at the training mean (standardised 0)
    model = SoftmaxModel.shipped()
    at_mean = radar_only.last_features.copy()
    columns = [FEATURES.index("rf_share"), FEATURES.index("acoustic_share")]
    at_mean[0, columns] = model.mean[columns]
    assert np.allclose(model.log_proba(radar_only.last_features), model.log_proba(at_mean))
    # a direction finder that cannot reach the track says nothing either; one that can, and hears nothing, does
    short = [replace(s, max_range_m=300.0) if s.kind == "rf" else s for s in SENSORS]
    far = Classifier(SITE, short)
    far.update(0.0, [track(0.0, 0.0, (10.0, 0.0, 0.0), sensors=("radar-1",))])
    assert np.isnan(far.last_features[0, FEATURES.index("rf_share")])
    near = Classifier(SITE, SENSORS)
    near.update(0.0, [track(0.0, 0.0, (10.0, 0.0, 0.0), sensors=("radar-1",))])
    assert near.last_features[0, FEATURES.index("rf_share")] == 0.0


def test_overlapping_windows_count_once_so_a_steady_weak_call_stays_weak() -> None:
    # a model that says 60 % drone, 30 % bird, 10 % aircraft whatever it sees
    p = np.array([0.6, 0.3, 0.1])
    n = len(FEATURES)
    model = SoftmaxModel(np.zeros(n), np.ones(n), np.zeros((3, n)), np.log(p))
    classifier = Classifier(SITE, SENSORS, model)
    for k in range(200):
        result = classifier.update(float(k), [track(float(k), 10.0 * k, (10.0, 0.0, 0.0))])["T1"]
    # each update weighs 2 x 1 s / 20 s of window; forgetting exp(-1 s / 20 s): at steady state
    # the log-evidence is 0.1 / (1 - exp(-0.05)) times one update's
    gain = 0.1 / (1.0 - np.exp(-0.05))
    expected = p**gain / (p**gain).sum()
    assert result.cls == "drone"
    assert result.confidence == pytest.approx(expected[0], abs=1e-3)
    assert 0.75 < result.confidence < 0.85  # not the 99.9 % twenty independent looks would make


def _on_bearing_of(sensor_id: str, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """East, north (site frame) of a point ``distance_m`` from ``sensor_id`` on ``bearing_deg``."""
    sensor = next(s for s in SENSORS if s.id == sensor_id)
    east, north, _ = SITE.from_geodetic(sensor.lat, sensor.lon, sensor.alt).reshape(3)
    b = np.radians(bearing_deg)
    return float(east + distance_m * np.sin(b)), float(north + distance_m * np.cos(b))


def test_a_bearing_through_two_tracks_is_evidence_for_neither() -> None:
    # rf-west's bearing 20 deg passes through a drone 1,500 m out and a bird 700 m out; rf-east sees the
    # drone only, at a bearing far from the bird's
    rf_only = [s for s in SENSORS if s.kind in ("radar", "rf")]
    classifier = Classifier(SITE, rf_only)
    reports = []
    for name, distance, sensors in (("drone", 1500.0, ("radar-1", "rf-west", "rf-east")),
                                    ("bird", 700.0, ("radar-1", "rf-west"))):
        east, north = _on_bearing_of("rf-west", 20.0, distance)
        lat, lon, alt = SITE.to_geodetic(np.array([east, north, 60.0]))
        reports.append(TrackReport(t=0.0, id=name, lat=float(lat), lon=float(lon), alt=float(alt),
                                   vel_enu=(5.0, 0.0, 0.0), sensors=sensors))
    position = SITE.positions_of(reports)
    # rf-west is ambiguous for both; rf-east supports the drone and covers the bird without supporting it
    assert classifier.support("rf", position, reports).tolist() == [1.0, 0.0]
    alone = Classifier(SITE, [s for s in rf_only if s.id != "rf-east"])
    assert np.isnan(alone.support("rf", position, reports)).all()
    assert alone.support("rf", position[:1], reports[:1]).tolist() == [1.0]


def test_hover_time_runs_through_short_spells_of_speed_and_is_capped() -> None:
    classifier = Classifier(SITE, SENSORS)
    speeds = [0.3] * 10 + [3.0] * 2 + [0.3] * 5 + [3.0] * 4 + [0.3] * 200
    hover, creep = [], []
    for t, speed in enumerate(speeds):
        classifier.update(float(t), [track(float(t), 0.0, (speed, 0.0, 0.0))])
        hover.append(classifier.last_features[0, FEATURES.index("hover_s")])
        creep.append(classifier.last_features[0, FEATURES.index("creep_share")])
    assert hover[9] == 9.0 and hover[11] == 11.0  # two seconds at 3 m/s: still the same hover
    assert hover[16] == 16.0
    assert hover[19] == 19.0 and hover[20] == 0.0  # the third second above hover speed ends it
    assert hover[21] == 0.0 and hover[22] == 1.0
    assert hover[-1] == 120.0  # beyond two minutes, no more evidence
    assert creep[20] == pytest.approx(6 / 21)  # of the window's 21 updates, 6 at 2-6 m/s


def test_the_nearest_other_bearing_is_found_around_the_circle() -> None:
    assert _nearest_bearing_apart(np.array([359.0, 1.0, 90.0])).tolist() == [2.0, 2.0, 89.0]
    assert _nearest_bearing_apart(np.array([10.0])).tolist() == [np.inf]
    bearings = np.random.default_rng(3).uniform(-180.0, 540.0, 300)
    apart = np.abs((bearings[:, None] - bearings[None, :] + 180.0) % 360.0 - 180.0)
    np.fill_diagonal(apart, np.inf)
    assert np.allclose(_nearest_bearing_apart(bearings), apart.min(axis=1))  # every pair, the slow way
