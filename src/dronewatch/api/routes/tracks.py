"""Tracks live and stored, detections and operator positions (history in pages).

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from dronewatch.api.models import (
    HISTORY_LIMIT,
    PAGED,
    R401,
    R403_ROLE,
    R404_SITE,
    R422,
    CursorText,
    DetectionOut,
    Limit,
    OperatorPosition,
    TrackOut,
    cursor_of,
    paged,
    responses,
    window,
)
from dronewatch.api.service import Anyone, Service, Staff
from dronewatch.formats.scenario import record_to_dict


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    config = service.config
    repository = service.repository
    audit = service.audit
    site = service.site
    shared = service.shared

    @router.get("/api/sites/{site_id}/tracks", tags=["tracks"], responses=responses(R401, R404_SITE),
                response_model=list[TrackOut], response_model_exclude_unset=True)
    async def live_tracks(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        pipeline = site(site_id, who)
        if who.role == "partner" and not who.levels:
            return []
        return shared((record_to_dict(r) for r in pipeline.site.live_tracks.values()), site_id, who)

    _HISTORY = responses(PAGED, R401, R403_ROLE, R404_SITE, R422)

    @router.get("/api/sites/{site_id}/tracks/history", tags=["tracks"], responses=_HISTORY,
                response_model=list[TrackOut], response_model_exclude_unset=True)
    async def track_history(site_id: str, who: Staff, request: Request, response: Response,
                            t_from: Annotated[float, Query(alias="from")],
                            t_to: Annotated[float, Query(alias="to")],
                            track: Annotated[str | None, Query(max_length=64)] = None,
                            limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Stored track points of a window (at most 31 days), a page at a time."""
        site(site_id, who)
        window(t_from, t_to)
        page = await asyncio.to_thread(repository.track_history_page, site_id, t_from, t_to, track,
                                       after=cursor_of(cursor), limit=limit)
        following = paged(page, request, response)
        await audit(who, "read.track_history", f"site/{site_id}", request, t_from=t_from, t_to=t_to, track=track,
                    rows=len(page.rows), cursor=cursor, next=following)
        return [record_to_dict(r) for r in page.rows]

    @router.get("/api/sites/{site_id}/detections", tags=["tracks"], responses=_HISTORY,
                response_model=list[DetectionOut], response_model_exclude_unset=True)
    async def detections(site_id: str, who: Staff, request: Request, response: Response,
                         t_from: Annotated[float, Query(alias="from")],
                         t_to: Annotated[float, Query(alias="to")],
                         limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Stored detections of a window (at most 31 days), a page at a time."""
        site(site_id, who)
        window(t_from, t_to)
        page = await asyncio.to_thread(repository.detections_page, site_id, t_from, t_to, after=cursor_of(cursor),
                                       limit=limit)
        following = paged(page, request, response)
        await audit(who, "read.detections", f"site/{site_id}", request, t_from=t_from, t_to=t_to,
                    rows=len(page.rows), cursor=cursor, next=following)
        return page.rows

    @router.get("/api/sites/{site_id}/operators", tags=["tracks"], responses=_HISTORY,
                response_model=list[OperatorPosition])
    async def operators(site_id: str, who: Anyone, request: Request, response: Response,
                        t_from: Annotated[float, Query(alias="from")],
                        t_to: Annotated[float, Query(alias="to")],
                        limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Where drone operators stood (Remote ID), in a window of at most 31 days, a page at a time;
        only for the roles of ``security.operator_location_roles``."""
        site(site_id, who)
        if who.role not in config.security.operator_location_roles:
            raise HTTPException(403, f"role {who.role} may not see operator locations")
        window(t_from, t_to)
        page = await asyncio.to_thread(repository.operator_positions_page, site_id, t_from, t_to,
                                       after=cursor_of(cursor), limit=limit)
        following = paged(page, request, response)
        await audit(who, "read.operator_locations", f"site/{site_id}", request, t_from=t_from, t_to=t_to,
                    rows=len(page.rows), cursor=cursor, next=following)
        return page.rows

    return router
