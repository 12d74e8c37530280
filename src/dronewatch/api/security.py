"""Who is asking: API tokens (hashed at rest), browser sessions (database row + signed cookie + CSRF), roles.

- Passwords: argon2id. A login for an unknown or disabled user is checked against a dummy hash
  of the same cost, so that the answer takes as long as for a wrong password (user names are not
  discoverable by timing).
- API tokens: 32 random bytes shown once; only their SHA-256 is stored; each has an expiry.
- Sessions: a random id whose SHA-256 is a row of the ``sessions`` table (with its expiry, and
  when and why it ended: logout, password change, disabled user). The cookie (``HttpOnly``,
  ``SameSite=Strict``, ``Secure`` unless the service runs on loopback for a demo) carries the id
  and a CSRF token, HMAC-signed; a state-changing request with a session cookie must repeat that
  token in ``X-CSRF-Token``. The signature only spares the database forged cookies: what makes a
  session valid is its row.
- The signing key is generated on first start into the data directory: no default secrets.
- Logins are rate-limited per user name and address. docs/security.md has the whole picture.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dronewatch.config import ROLES
from dronewatch.errors import DronewatchError

SESSION_COOKIE = "dw_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    name: str
    role: str
    sites: tuple[str, ...]
    """Sites a partner may see; empty for other roles (all sites)."""
    levels: tuple[str, ...]
    """Alert levels a partner may see."""
    csrf: str | None = None
    """Set when authenticated by session cookie: state changes must echo it."""
    session: str | None = None
    """The session's id hash when authenticated by session cookie."""

    def may_see_site(self, site_id: str, regions: Mapping[str, frozenset[str]] | None = None) -> bool:
        """A site granted; a region (``regions``: its sites by region id) when one of its sites is. (A sensor
        account's grant is the sites it may send data to.)"""
        if self.role not in ("partner", "sensor"):
            return True
        return site_id in self.sites or bool(regions and set(regions.get(site_id, ())) & set(self.sites))

    def regional_share(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """A regional track or alert (a JSON object) as far as this principal may see it: a partner sees a
        track that one of its granted sites contributed to, naming only those sites' tracks and sensors, and
        an alert on a granted site's zone (or, without a zone, on such a track). None: nothing of it."""
        if self.role != "partner":
            return item
        def granted(identity: str) -> bool:
            return identity.split("/", 1)[0] in self.sites
        evidence = item.get("evidence") or {}
        sensors = item["sensors"] if item.get("type") == "track" else evidence.get("sensors")
        shared = [s for s in sensors or () if granted(s)]
        if item.get("type") == "track":
            members = [m for m in item.get("members") or () if granted(m)]
            return {**item, "members": members, "sensors": shared} if members else None
        zone = item.get("zone")
        if not (granted(str(zone)) if zone is not None else shared):
            return None
        return {**item, "evidence": {**evidence, "sensors": shared}} if evidence else item

    def may_see_level(self, level: str) -> bool:
        return self.role != "partner" or level in self.levels

    @classmethod
    def of(cls, user: dict[str, Any], csrf: str | None = None, session: str | None = None) -> Principal:
        return cls(user["id"], user["name"], user["role"], tuple(user["sites"]), tuple(user["levels"]), csrf,
                   session)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


T = TypeVar("T")


class PasswordWork:
    """Password hashes and checks (argon2: about 0.1 s of CPU each, over several threads) one at a time, on a
    thread of their own at a lower CPU priority, at most ``max_waiting`` queued: a burst of logins waits its
    turn or is refused (:class:`PasswordsBusy`), and never takes the cores the pipeline's loop needs. The
    hashing threads argon2 starts inherit the lower priority."""

    def __init__(self, max_waiting: int = 16, nice: int = 10) -> None:
        self.max_waiting = max_waiting
        self._waiting = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passwords",
                                            initializer=_lower_priority, initargs=(nice,))

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        if self._waiting >= self.max_waiting:
            raise PasswordsBusy(f"{self._waiting} password checks are waiting already")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self._waiting -= 1


class PasswordsBusy(DronewatchError):
    """Too many password checks are waiting: try again in a moment."""


def _lower_priority(nice: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not on every platform; then at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


@functools.cache
def dummy_hash() -> str:
    """A hash of a password nobody knows, made by this process's hasher (so of the same cost as the
    users' hashes): what an unknown or disabled user's login is checked against."""
    return _hasher.hash(secrets.token_urlsafe(24))


def check_login(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` fits ``password_hash``; with None (no such user, or a disabled one) the
    same work is done against :func:`dummy_hash` and the answer is False. Seconds of CPU: run it off
    the event loop."""
    if password_hash is None:
        check_password(dummy_hash(), password)
        return False
    return check_password(password_hash, password)


def new_token() -> tuple[str, str]:
    """(token to hand out once, its hash to store)."""
    token = "dw_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(18)


def new_session_id() -> tuple[str, str]:
    """(session id for the cookie, its hash to store)."""
    session_id = secrets.token_urlsafe(32)
    return session_id, token_hash(session_id)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")


class SessionSigner:
    """Signs and checks session cookies with a key kept in the data directory.

    The cookie holds the session id and the CSRF token; whether the session is still valid
    (not ended, not expired) is the database's answer, not the cookie's."""

    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir) / "session.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        self._key = path.read_bytes()

    def issue(self, session_id: str) -> tuple[str, str]:
        """(cookie value, CSRF token)."""
        csrf = secrets.token_urlsafe(24)
        body = base64.urlsafe_b64encode(json.dumps({"s": session_id, "csrf": csrf}).encode()).decode()
        return f"{body}.{self._sign(body)}", csrf

    def check(self, cookie: str) -> tuple[str, str] | None:
        """(session id, CSRF token) of a cookie this service signed."""
        body, _, signature = cookie.rpartition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str) or not isinstance(data.get("csrf"), str):
            return None  # e.g. a cookie of the signed-cookie sessions before sessions were kept in the database
        return data["s"], data["csrf"]

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()


class LoginLimiter:
    """At most ``per_minute`` failed logins per (name, address) in any minute."""

    _MAX_KEYS = 10_000
    """Past this many (name, address) pairs, the stale ones are dropped: a stream of made-up names
    must not grow the table without bound."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def allowed(self, name: str, address: str) -> bool:
        window = self._failures.get((name, address))
        if window is None:
            return True
        while window and window[0] < time.monotonic() - 60.0:
            window.popleft()
        return len(window) < self.per_minute

    def failed(self, name: str, address: str) -> None:
        if len(self._failures) >= self._MAX_KEYS:
            cutoff = time.monotonic() - 60.0
            for key in [k for k, w in self._failures.items() if not w or w[-1] < cutoff]:
                del self._failures[key]
        self._failures[(name, address)].append(time.monotonic())


SENSOR_PATHS = re.compile(r"/api/(me|logout|me/password|tokens(/\d+)?|sites/[^/]+/remoteid/dronescout)")
"""What a ``sensor`` account may call: its own session and tokens, and the sensor uploads."""


class RequireCredentials:
    """ASGI middleware: a request to ``/api/`` (but the login) is answered 401 unless ``resolve``
    finds who is asking, and 403 if it is a session's state change without the CSRF token.

    It runs before routing, so before FastAPI reads and validates a body: an anonymous caller
    learns nothing from validation errors (422) about what a route expects, nor (404, 405) which
    routes exist. The principal is left in ``request.state.principal`` for the routes."""

    def __init__(self, app: ASGIApp, resolve: Callable[[Request], Awaitable[Principal | None]],
                 open_routes: frozenset[tuple[str, str]] = frozenset({("POST", "/api/login")})) -> None:
        self.app = app
        self.resolve = resolve
        self.open_routes = open_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or \
                (scope["method"], scope["path"]) in self.open_routes:
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # without ``receive``: the body stays unread
        found = await self.resolve(request)
        if found is None:
            refusal = JSONResponse({"detail": "credentials required"}, 401, headers={"WWW-Authenticate": "Bearer"})
            await refusal(scope, receive, send)
            return
        if scope["method"] in UNSAFE_METHODS and found.csrf is not None and \
                not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), found.csrf.encode()):
            await JSONResponse({"detail": f"missing or wrong {CSRF_HEADER} header"}, 403)(scope, receive, send)
            return
        if found.role == "sensor" and not SENSOR_PATHS.fullmatch(scope["path"]):
            # deny by default: a sensor's token, kept on a box in the field, reads nothing of the picture
            await JSONResponse({"detail": "a sensor account may only send sensor data and manage its tokens"},
                               403)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = found
        await self.app(scope, receive, send)
