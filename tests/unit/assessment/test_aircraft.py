"""Crewed aircraft in the picture: a helicopter over the station, with ADS-B and without, through the
simulator's sensors, the tracker and the assessment with the shipped classifier."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dronewatch.assessment import AssessmentConfig, Assessor
from dronewatch.model import LEVELS, Alert, Truth
from dronewatch.sim import engine
from dronewatch.sim.scenarios import SITE, T0, SimScenario, helicopter, station_sensors, station_zones
from dronewatch.tracking import Tracker, track_records

GATE_M = 50.0


def fly_over(icao: bool) -> tuple[list[str | None], set[str | None], list[Alert]]:
    """The classes called for the track nearest the helicopter each second, its tracks' ICAO addresses, and
    every alert line."""
    plane = helicopter(np.random.default_rng(4), 0.0, 240.0)
    plane = plane if icao else dataclasses.replace(plane, icao=None)
    scenario = SimScenario("helicopter", 4, 240.0, SITE, station_sensors(), station_zones(), [plane], t0=T0)
    records = list(engine.generate(scenario))
    truth = {r.t: SITE.positions_of([r])[0] for r in records if isinstance(r, Truth)}
    assessor = Assessor(SITE, station_sensors(), station_zones(), AssessmentConfig())
    called: list[str | None] = []
    addresses: set[str | None] = set()
    alerts: list[Alert] = []
    for snapshot in track_records(records, Tracker(site=SITE)):
        reports = snapshot.reports(SITE)
        alerts += assessor.update(snapshot.t, reports)
        where = truth.get(round(snapshot.t, 3))
        if assessor.assessed_at != snapshot.t or where is None or not reports:
            continue
        distance = np.linalg.norm(snapshot.states[:, :3] - where, axis=1)
        if distance.min() <= GATE_M:
            nearest = reports[int(np.argmin(distance))]
            addresses.add(nearest.icao)
            cls = assessor.classes.get(nearest.id)
            called.append(cls.cls if cls is not None else None)
    return called, addresses, alerts


@pytest.mark.parametrize("icao", [True, False])
def test_a_helicopter_is_one_aircraft_track_and_raises_nothing_above_info(icao: bool) -> None:
    called, addresses, alerts = fly_over(icao)
    assert len(called) > 100  # seconds tracked (within 50 m)
    if icao:  # its ADS-B and the radar's plots of it are one track, with its address, from the start
        [address] = addresses
        assert address is not None and called.count("aircraft") == len(called)
    else:  # no transponder: told by its motion once the classifier has seen enough of it
        assert addresses == {None} and called[10:].count("aircraft") >= 0.9 * len(called[10:])
    assert alerts and max(LEVELS.index(a.level) for a in alerts) == LEVELS.index("info")
