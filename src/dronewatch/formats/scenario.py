"""Scenario JSON Lines, version 1: read and write, streaming.

One JSON object per line; ``type`` says what the line is (see
``docs/scenario-format.md``, copied from the shared format notes):

=========  ==============================================================
type       required keys (optional ones in the format notes)
=========  ==============================================================
scenario   (free-form metadata)
sensor     id, kind, lat, lon, alt
detection  t, sensor, and per the sensor's kind: radar range_m,
           azimuth_deg, elevation_deg; rf azimuth_deg; acoustic
           azimuth_deg; camera azimuth_deg, elevation_deg; remoteid lat,
           lon, alt, uas_id; adsb lat, lon, alt, icao
scan       t, sensor
truth      t, id, class, lat, lon, alt
zone       id, level, floor_m, ceiling_m, polygon
track      t, id, lat, lon, alt, vel_enu
alert      t, id, track, level, kind, state, reasons
=========  ==============================================================

Unknown keys and unknown types are ignored (forward compatible). A line that is
not JSON, misses a required key or holds a value of the wrong type or range is
rejected with a :class:`~dronewatch.errors.FormatError` naming the source, the
line number and what is wrong; its :attr:`~dronewatch.errors.FormatError.reason`
starts with a short category (``not JSON``, ``detection 'range_m' out of range``, ...)
before the first colon, which is what counters count. :func:`parse_line` is pure;
:func:`check_detection` and :class:`ScenarioReader` add what needs earlier lines
(a detection's sensor must have been declared, and fixes the keys it needs).

Limits, checked before a value is used (a hostile line must cost little and never
reach a stage): a line is at most :data:`MAX_LINE_CHARS` characters and nests at most
:data:`MAX_DEPTH` arrays and objects; an integer has at most 20 digits; ``NaN`` and
``Infinity`` are not JSON; every number lies within the physical range of its key
(:data:`BOUNDS`: e.g. a range within 1,000 km, a time between 1970 and 2100, a
sigma at least 0.001 and no wider than its quantity can be); identifiers are at most 64
characters (``icao`` 16), without control characters or lone surrogates.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from dronewatch.errors import FormatError
from dronewatch.model import (
    ALERT_STATES,
    LEVELS,
    SENSOR_KINDS,
    TRUTH_CLASSES,
    Alert,
    Detection,
    Record,
    Scan,
    ScenarioInfo,
    Sensor,
    TrackReport,
    Truth,
    Zone,
)

FORMAT_VERSION = 1

OnError = Literal["skip", "raise"]

# Keys a detection must carry, by the kind of sensor that made it.
DETECTION_KEYS: dict[str, tuple[str, ...]] = {
    "radar": ("range_m", "azimuth_deg", "elevation_deg"),
    "rf": ("azimuth_deg",),
    "acoustic": ("azimuth_deg",),
    "camera": ("azimuth_deg", "elevation_deg"),
    "remoteid": ("lat", "lon", "alt", "uas_id"),
    "adsb": ("lat", "lon", "alt", "icao"),
}

_DETECTION_FLOATS = (
    "range_m", "azimuth_deg", "elevation_deg", "radial_speed_mps", "lat", "lon", "alt",
    "operator_lat", "operator_lon", "speed_mps", "track_deg", "snr_db",
)
_SENSOR_OPTIONAL_FLOATS = (
    "pd", "period_s", "clutter_per_scan", "min_range_m", "max_range_m",
    "min_elevation_deg", "max_elevation_deg", "azimuth_min_deg", "azimuth_max_deg",
)


MAX_LINE_CHARS = 65_536
"""The longest line read (a zone of 1,000 vertices takes about 40,000)."""
MAX_DEPTH = 16
"""The deepest nesting of arrays and objects (a zone's polygon is 3 deep)."""
MAX_ID_CHARS = 64
MAX_ZONE_VERTICES = 1_000
_MAX_INT_DIGITS = 20

_YEAR_2100_S = 4_102_444_800.0
_HEIGHT_M = (-1_000.0, 100_000.0)
_SPEED_MPS = 2_000.0
BOUNDS: dict[str, tuple[float, float]] = {
    "t": (0.0, _YEAR_2100_S),
    "alt": _HEIGHT_M, "floor_m": _HEIGHT_M, "ceiling_m": _HEIGHT_M,
    "range_m": (0.0, 1e6), "min_range_m": (0.0, 1e6), "max_range_m": (0.0, 1e6),
    "azimuth_deg": (-360.0, 720.0), "track_deg": (-360.0, 720.0),
    "azimuth_min_deg": (-360.0, 720.0), "azimuth_max_deg": (-360.0, 720.0),
    "elevation_deg": (-90.0, 90.0), "min_elevation_deg": (-90.0, 90.0), "max_elevation_deg": (-90.0, 90.0),
    "radial_speed_mps": (-_SPEED_MPS, _SPEED_MPS), "speed_mps": (0.0, _SPEED_MPS), "vel_enu": (-_SPEED_MPS, _SPEED_MPS),
    "snr_db": (-200.0, 200.0),
    "pd": (0.0, 1.0), "confidence": (0.0, 1.0),
    "period_s": (0.0, 3_600.0), "clutter_per_scan": (0.0, 1e6), "eta_s": (-1e6, 1e6),
}
"""Physical range of each numeric key, inclusive (``pd`` and ``period_s`` must also be above 0)."""
_SIGMA_MAX = {"deg": 180.0, "mps": _SPEED_MPS}
"""The widest one standard deviation of a sensor may be, by the unit its key ends in (metres otherwise)."""
_SIGMA_MAX_M = 100_000.0
_SIGMA_MIN = 1e-3
"""The narrowest one standard deviation, in any unit (a millimetre, a millidegree): squared, a sigma of
1e-300 is 0, and a measurement of no variance makes the tracker's innovation covariance singular."""
_TEXT_MAX = {"icao": 16, "callsign": 16, "squawk": 4, "by": 100, "comment": 2000}
BAD_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters and lone surrogates, refused in identifiers: a surrogate cannot be written as UTF-8
(SQLite, the audit hash, the bus refuse it), PostgreSQL text refuses NUL, XML (CoT) refuses C0 controls,
and an escape sequence in an id would reach operators' terminals through the logs."""


class _Bad(Exception):
    """A value problem inside one line; becomes a FormatError with the line's place.

    ``category`` (what is wrong, short and stable: it is what counters count) and ``detail``."""

    def __init__(self, category: str, detail: str = "") -> None:
        self.category = category
        self.detail = detail
        super().__init__(f"{category}: {detail}" if detail else category)


def _missing(key: str) -> _Bad:
    return _Bad(f"'{key}' missing", f"missing required key '{key}'")


def _number(obj: dict[str, Any], key: str, required: bool = True, bound: str | None = None) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"'{key}' not a number", f"got {type(value).__name__}")
    value = float(value)  # integers are at most 20 digits (the JSON hook): no overflow
    if not math.isfinite(value):
        raise _Bad(f"'{key}' not finite", f"got {value}")
    low, high = BOUNDS.get(bound or key, (-math.inf, math.inf))
    if not low <= value <= high:
        raise _Bad(f"'{key}' out of range", f"got {value:g}, allowed [{low:g}, {high:g}]")
    return value


def _req_number(obj: dict[str, Any], key: str) -> float:
    value = _number(obj, key)
    assert value is not None
    return value


def _text(obj: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad(f"'{key}' not a string", f"got {type(value).__name__}")
    text = str(value)
    longest = _TEXT_MAX.get(key, MAX_ID_CHARS)
    if len(text) > longest:
        raise _Bad(f"'{key}' too long", f"{len(text)} characters, at most {longest}")
    bad = BAD_CHARACTER.search(text)
    if bad is not None:
        raise _Bad(f"'{key}' bad character", f"U+{ord(bad.group()):04X} at position {bad.start()}: no control "
                                             "characters or lone surrogates")
    return text


def _req_text(obj: dict[str, Any], key: str) -> str:
    value = _text(obj, key)
    assert value is not None
    return value


def _choice(obj: dict[str, Any], key: str, allowed: tuple[str, ...]) -> Any:
    value = _req_text(obj, key)
    if value not in allowed:
        raise _Bad(f"'{key}' not allowed", f"must be one of {', '.join(allowed)}, got '{value[:40]}'")
    return value


def _check_lat_lon(lat: float | None, lon: float | None, prefix: str = "") -> None:
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise _Bad(f"'{prefix}lat' out of range", f"must be within [-90, 90], got {lat}")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise _Bad(f"'{prefix}lon' out of range", f"must be within [-180, 180], got {lon}")


def _vector3(obj: dict[str, Any], key: str, required: bool) -> tuple[float, float, float] | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if not isinstance(value, list) or len(value) != 3:
        raise _Bad(f"'{key}' not 3 numbers", "must be a list of 3 numbers")
    items = tuple(_req_number({key: v}, key) for v in value)
    return (items[0], items[1], items[2])


def _parse_sensor(obj: dict[str, Any]) -> Sensor:
    sigma_raw = obj.get("sigma", {})
    if not isinstance(sigma_raw, dict):
        raise _Bad("'sigma' not an object")
    if len(sigma_raw) > 16:
        raise _Bad("'sigma' too many keys", f"{len(sigma_raw)}, at most 16")
    sigma: dict[str, float] = {}
    for key in sigma_raw:
        if len(key) > MAX_ID_CHARS:
            raise _Bad("'sigma' key too long", f"{len(key)} characters, at most {MAX_ID_CHARS}")
        value = _req_number({"sigma": sigma_raw[key]}, "sigma")  # the key in no category: counters stay few
        widest = _SIGMA_MAX.get(key.rsplit("_", 1)[-1], _SIGMA_MAX_M)
        if not _SIGMA_MIN <= value <= widest:
            raise _Bad("'sigma' out of range", f"'sigma.{key}' must be within [{_SIGMA_MIN:g}, {widest:g}], "
                                               f"got {value:g}")
        sigma[key] = value
    lat, lon = _req_number(obj, "lat"), _req_number(obj, "lon")
    _check_lat_lon(lat, lon)
    optional = {key: _number(obj, key, required=False) for key in _SENSOR_OPTIONAL_FLOATS}
    for key in ("pd", "period_s"):
        if optional[key] == 0.0:
            raise _Bad(f"'{key}' out of range", "must be above 0")
    return Sensor(
        id=_req_text(obj, "id"),
        kind=_choice(obj, "kind", SENSOR_KINDS),
        lat=lat,
        lon=lon,
        alt=_req_number(obj, "alt"),
        sigma=sigma,
        **optional,
    )


def _parse_detection(obj: dict[str, Any]) -> Detection:
    floats = {key: _number(obj, key, required=False) for key in _DETECTION_FLOATS}
    _check_lat_lon(floats["lat"], floats["lon"])
    _check_lat_lon(floats["operator_lat"], floats["operator_lon"], "operator_")
    for key in ("azimuth_deg", "track_deg"):
        angle = floats[key]
        if angle is not None:
            floats[key] = angle % 360.0
    return Detection(
        t=_req_number(obj, "t"),
        sensor=_req_text(obj, "sensor"),
        uas_id=_text(obj, "uas_id", required=False),
        icao=_text(obj, "icao", required=False),
        id=_text(obj, "id", required=False),
        callsign=_text(obj, "callsign", required=False),
        squawk=_text(obj, "squawk", required=False),
        **floats,
    )


def _parse_truth(obj: dict[str, Any]) -> Truth:
    lat, lon = _req_number(obj, "lat"), _req_number(obj, "lon")
    _check_lat_lon(lat, lon)
    return Truth(
        t=_req_number(obj, "t"),
        id=_req_text(obj, "id"),
        cls=_choice(obj, "class", TRUTH_CLASSES),
        lat=lat,
        lon=lon,
        alt=_req_number(obj, "alt"),
        vel_enu=_vector3(obj, "vel_enu", required=False),
    )


def _parse_zone(obj: dict[str, Any]) -> Zone:
    ring = obj.get("polygon")
    if ring is None:
        raise _missing("polygon")
    if not isinstance(ring, list) or not 3 <= len(ring) <= MAX_ZONE_VERTICES:
        raise _Bad("'polygon' not a ring", f"must be a list of 3 to {MAX_ZONE_VERTICES} [lon, lat] pairs")
    points: list[tuple[float, float]] = []
    for index, pair in enumerate(ring):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Bad("'polygon' not a ring", f"'polygon[{index}]' must be a [lon, lat] pair")
        lon, lat = (_req_number({"polygon": v}, "polygon") for v in pair)
        try:
            _check_lat_lon(lat, lon)
        except _Bad as exc:
            raise _Bad("'polygon' out of range", f"'polygon[{index}]': {exc.detail}") from None
        points.append((lon, lat))
    floor, ceiling = _req_number(obj, "floor_m"), _req_number(obj, "ceiling_m")
    if floor >= ceiling:
        raise _Bad("'floor_m' not below 'ceiling_m'", f"floor {floor} must be below ceiling {ceiling}")
    return Zone(
        id=_req_text(obj, "id"),
        level=_choice(obj, "level", LEVELS),
        floor_m=floor,
        ceiling_m=ceiling,
        polygon=tuple(points),
    )


def _parse_track(obj: dict[str, Any]) -> TrackReport:
    lat, lon = _req_number(obj, "lat"), _req_number(obj, "lon")
    _check_lat_lon(lat, lon)
    sensors, members = _strings(obj, "sensors"), _strings(obj, "members")
    vel = _vector3(obj, "vel_enu", required=True)
    assert vel is not None
    return TrackReport(
        t=_req_number(obj, "t"),
        id=_req_text(obj, "id"),
        lat=lat,
        lon=lon,
        alt=_req_number(obj, "alt"),
        vel_enu=vel,
        cls=_text(obj, "class", required=False),
        confidence=_number(obj, "confidence", required=False),
        uas_id=_text(obj, "uas_id", required=False),
        icao=_text(obj, "icao", required=False),
        callsign=_text(obj, "callsign", required=False),
        squawk=_text(obj, "squawk", required=False),
        sensors=sensors,
        sigma_m=_number(obj, "sigma_m", required=False),
        members=members,
    )


def _strings(obj: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is not None and (not isinstance(value, list) or not all(isinstance(s, str) for s in value)):
        raise _Bad(f"'{key}' not a list of strings")
    return tuple(value) if value is not None else None


def _parse_alert(obj: dict[str, Any]) -> Alert:
    reasons = obj.get("reasons")
    if reasons is None:
        raise _missing("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise _Bad("'reasons' not a list of strings")
    return Alert(
        t=_req_number(obj, "t"),
        id=_req_text(obj, "id"),
        track=_req_text(obj, "track"),
        level=_choice(obj, "level", LEVELS),
        kind=_req_text(obj, "kind"),
        state=_choice(obj, "state", ALERT_STATES),
        reasons=tuple(reasons),
        zone=_text(obj, "zone", required=False),
        eta_s=_number(obj, "eta_s", required=False),
        evidence=_evidence(obj),
        by=_text(obj, "by", required=False),
        comment=_text(obj, "comment", required=False),
    )


def _evidence(obj: dict[str, Any]) -> dict[str, Any] | None:
    evidence = obj.get("evidence")
    if evidence is not None and not isinstance(evidence, dict):
        raise _Bad("'evidence' not an object")
    return evidence


_PARSERS: dict[str, Callable[[dict[str, Any]], Record]] = {
    "scenario": lambda obj: ScenarioInfo({k: v for k, v in obj.items() if k != "type"}),
    "sensor": _parse_sensor,
    "detection": _parse_detection,
    "scan": lambda obj: Scan(t=_req_number(obj, "t"), sensor=_req_text(obj, "sensor")),
    "truth": _parse_truth,
    "zone": _parse_zone,
    "track": _parse_track,
    "alert": _parse_alert,
}


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Bad("integer too long", f"{len(text)} digits, at most {_MAX_INT_DIGITS}")
    return int(text)


def _json_constant(text: str) -> float:
    raise _Bad("not JSON", f"{text} is not a JSON number")


_DECODER = json.JSONDecoder(parse_int=_json_int, parse_constant=_json_constant)


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings counted too: an upper bound)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_line(text: str, *, source: str = "<input>", line: int | None = None) -> Record | None:
    """Parse one line; ``None`` for a blank line or a ``type`` this version does not know."""
    if not text.strip():
        return None
    if len(text) > MAX_LINE_CHARS:
        raise FormatError(f"line too long: {len(text)} characters, at most {MAX_LINE_CHARS}", source=source,
                          line=line)
    # the parser recurses per level: a line nested thousands deep must not reach it
    if text.count("[") + text.count("{") > MAX_DEPTH and _nesting(text) > MAX_DEPTH:
        raise FormatError(f"nested too deep: over {MAX_DEPTH} levels", source=source, line=line)
    try:
        obj = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg} at column {exc.colno}", source=source, line=line) from None
    except _Bad as exc:
        raise FormatError(str(exc), source=source, line=line) from None
    if not isinstance(obj, dict):
        raise FormatError("not a JSON object", source=source, line=line)
    kind = obj.get("type")
    if kind is None:
        raise FormatError("'type' missing", source=source, line=line)
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return None
    try:
        return parser(obj)
    except _Bad as exc:
        raise FormatError(f"{kind} {exc}", source=source, line=line) from None


def check_detection(detection: Detection, sensor: Sensor | None) -> None:
    """A detection fits its sensor: declared before it, carrying the keys its kind needs (an identity not empty).

    :class:`FormatError` (without a place: the caller knows it) otherwise."""
    if sensor is None:
        raise FormatError(f"detection from an undeclared sensor: '{detection.sensor}' has no sensor line yet")
    # an empty identity is none: the tracker would file every such report under one made-up identity
    missing = [key for key in DETECTION_KEYS[sensor.kind] if getattr(detection, key) in (None, "")]
    if missing:
        raise FormatError(f"{sensor.kind} detection without {', '.join(repr(k) for k in missing)}: "
                          f"sensor '{sensor.id}' is a {sensor.kind}")


@dataclass(slots=True)
class ReadStats:
    """What a reader saw: lines, records per type, rejected lines and the first errors."""

    lines: int = 0
    records: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0
    errors: list[FormatError] = field(default_factory=list)
    max_errors_kept: int = 100

    def reject(self, error: FormatError) -> None:
        self.bad_lines += 1
        if len(self.errors) < self.max_errors_kept:
            self.errors.append(error)


class ScenarioReader:
    """Stream records from scenario JSON Lines.

    ``on_error="skip"`` counts and keeps the first errors in :attr:`stats` and goes on;
    ``on_error="raise"`` raises the first :class:`FormatError`. A detection from a
    sensor not declared before it, or without the keys its sensor kind needs, is a
    malformed line too.
    """

    def __init__(self, lines: Iterable[str], *, source: str = "<input>", on_error: OnError = "skip") -> None:
        self._lines = lines
        self.source = source
        self.on_error = on_error
        self.stats = ReadStats()
        self.sensors: dict[str, Sensor] = {}

    def __iter__(self) -> Iterator[Record]:
        stats = self.stats
        for number, text in enumerate(self._lines, start=1):
            stats.lines = number
            try:
                record = parse_line(text, source=self.source, line=number)
                if record is None:
                    continue
                if isinstance(record, Detection):
                    self._check_detection(record, number)
                elif isinstance(record, Sensor):
                    self.sensors[record.id] = record
            except FormatError as error:
                if self.on_error == "raise":
                    raise
                stats.reject(error)
                continue
            stats.records[type(record).__name__] += 1
            yield record

    def _check_detection(self, detection: Detection, number: int) -> None:
        try:
            check_detection(detection, self.sensors.get(detection.sensor))
        except FormatError as error:
            raise FormatError(error.reason, source=self.source, line=number) from None


def open_scenario(path: str | Path, *, on_error: OnError = "skip") -> ScenarioReader:
    """A reader over a file (``-`` for standard input); the file closes when iteration ends."""

    def lines() -> Iterator[str]:
        if str(path) == "-":
            yield from sys.stdin
            return
        with open(path, encoding="utf-8") as handle:
            yield from handle

    return ScenarioReader(lines(), source=str(path), on_error=on_error)


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if value is not None}


def record_to_dict(record: Record) -> dict[str, Any]:
    """The JSON object of one record, optional keys left out when unset."""
    if isinstance(record, ScenarioInfo):
        return {"type": "scenario", **record.fields}
    if isinstance(record, Sensor):
        body = {slot: getattr(record, slot) for slot in Sensor.__slots__}
        return {"type": "sensor", **_drop_none(body)}
    if isinstance(record, Detection):
        body = {slot: getattr(record, slot) for slot in Detection.__slots__}
        return {"type": "detection", **_drop_none(body)}
    if isinstance(record, Scan):
        return {"type": "scan", "t": record.t, "sensor": record.sensor}
    if isinstance(record, Truth):
        return _drop_none({
            "type": "truth", "t": record.t, "id": record.id, "class": record.cls,
            "lat": record.lat, "lon": record.lon, "alt": record.alt,
            "vel_enu": list(record.vel_enu) if record.vel_enu is not None else None,
        })
    if isinstance(record, Zone):
        return {
            "type": "zone", "id": record.id, "level": record.level, "floor_m": record.floor_m,
            "ceiling_m": record.ceiling_m, "polygon": [list(p) for p in record.polygon],
        }
    if isinstance(record, TrackReport):
        return _drop_none({
            "type": "track", "t": record.t, "id": record.id, "lat": record.lat,
            "lon": record.lon, "alt": record.alt, "vel_enu": list(record.vel_enu),
            "class": record.cls, "confidence": record.confidence, "uas_id": record.uas_id,
            "icao": record.icao, "callsign": record.callsign, "squawk": record.squawk,
            "sensors": list(record.sensors) if record.sensors is not None else None,
            "sigma_m": record.sigma_m, "members": list(record.members) if record.members is not None else None,
        })
    if isinstance(record, Alert):
        return _drop_none({
            "type": "alert", "t": record.t, "id": record.id, "track": record.track,
            "zone": record.zone, "level": record.level, "kind": record.kind,
            "state": record.state, "eta_s": record.eta_s, "reasons": list(record.reasons),
            "evidence": record.evidence, "by": record.by, "comment": record.comment,
        })
    raise TypeError(f"not a scenario record: {type(record).__name__}")


def record_to_line(record: Record) -> str:
    """One JSON line (with the newline) for a record."""
    return json.dumps(record_to_dict(record), separators=(",", ":")) + "\n"


class ScenarioWriter:
    """Write records as JSON Lines to a text stream."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.count = 0

    def write(self, record: Record) -> None:
        self._stream.write(record_to_line(record))
        self.count += 1

    def write_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.write(record)
