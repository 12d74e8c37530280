"""Stone Soup 1.9.1 on a dronewatch radar scenario: the peer the tracker benchmark compares with.

Configured as Stone Soup's own multi-target tutorials do ("Multi-target tracking:
GNN", "Initiators & Deleters"): an extended Kalman filter with a nearly
constant-velocity model, ``CartesianToElevationBearingRange``, a
``DistanceHypothesiser`` with a Mahalanobis gate, ``GNNWith2DAssignment``, a
``MultiMeasurementInitiator`` (two updates to confirm) and a miss-count deleter
(``UpdateTimeStepsDeleter``). Process noise and measurement noise are the same
as dronewatch's (q = 2 m^2/s^3 horizontally, 0.5 vertically; the sensor line's
sigmas).

Stone Soup's bearing is counter-clockwise from east (x), in radians; the
scenario's azimuth is clockwise from north, in degrees: ``bearing = 90 - azimuth``.
Its measurement vector is ``[elevation, bearing, range]``.

Usage: ``stonesoup_baseline.py SCENARIO.jsonl -o TRACKS.jsonl`` (prints timing as JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.deleter.time import UpdateTimeStepsDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.measurement.nonlinear import CartesianToElevationBearingRange
from stonesoup.models.transition.linear import CombinedLinearGaussianTransitionModel, ConstantVelocity
from stonesoup.predictor.kalman import ExtendedKalmanPredictor
from stonesoup.tracker.simple import MultiTargetTracker
from stonesoup.types.angle import Bearing, Elevation
from stonesoup.types.array import CovarianceMatrix, StateVector
from stonesoup.types.detection import Detection as StoneDetection
from stonesoup.types.state import GaussianState
from stonesoup.updater.kalman import ExtendedKalmanUpdater
from tqdm import tqdm

from dronewatch.formats.scenario import ScenarioWriter, open_scenario
from dronewatch.geo import LocalFrame
from dronewatch.model import Detection, Scan, Sensor, TrackReport

Q_HORIZONTAL, Q_VERTICAL = 2.0, 0.5
GATE_MAHALANOBIS = 3.0
DELETE_AFTER_STEPS = 3


def read_scans(path: Path) -> tuple[Sensor, list[tuple[float, list[Detection]]]]:
    """The radar and its scans (time, detections), empty scans included."""
    sensor: Sensor | None = None
    scans: list[tuple[float, list[Detection]]] = []
    pending: list[Detection] = []
    for record in open_scenario(path):
        if isinstance(record, Sensor) and sensor is None:
            sensor = record
        elif isinstance(record, Detection):
            pending.append(record)
        elif isinstance(record, Scan):
            scans.append((record.t, pending))
            pending = []
    if sensor is None:
        raise SystemExit(f"{path}: no sensor line")
    if pending:
        scans.append((max(d.t for d in pending), pending))
    return sensor, scans


def build_tracker(sensor: Sensor) -> tuple[MultiTargetTracker, CartesianToElevationBearingRange]:
    sigma = sensor.sigma
    measurement_model = CartesianToElevationBearingRange(
        ndim_state=6, mapping=(0, 2, 4),
        noise_covar=np.diag([math.radians(sigma["elevation_deg"]) ** 2, math.radians(sigma["azimuth_deg"]) ** 2,
                             sigma["range_m"] ** 2]))
    transition_model = CombinedLinearGaussianTransitionModel(
        [ConstantVelocity(Q_HORIZONTAL), ConstantVelocity(Q_HORIZONTAL), ConstantVelocity(Q_VERTICAL)])
    predictor = ExtendedKalmanPredictor(transition_model)
    updater = ExtendedKalmanUpdater(measurement_model)
    hypothesiser = DistanceHypothesiser(predictor, updater, measure=Mahalanobis(),
                                        missed_distance=GATE_MAHALANOBIS)
    associator = GNNWith2DAssignment(hypothesiser)
    # position comes from the first plot through the model's inverse; velocity 0 +- 15 m/s as dronewatch's
    prior = GaussianState(StateVector(np.zeros(6)), CovarianceMatrix(np.diag([0, 15.0**2, 0, 15.0**2, 0, 4.0**2])))
    initiator = MultiMeasurementInitiator(
        prior_state=prior, measurement_model=measurement_model,
        deleter=UpdateTimeStepsDeleter(time_steps_since_update=2),
        data_associator=GNNWith2DAssignment(hypothesiser), updater=updater, min_points=2)
    tracker = MultiTargetTracker(initiator=initiator, deleter=UpdateTimeStepsDeleter(DELETE_AFTER_STEPS),
                                 detector=None, data_associator=associator, updater=updater)
    return tracker, measurement_model


def run_stonesoup(scenario_path: Path, tracks_path: Path, *, progress: bool = False) -> dict[str, float]:
    """Track ``scenario_path`` with Stone Soup, write ``track`` lines; time the tracking loop alone."""
    start = time.perf_counter()
    sensor, scans = read_scans(scenario_path)
    tracker, measurement_model = build_tracker(sensor)
    frame = LocalFrame(sensor.lat, sensor.lon, sensor.alt)
    inputs = []
    for t, detections in scans:
        stamp = datetime.fromtimestamp(t, tz=UTC).replace(tzinfo=None)
        inputs.append((t, stamp, {
            StoneDetection(StateVector([Elevation(math.radians(d.elevation_deg or 0.0)),
                                        Bearing(math.radians(90.0 - (d.azimuth_deg or 0.0))), d.range_m]),
                           timestamp=stamp, measurement_model=measurement_model)
            for d in detections}))
    outputs: list[tuple[float, list[tuple[str, np.ndarray]]]] = []
    names: dict[object, str] = {}
    tick = time.perf_counter()
    for t, stamp, detections in tqdm(inputs, unit="scan", file=sys.stderr, disable=not progress):
        _, tracks = tracker.update_tracker(stamp, detections)
        states = []
        for track in tracks:
            name = names.setdefault(track.id, f"SS{len(names) + 1}")
            states.append((name, np.asarray(track.state_vector, dtype=np.float64).ravel()))
        outputs.append((t, states))
    tracking_wall_s = time.perf_counter() - tick
    with open(tracks_path, "w", encoding="utf-8") as out:
        writer = ScenarioWriter(out)
        for t, states in outputs:
            if not states:
                continue
            vectors = np.array([s for _, s in states])
            lat, lon, alt = frame.to_geodetic(vectors[:, [0, 2, 4]])
            for k, (name, vector) in enumerate(states):
                writer.write(TrackReport(t=t, id=name, lat=float(lat[k]), lon=float(lon[k]), alt=float(alt[k]),
                                         vel_enu=(float(vector[1]), float(vector[3]), float(vector[5]))))
    return {"detections": sum(len(d) for _, _, d in inputs), "scans": len(inputs),
            "tracking_wall_s": tracking_wall_s, "total_wall_s": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(run_stonesoup(args.scenario, args.output, progress=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
