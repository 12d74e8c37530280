"""The HTTP API: ``create_app(config, repository, pipelines)``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations, and the
dependency aliases are local to ``create_app``.)

Every route but ``POST /api/login`` needs credentials: an API token (``Authorization:
Bearer dw_...``) or a session cookie from the login (state changes then need the
``X-CSRF-Token`` header too). Without them: 401; with a role that may not: 403; a partner
asking for a site not granted to it: 404 (it must not learn the site exists). Reads of
history, detections and operator positions, and every change, are written to the audit log.
"""


import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from dronewatch.api.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginLimiter,
    Principal,
    SessionSigner,
    check_password,
    hash_password,
    new_token,
    token_hash,
)
from dronewatch.config import ROLES, Config
from dronewatch.errors import DronewatchError
from dronewatch.formats.scenario import parse_line, record_to_dict
from dronewatch.geo.zones import check_zone
from dronewatch.model import Alert, Zone
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository
from dronewatch.web.tiles import MAX_ZOOM, TileArchive

_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
WEB = Path(__file__).resolve().parent.parent / "web"


class Login(BaseModel):
    name: str = Field(max_length=100)
    password: str = Field(max_length=200)


class Comment(BaseModel):
    comment: str = Field(default="", max_length=2000)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    role: str
    password: str = Field(min_length=12, max_length=200)
    sites: list[str] = Field(default_factory=list)
    levels: list[str] = Field(default_factory=list)


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class ZoneBody(BaseModel):
    level: str
    floor_m: float
    ceiling_m: float
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=1000)


def create_app(config: Config, repository: Repository, pipelines: Mapping[str, Pipeline],
               clock: Callable[[], float] = time.time) -> FastAPI:
    app = FastAPI(title="dronewatch", version="1", description=__doc__)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        """The dashboard page: public, as a login page must be; everything it shows comes from the API."""
        return FileResponse(WEB / "static" / "index.html")

    archive = TileArchive(config.map.tile_archive) if config.map.tile_archive else None
    signer = SessionSigner(config.service.data_dir, config.security.session_hours * 3600.0)
    limiter = LoginLimiter(config.security.login_attempts_per_minute)
    secure_cookie = config.service.host not in ("127.0.0.1", "localhost", "::1")

    def audit(who: Principal | str, action: str, target: str, request: Request | WebSocket,
              **detail: Any) -> None:
        actor = who.name if isinstance(who, Principal) else who
        source = request.client.host if request.client else "unknown"
        repository.audit(actor, action, target, at=clock(), source=source, detail=detail)

    async def principal(request: Request) -> Principal:
        found = _authenticate(request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise HTTPException(401, "credentials required", headers={"WWW-Authenticate": "Bearer"})
        if request.method in _UNSAFE and found.csrf is not None and \
                request.headers.get(CSRF_HEADER) != found.csrf:
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
        return found

    def _authenticate(authorization: str | None, cookie: str | None) -> Principal | None:
        if authorization and authorization.lower().startswith("bearer "):
            user = repository.user_by_token(token_hash(authorization[7:].strip()), now=clock())
            return Principal.of(user) if user and not user["disabled"] else None
        if cookie:
            checked = signer.check(cookie)
            if checked is not None:
                user = repository.user(user_id=checked[0])
                if user and not user["disabled"]:
                    return Principal.of(user, csrf=checked[1])
        return None

    def roles(*allowed: str) -> Callable[[Principal], Principal]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if who.role not in allowed:
                raise HTTPException(403, f"role {who.role} may not do this")
            return who
        return check

    Anyone = Annotated[Principal, Depends(principal)]
    Staff = Annotated[Principal, Depends(roles("admin", "operator", "analyst"))]
    Operator = Annotated[Principal, Depends(roles("admin", "operator"))]
    Admin = Annotated[Principal, Depends(roles("admin"))]

    def site(site_id: str, who: Principal) -> Pipeline:
        pipeline = pipelines.get(site_id)
        if pipeline is None or not who.may_see_site(site_id):
            raise HTTPException(404, f"no site {site_id!r}")
        return pipeline

    def _redacted(alert: dict[str, Any], who: Principal) -> dict[str, Any]:
        if who.role not in config.security.operator_location_roles and alert.get("evidence"):
            alert = {**alert, "evidence": {k: v for k, v in alert["evidence"].items() if not k.startswith("operator")}}
        return alert

    def alert_json(alert: Alert, who: Principal) -> dict[str, Any]:
        return _redacted(record_to_dict(alert), who)

    # ---------------------------------------------------------------- session
    @app.post("/api/login", tags=["session"])
    async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        address = request.client.host if request.client else "unknown"
        if not limiter.allowed(body.name, address):
            raise HTTPException(429, "too many failed logins; wait a minute")
        user = repository.user(name=body.name)
        if user is None or user["disabled"] or not check_password(user["password_hash"], body.password):
            limiter.failed(body.name, address)
            audit(body.name, "login.failed", f"user/{body.name}", request)
            raise HTTPException(401, "wrong name or password")
        cookie, csrf = signer.issue(user["id"])
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=secure_cookie,
                            max_age=int(signer.lifetime_s))
        audit(user["name"], "login", f"user/{user['name']}", request)
        return {"name": user["name"], "role": user["role"], "csrf_token": csrf}

    @app.post("/api/logout", tags=["session"])
    async def logout(who: Anyone, response: Response) -> dict[str, str]:
        response.delete_cookie(SESSION_COOKIE)
        return {"logged_out": who.name}

    @app.get("/api/me", tags=["session"])
    async def me(who: Anyone) -> dict[str, Any]:
        return {"name": who.name, "role": who.role, "sites": list(who.sites), "levels": list(who.levels)}

    @app.post("/api/tokens", tags=["session"])
    async def create_token(body: NewToken, who: Anyone, request: Request) -> dict[str, str]:
        token, digest = new_token()
        repository.add_token(who.user_id, body.name, digest, now=clock())
        audit(who, "token.create", f"user/{who.name}", request, name=body.name)
        return {"token": token, "note": "shown once: store it now"}

    @app.get("/api/tokens", tags=["session"])
    async def list_tokens(who: Anyone) -> list[dict[str, Any]]:
        return repository.tokens(who.user_id)

    @app.delete("/api/tokens/{token_id}", tags=["session"])
    async def revoke_token(token_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], who: Anyone,
                           request: Request) -> dict[str, int]:
        if not repository.revoke_token(who.user_id, token_id):
            raise HTTPException(404, f"no token {token_id} of yours")
        audit(who, "token.revoke", f"user/{who.name}/token/{token_id}", request)
        return {"revoked": token_id}

    @app.get("/api/users", tags=["admin"])
    async def list_users(who: Admin) -> list[dict[str, Any]]:
        return repository.users()

    @app.post("/api/users/{name}/disable", tags=["admin"])
    async def disable_user(name: str, who: Admin, request: Request) -> dict[str, str]:
        if name == who.name:
            raise HTTPException(409, "you may not disable yourself")
        if not repository.set_user_disabled(name, True):
            raise HTTPException(404, f"no user {name!r}")
        audit(who, "user.disable", f"user/{name}", request)
        return {"disabled": name}

    @app.post("/api/users", tags=["admin"])
    async def create_user(body: NewUser, who: Admin, request: Request) -> dict[str, Any]:
        if body.role not in ROLES:
            raise HTTPException(422, f"role must be one of {', '.join(ROLES)}")
        if repository.user(name=body.name) is not None:
            raise HTTPException(409, f"user {body.name!r} exists")
        user_id = repository.add_user(body.name, hash_password(body.password), body.role, now=clock(),
                                      sites=body.sites, levels=body.levels)
        audit(who, "user.create", f"user/{body.name}", request, role=body.role, sites=body.sites,
              levels=body.levels)
        return {"id": user_id, "name": body.name, "role": body.role}

    # ------------------------------------------------------------------ sites
    @app.get("/api/health", tags=["service"])
    async def health(who: Anyone) -> dict[str, Any]:
        return {"status": "ok", "sites": [s for s in pipelines if who.may_see_site(s)]}

    @app.get("/api/stats", tags=["service"])
    async def stats(who: Operator) -> dict[str, Any]:
        return {site_id: pipeline.stats() for site_id, pipeline in pipelines.items()}

    @app.get("/api/sites", tags=["sites"])
    async def list_sites(who: Anyone) -> list[dict[str, str]]:
        return [{"id": s} for s in pipelines if who.may_see_site(s)]

    @app.get("/api/sites/{site_id}/sensors", tags=["sites"])
    async def sensors(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        site(site_id, who)
        return [record_to_dict(s) for s in repository.sensors(site_id)]

    @app.get("/api/sites/{site_id}/zones", tags=["zones"])
    async def zones(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        site(site_id, who)
        return [record_to_dict(z) for z in repository.zones(site_id)]

    @app.put("/api/sites/{site_id}/zones/{zone_id}", tags=["zones"])
    async def put_zone(site_id: str, zone_id: str, body: ZoneBody, who: Admin, request: Request) -> dict[str, Any]:
        pipeline = site(site_id, who)
        try:
            zone = parse_line(_zone_line(zone_id, body))
            assert isinstance(zone, Zone)
            check_zone(zone)
        except DronewatchError as error:
            raise HTTPException(422, str(error)) from None
        await asyncio.to_thread(repository.put_zone, site_id, zone)
        await pipeline.publish("ingest", [zone])
        audit(who, "zone.put", f"site/{site_id}/zone/{zone_id}", request, **record_to_dict(zone))
        return record_to_dict(zone)

    @app.delete("/api/sites/{site_id}/zones/{zone_id}", tags=["zones"])
    async def delete_zone(site_id: str, zone_id: str, who: Admin, request: Request) -> dict[str, str]:
        site(site_id, who)
        if not repository.delete_zone(site_id, zone_id):
            raise HTTPException(404, f"no zone {zone_id!r}")
        audit(who, "zone.delete", f"site/{site_id}/zone/{zone_id}", request)
        return {"deleted": zone_id}

    # ------------------------------------------------------------------- map
    @app.get("/api/map", tags=["map"])
    async def map_background(who: Anyone) -> dict[str, Any]:
        """The map's background: a tile URL template for Leaflet (empty: the offline grid only)."""
        if archive is not None:
            info = archive.info
            bounds = info.bounds and [[info.bounds[1], info.bounds[0]], [info.bounds[3], info.bounds[2]]]
            return {"tiles": "/api/tiles/{z}/{x}/{y}", "min_native_zoom": info.min_zoom,
                    "max_native_zoom": info.max_zoom, "bounds": bounds,
                    "attribution": config.map.attribution or info.attribution}
        return {"tiles": config.map.tile_url, "min_native_zoom": None, "max_native_zoom": None, "bounds": None,
                "attribution": config.map.attribution}

    @app.get("/api/tiles/{z}/{x}/{y}", tags=["map"], response_class=Response,
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
                        404: {"description": "no such tile, or no tile archive"}})
    def tile(z: Annotated[int, PathParam(ge=0, le=MAX_ZOOM)], x: Annotated[int, PathParam(ge=0, lt=2**MAX_ZOOM)],
             y: Annotated[int, PathParam(ge=0, lt=2**MAX_ZOOM)], who: Anyone) -> Response:
        """A tile of the site's archive (``map.tile_archive``), XYZ numbering as web maps use.

        Not audited: a screen loads dozens of them, and they show the ground, not the traffic."""
        if archive is None:
            raise HTTPException(404, "this service has no tile archive (map.tile_archive)")
        data = archive.tile(z, x, y)
        if data is None:
            raise HTTPException(404, f"no tile {z}/{x}/{y} in the archive")
        return Response(data, media_type=archive.content_type(data),
                        headers={"Cache-Control": "private, max-age=3600"})

    # ---------------------------------------------------------------- tracks
    @app.get("/api/sites/{site_id}/tracks", tags=["tracks"])
    async def live_tracks(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        pipeline = site(site_id, who)
        if who.role == "partner" and not who.levels:
            return []
        return [record_to_dict(r) for r in pipeline.live_tracks.values()]

    @app.get("/api/sites/{site_id}/tracks/history", tags=["tracks"])
    async def track_history(site_id: str, who: Staff, request: Request,
                            t_from: Annotated[float, Query(alias="from")],
                            t_to: Annotated[float, Query(alias="to")],
                            track: str | None = None) -> list[dict[str, Any]]:
        site(site_id, who)
        _window(t_from, t_to)
        found = await asyncio.to_thread(repository.track_history, site_id, t_from, t_to, track)
        audit(who, "read.track_history", f"site/{site_id}", request, t_from=t_from, t_to=t_to, track=track,
              rows=len(found))
        return [record_to_dict(r) for r in found]

    @app.get("/api/sites/{site_id}/detections", tags=["tracks"])
    async def detections(site_id: str, who: Staff, request: Request,
                         t_from: Annotated[float, Query(alias="from")],
                         t_to: Annotated[float, Query(alias="to")]) -> list[dict[str, Any]]:
        site(site_id, who)
        _window(t_from, t_to)
        found = await asyncio.to_thread(repository.detections, site_id, t_from, t_to)
        audit(who, "read.detections", f"site/{site_id}", request, t_from=t_from, t_to=t_to, rows=len(found))
        return found

    @app.get("/api/sites/{site_id}/operators", tags=["tracks"])
    async def operators(site_id: str, who: Anyone, request: Request,
                        t_from: Annotated[float, Query(alias="from")],
                        t_to: Annotated[float, Query(alias="to")]) -> list[dict[str, Any]]:
        site(site_id, who)
        if who.role not in config.security.operator_location_roles:
            raise HTTPException(403, f"role {who.role} may not see operator locations")
        _window(t_from, t_to)
        found = await asyncio.to_thread(repository.operator_positions, site_id, t_from, t_to)
        audit(who, "read.operator_locations", f"site/{site_id}", request, t_from=t_from, t_to=t_to,
              rows=len(found))
        return found

    # ---------------------------------------------------------------- alerts
    @app.get("/api/sites/{site_id}/alerts", tags=["alerts"])
    async def alerts(site_id: str, who: Anyone, state: str | None = None) -> list[dict[str, Any]]:
        site(site_id, who)
        found = await asyncio.to_thread(repository.alerts, site_id, state)
        return [alert_json(a, who) for a in found if who.may_see_level(a.level)]

    async def _change_alert(site_id: str, alert_id: str, action: str, body: Comment, who: Principal,
                            request: Request) -> dict[str, Any]:
        pipeline = site(site_id, who)
        if pipeline.assessor is None:
            raise HTTPException(409, "the site's assessment has not started")
        try:
            change = pipeline.assessor.book.acknowledge if action == "acknowledge" else pipeline.assessor.book.resolve
            line = change(alert_id, clock(), who.name)
        except DronewatchError as error:
            raise HTTPException(404, str(error)) from None
        await asyncio.to_thread(repository.save_alert, site_id, line, who.name, body.comment or None)
        await pipeline.publish("alerts", [line])
        audit(who, f"alert.{action}", f"site/{site_id}/alert/{alert_id}", request, comment=body.comment)
        return alert_json(line, who)

    @app.post("/api/sites/{site_id}/alerts/{alert_id}/acknowledge", tags=["alerts"])
    async def acknowledge(site_id: str, alert_id: str, body: Comment, who: Operator,
                          request: Request) -> dict[str, Any]:
        return await _change_alert(site_id, alert_id, "acknowledge", body, who, request)

    @app.post("/api/sites/{site_id}/alerts/{alert_id}/resolve", tags=["alerts"])
    async def resolve(site_id: str, alert_id: str, body: Comment, who: Operator, request: Request) -> dict[str, Any]:
        return await _change_alert(site_id, alert_id, "resolve", body, who, request)

    # ---------------------------------------------------------------- stream
    @app.websocket("/api/sites/{site_id}/stream")
    async def stream(websocket: WebSocket, site_id: str) -> None:
        who = _authenticate(websocket.headers.get("authorization"), websocket.cookies.get(SESSION_COOKIE))
        if who is None:
            await websocket.close(code=4401)
            return
        pipeline = pipelines.get(site_id)
        if pipeline is None or not who.may_see_site(site_id):
            await websocket.close(code=4404)
            return
        await websocket.accept()
        subscriptions = [pipeline.bus.subscribe(f"dw.{site_id}.{stream}", overflow="drop_oldest", maxsize=1000)
                         for stream in ("picture", "alerts")]
        sees_operators = who.role in config.security.operator_location_roles
        if sees_operators:
            subscriptions.append(pipeline.bus.subscribe(f"dw.{site_id}.operators", overflow="drop_oldest",
                                                        maxsize=1000))
            audit(who, "read.operator_locations.live", f"site/{site_id}", websocket)
            if pipeline.operators:
                await websocket.send_text(json.dumps(list(pipeline.operators.values())))

        async def forward(sub: Any) -> None:
            # one WebSocket message per bus message: a JSON array of track or alert objects
            while (message := await sub.get()) is not None:
                batch = []
                items = ([record_to_dict(r) for r in message.records] if message.records is not None
                         else [json.loads(line) for line in message.data.decode().splitlines()])
                for item in items:
                    if item.get("type") == "track" and (who.role != "partner" or who.levels):
                        batch.append(item)
                    elif item.get("type") == "alert" and who.may_see_level(item.get("level", "")):
                        batch.append(_redacted(item, who))
                    elif item.get("type") == "operator" and sees_operators:
                        batch.append(item)
                if batch:
                    await websocket.send_text(json.dumps(batch))

        tasks = [asyncio.create_task(forward(sub)) for sub in subscriptions]
        try:
            while True:
                await websocket.receive_text()  # the client's messages are ignored; this notices the close
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
            for sub in subscriptions:
                pipeline.bus.unsubscribe(sub)

    return app


def _window(t_from: float, t_to: float) -> None:
    if not (math.isfinite(t_from) and math.isfinite(t_to)):
        raise HTTPException(422, "from and to must be finite UNIX times")
    if not t_from <= t_to or t_to - t_from > 31 * 86400.0:
        raise HTTPException(422, "from must not be after to, and a window is at most 31 days")


def _zone_line(zone_id: str, body: ZoneBody) -> str:
    return json.dumps({"type": "zone", "id": zone_id, "level": body.level, "floor_m": body.floor_m,
                       "ceiling_m": body.ceiling_m, "polygon": [list(p) for p in body.polygon]})
