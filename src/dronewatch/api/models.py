"""The API's shapes: request bodies, path and query parameters, problem responses, history paging."""

import base64
import binascii
import json
import math
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from dronewatch.assessment.commands import MAX_COMMENT
from dronewatch.config import MAX_TOKEN_DAYS, ROLES
from dronewatch.formats.scenario import BAD_CHARACTER
from dronewatch.model import LEVELS
from dronewatch.storage.repository import Cursor, Page

HISTORY_LIMIT = 5000
"""Rows in a page of history when the request names no ``limit``."""
HISTORY_LIMIT_MAX = 50_000
NEXT_CURSOR_HEADER = "X-Next-Cursor"



class Problem(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="What is wrong: a sentence, or (request validation) a list of the fields that are not valid")


def problem(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Problem, "description": description}}


R401 = problem(401, "No credentials, or ones that are not (or no longer) valid")
R403_CSRF = problem(403, "A session's state change without its X-CSRF-Token header")
R403_ROLE = problem(403, "The role may not do this (or a session's state change lacks X-CSRF-Token)")
R404_SITE = problem(404, "No such site, or a site not granted to this partner")
R422 = problem(422, "The request is not valid: the detail names the field or value")
R409 = problem(409, "The change conflicts with the present state")


def responses(*parts: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged: dict[int | str, dict[str, Any]] = {}
    for part in parts:
        merged.update(part)
    return merged


PAGED: dict[int | str, dict[str, Any]] = {200: {"description": "One page of rows in (t, seq) order", "headers": {
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


def paged(page: Page[Any], request: Request, response: Response) -> str | None:
    """The next page's cursor into the response's headers; the cursor (None on the last page)."""
    if page.next is None:
        return None
    cursor = cursor_text(page.next)
    following = request.url.include_query_params(cursor=cursor)
    response.headers[NEXT_CURSOR_HEADER] = cursor
    response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return cursor


def cursor_text(cursor: Cursor) -> str:
    # opaque to clients (they only hand it back), exact for the float: repr round-trips
    return base64.urlsafe_b64encode(f"{cursor.t!r}:{cursor.seq}".encode()).decode().rstrip("=")


def cursor_of(text: str | None) -> Cursor | None:
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


def window(t_from: float, t_to: float) -> None:
    if not (math.isfinite(t_from) and math.isfinite(t_to)):
        raise HTTPException(422, "from and to must be finite UNIX times")
    if not t_from <= t_to or t_to - t_from > 31 * 86400.0:
        raise HTTPException(422, "from must not be after to, and a window is at most 31 days")


def zone_line(zone_id: str, body: ZoneBody) -> str:
    return json.dumps({"type": "zone", "id": zone_id, "level": body.level, "floor_m": body.floor_m,
                       "ceiling_m": body.ceiling_m, "polygon": [list(p) for p in body.polygon]})
