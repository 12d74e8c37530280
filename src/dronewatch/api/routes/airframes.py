"""The airframe register and its allow- and watch-lists (docs/assessment.md, "Airframe lists").

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from dronewatch.api.models import R401, R403_ROLE, R422, ListEntryBody, RowId, problem, responses
from dronewatch.api.service import Admin, Service, Staff
from dronewatch.assessment.airframes import normal_identity


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    repository = service.repository
    config = service.config

    @router.get("/api/airframes", tags=["airframes"], responses=responses(R401, R403_ROLE, R422))
    async def register(who: Staff, request: Request,
                       identity: str | None = Query(default=None, min_length=1, max_length=64)) -> list[dict[str, Any]]:
        """Every broadcast identity (Remote ID, ICAO address) seen on the service's sites: first and last
        seen, tracks, sites, zones entered, alerts by level, where its operator was last reported (for the
        roles that may see operator positions), and the list entries in force for it. Audited."""
        sites = [s for s in service.pipelines if s not in service.regions]
        found, entries = await asyncio.to_thread(
            lambda: (repository.airframe_register(sites, identity), repository.list_entries()))
        now = service.clock()
        for airframe in found:
            airframe["lists"] = [e for e in entries if normal_identity(e["identity"]) == normal_identity(
                airframe["identity"]) and e["valid_from"] <= now <= e["valid_to"]]
            if who.role not in config.security.operator_location_roles:
                airframe.pop("operator")
        await service.audit(who, "read.airframes", "airframes", request, identity=identity, rows=len(found))
        return found

    @router.get("/api/airframe-lists", tags=["airframes"], responses=responses(R401, R403_ROLE))
    async def entries(who: Staff, removed: bool = False) -> list[dict[str, Any]]:
        """The allow- and watch-list entries (``removed``: with those taken out, and by whom)."""
        return await asyncio.to_thread(repository.list_entries, removed=removed)

    @router.post("/api/airframe-lists", tags=["airframes"], status_code=201,
                 responses=responses(R401, R403_ROLE, R422))
    async def add(body: ListEntryBody, who: Admin, request: Request) -> dict[str, Any]:
        """A new entry, in force at the sites' assessments from their next step. Audited. ``pending_sites``: those
        whose assessment did not confirm it within 5 s (it is stored: they take it when they can)."""
        body.check(service.pipelines)
        entry_id = await asyncio.to_thread(
            lambda: repository.add_list_entry(body.identity, body.list_name, valid_from=body.valid_from,
                                              valid_to=body.valid_to, added_by=who.name, now=service.clock(),
                                              note=body.note, sites=body.sites))
        await service.audit(who, f"airframes.{body.list_name}", f"airframe/{body.identity}", request,
                            entry=entry_id, **body.model_dump(by_alias=True))
        pending = await service.reload(who, "airframes", body.sites)
        (entry,) = [e for e in await asyncio.to_thread(repository.list_entries) if e["id"] == entry_id]
        return {**entry, "pending_sites": pending}

    @router.delete("/api/airframe-lists/{entry_id}", tags=["airframes"],
                   responses=responses(R401, R403_ROLE, problem(404, "No such entry in force")))
    async def remove(entry_id: RowId, who: Admin, request: Request) -> dict[str, Any]:
        """Take an entry out of force; it stays in the lists' history with who removed it. Audited."""
        if not await asyncio.to_thread(
                lambda: repository.remove_list_entry(entry_id, removed_by=who.name, now=service.clock())):
            raise HTTPException(404, f"no list entry {entry_id} in force")
        await service.audit(who, "airframes.remove", f"airframe-list/{entry_id}", request)
        (entry,) = [e for e in await asyncio.to_thread(repository.list_entries, removed=True) if e["id"] == entry_id]
        return {**entry, "pending_sites": await service.reload(who, "airframes", entry["sites"])}

    return router
