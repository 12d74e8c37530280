"""The service, its sites (and regions), their sensors and zones.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from dronewatch.api.models import (
    R401,
    R403_ROLE,
    R404_SITE,
    R422,
    Health,
    SensorOut,
    SiteRef,
    ZoneBody,
    ZoneOut,
    problem,
    responses,
    zone_line,
)
from dronewatch.api.service import Admin, Anyone, Operator, Service
from dronewatch.assessment.commands import Command
from dronewatch.errors import DronewatchError
from dronewatch.formats.scenario import parse_line, record_to_dict
from dronewatch.geo.zones import check_zone
from dronewatch.model import Zone


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    repository = service.repository
    clock = service.clock
    pipelines = service.pipelines
    regions = service.regions
    audit = service.audit
    site = service.site
    command = service.command

    @router.get("/api/health", tags=["service"], responses=R401)
    async def health(who: Anyone) -> Health:
        return Health(status="ok", sites=[s for s in pipelines if who.may_see_site(s, regions)])

    @router.get("/api/stats", tags=["service"], responses=responses(R401, R403_ROLE))
    async def stats(who: Operator) -> dict[str, Any]:
        return {site_id: pipeline.stats() for site_id, pipeline in pipelines.items()}

    @router.get("/api/sites", tags=["sites"], responses=R401)
    async def list_sites(who: Anyone) -> list[SiteRef]:
        return [SiteRef(id=s) for s in pipelines if who.may_see_site(s, regions)]

    @router.get("/api/sites/{site_id}/sensors", tags=["sites"], responses=responses(R401, R404_SITE),
                response_model=list[SensorOut], response_model_exclude_unset=True)
    async def sensors(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        """A site's sensors; a region's are its sites', ``<site>/<sensor id>``."""
        pipeline = site(site_id, who)
        if site_id in regions:
            return [record_to_dict(s) for s in pipeline.site.sensors if who.may_see_site(s.id.split("/", 1)[0])]
        return [record_to_dict(s) for s in await asyncio.to_thread(repository.sensors, site_id)]

    @router.get("/api/sites/{site_id}/zones", tags=["zones"], responses=responses(R401, R404_SITE),
                response_model=list[ZoneOut], response_model_exclude_unset=True)
    async def zones(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        """A site's zones; a region's are its sites' zones in force, ``<site>/<zone id>``."""
        pipeline = site(site_id, who)
        if site_id in regions:
            return [record_to_dict(z) for z in pipeline.site.zones if who.may_see_site(z.id.split("/", 1)[0])]
        return [record_to_dict(z) for z in await asyncio.to_thread(repository.zones, site_id)]

    @router.put("/api/sites/{site_id}/zones/{zone_id}", tags=["zones"],
             responses=responses(R401, R403_ROLE, R404_SITE, R422, problem(409, "A region's zones are its sites'")),
             response_model=ZoneOut, response_model_exclude_unset=True)
    async def put_zone(site_id: str, zone_id: str, body: ZoneBody, who: Admin, request: Request) -> dict[str, Any]:
        pipeline = site(site_id, who)
        if site_id in regions:
            raise HTTPException(409, f"{site_id!r} is a region: its zones are its sites', put the zone on one of "
                                     f"{', '.join(sorted(regions[site_id]))}")
        try:
            zone = parse_line(zone_line(zone_id, body))
            assert isinstance(zone, Zone)
            check_zone(zone)
        except DronewatchError as error:
            raise HTTPException(422, str(error)) from None
        await asyncio.to_thread(repository.put_zone, site_id, zone)
        await pipeline.publish("ingest", [zone])
        await audit(who, "zone.put", f"site/{site_id}/zone/{zone_id}", request, **record_to_dict(zone))
        return record_to_dict(zone)

    @router.delete("/api/sites/{site_id}/zones/{zone_id}", tags=["zones"], responses=responses(
        R401, R403_ROLE, problem(404, "No such site (or not granted), or no such zone"),
        problem(503, "Deleted from storage, but the site's assessment did not confirm in time that the zone is "
                      "out of force (the command stays queued)")))
    async def delete_zone(site_id: str, zone_id: str, who: Admin, request: Request) -> dict[str, str]:
        pipeline = site(site_id, who)
        if not await asyncio.to_thread(repository.delete_zone, site_id, zone_id):
            raise HTTPException(404, f"no zone {zone_id!r}")
        await audit(who, "zone.delete", f"site/{site_id}/zone/{zone_id}", request)
        await command(pipeline, Command.new("delete_zone", zone_id, who.name, clock()))  # out of force too
        return {"deleted": zone_id}

    return router
