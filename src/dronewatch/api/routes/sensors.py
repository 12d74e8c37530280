"""Sensors that send their data to the service over HTTP: BlueMark DroneScout Remote ID sensors' uploads
(docs/remoteid.md, "BlueMark DroneScout sensors").

Posted with a ``sensor`` account's API token (or an admin's): such an account may send to the sites of
its grant and read nothing (``security.py``). The sensors a site takes are in ``sources.dronescout``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from dronewatch.api.models import R401, R403_ROLE, R404_SITE, R422, problem, responses
from dronewatch.api.service import Anyone, Service, client_address
from dronewatch.config import dronescout_sensors
from dronewatch.errors import FormatError
from dronewatch.formats.remoteid.dronescout import read_uploads
from dronewatch.ingest.gate import Origin
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.model import Detection, Record, Sensor

MAX_UPLOAD_BYTES = 1 << 20
"""A DroneScout upload is a few kilobytes a reception; a megabyte is hundreds of them."""


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    positions = dronescout_sensors(service.config.sources.dronescout)
    assemblers: dict[tuple[str, str], RemoteIdAssembler] = {}  # per site and sensor: messages span uploads

    @router.post("/api/sites/{site_id}/remoteid/dronescout", tags=["sensors"], responses=responses(
        R401, R403_ROLE, R404_SITE, R422, problem(413, f"A body over {MAX_UPLOAD_BYTES} bytes")))
    async def dronescout(site_id: str, who: Anyone, request: Request) -> dict[str, Any]:
        """A DroneScout sensor's uploads (one JSON object, an array of them, or one a line), decoded and sent on as
        ``remoteid`` detections. Uploads that cannot be read, and those of sensors not in ``sources.dronescout``,
        are counted by reason in the answer and the site's stats; the rest go on."""
        if who.role not in ("sensor", "admin"):
            raise HTTPException(403, f"role {who.role} does not send sensor data")
        pipeline = service.site(site_id, who)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"an upload of at most {MAX_UPLOAD_BYTES} bytes")
        where = f"dronescout upload from {who.name} at {client_address(request)}"
        counters = pipeline.stage("dronescout")
        refused: Counter[str] = Counter()
        records: list[Record] = []
        receptions = 0
        for item in read_uploads(body.decode("utf-8", errors="replace"), where):
            if isinstance(item, FormatError):
                refused[item.reason] += 1
                counters.bad("dronescout", where, item.reason)
                continue
            if item.sensor not in positions:
                reason = f"sensor {item.sensor!r} is not in sources.dronescout"
                refused[reason] += 1
                counters.bad("dronescout", where, reason)
                continue
            receptions += 1
            assembler = assemblers.get((site_id, item.sensor))
            if assembler is None:
                lat, lon, alt = positions[item.sensor]
                assembler = assemblers[(site_id, item.sensor)] = RemoteIdAssembler(sensor_id=item.sensor,
                                                                                   ground_alt_m=alt)
                records.append(Sensor(id=item.sensor, kind="remoteid", lat=lat, lon=lon, alt=alt))
            records += assembler.add(item.t, item.sender, item.messages)
        if not receptions and refused and not any("not in sources.dronescout" in r for r in refused):
            raise HTTPException(422, f"no upload could be read: {'; '.join(refused)}")
        detections = sum(isinstance(r, Detection) for r in records)
        admitted = await pipeline.admit(records, Origin("dronescout"), counters, where)
        counters.counts["receptions"] += receptions
        return {"receptions": receptions, "detections": detections,
                "admitted": admitted - (len(records) - detections), "refused": dict(refused)}

    return router
