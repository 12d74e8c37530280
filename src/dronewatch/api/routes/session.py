"""Sessions and API tokens: log in and out, who am I, one's own password and tokens.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from dronewatch.api.models import (
    R401,
    R403_CSRF,
    R422,
    AlarmMute,
    AlarmState,
    Login,
    Me,
    NewToken,
    NewTokenOut,
    PasswordChange,
    RowId,
    Session,
    TokenRow,
    problem,
    responses,
)
from dronewatch.api.security import (
    SESSION_COOKIE,
    Principal,
    check_login,
    check_password,
    hash_password,
    new_session_id,
    new_token,
)
from dronewatch.api.service import Anyone, Service, client_address

_DAY_S = 86400.0


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    config = service.config
    repository = service.repository
    clock = service.clock
    signer = service.signer
    session_s = service.session_s
    limiter = service.limiter
    secure_cookie = service.secure_cookie
    audit = service.audit
    password_work = service.password_work

    @router.post("/api/login", tags=["session"], responses=responses(
        problem(401, "Wrong name or password"),
        problem(429, "Too many failed logins for this name and address, or too many logins at once"), R422))
    async def login(body: Login, request: Request, response: Response) -> Session:
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
        return Session(name=user["name"], role=user["role"], csrf_token=csrf)

    @router.post("/api/logout", tags=["session"], responses=responses(R401, R403_CSRF))
    async def logout(who: Anyone, request: Request, response: Response) -> dict[str, str]:
        """Ends this session in the database: its cookie is refused from now on, wherever a copy of it is."""
        if who.session is not None:
            await asyncio.to_thread(repository.end_session, who.session, now=clock(), reason="logout")
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=secure_cookie)
        await audit(who, "logout", f"user/{who.name}", request)
        return {"logged_out": who.name}

    @router.get("/api/me", tags=["session"], responses=R401)
    async def me(who: Anyone) -> Me:
        return Me(name=who.name, role=who.role, sites=list(who.sites), levels=list(who.levels),
                  alarm_muted_until=muted_until(who),
                  may_export_evidence=who.role in service.config.security.evidence_roles)

    def muted_until(who: Principal) -> float | None:
        until = service.alarm_muted_until.get(who.user_id)
        return until if until is not None and until > clock() else None

    @router.put("/api/me/alarm-mute", tags=["session"], responses=responses(R401, R403_CSRF, R422))
    async def mute_alarm(body: AlarmMute, who: Anyone, request: Request) -> AlarmState:
        """Silence this user's alarm for ``minutes`` (at most 30; it sounds again by itself after). Alerts still
        flash, count and stay on the threat board. Audited, as every change of a user's alarm is."""
        until = clock() + body.minutes * 60.0
        service.alarm_muted_until[who.user_id] = until
        await audit(who, "alarm.mute", f"user/{who.name}", request, minutes=body.minutes, until=until)
        return AlarmState(muted_until=until)

    @router.delete("/api/me/alarm-mute", tags=["session"], responses=responses(R401, R403_CSRF))
    async def unmute_alarm(who: Anyone, request: Request) -> AlarmState:
        """The alarm sounds again at once (when a critical alert is open and unacknowledged). Audited."""
        service.alarm_muted_until.pop(who.user_id, None)
        await audit(who, "alarm.unmute", f"user/{who.name}", request)
        return AlarmState(muted_until=None)

    @router.post("/api/me/password", tags=["session"], responses=responses(
        R401, problem(403, "The current password is wrong (or a session's change lacks X-CSRF-Token)"),
        problem(429, "Too many wrong passwords for this user and address"), R422))
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

    @router.post("/api/tokens", tags=["session"], responses=responses(R401, R403_CSRF, R422))
    async def create_token(body: NewToken, who: Anyone, request: Request) -> NewTokenOut:
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
        return NewTokenOut(id=token_id, token=token, expires_at=expires_at, note="shown once: store it now")

    @router.get("/api/tokens", tags=["session"], responses=R401)
    async def list_tokens(who: Anyone) -> list[TokenRow]:
        """The caller's tokens (never the tokens themselves): name, created_at, expires_at, last_used_at, revoked."""
        return [TokenRow(**row) for row in await asyncio.to_thread(repository.tokens, who.user_id)]

    @router.delete("/api/tokens/{token_id}", tags=["session"], responses=responses(
        R401, R403_CSRF, problem(404, "No such token of the caller's")))
    async def revoke_token(token_id: RowId, who: Anyone,
                           request: Request) -> dict[str, int]:
        if not await asyncio.to_thread(repository.revoke_token, who.user_id, token_id):
            raise HTTPException(404, f"no token {token_id} of yours")
        await audit(who, "token.revoke", f"user/{who.name}/token/{token_id}", request)
        return {"revoked": token_id}

    return router
