"""Alerts, and operators' changes to them (commands to the site's assessment).

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
    AlertEvent,
    AlertOut,
    Comment,
    CursorText,
    Limit,
    problem,
    responses,
)
from dronewatch.api.security import Principal
from dronewatch.api.service import Anyone, Operator, Service
from dronewatch.assessment.commands import Action, Command


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    repository = service.repository
    clock = service.clock
    audit = service.audit
    history = service.history
    site = service.site
    command = service.command
    shared = service.shared
    alert_json = service.alert_json

    @router.get("/api/sites/{site_id}/alerts", tags=["alerts"], responses=responses(R401, R404_SITE, R422),
                response_model=list[AlertOut], response_model_exclude_unset=True)
    async def alerts(site_id: str, who: Anyone, state: str | None = None) -> list[dict[str, Any]]:
        site(site_id, who)
        found = await asyncio.to_thread(repository.alerts, site_id, state)
        return shared((alert_json(a, who) for a in found if who.may_see_level(a.level)), site_id, who)

    @router.get("/api/sites/{site_id}/events", tags=["alerts"],
                responses=responses(PAGED, R401, R404_SITE, R422), response_model=list[AlertEvent])
    async def events(site_id: str, who: Anyone, request: Request, response: Response,
                     t_from: Annotated[float, Query(alias="from")], t_to: Annotated[float, Query(alias="to")],
                     limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """The event log: every change of every alert in a window (at most 31 days), resolved or not, with who
        made it, a page at a time. A partner sees the alert levels granted to it; of a region, the alerts on its
        granted sites' zones."""

        def visible(event: dict[str, Any]) -> bool:
            if who.role != "partner" or site_id not in service.regions:
                return True
            return event["zone"] is not None and event["zone"].split("/", 1)[0] in who.sites

        site(site_id, who)
        events = await history(who, site_id, "read.events", repository.alert_events_page, t_from, t_to, cursor,
                               limit, request, response)
        return [event for event in events if who.may_see_level(event["level"]) and visible(event)]

    async def _change_alert(site_id: str, alert_id: str, action: Action, body: Comment, who: Principal,
                            request: Request) -> dict[str, Any]:
        result = await command(site(site_id, who), Command.new(action, alert_id, who.name, clock(), body.comment))
        if result.status == "not_started":
            raise HTTPException(409, "the site's assessment has not started")
        if result.status == "not_open" or result.alert is None:
            raise HTTPException(404, f"alert {alert_id!r} is not open (resolved, or never existed)")
        await audit(who, f"alert.{action}", f"site/{site_id}/alert/{alert_id}", request, comment=body.comment)
        return alert_json(result.alert, who)

    _ALERT_CHANGE = responses(R401, R403_ROLE, problem(404, "No such site (or not granted), or no such alert"),
                               problem(409, "The site's assessment has not started"), R422,
                               problem(503, "The site's assessment did not answer in time (the command stays "
                                             "queued and may still be applied)"))

    @router.post("/api/sites/{site_id}/alerts/{alert_id}/acknowledge", tags=["alerts"], responses=_ALERT_CHANGE,
                 response_model=AlertOut, response_model_exclude_unset=True)
    async def acknowledge(site_id: str, alert_id: str, body: Comment, who: Operator,
                          request: Request) -> dict[str, Any]:
        return await _change_alert(site_id, alert_id, "acknowledge", body, who, request)

    @router.post("/api/sites/{site_id}/alerts/{alert_id}/resolve", tags=["alerts"], responses=_ALERT_CHANGE,
                 response_model=AlertOut, response_model_exclude_unset=True)
    async def resolve(site_id: str, alert_id: str, body: Comment, who: Operator, request: Request) -> dict[str, Any]:
        return await _change_alert(site_id, alert_id, "resolve", body, who, request)

    @router.post("/api/sites/{site_id}/alerts/{alert_id}/comment", tags=["alerts"], responses=_ALERT_CHANGE,
                 response_model=AlertOut, response_model_exclude_unset=True)
    async def comment(site_id: str, alert_id: str, body: Comment, who: Operator, request: Request) -> dict[str, Any]:
        """A note on a live alert, kept in its history; the alert's state does not change."""
        if not body.comment:
            raise HTTPException(422, "a comment needs its text")
        return await _change_alert(site_id, alert_id, "comment", body, who, request)

    return router
