"""Operators' commands reach the alert book only through the bus and the assessment stage: none is lost to a
step that runs at the same time, and each is stored once with who gave it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest

from dronewatch.api.commands import CommandSender
from dronewatch.assessment.commands import Command, parse_command
from dronewatch.bus import Message, subject
from dronewatch.errors import FormatError
from dronewatch.model import Alert, TrackReport
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.scenarios import SITE, station_sensors, station_zones
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0
TRACKS = 150


def tracks_in_the_compound(t: float) -> list[TrackReport]:
    """Drones (they broadcast Remote ID) hovering over the compound: each holds a critical zone entry."""
    rng = np.random.default_rng(int(t))
    east, north = rng.uniform(-60.0, 60.0, TRACKS), rng.uniform(-60.0, 60.0, TRACKS)
    lat, lon, alt = SITE.to_geodetic(np.column_stack([east, north, np.full(TRACKS, 60.0)]))
    return [TrackReport(t=t, id=f"T{k}", lat=float(lat[k]), lon=float(lon[k]), alt=float(alt[k]),
                        vel_enu=(0.0, 0.0, 0.0), cls="drone", uas_id=f"UAS{k}", sensors=("rid-1",))
            for k in range(TRACKS)]


def test_acknowledgements_sent_while_the_assessment_is_busy_are_all_applied_and_stored(tmp_path) -> None:
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repo.ensure_site("station", "Border station", NOW)

    async def scenario() -> tuple[Pipeline, Counter[str]]:
        # the acknowledgements go out at once, while the assessment steps hundreds of tracks in its thread
        pipeline = Pipeline("station", repo, live=False)
        running = asyncio.create_task(pipeline.run())
        tracks = subject("station", "tracks")
        await pipeline.bus.publish(Message(tracks, records=[*station_sensors(), *station_zones()]))
        for step in range(10):  # the rules wait until a track is old enough to tell
            await pipeline.bus.publish(Message(tracks, records=tracks_in_the_compound(NOW + step)))
        await pipeline.drain()
        assert pipeline.assessor is not None
        alerts = [a.id for a in pipeline.assessor.book.open_alerts if a.kind == "zone_entry"]
        assert len(alerts) == 2 * TRACKS  # inside the compound and the approach zone around it

        # a command applied while a step runs could be overwritten by it: watch for any
        assessor, book = pipeline.assessor, pipeline.assessor.book
        stepping, during_step, steps, acknowledged = threading.Event(), [], [], []
        update, acknowledge = assessor.update, book.acknowledge

        def watched_update(*args: Any) -> list[Alert]:
            stepping.set()
            try:
                return update(*args)
            finally:
                steps.append(time.monotonic())
                stepping.clear()

        def watched_acknowledge(*args: Any) -> Alert:
            during_step.append(stepping.is_set())
            acknowledged.append(time.monotonic())
            return acknowledge(*args)

        assessor.update, book.acknowledge = watched_update, watched_acknowledge  # type: ignore[method-assign]

        async def keep_the_assessment_busy() -> None:
            for step in range(10, 50):
                await pipeline.bus.publish(Message(tracks, records=tracks_in_the_compound(NOW + step)))

        sender = CommandSender(pipeline.bus, "station")
        busy = asyncio.create_task(keep_the_assessment_busy())
        results = await asyncio.gather(*(sender.send(Command.new("acknowledge", alert, "olga", NOW + 11, "seen"))
                                         for alert in alerts))
        await busy
        await pipeline.drain()
        assert len(during_step) == 2 * TRACKS and not any(during_step)
        assert any(acknowledged[0] < t < acknowledged[-1] for t in steps)  # they came in between busy steps
        pipeline.stop()
        await running
        return pipeline, Counter(r.status for r in results)

    pipeline, statuses = asyncio.run(scenario())
    assert statuses == {"done": 2 * TRACKS}
    assert pipeline.assessor is not None
    states = Counter(a.state for a in pipeline.assessor.book.open_alerts if a.kind == "zone_entry")
    assert states == {"acknowledged": 2 * TRACKS}
    stored = [repo.alert_events("station", a.id) for a in repo.alerts("station") if a.kind == "zone_entry"]
    assert sorted(Counter((e["state"], e["actor"]) for events in stored for e in events).items()) == [
        (("acknowledged", "olga"), 2 * TRACKS), (("open", "assessment"), 2 * TRACKS)]
    assert pipeline.stats()["commands"]["acknowledge"] == 2 * TRACKS


@pytest.mark.parametrize(("line", "fault"), [
    (b'{"type":"command","id":"c1","t":1,"action":"launch","target":"A1","by":"x"}', "'action'"),
    (b'{"type":"command","id":"c1","t":"now","action":"resolve","target":"A1","by":"x"}', "'t'"),
    (b'{"type":"command","id":"c1","t":1,"action":"resolve","target":"A1","by":"x\\u001b[2J"}', "'by'"),
    (b'{"type":"command","id":"c1","t":1,"action":"comment","target":"A1","by":"x","comment":7}', "'comment'"),
    (b'{"type":"command","t":1,"action":"resolve","target":"A1","by":"x"}', "'id'"),
    (b'["command"]', "not a JSON object"),
    (b'{"type":"command",', "not JSON"),
])
def test_a_bad_command_is_refused_naming_its_fault(line: bytes, fault: str) -> None:
    with pytest.raises(FormatError, match=fault) as refused:
        parse_command(line, "dw.station.commands:1")
    assert refused.value.source == "dw.station.commands:1"


def test_a_command_line_reads_back_as_sent() -> None:
    sent = Command.new("comment", "A7", "olga", NOW, "two on the roof")
    assert parse_command(sent.line(), "here") == sent
    assert parse_command(b'{"type":"alert"}', "here") is None and parse_command(b"  ", "here") is None
