"""BlueMark DroneScout Remote ID sensor uploads: JSON receptions carrying opendroneid's decoded UAS data.

An upload is ``{"protocol": 1.0, "data": {"sensor ID", "RSSI", "channel", "timestamp" (UNIX ms),
"MAC address", "type" (transport), "UASdata"}}``; a file holds a JSON array of them or one a line.
``UASdata`` is base64 of opendroneid-core-c's ``ODID_UAS_Data`` C struct as the sensor's firmware
lays it out (little-endian, natural alignment, 2 Basic IDs, 16 authentication pages, the F3411-22
System timestamp; 921 bytes), not of the broadcast messages. Its fields (offsets below) are made
into messages and then put through this package's own encoder and decoder, so that they meet the
same ranges, quantisation and refusals as a message heard over the air. Authentication pages are
not taken (a signature says nothing of where the drone is).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from dronewatch.errors import DecodeError, EncodeError, FormatError
from dronewatch.formats.remoteid.enums import (
    ClassificationType,
    EuCategory,
    EuClass,
    HeightType,
    HorizontalAccuracy,
    IdType,
    OperationalStatus,
    OperatorLocationType,
    SpeedAccuracy,
    UaType,
    VerticalAccuracy,
)
from dronewatch.formats.remoteid.messages import BasicId, Location, Message, OperatorId, SelfId, System, decode, encode

UAS_DATA_SIZE = 914
"""Bytes of the struct up to its last validity flag (the firmware's struct is 921 with padding)."""
_BASIC_ID = struct.Struct("<ii21s")  # UAType, IDType, UASID; 32 bytes each with padding
_BASIC_IDS = (0, 32)
_LOCATION = struct.Struct("<ifffddffifiiiiif")  # at 64: status ... timestamp (72 bytes)
_LOCATION_AT = 64
_SELF_ID = struct.Struct("<i24s")
_SELF_ID_AT = 776
_SYSTEM = struct.Struct("<iiddHHffiifI")  # at 808: ... OperatorAltitudeGeo, Timestamp (since 2019)
_SYSTEM_AT = 808
_OPERATOR_ID = struct.Struct("<i21s")
_OPERATOR_ID_AT = 864
_VALID_AT = 892  # BasicIDValid[2], LocationValid, AuthValid[16], SelfIDValid, SystemValid, OperatorIDValid
_EPOCH_2019 = 1_546_300_800.0
_UNKNOWN_ALTITUDE = -1000.0
E = TypeVar("E", bound=IntEnum)


@dataclass(frozen=True, slots=True)
class Reception:
    """One upload: which sensor heard which transmitter (its MAC address), when, how, and what it said."""

    sensor: str
    t: float
    sender: str
    transport: str
    rssi: float | None
    messages: tuple[Message, ...]


def _enum(kind: type[E], value: int) -> E | None:
    try:
        return kind(value)
    except ValueError:
        return None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def _known(value: float, unknown: float) -> float | None:
    return None if value == unknown else float(value)


def _finite(what: str, values: tuple[Any, ...]) -> None:
    if not all(math.isfinite(v) for v in values if isinstance(v, float)):
        raise DecodeError(f"UAS data: {what} holds a value that is not a finite number")


def uas_data_messages(raw: bytes) -> tuple[Message, ...]:
    """The messages an ``ODID_UAS_Data`` struct holds valid, each through the wire encoder and decoder."""
    if len(raw) < UAS_DATA_SIZE:
        raise DecodeError(f"UAS data: {len(raw)} bytes, an opendroneid UAS data struct is at least {UAS_DATA_SIZE}",
                          offset=len(raw))
    valid = raw[_VALID_AT:_VALID_AT + 22]
    messages: list[Message] = []
    for k, at in enumerate(_BASIC_IDS):
        if valid[k]:
            ua_type, id_type, uas_id = _BASIC_ID.unpack_from(raw, at)
            kind = _enum(IdType, id_type)
            textual = kind in (IdType.SERIAL_NUMBER, IdType.CAA_REGISTRATION_ID)  # the others are 20 bytes
            messages.append(BasicId(id_type=kind, ua_type=_enum(UaType, ua_type),
                                    uas_id=_text(uas_id) if textual else uas_id[:20]))
    if valid[2]:
        _finite("Location", _LOCATION.unpack_from(raw, _LOCATION_AT))
        (status, direction, speed, climb, lat, lon, baro, geo, height_type, height, horizontal, vertical, baro_acc,
         speed_acc, time_acc, stamp) = _LOCATION.unpack_from(raw, _LOCATION_AT)
        placed = not (lat == 0.0 and lon == 0.0)
        messages.append(Location(
            status=_enum(OperationalStatus, status), height_type=_enum(HeightType, height_type),
            direction_deg=_known(direction, 361.0), speed_mps=_known(speed, 255.0),
            vertical_speed_mps=_known(climb, 63.0), lat=lat if placed else None, lon=lon if placed else None,
            pressure_altitude_m=_known(baro, _UNKNOWN_ALTITUDE), geodetic_altitude_m=_known(geo, _UNKNOWN_ALTITUDE),
            height_m=_known(height, _UNKNOWN_ALTITUDE), horizontal_accuracy=_enum(HorizontalAccuracy, horizontal),
            vertical_accuracy=_enum(VerticalAccuracy, vertical), baro_accuracy=_enum(VerticalAccuracy, baro_acc),
            speed_accuracy=_enum(SpeedAccuracy, speed_acc), timestamp_s=_known(stamp, 65535.0),
            timestamp_accuracy_s=round(time_acc * 0.1, 1) if 0 < time_acc <= 15 else None))
    if valid[19]:
        kind, text = _SELF_ID.unpack_from(raw, _SELF_ID_AT)
        messages.append(SelfId(description_type=kind & 0xFF, description=_text(text)))
    if valid[20]:
        _finite("System", _SYSTEM.unpack_from(raw, _SYSTEM_AT))
        (location_type, classification, lat, lon, count, radius, ceiling, floor, category, eu_class, altitude,
         stamp) = _SYSTEM.unpack_from(raw, _SYSTEM_AT)
        placed = not (lat == 0.0 and lon == 0.0)
        messages.append(System(
            operator_location_type=_enum(OperatorLocationType, location_type),
            classification_type=_enum(ClassificationType, classification),
            operator_lat=lat if placed else None, operator_lon=lon if placed else None, area_count=count,
            area_radius_m=float(radius), area_ceiling_m=_known(ceiling, _UNKNOWN_ALTITUDE),
            area_floor_m=_known(floor, _UNKNOWN_ALTITUDE), ua_category=_enum(EuCategory, category),
            ua_class=_enum(EuClass, eu_class), operator_altitude_m=_known(altitude, _UNKNOWN_ALTITUDE),
            timestamp=_EPOCH_2019 + stamp if stamp else None))
    if valid[21]:
        kind, text = _OPERATOR_ID.unpack_from(raw, _OPERATOR_ID_AT)
        messages.append(OperatorId(operator_id_type=kind & 0xFF, operator_id=_text(text)))
    out = []
    for message in messages:
        try:
            heard = decode(encode(message))
        except EncodeError as error:  # a value no broadcast could carry
            raise DecodeError(f"UAS data: {type(message).__name__} {error}") from None
        assert isinstance(heard, Message)
        out.append(heard)
    return tuple(out)


def reception(upload: Any) -> Reception:
    """One upload object as a :class:`Reception`; a :class:`DecodeError` naming what is wrong otherwise."""
    data = upload.get("data") if isinstance(upload, dict) else None
    if not isinstance(data, dict):
        raise DecodeError('not a DroneScout upload: no "data" object')
    try:
        stamp, sensor, sender = data["timestamp"], data["sensor ID"], data["MAC address"]
        raw = base64.b64decode(data["UASdata"], validate=True)
    except KeyError as missing:
        raise DecodeError(f"DroneScout upload: {missing} missing") from None
    except (binascii.Error, TypeError, ValueError):
        raise DecodeError("DroneScout upload: UASdata is not base64") from None
    if not isinstance(stamp, int | float) or isinstance(stamp, bool) or not 0 < stamp < 4.1e12:
        raise DecodeError(f"DroneScout upload: timestamp {stamp!r} is not UNIX milliseconds")
    if not isinstance(sensor, str) or not isinstance(sender, str) or not sensor or not sender:
        raise DecodeError("DroneScout upload: sensor ID and MAC address must be text")
    rssi = data.get("RSSI")
    return Reception(sensor=sensor[:64], t=stamp / 1000.0, sender=sender[:64].lower(),
                     transport=str(data.get("type", "unknown"))[:32],
                     rssi=float(rssi) if isinstance(rssi, int | float) and not isinstance(rssi, bool) else None,
                     messages=uas_data_messages(raw))


def read_uploads(text: str, source: str = "<uploads>") -> Iterator[Reception | FormatError]:
    """The receptions of a file of uploads (a JSON array, or one object a line), in order; each upload that
    cannot be read is a :class:`FormatError` in its place (line, or element of the array), not raised."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as error:
            yield FormatError(f"not JSON: {error.msg}", source=source, line=error.lineno)
            return
        numbered: list[tuple[int, Any]] = list(enumerate(items if isinstance(items, list) else [items], start=1))
        where = "element"
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    numbered.append((number, FormatError(f"not JSON: {error.msg}", source=source, line=number)))
        where = "line"
    for number, item in numbered:
        if isinstance(item, FormatError):
            yield item
            continue
        try:
            yield reception(item)
        except DecodeError as error:
            yield FormatError(f"{where} {number}: {error.reason}" if where == "element" else error.reason,
                              source=source, line=number if where == "line" else None)
