"""Users and their grants (admins only).

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from dronewatch.api.models import (
    R401,
    R403_ROLE,
    R409,
    R422,
    Grants,
    NewUser,
    PasswordReset,
    User,
    UserName,
    UserRow,
    UserUpdate,
    problem,
    responses,
)
from dronewatch.api.security import hash_password
from dronewatch.api.service import Admin, Service


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    repository = service.repository
    clock = service.clock
    audit = service.audit
    check_grant = service.check_grant
    password_work = service.password_work

    R404_USER = problem(404, "No such user")

    @router.get("/api/users", tags=["admin"], responses=responses(R401, R403_ROLE))
    async def list_users(who: Admin) -> list[UserRow]:
        return [UserRow(**row) for row in await asyncio.to_thread(repository.users)]

    @router.post("/api/users", tags=["admin"], responses=responses(R401, R403_ROLE, R409, R422))
    async def create_user(body: NewUser, who: Admin, request: Request) -> User:
        await check_grant(body.role, body.sites, body.levels)
        if await asyncio.to_thread(repository.user, name=body.name) is not None:
            raise HTTPException(409, f"user {body.name!r} exists")
        password_hash = await password_work(hash_password, body.password)
        sites, levels = list(dict.fromkeys(body.sites)), list(dict.fromkeys(body.levels))
        user_id = await asyncio.to_thread(repository.add_user, body.name, password_hash, body.role, now=clock(),
                                          sites=sites, levels=levels)
        await audit(who, "user.create", f"user/{body.name}", request, role=body.role, sites=sites, levels=levels)
        return User(id=user_id, name=body.name, role=body.role, sites=sites, levels=levels)

    @router.patch("/api/users/{name}", tags=["admin"], responses=responses(R401, R403_ROLE, R404_USER, R409, R422))
    async def update_user(name: UserName, body: UserUpdate, who: Admin, request: Request) -> Grants:
        """A user's role and grants (sites and alert levels, which restrict a partner); what is left out stays."""
        if name == who.name and body.role not in (None, "admin"):
            raise HTTPException(409, "you may not take away your own admin role")
        await check_grant(body.role, body.sites, body.levels)
        sites = list(dict.fromkeys(body.sites)) if body.sites is not None else None
        levels = list(dict.fromkeys(body.levels)) if body.levels is not None else None
        before = await asyncio.to_thread(repository.update_user, name, role=body.role, sites=sites, levels=levels)
        if before is None:
            raise HTTPException(404, f"no user {name!r}")
        was = Grants(name=name, role=before["role"], sites=list(before["sites"]), levels=list(before["levels"]))
        after = Grants(name=name, role=body.role or was.role, sites=was.sites if sites is None else sites,
                       levels=was.levels if levels is None else levels)
        await audit(who, "user.update", f"user/{name}", request, before=was.model_dump(exclude={"name"}),
                    after=after.model_dump(exclude={"name"}))
        return after

    @router.post("/api/users/{name}/disable", tags=["admin"], responses=responses(R401, R403_ROLE, R404_USER, R409))
    async def disable_user(name: UserName, who: Admin, request: Request) -> dict[str, str]:
        """The user can no longer sign in; its sessions end and its tokens are refused (until enabled)."""
        if name == who.name:
            raise HTTPException(409, "you may not disable yourself")
        if not await asyncio.to_thread(repository.set_user_disabled, name, True, now=clock()):
            raise HTTPException(404, f"no user {name!r}")
        await audit(who, "user.disable", f"user/{name}", request)
        return {"disabled": name}

    @router.post("/api/users/{name}/enable", tags=["admin"], responses=responses(R401, R403_ROLE, R404_USER))
    async def enable_user(name: UserName, who: Admin, request: Request) -> dict[str, str]:
        """The user may sign in again, and its unexpired, unrevoked tokens work again."""
        if not await asyncio.to_thread(repository.set_user_disabled, name, False, now=clock()):
            raise HTTPException(404, f"no user {name!r}")
        await audit(who, "user.enable", f"user/{name}", request)
        return {"enabled": name}

    @router.post("/api/users/{name}/password", tags=["admin"], responses=responses(
        R401, R403_ROLE, R404_USER, problem(409, "An admin changes its own password at /api/me/password"), R422))
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

    return router
