"""The HTTP API: ``create_app(config, repository, pipelines)``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations, and the
dependency aliases are local to ``create_app``.)

Every route but ``POST /api/login`` needs credentials: an API token (``Authorization:
Bearer dw_...``) or a session cookie from the login (state changes then need the
``X-CSRF-Token`` header too). They are checked before anything else, a request body included.
Without them: 401; with a role that may not: 403; a partner asking for a site not granted to
it: 404 (it must not learn the site exists). Reads of history, detections and operator
positions, and every change, are written to the audit log. docs/security.md has the rules.

History reads come in pages: the body is a JSON list, and the next page's cursor is in the
``X-Next-Cursor`` header (and an RFC 8288 ``Link: <...>; rel="next"``), absent on the last page.
"""


import asyncio
import base64
import binascii
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, field_validator

from dronewatch.api.commands import CommandSender
from dronewatch.api.security import (
    SESSION_COOKIE,
    LoginLimiter,
    PasswordsBusy,
    PasswordWork,
    Principal,
    RequireCredentials,
    SessionSigner,
    check_login,
    check_password,
    dummy_hash,
    hash_password,
    new_session_id,
    new_token,
    token_hash,
)
from dronewatch.assessment.commands import MAX_COMMENT, Action, Command, CommandResult
from dronewatch.config import MAX_TOKEN_DAYS, ROLES, Config
from dronewatch.errors import DronewatchError, TransportError
from dronewatch.formats.scenario import BAD_CHARACTER, parse_line, record_to_dict
from dronewatch.geo.zones import check_zone
from dronewatch.model import LEVELS, Alert, Zone
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository
from dronewatch.storage.repository import Cursor, Page
from dronewatch.web.tiles import MAX_ZOOM, TileArchive

WEB = Path(__file__).resolve().parent.parent / "web"
TRACK_LINE = b'{"type":"track",'
"""How every track line of a picture begins (``record_to_line``): what else is on the subject is not passed on."""
HISTORY_LIMIT = 5000
"""Rows in a page of history when the request names no ``limit``."""
HISTORY_LIMIT_MAX = 50_000
NEXT_CURSOR_HEADER = "X-Next-Cursor"
_DAY_S = 86400.0

# WebSocket close codes (the 4000-4999 range is the application's): the HTTP status they stand for
WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
WS_NOT_FOUND = 4404


class Problem(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="What is wrong: a sentence, or (request validation) a list of the fields that are not valid")


def _problem(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Problem, "description": description}}


R401 = _problem(401, "No credentials, or ones that are not (or no longer) valid")
R403_CSRF = _problem(403, "A session's state change without its X-CSRF-Token header")
R403_ROLE = _problem(403, "The role may not do this (or a session's state change lacks X-CSRF-Token)")
R404_SITE = _problem(404, "No such site, or a site not granted to this partner")
R422 = _problem(422, "The request is not valid: the detail names the field or value")
R409 = _problem(409, "The change conflicts with the present state")


def _responses(*parts: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged: dict[int | str, dict[str, Any]] = {}
    for part in parts:
        merged.update(part)
    return merged


_PAGED: dict[int | str, dict[str, Any]] = {200: {"description": "One page of rows in (t, seq) order", "headers": {
    NEXT_CURSOR_HEADER: {"description": "Give it as ``cursor`` for the next page; absent on the last page",
                         "schema": {"type": "string"}},
    "Link": {"description": 'RFC 8288: ``<URL of the next page>; rel="next"``; absent on the last page',
             "schema": {"type": "string"}}}}}


class Login(BaseModel):
    name: str = Field(max_length=100)
    password: str = Field(max_length=200)


class Comment(BaseModel):
    comment: str = Field(default="", max_length=MAX_COMMENT)

    @field_validator("comment")
    @classmethod
    def _one_line(cls, text: str) -> str:
        # line breaks and tabs become spaces; other control characters have no place in the alert history
        text = " ".join(text.replace("\t", " ").splitlines()).strip()
        if (bad := BAD_CHARACTER.search(text)) is not None:
            raise ValueError(f"control character U+{ord(bad.group()):04X} at position {bad.start()}")
        return text


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    role: str = Field(description=f"One of {', '.join(ROLES)}")
    password: str = Field(min_length=12, max_length=200)
    sites: list[str] = Field(default_factory=list, max_length=1000,
                             description="Sites a partner may see: sites this service knows")
    levels: list[str] = Field(default_factory=list, max_length=len(LEVELS),
                              description=f"Alert levels a partner may see: of {', '.join(LEVELS)}")


class UserUpdate(BaseModel):
    """What is left out stays as it is."""

    role: str | None = Field(default=None, description=f"One of {', '.join(ROLES)}")
    sites: list[str] | None = Field(default=None, max_length=1000)
    levels: list[str] | None = Field(default=None, max_length=len(LEVELS))


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=200)
    new_password: str = Field(min_length=12, max_length=200)


class PasswordReset(BaseModel):
    new_password: str = Field(min_length=12, max_length=200)


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_TOKEN_DAYS,
        description="Lifetime in days; default security.token_days_default, at most security.token_days_max")


class ZoneBody(BaseModel):
    level: str
    floor_m: float
    ceiling_m: float
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=1000)


UserName = Annotated[str, PathParam(min_length=1, max_length=100)]
Limit = Annotated[int, Query(ge=1, le=HISTORY_LIMIT_MAX, description="Rows in a page at most")]
CursorText = Annotated[str | None, Query(max_length=100, description=f"From a previous page's {NEXT_CURSOR_HEADER}")]

_bearer = HTTPBearer(auto_error=False, scheme_name="token",
                     description="An API token from POST /api/tokens: ``Authorization: Bearer dw_...``")
_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                               description="The cookie POST /api/login sets; state changes also need the "
                                           "X-CSRF-Token header with the login's csrf_token")


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

    archive = TileArchive(config.map.tile_archive) if config.map.tile_archive else None
    signer = SessionSigner(config.service.data_dir)
    session_s = config.security.session_hours * 3600.0
    limiter = LoginLimiter(config.security.login_attempts_per_minute)
    passwords = PasswordWork()
    regions = {r.id: frozenset(r.sites) for r in config.regions}

    def shared(items: Iterable[dict[str, Any]], site_id: str, who: Principal) -> list[dict[str, Any]]:
        """Of a region's tracks and alerts, what ``who`` may see (:meth:`Principal.regional_share`)."""
        if site_id not in regions:
            return list(items)
        return [part for item in items if (part := who.regional_share(item)) is not None]

    async def password_work(work: Callable[..., Any], *args: Any) -> Any:
        try:
            return await passwords.run(work, *args)
        except PasswordsBusy as error:
            raise HTTPException(429, f"too many logins at once ({error}); try again in a second",
                                headers={"Retry-After": "1"}) from None
    secure_cookie = config.service.host not in ("127.0.0.1", "localhost", "::1")
    dummy_hash()  # made now, not at the first unknown user's login, which would then take twice as long

    async def audit(who: Principal | str, action: str, target: str, request: Request | WebSocket,
                    **detail: Any) -> None:
        actor = who.name if isinstance(who, Principal) else who
        source = request.client.host if request.client else "unknown"
        await asyncio.to_thread(repository.audit, actor, action, target, at=clock(), source=source, detail=detail)

    def authenticate(authorization: str | None, cookie: str | None) -> Principal | None:
        """Who a token or a session cookie belongs to (None: nobody, or a disabled user). Blocking: the
        database is asked; call it off the event loop."""
        now = clock()
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            user = repository.user_by_token(token_hash(credentials.strip()), now=now)
            return Principal.of(user) if user and not user["disabled"] else None
        if cookie:
            checked = signer.check(cookie)
            if checked is not None:
                digest = token_hash(checked[0])
                user = repository.user_by_session(digest, now=now)
                if user and not user["disabled"]:
                    return Principal.of(user, csrf=checked[1], session=digest)
        return None

    async def resolve_principal(request: Request) -> Principal | None:
        return await asyncio.to_thread(authenticate, request.headers.get("authorization"),
                                       request.cookies.get(SESSION_COOKIE))

    app.add_middleware(RequireCredentials, resolve=resolve_principal)

    async def principal(request: Request,
                        _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                        _session: Annotated[str | None, Depends(_session_cookie)]) -> Principal:
        # RequireCredentials found the principal before the body was read; the two schemes above
        # only tell the OpenAPI (and /docs's "Authorize") how credentials are given
        found = getattr(request.state, "principal", None)
        if not isinstance(found, Principal):
            raise HTTPException(401, "credentials required", headers={"WWW-Authenticate": "Bearer"})
        return found

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
        if pipeline is None or not who.may_see_site(site_id, regions):
            raise HTTPException(404, f"no site {site_id!r}")
        return pipeline

    senders: dict[str, CommandSender] = {}

    async def command(pipeline: Pipeline, sent: Command) -> CommandResult:
        """A command to the site's assessment, and its result; 503 when none comes in time."""
        sender = senders.setdefault(pipeline.site_id, CommandSender(pipeline.bus, pipeline.site_id))
        try:
            return await sender.send(sent)
        except TransportError as error:
            raise HTTPException(503, str(error)) from None

    def _redacted(alert: dict[str, Any], who: Principal) -> dict[str, Any]:
        if who.role not in config.security.operator_location_roles and alert.get("evidence"):
            alert = {**alert, "evidence": {k: v for k, v in alert["evidence"].items() if not k.startswith("operator")}}
        return alert

    def alert_json(alert: Alert, who: Principal) -> dict[str, Any]:
        return _redacted(record_to_dict(alert), who)

    async def check_grant(role: str | None, sites: list[str] | None, levels: list[str] | None) -> None:
        """422 naming the first role, site or level this service does not know."""
        if role is not None and role not in ROLES:
            raise HTTPException(422, f"unknown role {role!r}: roles are {', '.join(ROLES)}")
        if levels is not None:
            for level in levels:
                if level not in LEVELS:
                    raise HTTPException(422, f"unknown level {level!r}: levels are {', '.join(LEVELS)}")
        if sites:
            known = set(pipelines) | set(await asyncio.to_thread(repository.site_ids))
            for site_id in sites:
                if site_id not in known:
                    raise HTTPException(422, f"unknown site {site_id!r}: sites are {', '.join(sorted(known))}")

    def client_address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    # ---------------------------------------------------------------- session
    @app.post("/api/login", tags=["session"], responses=_responses(
        _problem(401, "Wrong name or password"),
        _problem(429, "Too many failed logins for this name and address, or too many logins at once"), R422))
    async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        """A session: the cookie, and the ``csrf_token`` that state changes must send in ``X-CSRF-Token``."""
        address = client_address(request)
        if not limiter.allowed(body.name, address):
            raise HTTPException(429, "too many failed logins; wait a minute")
        user = await asyncio.to_thread(repository.user, name=body.name)
        usable = user is not None and not user["disabled"]
        # an unknown or disabled user is checked against a dummy hash: the same time as a wrong password
        known = await password_work(check_login, user["password_hash"] if user and usable else None, body.password)
        if user is None or not known:
            limiter.failed(body.name, address)
            await audit(body.name, "login.failed", f"user/{body.name}", request)
            raise HTTPException(401, "wrong name or password")
        session_id, digest = new_session_id()
        now = clock()
        await asyncio.to_thread(repository.start_session, user["id"], digest, now=now, expires_at=now + session_s)
        cookie, csrf = signer.issue(session_id)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=secure_cookie,
                            max_age=int(session_s))
        await audit(user["name"], "login", f"user/{user['name']}", request)
        return {"name": user["name"], "role": user["role"], "csrf_token": csrf}

    @app.post("/api/logout", tags=["session"], responses=_responses(R401, R403_CSRF))
    async def logout(who: Anyone, request: Request, response: Response) -> dict[str, str]:
        """Ends this session in the database: its cookie is refused from now on, wherever a copy of it is."""
        if who.session is not None:
            await asyncio.to_thread(repository.end_session, who.session, now=clock(), reason="logout")
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=secure_cookie)
        await audit(who, "logout", f"user/{who.name}", request)
        return {"logged_out": who.name}

    @app.get("/api/me", tags=["session"], responses=R401)
    async def me(who: Anyone) -> dict[str, Any]:
        return {"name": who.name, "role": who.role, "sites": list(who.sites), "levels": list(who.levels)}

    @app.post("/api/me/password", tags=["session"], responses=_responses(
        R401, _problem(403, "The current password is wrong (or a session's change lacks X-CSRF-Token)"),
        _problem(429, "Too many wrong passwords for this user and address"), R422))
    async def change_password(body: PasswordChange, who: Anyone, request: Request) -> dict[str, Any]:
        """A new password for oneself; every other session of the user ends (API tokens stay)."""
        address = client_address(request)
        if not limiter.allowed(who.name, address):  # a stolen session must not be a way to guess the password
            raise HTTPException(429, "too many wrong passwords; wait a minute")
        user = await asyncio.to_thread(repository.user, user_id=who.user_id)
        if user is None or not await password_work(check_password, user["password_hash"], body.current_password):
            limiter.failed(who.name, address)
            await audit(who, "user.password.failed", f"user/{who.name}", request)
            raise HTTPException(403, "the current password is wrong")
        new_hash = await password_work(hash_password, body.new_password)
        ended = await asyncio.to_thread(repository.set_password, who.user_id, new_hash, now=clock(),
                                        keep_session=who.session, reason="password")
        await audit(who, "user.password", f"user/{who.name}", request, sessions_ended=ended)
        return {"changed": who.name, "sessions_ended": ended}

    @app.post("/api/tokens", tags=["session"], responses=_responses(R401, R403_CSRF, R422))
    async def create_token(body: NewToken, who: Anyone, request: Request) -> dict[str, Any]:
        """An API token, shown this once; it expires after ``expires_in_days``."""
        days = body.expires_in_days or config.security.token_days_default
        if days > config.security.token_days_max:
            raise HTTPException(422, f"expires_in_days: {days} is more than this service allows "
                                     f"(security.token_days_max = {config.security.token_days_max})")
        token, digest = new_token()
        now = clock()
        expires_at = now + days * _DAY_S
        token_id = await asyncio.to_thread(repository.add_token, who.user_id, body.name, digest, now=now,
                                           expires_at=expires_at)
        await audit(who, "token.create", f"user/{who.name}", request, name=body.name, id=token_id,
                    expires_at=expires_at)
        return {"id": token_id, "token": token, "expires_at": expires_at, "note": "shown once: store it now"}

    @app.get("/api/tokens", tags=["session"], responses=R401)
    async def list_tokens(who: Anyone) -> list[dict[str, Any]]:
        """The caller's tokens (never the tokens themselves): name, created_at, expires_at, last_used_at, revoked."""
        return await asyncio.to_thread(repository.tokens, who.user_id)

    @app.delete("/api/tokens/{token_id}", tags=["session"], responses=_responses(
        R401, R403_CSRF, _problem(404, "No such token of the caller's")))
    async def revoke_token(token_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], who: Anyone,
                           request: Request) -> dict[str, int]:
        if not await asyncio.to_thread(repository.revoke_token, who.user_id, token_id):
            raise HTTPException(404, f"no token {token_id} of yours")
        await audit(who, "token.revoke", f"user/{who.name}/token/{token_id}", request)
        return {"revoked": token_id}

    # ------------------------------------------------------------------ users
    R404_USER = _problem(404, "No such user")

    @app.get("/api/users", tags=["admin"], responses=_responses(R401, R403_ROLE))
    async def list_users(who: Admin) -> list[dict[str, Any]]:
        return await asyncio.to_thread(repository.users)

    @app.post("/api/users", tags=["admin"], responses=_responses(R401, R403_ROLE, R409, R422))
    async def create_user(body: NewUser, who: Admin, request: Request) -> dict[str, Any]:
        await check_grant(body.role, body.sites, body.levels)
        if await asyncio.to_thread(repository.user, name=body.name) is not None:
            raise HTTPException(409, f"user {body.name!r} exists")
        password_hash = await password_work(hash_password, body.password)
        sites, levels = list(dict.fromkeys(body.sites)), list(dict.fromkeys(body.levels))
        user_id = await asyncio.to_thread(repository.add_user, body.name, password_hash, body.role, now=clock(),
                                          sites=sites, levels=levels)
        await audit(who, "user.create", f"user/{body.name}", request, role=body.role, sites=sites, levels=levels)
        return {"id": user_id, "name": body.name, "role": body.role, "sites": sites, "levels": levels}

    @app.patch("/api/users/{name}", tags=["admin"], responses=_responses(R401, R403_ROLE, R404_USER, R409, R422))
    async def update_user(name: UserName, body: UserUpdate, who: Admin, request: Request) -> dict[str, Any]:
        """A user's role and grants (sites and alert levels, which restrict a partner); what is left out stays."""
        if name == who.name and body.role not in (None, "admin"):
            raise HTTPException(409, "you may not take away your own admin role")
        await check_grant(body.role, body.sites, body.levels)
        sites = list(dict.fromkeys(body.sites)) if body.sites is not None else None
        levels = list(dict.fromkeys(body.levels)) if body.levels is not None else None
        before = await asyncio.to_thread(repository.update_user, name, role=body.role, sites=sites, levels=levels)
        if before is None:
            raise HTTPException(404, f"no user {name!r}")
        was = {"role": before["role"], "sites": list(before["sites"]), "levels": list(before["levels"])}
        after = {"role": body.role or was["role"], "sites": was["sites"] if sites is None else sites,
                 "levels": was["levels"] if levels is None else levels}
        await audit(who, "user.update", f"user/{name}", request, before=was, after=after)
        return {"name": name, **after}

    @app.post("/api/users/{name}/disable", tags=["admin"], responses=_responses(R401, R403_ROLE, R404_USER, R409))
    async def disable_user(name: UserName, who: Admin, request: Request) -> dict[str, str]:
        """The user can no longer sign in; its sessions end and its tokens are refused (until enabled)."""
        if name == who.name:
            raise HTTPException(409, "you may not disable yourself")
        if not await asyncio.to_thread(repository.set_user_disabled, name, True, now=clock()):
            raise HTTPException(404, f"no user {name!r}")
        await audit(who, "user.disable", f"user/{name}", request)
        return {"disabled": name}

    @app.post("/api/users/{name}/enable", tags=["admin"], responses=_responses(R401, R403_ROLE, R404_USER))
    async def enable_user(name: UserName, who: Admin, request: Request) -> dict[str, str]:
        """The user may sign in again, and its unexpired, unrevoked tokens work again."""
        if not await asyncio.to_thread(repository.set_user_disabled, name, False, now=clock()):
            raise HTTPException(404, f"no user {name!r}")
        await audit(who, "user.enable", f"user/{name}", request)
        return {"enabled": name}

    @app.post("/api/users/{name}/password", tags=["admin"], responses=_responses(
        R401, R403_ROLE, R404_USER, _problem(409, "An admin changes its own password at /api/me/password"), R422))
    async def reset_password(name: UserName, body: PasswordReset, who: Admin, request: Request) -> dict[str, Any]:
        """Set another user's password (e.g. forgotten); every session of that user ends."""
        if name == who.name:
            raise HTTPException(409, "change your own password at /api/me/password: it asks for the current one")
        user = await asyncio.to_thread(repository.user, name=name)
        if user is None:
            raise HTTPException(404, f"no user {name!r}")
        new_hash = await password_work(hash_password, body.new_password)
        ended = await asyncio.to_thread(repository.set_password, user["id"], new_hash, now=clock(),
                                        reason="password_reset")
        await audit(who, "user.password_reset", f"user/{name}", request, sessions_ended=ended)
        return {"reset": name, "sessions_ended": ended}

    # ------------------------------------------------------------------ sites
    @app.get("/api/health", tags=["service"], responses=R401)
    async def health(who: Anyone) -> dict[str, Any]:
        return {"status": "ok", "sites": [s for s in pipelines if who.may_see_site(s, regions)]}

    @app.get("/api/stats", tags=["service"], responses=_responses(R401, R403_ROLE))
    async def stats(who: Operator) -> dict[str, Any]:
        return {site_id: pipeline.stats() for site_id, pipeline in pipelines.items()}

    @app.get("/api/sites", tags=["sites"], responses=R401)
    async def list_sites(who: Anyone) -> list[dict[str, str]]:
        return [{"id": s} for s in pipelines if who.may_see_site(s, regions)]

    @app.get("/api/sites/{site_id}/sensors", tags=["sites"], responses=_responses(R401, R404_SITE))
    async def sensors(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        """A site's sensors; a region's are its sites', ``<site>/<sensor id>``."""
        pipeline = site(site_id, who)
        if site_id in regions:
            return [record_to_dict(s) for s in pipeline.site.sensors if who.may_see_site(s.id.split("/", 1)[0])]
        return [record_to_dict(s) for s in await asyncio.to_thread(repository.sensors, site_id)]

    @app.get("/api/sites/{site_id}/zones", tags=["zones"], responses=_responses(R401, R404_SITE))
    async def zones(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        """A site's zones; a region's are its sites' zones in force, ``<site>/<zone id>``."""
        pipeline = site(site_id, who)
        if site_id in regions:
            return [record_to_dict(z) for z in pipeline.site.zones if who.may_see_site(z.id.split("/", 1)[0])]
        return [record_to_dict(z) for z in await asyncio.to_thread(repository.zones, site_id)]

    @app.put("/api/sites/{site_id}/zones/{zone_id}", tags=["zones"],
             responses=_responses(R401, R403_ROLE, R404_SITE, R422, _problem(409, "A region's zones are its sites'")))
    async def put_zone(site_id: str, zone_id: str, body: ZoneBody, who: Admin, request: Request) -> dict[str, Any]:
        pipeline = site(site_id, who)
        if site_id in regions:
            raise HTTPException(409, f"{site_id!r} is a region: its zones are its sites', put the zone on one of "
                                     f"{', '.join(sorted(regions[site_id]))}")
        try:
            zone = parse_line(_zone_line(zone_id, body))
            assert isinstance(zone, Zone)
            check_zone(zone)
        except DronewatchError as error:
            raise HTTPException(422, str(error)) from None
        await asyncio.to_thread(repository.put_zone, site_id, zone)
        await pipeline.publish("ingest", [zone])
        await audit(who, "zone.put", f"site/{site_id}/zone/{zone_id}", request, **record_to_dict(zone))
        return record_to_dict(zone)

    @app.delete("/api/sites/{site_id}/zones/{zone_id}", tags=["zones"], responses=_responses(
        R401, R403_ROLE, _problem(404, "No such site (or not granted), or no such zone"),
        _problem(503, "Deleted from storage, but the site's assessment did not confirm in time that the zone is "
                      "out of force (the command stays queued)")))
    async def delete_zone(site_id: str, zone_id: str, who: Admin, request: Request) -> dict[str, str]:
        pipeline = site(site_id, who)
        if not await asyncio.to_thread(repository.delete_zone, site_id, zone_id):
            raise HTTPException(404, f"no zone {zone_id!r}")
        await audit(who, "zone.delete", f"site/{site_id}/zone/{zone_id}", request)
        await command(pipeline, Command.new("delete_zone", zone_id, who.name, clock()))  # out of force too
        return {"deleted": zone_id}

    # ------------------------------------------------------------------- map
    @app.get("/api/map", tags=["map"], responses=R401)
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
                        **_problem(404, "No such tile, or no tile archive"), **R401})
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
    @app.get("/api/sites/{site_id}/tracks", tags=["tracks"], responses=_responses(R401, R404_SITE))
    async def live_tracks(site_id: str, who: Anyone) -> list[dict[str, Any]]:
        pipeline = site(site_id, who)
        if who.role == "partner" and not who.levels:
            return []
        return shared((record_to_dict(r) for r in pipeline.site.live_tracks.values()), site_id, who)

    def paged(page: Page[Any], request: Request, response: Response) -> str | None:
        """The next page's cursor into the response's headers; the cursor (None on the last page)."""
        if page.next is None:
            return None
        cursor = _cursor_text(page.next)
        following = request.url.include_query_params(cursor=cursor)
        response.headers[NEXT_CURSOR_HEADER] = cursor
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return cursor

    _HISTORY = _responses(_PAGED, R401, R403_ROLE, R404_SITE, R422)

    @app.get("/api/sites/{site_id}/tracks/history", tags=["tracks"], responses=_HISTORY)
    async def track_history(site_id: str, who: Staff, request: Request, response: Response,
                            t_from: Annotated[float, Query(alias="from")],
                            t_to: Annotated[float, Query(alias="to")],
                            track: Annotated[str | None, Query(max_length=64)] = None,
                            limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Stored track points of a window (at most 31 days), a page at a time."""
        site(site_id, who)
        _window(t_from, t_to)
        page = await asyncio.to_thread(repository.track_history_page, site_id, t_from, t_to, track,
                                       after=_cursor(cursor), limit=limit)
        following = paged(page, request, response)
        await audit(who, "read.track_history", f"site/{site_id}", request, t_from=t_from, t_to=t_to, track=track,
                    rows=len(page.rows), cursor=cursor, next=following)
        return [record_to_dict(r) for r in page.rows]

    @app.get("/api/sites/{site_id}/detections", tags=["tracks"], responses=_HISTORY)
    async def detections(site_id: str, who: Staff, request: Request, response: Response,
                         t_from: Annotated[float, Query(alias="from")],
                         t_to: Annotated[float, Query(alias="to")],
                         limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Stored detections of a window (at most 31 days), a page at a time."""
        site(site_id, who)
        _window(t_from, t_to)
        page = await asyncio.to_thread(repository.detections_page, site_id, t_from, t_to, after=_cursor(cursor),
                                       limit=limit)
        following = paged(page, request, response)
        await audit(who, "read.detections", f"site/{site_id}", request, t_from=t_from, t_to=t_to,
                    rows=len(page.rows), cursor=cursor, next=following)
        return page.rows

    @app.get("/api/sites/{site_id}/operators", tags=["tracks"], responses=_HISTORY)
    async def operators(site_id: str, who: Anyone, request: Request, response: Response,
                        t_from: Annotated[float, Query(alias="from")],
                        t_to: Annotated[float, Query(alias="to")],
                        limit: Limit = HISTORY_LIMIT, cursor: CursorText = None) -> list[dict[str, Any]]:
        """Where drone operators stood (Remote ID), in a window of at most 31 days, a page at a time;
        only for the roles of ``security.operator_location_roles``."""
        site(site_id, who)
        if who.role not in config.security.operator_location_roles:
            raise HTTPException(403, f"role {who.role} may not see operator locations")
        _window(t_from, t_to)
        page = await asyncio.to_thread(repository.operator_positions_page, site_id, t_from, t_to,
                                       after=_cursor(cursor), limit=limit)
        following = paged(page, request, response)
        await audit(who, "read.operator_locations", f"site/{site_id}", request, t_from=t_from, t_to=t_to,
                    rows=len(page.rows), cursor=cursor, next=following)
        return page.rows

    # ---------------------------------------------------------------- alerts
    @app.get("/api/sites/{site_id}/alerts", tags=["alerts"], responses=_responses(R401, R404_SITE, R422))
    async def alerts(site_id: str, who: Anyone, state: str | None = None) -> list[dict[str, Any]]:
        site(site_id, who)
        found = await asyncio.to_thread(repository.alerts, site_id, state)
        return shared((alert_json(a, who) for a in found if who.may_see_level(a.level)), site_id, who)

    async def _change_alert(site_id: str, alert_id: str, action: Action, body: Comment, who: Principal,
                            request: Request) -> dict[str, Any]:
        result = await command(site(site_id, who), Command.new(action, alert_id, who.name, clock(), body.comment))
        if result.status == "not_started":
            raise HTTPException(409, "the site's assessment has not started")
        if result.status == "not_open" or result.alert is None:
            raise HTTPException(404, f"alert {alert_id!r} is not open (resolved, or never existed)")
        await audit(who, f"alert.{action}", f"site/{site_id}/alert/{alert_id}", request, comment=body.comment)
        return alert_json(result.alert, who)

    _ALERT_CHANGE = _responses(R401, R403_ROLE, _problem(404, "No such site (or not granted), or no such alert"),
                               _problem(409, "The site's assessment has not started"), R422,
                               _problem(503, "The site's assessment did not answer in time (the command stays "
                                             "queued and may still be applied)"))

    @app.post("/api/sites/{site_id}/alerts/{alert_id}/acknowledge", tags=["alerts"], responses=_ALERT_CHANGE)
    async def acknowledge(site_id: str, alert_id: str, body: Comment, who: Operator,
                          request: Request) -> dict[str, Any]:
        return await _change_alert(site_id, alert_id, "acknowledge", body, who, request)

    @app.post("/api/sites/{site_id}/alerts/{alert_id}/resolve", tags=["alerts"], responses=_ALERT_CHANGE)
    async def resolve(site_id: str, alert_id: str, body: Comment, who: Operator, request: Request) -> dict[str, Any]:
        return await _change_alert(site_id, alert_id, "resolve", body, who, request)

    @app.post("/api/sites/{site_id}/alerts/{alert_id}/comment", tags=["alerts"], responses=_ALERT_CHANGE)
    async def comment(site_id: str, alert_id: str, body: Comment, who: Operator, request: Request) -> dict[str, Any]:
        """A note on a live alert, kept in its history; the alert's state does not change."""
        if not body.comment:
            raise HTTPException(422, "a comment needs its text")
        return await _change_alert(site_id, alert_id, "comment", body, who, request)

    # ---------------------------------------------------------------- stream
    async def stream_refusal(websocket: WebSocket, site_id: str) -> tuple[int, str] | Principal:
        """Who may have the stream, or the close code and reason that say why not."""
        who = await asyncio.to_thread(authenticate, websocket.headers.get("authorization"),
                                      websocket.cookies.get(SESSION_COOKIE))
        if who is None:
            return WS_UNAUTHORIZED, "credentials required: no valid token or session (signed out?)"
        if who.csrf is not None and not _same_origin(websocket):
            # a session cookie goes with any page's WebSocket: only this service's own page may use it
            return WS_FORBIDDEN, "a session's stream must be opened by this service's own page (Origin)"
        if site_id not in pipelines or not who.may_see_site(site_id, regions):
            return WS_NOT_FOUND, f"no site {site_id!r}"
        return who

    @app.websocket("/api/sites/{site_id}/stream")
    async def stream(websocket: WebSocket, site_id: str) -> None:
        """The live picture of a site: one message per batch, a JSON array of track, alert and (for the
        roles that may) operator objects. Refusals are close codes, after the handshake so that the
        client can read them: 4401 no or invalid credentials (also when they end while the stream is
        open), 4403 not allowed, 4404 no such site or not granted."""
        checked = await stream_refusal(websocket, site_id)
        if not isinstance(checked, Principal):
            await websocket.accept()
            await websocket.close(*checked)
            return
        who, pipeline = checked, pipelines[site_id]
        # subscribed before the client hears it is in: nothing published after that is missed
        subscriptions = [pipeline.bus.subscribe(f"dw.{site_id}.{stream}", overflow="drop_oldest", maxsize=1000)
                         for stream in ("picture", "alerts")]
        try:
            await websocket.accept()
        except BaseException:  # the client went during the handshake: nobody reads these
            for sub in subscriptions:
                pipeline.bus.unsubscribe(sub)
            raise
        sees_operators = who.role in config.security.operator_location_roles
        if sees_operators:
            subscriptions.append(pipeline.bus.subscribe(f"dw.{site_id}.operators", overflow="drop_oldest",
                                                        maxsize=1000))
            await audit(who, "read.operator_locations.live", f"site/{site_id}", websocket)
            if pipeline.site.operators:
                await websocket.send_text(json.dumps(list(pipeline.site.operators.values())))

        whole_picture = who.role != "partner" or (bool(who.levels) and site_id not in regions)

        async def forward(sub: Any) -> None:
            # one WebSocket message per bus message: a JSON array of track or alert objects
            while (message := await sub.get()) is not None:
                if whole_picture and message.subject.endswith(".picture"):
                    # the track lines as they are, encoded once for every client (1,000 tracks a second)
                    lines = [line for line in message.data.split(b"\n") if line.startswith(TRACK_LINE)]
                    if lines:
                        await send(b"[" + b",".join(lines) + b"]")
                    continue
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
                batch = shared(batch, site_id, who)
                if batch:
                    await send(json.dumps(batch).encode())

        async def send(text: bytes) -> None:
            try:
                await websocket.send_text(text.decode())
            except WebSocketDisconnect:  # the client went while a message was on its way
                group.cancel_scope.cancel()

        refusal: tuple[int, str] | None = None

        async def until_disconnected() -> None:
            try:
                while True:
                    await websocket.receive_text()  # the client's messages are ignored; this notices the close
            except WebSocketDisconnect:
                pass
            group.cancel_scope.cancel()

        async def until_refused() -> None:
            # a logout, a password change, a disabled user, a revoked token or a changed grant ends the
            # stream too, not only the next request
            nonlocal refusal
            while True:
                await anyio.sleep(stream_recheck_s)
                if isinstance(again := await stream_refusal(websocket, site_id), tuple):
                    break
            refusal = again
            group.cancel_scope.cancel()

        # anyio's task group, not asyncio tasks cancelled by hand: the server cancels this handler
        # through anyio too, and a native cancel landing beside it is not recognised as its own
        try:
            async with anyio.create_task_group() as group:
                for sub in subscriptions:
                    group.start_soon(forward, sub)
                group.start_soon(until_disconnected)
                group.start_soon(until_refused)
        finally:
            for sub in subscriptions:
                pipeline.bus.unsubscribe(sub)
        if refusal is not None:
            await websocket.close(*refusal)

    return app


def _same_origin(websocket: WebSocket) -> bool:
    """No Origin (not a browser), or the Origin's host is the Host the request was sent to."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


def _cursor_text(cursor: Cursor) -> str:
    # opaque to clients (they only hand it back), exact for the float: repr round-trips
    return base64.urlsafe_b64encode(f"{cursor.t!r}:{cursor.seq}".encode()).decode().rstrip("=")


def _cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        t_text, _, seq_text = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().partition(":")
        cursor = Cursor(float(t_text), int(seq_text))
    except (binascii.Error, ValueError):
        cursor = None
    if cursor is None or not math.isfinite(cursor.t) or cursor.seq < 0:
        raise HTTPException(422, "cursor: not a cursor this service gave (X-Next-Cursor)")
    return cursor


def _window(t_from: float, t_to: float) -> None:
    if not (math.isfinite(t_from) and math.isfinite(t_to)):
        raise HTTPException(422, "from and to must be finite UNIX times")
    if not t_from <= t_to or t_to - t_from > 31 * 86400.0:
        raise HTTPException(422, "from must not be after to, and a window is at most 31 days")


def _zone_line(zone_id: str, body: ZoneBody) -> str:
    return json.dumps({"type": "zone", "id": zone_id, "level": body.level, "floor_m": body.floor_m,
                       "ceiling_m": body.ceiling_m, "polygon": [list(p) for p in body.polygon]})
