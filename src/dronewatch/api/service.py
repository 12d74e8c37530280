"""What every route shares: who is asking (the dependencies ``Anyone``, ``Staff``, ``Operator``, ``Admin``),
and the service they ask (:class:`Service`: storage, the sites' pipelines, audit, commands, grants).

(No ``from __future__ import annotations`` here: FastAPI reads the dependency annotations.)
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, WebSocket
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from dronewatch.api.commands import CommandSender
from dronewatch.api.models import cursor_of, paged, window
from dronewatch.api.security import (
    SESSION_COOKIE,
    LoginLimiter,
    PasswordsBusy,
    PasswordWork,
    Principal,
    SessionSigner,
    dummy_hash,
    token_hash,
)
from dronewatch.assessment.commands import Command, CommandResult
from dronewatch.config import ROLES, Config
from dronewatch.errors import TransportError
from dronewatch.evidence import site_key
from dronewatch.formats.scenario import record_to_dict
from dronewatch.model import LEVELS, Alert
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository
from dronewatch.storage.repository import Page
from dronewatch.web.tiles import TileArchive

_bearer = HTTPBearer(auto_error=False, scheme_name="token",
                     description="An API token from POST /api/tokens: ``Authorization: Bearer dw_...``")
_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                               description="The cookie POST /api/login sets; state changes also need the "
                                           "X-CSRF-Token header with the login's csrf_token")


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


RELOAD_WAIT_S = 5.0
"""How long a change of the lists or bulletins waits for the sites' assessments to confirm it."""


class Service:
    """The service behind the routes. ``stream_recheck_s``: how often an open WebSocket checks that its
    credentials still hold (a logout, a disabled user, a revoked token close it)."""

    def __init__(self, config: Config, repository: Repository, pipelines: Mapping[str, Pipeline],
                 clock: Callable[[], float] = time.time, stream_recheck_s: float = 30.0) -> None:
        self.config = config
        self.repository = repository
        self.pipelines = pipelines
        self.clock = clock
        self.stream_recheck_s = stream_recheck_s
        self.archive = TileArchive(config.map.tile_archive) if config.map.tile_archive else None
        self.signer = SessionSigner(config.service.data_dir)
        self.session_s = config.security.session_hours * 3600.0
        self.limiter = LoginLimiter(config.security.login_attempts_per_minute)
        self.passwords = PasswordWork()
        self.regions = {r.id: frozenset(r.sites) for r in config.regions}
        self.secure_cookie = config.service.host not in ("127.0.0.1", "localhost", "::1")
        self._senders: dict[str, CommandSender] = {}
        self.alarm_muted_until: dict[int, float] = {}
        """By user id: until when the user silenced their alarm (kept in memory: a restart ends every mute)."""
        self.evidence_key = site_key(config.evidence_key_path)  # made at first start: its public key can be handed out
        dummy_hash()  # made now, not at the first unknown user's login, which would then take twice as long

    def shared(self, items: Iterable[dict[str, Any]], site_id: str, who: Principal) -> list[dict[str, Any]]:
        """Of a region's tracks and alerts, what ``who`` may see (:meth:`Principal.regional_share`)."""
        if site_id not in self.regions:
            return list(items)
        return [part for item in items if (part := who.regional_share(item)) is not None]

    async def password_work(self, work: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self.passwords.run(work, *args)
        except PasswordsBusy as error:
            raise HTTPException(429, f"too many logins at once ({error}); try again in a second",
                                headers={"Retry-After": "1"}) from None

    async def history(self, who: Principal, site_id: str, action: str, read: Callable[..., Page[Any]],
                      t_from: float, t_to: float, cursor: str | None, limit: int, request: Request,
                      response: Response, **detail: Any) -> list[Any]:
        """One page of a site's stored history: ``read`` (a repository's ``..._page``) over the window (at most
        31 days), the next page's cursor in the response's headers, the read audited as ``action`` with
        ``detail``. The caller has checked that ``who`` may see the site."""
        window(t_from, t_to)
        page = await asyncio.to_thread(read, site_id, t_from, t_to, after=cursor_of(cursor), limit=limit)
        following = paged(page, request, response)
        await self.audit(who, action, f"site/{site_id}", request, t_from=t_from, t_to=t_to, **detail,
                         rows=len(page.rows), cursor=cursor, next=following)
        return page.rows

    async def audit(self, who: Principal | str, action: str, target: str, request: Request | WebSocket,
                    **detail: Any) -> None:
        actor = who.name if isinstance(who, Principal) else who
        source = request.client.host if request.client else "unknown"
        await asyncio.to_thread(self.repository.audit, actor, action, target, at=self.clock(), source=source,
                                detail=detail)

    def authenticate(self, authorization: str | None, cookie: str | None) -> Principal | None:
        """Who a token or a session cookie belongs to (None: nobody, or a disabled user). Blocking: the
        database is asked; call it off the event loop."""
        now = self.clock()
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            user = self.repository.user_by_token(token_hash(credentials.strip()), now=now)
            return Principal.of(user) if user and not user["disabled"] else None
        if cookie:
            checked = self.signer.check(cookie)
            if checked is not None:
                digest = token_hash(checked[0])
                user = self.repository.user_by_session(digest, now=now)
                if user and not user["disabled"]:
                    return Principal.of(user, csrf=checked[1], session=digest)
        return None

    async def resolve_principal(self, request: Request) -> Principal | None:
        return await asyncio.to_thread(self.authenticate, request.headers.get("authorization"),
                                       request.cookies.get(SESSION_COOKIE))

    def site(self, site_id: str, who: Principal) -> Pipeline:
        """The site's (or region's) pipeline; 404 for one that is not, or not granted."""
        pipeline = self.pipelines.get(site_id)
        if pipeline is None or not who.may_see_site(site_id, self.regions):
            raise HTTPException(404, f"no site {site_id!r}")
        return pipeline

    async def command(self, pipeline: Pipeline, sent: Command) -> CommandResult:
        """A command to the site's assessment, and its result; 503 when none comes in time."""
        sender = self._senders.setdefault(pipeline.site_id, CommandSender(pipeline.bus, pipeline.site_id))
        try:
            return await sender.send(sent)
        except TransportError as error:
            raise HTTPException(503, str(error)) from None

    async def reload(self, who: Principal, target: str, sites: Sequence[str]) -> list[str]:
        """Each site's assessment (``sites``; none: all) reads ``target`` from storage again (a ``reload``
        command); the sites whose assessment did not confirm within ``RELOAD_WAIT_S``. The change is stored
        all the same: they read it when the command reaches them, or at their next start."""
        chosen = [p for s, p in self.pipelines.items() if s not in self.regions and (not sites or s in sites)]
        results = await asyncio.gather(
            *(self._senders.setdefault(p.site_id, CommandSender(p.bus, p.site_id)).send(
                Command.new("reload", target, who.name, self.clock()), RELOAD_WAIT_S) for p in chosen),
            return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, TransportError | TimeoutError):
                raise result
        return [p.site_id for p, r in zip(chosen, results, strict=True) if isinstance(r, BaseException)]

    def redacted(self, alert: dict[str, Any], who: Principal) -> dict[str, Any]:
        """An alert's JSON without the operator's position for the roles that may not see it."""
        if who.role not in self.config.security.operator_location_roles and alert.get("evidence"):
            alert = {**alert, "evidence": {k: v for k, v in alert["evidence"].items() if not k.startswith("operator")}}
        return alert

    def alert_json(self, alert: Alert, who: Principal) -> dict[str, Any]:
        return self.redacted(record_to_dict(alert), who)

    async def check_grant(self, role: str | None, sites: list[str] | None, levels: list[str] | None) -> None:
        """422 naming the first role, site or level this service does not know."""
        if role is not None and role not in ROLES:
            raise HTTPException(422, f"unknown role {role!r}: roles are {', '.join(ROLES)}")
        if levels is not None:
            for level in levels:
                if level not in LEVELS:
                    raise HTTPException(422, f"unknown level {level!r}: levels are {', '.join(LEVELS)}")
        if sites:
            known = set(self.pipelines) | set(await asyncio.to_thread(self.repository.site_ids))
            for site_id in sites:
                if site_id not in known:
                    raise HTTPException(422, f"unknown site {site_id!r}: sites are {', '.join(sorted(known))}")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
