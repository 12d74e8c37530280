"""The region's tracker: its sites' pictures in, regional tracks out, on the bus like any stage.

A region (``[[regions]]``, :class:`~dronewatch.config.RegionConfig`) is a partition of the bus as a
site is: :class:`RegionalPicture` reads each of its sites' ``dw.<site>.picture`` and ``dw.<site>.state``
and writes ``dw.<region>.tracks``: the sites' sensors and zones under ``<site>/<id>`` whenever they
change, then at every site picture the regional tracks (:mod:`dronewatch.tracking.regional`) with the
numbering to go on from. From there a region is a site: the region's pipeline runs the assessment
(one alert per zone, whichever site saw the drone) and storage on ``dw.<region>.*``, and the API
shows it at ``/api/sites/<region>/...``. A zone a site takes out of force leaves the region through a
``delete_zone`` command on ``dw.<region>.commands``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dronewatch.assessment.commands import Command
from dronewatch.bus import Message, Subscription, subject
from dronewatch.config import RegionConfig
from dronewatch.model import Record, ScenarioInfo, Sensor, TrackReport, Zone
from dronewatch.service.pipeline import Pipeline, published_numbering
from dronewatch.service.worker import records_of
from dronewatch.tracking.regional import RegionalFusion, site_identities


class RegionalPicture:
    """Run as a source of the region's pipeline: ``pipeline.add_source("regional", RegionalPicture(region))``."""

    def __init__(self, region: RegionConfig) -> None:
        self.region = region
        self._published: dict[str, dict[str, Sensor | Zone]] = {}
        """Per site, the sensors and zones the region has been told of, by their regional id."""

    async def __call__(self, pipeline: Pipeline) -> None:
        region, bus = self.region, pipeline.bus
        counters = pipeline.stage("regional")
        fusion = RegionalFusion(region.id, region.sites, region.fusion)
        last = await pipeline.last_published("tracks")
        fusion.restore(r for r in last if isinstance(r, TrackReport))
        fusion.next_number = max(fusion.next_number, published_numbering(last).get("next_track_number", 1))
        self._published = {}
        for record in await pipeline.last_published("state"):  # what the region was told before a restart
            if isinstance(record, Sensor | Zone):
                self._published.setdefault(record.id.split("/", 1)[0], {})[record.id] = record
        inbox: asyncio.Queue[tuple[str, str, Message]] = asyncio.Queue(maxsize=1000)
        subscriptions = [(site, stream, bus.subscribe(subject(site, stream), overflow="drop_oldest", maxsize=10,
                                                      last=stream == "state"))
                         for site in region.sites for stream in ("state", "picture")]

        async def forward(site: str, stream: str, subscription: Subscription) -> None:
            while (message := await subscription.get()) is not None:
                await inbox.put((site, stream, message))

        forwarding = [asyncio.create_task(forward(*s)) for s in subscriptions]
        latest_t = 0.0
        try:
            while True:
                site, stream, message = await inbox.get()
                records = records_of(message, counters, "regional")
                if stream == "state":
                    await self._site_state(pipeline, fusion, site, records)
                    continue
                reports = [r for r in records if isinstance(r, TrackReport)]
                fusion.set_picture(site, reports)
                latest_t = max([latest_t, *(r.t for r in reports)])
                counters.counts["pictures"] += 1
                # some ms per hundred tracks: off the event loop (only this loop touches the fusion)
                regional = await asyncio.to_thread(fusion.step, latest_t)
                counters.counts["merged"] += sum(len(r.members or ()) > 1 for r in regional)
                await pipeline.publish("tracks", [ScenarioInfo({"next_track_number": fusion.next_number}),
                                                  *regional])
        finally:
            for task in forwarding:
                task.cancel()
            for *_, subscription in subscriptions:
                bus.unsubscribe(subscription)

    async def _site_state(self, pipeline: Pipeline, fusion: RegionalFusion, site: str,
                          records: Sequence[Record]) -> None:
        """A site's sensors and zones, as the region's own: the changed ones published, a zone gone withdrawn."""
        sensors = [r for r in records if isinstance(r, Sensor)]
        zones = [r for r in records if isinstance(r, Zone)]
        for sensor in sensors[:1]:
            fusion.place(sensor)
        now = {r.id: r for r in site_identities(site, [*sensors, *zones])}
        before = self._published.get(site, {})
        self._published[site] = now
        changed = [r for key, r in now.items() if before.get(key) != r]
        await pipeline.publish("tracks", changed)
        for gone in (key for key, r in before.items() if isinstance(r, Zone) and key not in now):
            command = Command.new("delete_zone", gone, f"region {self.region.id}", pipeline.clock())
            await pipeline.bus.publish(Message(subject(self.region.id, "commands"), data=command.line()))
