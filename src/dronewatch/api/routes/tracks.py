"""Tracks live and stored, detections and operator positions (history in pages), the pattern of life.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
import functools
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
    responses,
    window,
)
from dronewatch.api.service import Anyone, Service, Staff
from dronewatch.assessment.pattern import OPERATOR_CELL_DEG, pattern_of_life
from dronewatch.formats.scenario import record_to_dict


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    config = service.config
    repository = service.repository
    history = service.history
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
        points = await history(who, site_id, "read.track_history",
                               functools.partial(repository.track_history_page, track_id=track),
                               t_from, t_to, cursor, limit, request, response, track=track)
        return [record_to_dict(r) for r in points]

    @router.get("/api/sites/{site_id}/detections", tags=["tracks"], responses=_HISTORY,
                response_model=list[DetectionOut], response_model_exclude_unset=True)
    async def detections(site_id: str, who: Staff, request: Request, response: Response,
                         t_from: Annotated[float, Query(alias="from")],
                         t_to: Annotated[float, Query(alias="to")],
                         limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Stored detections of a window (at most 31 days), a page at a time."""
        site(site_id, who)
        return await history(who, site_id, "read.detections", repository.detections_page, t_from, t_to, cursor,
                             limit, request, response)

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
        return await history(who, site_id, "read.operator_locations", repository.operator_positions_page, t_from,
                             t_to, cursor, limit, request, response)

    @router.get("/api/sites/{site_id}/pattern", tags=["tracks"], responses=responses(R401, R403_ROLE, R404_SITE, R422))
    async def pattern(site_id: str, who: Staff, request: Request, t_from: Annotated[float, Query(alias="from")],
                      t_to: Annotated[float, Query(alias="to")]) -> dict[str, Any]:
        """Pattern of life over a window (at most 31 days): cells of about 100 m where drones were first seen
        (``arrivals``) and, for the roles that may see them, where their operators stood (``operators``), each
        ``[lat, lon, count]``; drone arrivals by weekday and hour UTC (``weekly``, Monday first). Audited."""
        site(site_id, who)
        window(t_from, t_to)
        sees_operators = who.role in config.security.operator_location_roles
        arrivals, operators = await asyncio.to_thread(
            lambda: (repository.drone_arrivals(site_id, t_from, t_to),
                     repository.operator_places(site_id, t_from, t_to, OPERATOR_CELL_DEG) if sees_operators
                     else None))
        await service.audit(who, "read.pattern", f"site/{site_id}", request, t_from=t_from, t_to=t_to)
        return pattern_of_life(arrivals, operators, t_from, t_to)

    return router
