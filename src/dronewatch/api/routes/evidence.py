"""Evidence packages over the API: export one (the roles of ``security.evidence_roles``), and the site's
public key to check them with (docs/evidence.md).

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.background import BackgroundTask

from dronewatch.api.models import R401, R403_ROLE, R404_SITE, R422, EvidenceRequest, problem, responses
from dronewatch.api.service import Anyone, Service, client_address
from dronewatch.errors import EvidenceError
from dronewatch.evidence import collect, export, fingerprint, public_pem


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    config = service.config
    busy = asyncio.Semaphore(1)  # one export at a time: a package reads an hour of detections

    @router.post("/api/sites/{site_id}/evidence", tags=["evidence"], response_class=FileResponse,
                 responses=responses(R401, R403_ROLE, R404_SITE, R422,
                                     problem(404, "No such site (or not granted), or no such alert"),
                                     problem(429, "Another export is being written; try again shortly"),
                                     {200: {"content": {"application/zip": {}},
                                            "description": "The signed package (docs/evidence.md)"}}))
    async def export_evidence(site_id: str, body: EvidenceRequest, who: Anyone, request: Request) -> FileResponse:
        """A signed evidence package of an alert, or of the site's tracks and alerts in a window (at most 24 h).
        The export is written to the audit log; operator positions are in it only for the roles that may see
        them."""
        if who.role not in config.security.evidence_roles:
            raise HTTPException(403, f"role {who.role} may not export evidence")
        service.site(site_id, who)
        body.check()
        if busy.locked():
            raise HTTPException(429, "another evidence export is being written; try again shortly",
                                headers={"Retry-After": "5"})
        async with busy:
            folder = Path(tempfile.mkdtemp(prefix="dronewatch-evidence-"))
            target = folder / "package.zip"
            try:
                manifest = await asyncio.to_thread(
                    lambda: export(service.repository, collect(
                        service.repository, site_id, alert_id=body.alert, t_from=body.t_from, t_to=body.t_to,
                        with_operators=who.role in config.security.operator_location_roles),
                        service.evidence_key, target, actor=who.name, source=client_address(request),
                        at=service.clock()))
            except EvidenceError as error:
                target.unlink(missing_ok=True)
                folder.rmdir()
                raise HTTPException(404, str(error)) from None
        name = f"{site_id}-{'alert-' + body.alert if body.alert else 'window'}-{manifest['package'][:8]}.zip"

        def remove() -> None:
            target.unlink(missing_ok=True)
            folder.rmdir()

        return FileResponse(target, media_type="application/zip", filename=name, background=BackgroundTask(remove),
                            headers={"X-Evidence-Package": manifest["package"],
                                     "X-Signing-Key-SHA256": fingerprint(service.evidence_key)})

    @router.get("/api/evidence/public-key", tags=["evidence"], response_class=PlainTextResponse,
                responses=responses(R401))
    async def public_key(who: Anyone) -> PlainTextResponse:
        """The public key that signs this service's evidence packages (PEM); its SHA-256 in a header."""
        return PlainTextResponse(public_pem(service.evidence_key).decode(), media_type="application/x-pem-file",
                                 headers={"X-Signing-Key-SHA256": fingerprint(service.evidence_key)})

    return router
