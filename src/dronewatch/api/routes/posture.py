"""Threat bulletins and the posture they set (docs/assessment.md, "Threat posture").

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from dronewatch.api.models import R401, R403_ROLE, R404_SITE, R422, BulletinBody, RowId, problem, responses
from dronewatch.api.security import Principal
from dronewatch.api.service import Anyone, Service, Staff, roles
from dronewatch.assessment.posture import Bulletin, Posture

Analyst = Annotated[Principal, Depends(roles("admin", "analyst"))]


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    repository = service.repository

    @router.get("/api/bulletins", tags=["posture"], responses=responses(R401, R403_ROLE))
    async def bulletins(who: Staff, withdrawn: bool = False) -> list[dict[str, Any]]:
        """The threat bulletins (``withdrawn``: with those withdrawn, and by whom)."""
        return await asyncio.to_thread(repository.bulletins, withdrawn=withdrawn)

    @router.post("/api/bulletins", tags=["posture"], status_code=201,
                 responses=responses(R401, R403_ROLE, R422))
    async def record(body: BulletinBody, who: Analyst, request: Request) -> dict[str, Any]:
        """A bulletin (analysts and admins): from ``valid_from`` to ``valid_to`` its sites' posture is at least
        its level. Audited; the sites' assessments follow it from their next step."""
        body.check(service.pipelines)
        bulletin_id = await asyncio.to_thread(
            lambda: repository.add_bulletin(body.text, body.level, valid_from=body.valid_from,
                                            valid_to=body.valid_to, recorded_by=who.name, now=service.clock(),
                                            source=body.source, sites=body.sites))
        await service.audit(who, "posture.bulletin", f"bulletin/{bulletin_id}", request, **body.model_dump())
        pending = await service.reload(who, "bulletins", body.sites)
        return {**await _bulletin(bulletin_id), "pending_sites": pending}

    @router.delete("/api/bulletins/{bulletin_id}", tags=["posture"],
                   responses=responses(R401, R403_ROLE, problem(404, "No such bulletin in force")))
    async def withdraw(bulletin_id: RowId, who: Analyst, request: Request) -> dict[str, Any]:
        """Withdraw a bulletin; it stays in the history with who withdrew it. Audited."""
        if not await asyncio.to_thread(
                lambda: repository.withdraw_bulletin(bulletin_id, withdrawn_by=who.name, now=service.clock())):
            raise HTTPException(404, f"no bulletin {bulletin_id} in force")
        await service.audit(who, "posture.withdraw", f"bulletin/{bulletin_id}", request)
        bulletin = await _bulletin(bulletin_id)
        return {**bulletin, "pending_sites": await service.reload(who, "bulletins", bulletin["sites"])}

    @router.get("/api/sites/{site_id}/posture", tags=["posture"], responses=responses(R401, R404_SITE))
    async def posture(site_id: str, who: Anyone) -> dict[str, Any]:
        """The site's posture now, and the bulletins that set it (their texts for staff only)."""
        service.site(site_id, who)
        now = service.clock()
        rows = await asyncio.to_thread(repository.bulletins)
        site_posture = Posture((Bulletin.of(r) for r in rows), site_id)
        in_force = site_posture.in_force(now)
        return {"site": site_id, "level": site_posture.level_at(now), "t": now,
                "bulletins": [{"id": b.id, "level": b.level, "valid_from": b.valid_from, "valid_to": b.valid_to,
                               **({"text": b.text, "source": b.source, "recorded_by": b.recorded_by}
                                  if who.role != "partner" else {})} for b in in_force]}

    async def _bulletin(bulletin_id: int) -> dict[str, Any]:
        rows = await asyncio.to_thread(repository.bulletins, withdrawn=True)
        return next(r for r in rows if r["id"] == bulletin_id)

    return router
