"""The API's shapes: request bodies, path and query parameters, problem responses, history paging."""

import base64
import binascii
import json
import math
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dronewatch.assessment.commands import MAX_COMMENT
from dronewatch.config import MAX_TOKEN_DAYS, ROLES
from dronewatch.formats.scenario import BAD_CHARACTER
from dronewatch.model import LEVELS
from dronewatch.storage.repository import Cursor, Page

HISTORY_LIMIT = 5000
"""Rows in a page of history when the request names no ``limit``."""
HISTORY_LIMIT_MAX = 50_000
NEXT_CURSOR_HEADER = "X-Next-Cursor"
MAX_MUTE_MINUTES = 30
"""The longest an operator may silence their alarm at once: it must come back by itself."""



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


def one_line(text: str) -> str:
    """Line breaks and tabs as spaces; other control characters have no place in a history: refused."""
    text = " ".join(text.replace("\t", " ").splitlines()).strip()
    if (bad := BAD_CHARACTER.search(text)) is not None:
        raise ValueError(f"control character U+{ord(bad.group()):04X} at position {bad.start()}")
    return text


class Comment(BaseModel):
    comment: str = Field(default="", max_length=MAX_COMMENT)

    @field_validator("comment")
    @classmethod
    def _one_line(cls, text: str) -> str:
        return one_line(text)


MAX_EVIDENCE_WINDOW_S = 86400.0
"""The longest window a package asked for over the API may cover (the command line has no limit)."""


class EvidenceRequest(BaseModel):
    """What to package: one alert (its track from half an hour before it opened), or a window of the site."""

    model_config = ConfigDict(populate_by_name=True)
    alert: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")
    t_from: float | None = Field(default=None, alias="from", description="UNIX time; with to, not with alert")
    t_to: float | None = Field(default=None, alias="to", description="UNIX time")

    def check(self) -> None:
        if (self.alert is None) == (self.t_from is None and self.t_to is None):
            raise HTTPException(422, "name an alert, or a window (from and to), not both")
        if self.alert is None:
            if self.t_from is None or self.t_to is None:
                raise HTTPException(422, "a window needs both from and to")
            window(self.t_from, self.t_to)
            if not self.t_from < self.t_to or self.t_to - self.t_from > MAX_EVIDENCE_WINDOW_S:
                raise HTTPException(422, "from must be before to, and a package over the API covers at most 24 h "
                                         "(the command line has no limit)")


class ListEntryBody(BaseModel):
    """An allow- or watch-list entry (docs/assessment.md, "Airframe lists")."""

    model_config = ConfigDict(populate_by_name=True)
    identity: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                          description="A Remote ID UAS ID or serial number, or an ICAO address (any case)")
    list_name: Literal["allow", "watch"] = Field(alias="list")
    valid_from: float = Field(description="UNIX time")
    valid_to: float = Field(description="UNIX time; after valid_from")
    note: str = Field(default="", max_length=MAX_COMMENT, description="Why: the authorisation, the intelligence")
    sites: list[str] = Field(default=[], max_length=100, description="Sites it applies to; empty: every site")

    @field_validator("note")
    @classmethod
    def _one_line(cls, text: str) -> str:
        return one_line(text)

    def check(self, sites: Iterable[str]) -> None:
        check_validity(self.valid_from, self.valid_to, self.sites, sites)


class BulletinBody(BaseModel):
    """A threat bulletin (docs/assessment.md, "Threat posture")."""

    text: str = Field(min_length=1, max_length=MAX_COMMENT, description="What is known: the threat, its target")
    source: str = Field(default="", max_length=200, description="Where it comes from")
    level: Literal["normal", "elevated", "high"]
    valid_from: float = Field(description="UNIX time")
    valid_to: float = Field(description="UNIX time; after valid_from")
    sites: list[str] = Field(default=[], max_length=100, description="Sites it concerns; empty: every site")

    @field_validator("text", "source")
    @classmethod
    def _one_line(cls, text: str) -> str:
        return one_line(text)

    def check(self, sites: Iterable[str]) -> None:
        check_validity(self.valid_from, self.valid_to, self.sites, sites)


def check_validity(valid_from: float, valid_to: float, named: Iterable[str], sites: Iterable[str]) -> None:
    """422 for a validity that is not finite or not in order, or a site this service does not run."""
    if not (math.isfinite(valid_from) and math.isfinite(valid_to) and valid_from < valid_to):
        raise HTTPException(422, "valid_from and valid_to must be finite UNIX times, valid_from first")
    known = list(sites)
    unknown = [s for s in named if s not in known]
    if unknown:
        raise HTTPException(422, f"unknown site {unknown[0]!r}: sites are {', '.join(known)}")


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
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="A stored row's number")]
"""A row number in a path: a database integer (larger ones are refused with 422, not overflowed)."""
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


# ---------------------------------------------------------------- responses
# Records go out as the scenario format writes them (docs/scenario-format.md): a field that does not apply is
# absent, not null (their routes answer with ``response_model_exclude_unset``).


class _Record(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class TrackOut(_Record):
    """A track's latest estimate."""

    type: Literal["track"] = "track"
    t: float = Field(description="UNIX time of the estimate")
    id: str
    lat: float = Field(description="WGS-84 degrees")
    lon: float = Field(description="WGS-84 degrees")
    alt: float = Field(description="Metres above the WGS-84 ellipsoid")
    vel_enu: tuple[float, float, float] = Field(description="East, north, up, m/s")
    cls: str | None = Field(default=None, alias="class", description="drone, bird, aircraft or unknown")
    confidence: float | None = Field(default=None, description="Of the class, 0 to 1")
    uas_id: str | None = Field(default=None, description="Remote ID the track carries")
    icao: str | None = Field(default=None, description="ADS-B address the track carries")
    callsign: str | None = Field(default=None, description="the aircraft's callsign, as its ADS-B broadcasts it")
    squawk: str | None = Field(default=None, description="its transponder code (7500, 7600, 7700: an emergency)")
    sensors: list[str] | None = Field(default=None, description="Sensors that supported it in the last 3 s")
    sigma_m: float | None = Field(default=None, description="How far off the position may be (RMS of its "
                                                            "standard deviations), metres")
    members: list[str] | None = Field(default=None, description="A regional track's site tracks, <site>/<track>")


class AlertOut(_Record):
    """An alert in its latest state."""

    type: Literal["alert"] = "alert"
    t: float = Field(description="UNIX time of this state")
    id: str
    track: str
    level: str = Field(description=f"One of {', '.join(LEVELS)}")
    kind: str
    state: str = Field(description="open, acknowledged or resolved")
    reasons: list[str]
    zone: str | None = None
    eta_s: float | None = Field(default=None, description="Seconds from t to the predicted breach")
    evidence: dict[str, Any] | None = Field(default=None, description="What the alert was raised on: the "
                                            "track's state, class, identities, contributing sensors")
    by: str | None = Field(default=None, description="The operator who made this change")
    comment: str | None = None


class SensorOut(_Record):
    type: Literal["sensor"] = "sensor"
    id: str
    kind: str
    lat: float
    lon: float
    alt: float
    sigma: dict[str, float] = Field(default_factory=dict)
    pd: float | None = None
    period_s: float | None = None
    clutter_per_scan: float | None = None
    min_range_m: float | None = None
    max_range_m: float | None = None
    min_elevation_deg: float | None = None
    max_elevation_deg: float | None = None
    azimuth_min_deg: float | None = None
    azimuth_max_deg: float | None = None


class ZoneOut(_Record):
    type: Literal["zone"] = "zone"
    id: str
    level: str
    floor_m: float = Field(description="Metres above the WGS-84 ellipsoid")
    ceiling_m: float = Field(description="Metres above the WGS-84 ellipsoid")
    polygon: list[tuple[float, float]] = Field(description="[lon, lat] corners (GeoJSON order)")


class AlertEvent(BaseModel):
    """One change of one alert, as the event log keeps it."""

    t: float
    alert: str
    track: str
    zone: str | None
    kind: str
    state: str = Field(description="After the change: open, acknowledged or resolved")
    level: str = Field(description="After the change")
    by: str = Field(description="Who made the change: assessment, or an operator's name")
    comment: str | None = Field(description="The operator's words with the change")
    why: str | None = Field(description="For a resolution: the reason it gave (track ended, resolved by ...)")


class DetectionOut(_Record):
    """A stored detection as the sensor gave it; which fields it has depends on the sensor's kind."""

    model_config = ConfigDict(extra="allow")
    type: Literal["detection"] = "detection"
    t: float
    sensor: str


class OperatorPosition(BaseModel):
    t: float
    uas_id: str
    lat: float
    lon: float


class Health(BaseModel):
    status: Literal["ok"]
    sites: list[str] = Field(description="The sites (and regions) the caller may see")


class SiteRef(BaseModel):
    id: str


class Session(BaseModel):
    name: str
    role: str
    csrf_token: str = Field(description="Send it in X-CSRF-Token with every state change of this session")


class Grants(BaseModel):
    """A user's role and grants: the sites and alert levels a partner may see (other roles see all)."""

    name: str
    role: str
    sites: list[str]
    levels: list[str]


class Me(Grants):
    alarm_muted_until: float | None = Field(description="Until when this user's alarm is silenced (UNIX time)")
    may_export_evidence: bool = Field(description="Whether this user's role may export evidence packages")


class AlarmMute(BaseModel):
    minutes: int = Field(default=5, ge=1, le=MAX_MUTE_MINUTES)


class AlarmState(BaseModel):
    muted_until: float | None = Field(description="UNIX time; null: the alarm sounds")


class User(Grants):
    id: int


class UserRow(User):
    disabled: bool
    created_at: float


class NewTokenOut(BaseModel):
    id: int
    token: str = Field(description="Shown this once")
    expires_at: float
    note: str


class TokenRow(BaseModel):
    id: int
    name: str
    created_at: float
    expires_at: float
    last_used_at: float | None
    revoked: bool
