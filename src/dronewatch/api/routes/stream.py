"""The live stream of a site over a WebSocket.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from dronewatch.api.security import SESSION_COOKIE, Principal
from dronewatch.api.service import Service
from dronewatch.formats.scenario import record_to_dict

TRACK_LINE = b'{"type":"track",'
"""How every track line of a picture begins (``record_to_line``): what else is on the subject is not passed on."""

# WebSocket close codes (the 4000-4999 range is the application's): the HTTP status they stand for
WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
WS_NOT_FOUND = 4404


def _same_origin(websocket: WebSocket) -> bool:
    """No Origin (not a browser), or the Origin's host is the Host the request was sent to."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    config = service.config
    pipelines = service.pipelines
    regions = service.regions
    stream_recheck_s = service.stream_recheck_s
    audit = service.audit
    shared = service.shared
    redacted = service.redacted
    authenticate = service.authenticate

    async def stream_refusal(websocket: WebSocket, site_id: str) -> tuple[int, str] | Principal:
        """Who may have the stream, or the close code and reason that say why not."""
        who = await asyncio.to_thread(authenticate, websocket.headers.get("authorization"),
                                      websocket.cookies.get(SESSION_COOKIE))
        if who is None:
            return WS_UNAUTHORIZED, "credentials required: no valid token or session (signed out?)"
        if who.csrf is not None and not _same_origin(websocket):
            # a session cookie goes with any page's WebSocket: only this service's own page may use it
            return WS_FORBIDDEN, "a session's stream must be opened by this service's own page (Origin)"
        if who.role == "sensor":
            return WS_FORBIDDEN, "a sensor account may only send sensor data"
        if site_id not in pipelines or not who.may_see_site(site_id, regions):
            return WS_NOT_FOUND, f"no site {site_id!r}"
        return who

    @router.websocket("/api/sites/{site_id}/stream")
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
                        batch.append(redacted(item, who))
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

    return router
