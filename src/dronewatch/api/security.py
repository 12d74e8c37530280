"""Who is asking: API tokens (hashed at rest), browser sessions (signed cookie + CSRF), roles.

- Passwords: argon2id. API tokens: 32 random bytes shown once; only their SHA-256 is stored.
- Sessions: an HMAC-signed cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` unless the
  service runs on loopback for a demo) holding the user id, expiry and a CSRF token; a
  state-changing request with a session cookie must repeat that token in ``X-CSRF-Token``.
- The signing key is generated on first start into the data directory: no default secrets.
- Logins are rate-limited per user name and address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dronewatch.config import ROLES

SESSION_COOKIE = "dw_session"
CSRF_HEADER = "X-CSRF-Token"
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

    def may_see_site(self, site_id: str) -> bool:
        return self.role != "partner" or site_id in self.sites

    def may_see_level(self, level: str) -> bool:
        return self.role != "partner" or level in self.levels

    @classmethod
    def of(cls, user: dict[str, Any], csrf: str | None = None) -> Principal:
        return cls(user["id"], user["name"], user["role"], tuple(user["sites"]), tuple(user["levels"]), csrf)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> tuple[str, str]:
    """(token to hand out once, its hash to store)."""
    token = "dw_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(18)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")


class SessionSigner:
    """Signs and checks session cookies with a key kept in the data directory."""

    def __init__(self, data_dir: str | Path, lifetime_s: float) -> None:
        path = Path(data_dir) / "session.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        self._key = path.read_bytes()
        self.lifetime_s = lifetime_s

    def issue(self, user_id: int) -> tuple[str, str]:
        """(cookie value, CSRF token)."""
        csrf = secrets.token_urlsafe(24)
        body = base64.urlsafe_b64encode(json.dumps(
            {"u": user_id, "exp": time.time() + self.lifetime_s, "csrf": csrf}).encode()).decode()
        return f"{body}.{self._sign(body)}", csrf

    def check(self, cookie: str) -> tuple[int, str] | None:
        """(user id, CSRF token) of a valid, unexpired cookie."""
        body, _, signature = cookie.rpartition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return int(data["u"]), str(data["csrf"])

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()


class LoginLimiter:
    """At most ``per_minute`` failed logins per (name, address) in any minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def allowed(self, name: str, address: str) -> bool:
        window = self._failures[(name, address)]
        while window and window[0] < time.monotonic() - 60.0:
            window.popleft()
        return len(window) < self.per_minute

    def failed(self, name: str, address: str) -> None:
        self._failures[(name, address)].append(time.monotonic())
