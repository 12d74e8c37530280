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
line number and what is wrong. :func:`parse_line` is pure; :class:`ScenarioReader`
adds what needs earlier lines (a detection's sensor must have been declared).
"""

from __future__ import annotations

import json
import math
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


class _Bad(Exception):
    """A value problem inside one line; becomes a FormatError with the line's place."""


def _number(obj: dict[str, Any], key: str, required: bool = True) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _Bad(f"missing required key '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"'{key}' must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise _Bad(f"'{key}' must be finite, got {value}")
    return value


def _req_number(obj: dict[str, Any], key: str) -> float:
    value = _number(obj, key)
    assert value is not None
    return value


def _text(obj: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _Bad(f"missing required key '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad(f"'{key}' must be a string, got {type(value).__name__}")
    return str(value)


def _req_text(obj: dict[str, Any], key: str) -> str:
    value = _text(obj, key)
    assert value is not None
    return value


def _choice(obj: dict[str, Any], key: str, allowed: tuple[str, ...]) -> Any:
    value = _req_text(obj, key)
    if value not in allowed:
        raise _Bad(f"'{key}' must be one of {', '.join(allowed)}, got '{value}'")
    return value


def _check_lat_lon(lat: float | None, lon: float | None, prefix: str = "") -> None:
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise _Bad(f"'{prefix}lat' must be within [-90, 90], got {lat}")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise _Bad(f"'{prefix}lon' must be within [-180, 180], got {lon}")


def _vector3(obj: dict[str, Any], key: str, required: bool) -> tuple[float, float, float] | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _Bad(f"missing required key '{key}'")
        return None
    if not isinstance(value, list) or len(value) != 3:
        raise _Bad(f"'{key}' must be a list of 3 numbers")
    items = tuple(_req_number({"v": v}, "v") for v in value)
    return (items[0], items[1], items[2])


def _parse_sensor(obj: dict[str, Any]) -> Sensor:
    sigma_raw = obj.get("sigma", {})
    if not isinstance(sigma_raw, dict):
        raise _Bad("'sigma' must be an object")
    sigma: dict[str, float] = {}
    for key in sigma_raw:
        value = _req_number(sigma_raw, key)
        if value <= 0.0:
            raise _Bad(f"'sigma.{key}' must be positive, got {value}")
        sigma[key] = value
    lat, lon = _req_number(obj, "lat"), _req_number(obj, "lon")
    _check_lat_lon(lat, lon)
    optional = {key: _number(obj, key, required=False) for key in _SENSOR_OPTIONAL_FLOATS}
    pd = optional["pd"]
    if pd is not None and not 0.0 < pd <= 1.0:
        raise _Bad(f"'pd' must be within (0, 1], got {pd}")
    period = optional["period_s"]
    if period is not None and period <= 0.0:
        raise _Bad(f"'period_s' must be positive, got {period}")
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
    range_m = floats["range_m"]
    if range_m is not None and range_m < 0.0:
        raise _Bad(f"'range_m' must not be negative, got {range_m}")
    azimuth = floats["azimuth_deg"]
    if azimuth is not None:
        floats["azimuth_deg"] = azimuth % 360.0
    elevation = floats["elevation_deg"]
    if elevation is not None and not -90.0 <= elevation <= 90.0:
        raise _Bad(f"'elevation_deg' must be within [-90, 90], got {elevation}")
    return Detection(
        t=_req_number(obj, "t"),
        sensor=_req_text(obj, "sensor"),
        uas_id=_text(obj, "uas_id", required=False),
        icao=_text(obj, "icao", required=False),
        id=_text(obj, "id", required=False),
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
        raise _Bad("missing required key 'polygon'")
    if not isinstance(ring, list) or len(ring) < 3:
        raise _Bad("'polygon' must be a list of at least 3 [lon, lat] pairs")
    points: list[tuple[float, float]] = []
    for index, pair in enumerate(ring):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Bad(f"'polygon[{index}]' must be a [lon, lat] pair")
        lon, lat = (_req_number({"v": v}, "v") for v in pair)
        try:
            _check_lat_lon(lat, lon)
        except _Bad as exc:
            raise _Bad(f"'polygon[{index}]': {exc}") from None
        points.append((lon, lat))
    floor, ceiling = _req_number(obj, "floor_m"), _req_number(obj, "ceiling_m")
    if floor >= ceiling:
        raise _Bad(f"'floor_m' ({floor}) must be below 'ceiling_m' ({ceiling})")
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
    sensors = obj.get("sensors")
    if sensors is not None and (
        not isinstance(sensors, list) or not all(isinstance(s, str) for s in sensors)
    ):
        raise _Bad("'sensors' must be a list of strings")
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
        sensors=tuple(sensors) if sensors is not None else None,
    )


def _parse_alert(obj: dict[str, Any]) -> Alert:
    reasons = obj.get("reasons")
    if reasons is None:
        raise _Bad("missing required key 'reasons'")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise _Bad("'reasons' must be a list of strings")
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
    )


def _evidence(obj: dict[str, Any]) -> dict[str, Any] | None:
    evidence = obj.get("evidence")
    if evidence is not None and not isinstance(evidence, dict):
        raise _Bad("'evidence' must be an object")
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


def parse_line(text: str, *, source: str = "<input>", line: int | None = None) -> Record | None:
    """Parse one line; ``None`` for a blank line or a ``type`` this version does not know."""
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg} at column {exc.colno}", source=source, line=line) from None
    if not isinstance(obj, dict):
        raise FormatError("not a JSON object", source=source, line=line)
    kind = obj.get("type")
    if kind is None:
        raise FormatError("missing required key 'type'", source=source, line=line)
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return None
    try:
        return parser(obj)
    except _Bad as exc:
        raise FormatError(f"{kind} line: {exc}", source=source, line=line) from None


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
        sensor = self.sensors.get(detection.sensor)
        if sensor is None:
            raise FormatError(
                f"detection line: sensor '{detection.sensor}' was not declared before it",
                source=self.source,
                line=number,
            )
        missing = [key for key in DETECTION_KEYS[sensor.kind] if getattr(detection, key) is None]
        if missing:
            raise FormatError(
                f"detection line: a {sensor.kind} detection needs {', '.join(repr(k) for k in missing)}",
                source=self.source,
                line=number,
            )


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
            "icao": record.icao, "sensors": list(record.sensors) if record.sensors is not None else None,
        })
    if isinstance(record, Alert):
        return _drop_none({
            "type": "alert", "t": record.t, "id": record.id, "track": record.track,
            "zone": record.zone, "level": record.level, "kind": record.kind,
            "state": record.state, "eta_s": record.eta_s, "reasons": list(record.reasons),
            "evidence": record.evidence,
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
