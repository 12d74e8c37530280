"""The HTTP API: ``create_app(config, repository, pipelines)``.

The routes are a module per resource (``api/routes/``); what they share, who is asking and the
service they ask, is in ``api/service.py``; the request bodies and problem responses in
``api/models.py``.

Every route but ``POST /api/login`` needs credentials: an API token (``Authorization:
Bearer dw_...``) or a session cookie from the login (state changes then need the
``X-CSRF-Token`` header too). They are checked before anything else, a request body included.
Without them: 401; with a role that may not: 403; a partner asking for a site not granted to
it: 404 (it must not learn the site exists). Reads of history, detections and operator
positions, and every change, are written to the audit log. docs/security.md has the rules.

History reads come in pages: the body is a JSON list, and the next page's cursor is in the
``X-Next-Cursor`` header (and an RFC 8288 ``Link: <...>; rel="next"``), absent on the last page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from dronewatch.api.routes import (
    airframes,
    alerts,
    evidence,
    maps,
    posture,
    sensors,
    session,
    sites,
    stream,
    tracks,
    users,
)
from dronewatch.api.security import RequireCredentials
from dronewatch.api.service import Service
from dronewatch.config import Config
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository

WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(config: Config, repository: Repository, pipelines: Mapping[str, Pipeline],
               clock: Callable[[], float] = time.time, *, stream_recheck_s: float = 30.0) -> FastAPI:
    """The API over ``repository`` and the sites' ``pipelines``. ``stream_recheck_s``: how often an open
    WebSocket checks that its credentials still hold (a logout, a disabled user, a revoked token close it)."""
    app = FastAPI(title="dronewatch", version="1", description=__doc__)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        """The dashboard page: public, as a login page must be; everything it shows comes from the API."""
        return FileResponse(WEB / "static" / "index.html")

    service = Service(config, repository, pipelines, clock, stream_recheck_s)
    app.add_middleware(RequireCredentials, resolve=service.resolve_principal)
    for resource in (session, users, sites, maps, tracks, alerts, airframes, posture, evidence, sensors, stream):
        app.include_router(resource.routes(service))
    return app
