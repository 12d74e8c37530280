"""Remote ID messages: one field declaration per field drives both decoding and encoding.

Every message is 25 bytes, little-endian; byte 0 is ``type << 4 | protocol version``
(see ``docs`` and the shared format notes for the full tables). Layouts, byte offsets
from the start of the message:

=================  ===========================================================================
Basic ID (0)       1: id type (7-4), UA type (3-0) · 2-21: UAS ID · 22-24 reserved
Location (1)       1: status (7-4), height type (2), E/W (1), speed multiplier (0) · 2: direction
                   · 3: speed · 4: vertical speed int8 x0.5 · 5-8 lat · 9-12 lon (int32 x1e-7)
                   · 13-14 pressure alt · 15-16 geodetic alt · 17-18 height (uint16 x0.5 - 1000)
                   · 19: vertical acc (7-4), horizontal acc (3-0) · 20: baro acc (7-4), speed acc
                   (3-0) · 21-22 timestamp (0.1 s after the hour) · 23: timestamp accuracy (3-0)
Authentication (2) 1: auth type (7-4), page (3-0) · page 0: 2 last page index · 3 length ·
                   4-7 timestamp (s since 2019-01-01) · 8-24 data; pages 1-15: 2-24 data
Self-ID (3)        1: description type · 2-24 text
System (4)         1: classification type (4-2), operator location type (1-0) · 2-5 operator lat ·
                   6-9 lon · 10-11 area count · 12 area radius x10 m · 13-14 area ceiling ·
                   15-16 area floor · 17: EU category (7-4), class (3-0) · 18-19 operator alt ·
                   20-23 timestamp (s since 2019-01-01)
Operator ID (5)    1: operator id type · 2-21 operator id
Message pack (F)   1: message size (25) · 2: count N (1-9) · 3-: N messages
=================  ===========================================================================

Values the standard marks unknown (altitude raw 0, direction 361, speed 255 with the
multiplier, vertical speed 63, lat/lon both 0, timestamp 0xFFFF, a zero System or
Authentication timestamp) decode to ``None``, and ``None`` encodes back to them. Encoding
quantises as the reference encoder does (altitudes and vertical speed truncated, the rest
rounded). A decoder never reads past the 25 bytes of its message; bad input raises
:class:`~dronewatch.errors.DecodeError` with the byte offset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar, get_args, get_type_hints

from dronewatch.errors import DecodeError, EncodeError
from dronewatch.formats.remoteid.enums import (
    AuthType,
    ClassificationType,
    DescriptionType,
    EuCategory,
    EuClass,
    HeightType,
    HorizontalAccuracy,
    IdType,
    MessageType,
    OperationalStatus,
    OperatorLocationType,
    SpeedAccuracy,
    UaType,
    VerticalAccuracy,
    enum_or_none,
)

MESSAGE_SIZE = 25
MAX_PACK_MESSAGES = 9
# System and Authentication timestamps count seconds from 2019-01-01T00:00:00Z.
EPOCH_2019 = 1_546_300_800


# --------------------------------------------------------------------------- field codecs
@dataclass(frozen=True, slots=True)
class Field:
    """A named field of a message: how to read it from, and write it into, the 25 bytes.

    ``source`` optionally gives the decoding as a Python expression over ``buf`` (names in
    ``env``), so that each message type compiles into one function (see ``_compile``).
    """

    name: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any, bytearray], None]
    source: str | None = None
    env: tuple[tuple[str, Any], ...] = ()


def _raw_source(offset: int, size: int, signed: bool) -> str:
    """A Python expression reading a little-endian integer from ``buf``."""
    if size == 1:
        return f"((buf[{offset}] ^ 128) - 128)" if signed else f"buf[{offset}]"
    if size == 2 and not signed:
        return f"(buf[{offset}] | buf[{offset + 1}] << 8)"
    return f"_from_bytes(buf[{offset}:{offset + size}], 'little', signed={signed})"


def _int(buf: bytes | bytearray, offset: int, size: int, signed: bool = False) -> int:
    return int.from_bytes(buf[offset:offset + size], "little", signed=signed)


def _put_int(buf: bytearray, offset: int, size: int, value: int, name: str, signed: bool = False) -> None:
    try:
        buf[offset:offset + size] = value.to_bytes(size, "little", signed=signed)
    except OverflowError:
        raise EncodeError(f"{name}: {value} does not fit in {size} byte(s)") from None


def bits(name: str, offset: int, high: int, low: int, enum: type[IntEnum] | None = None) -> Field:
    """Bits ``high``..``low`` of byte ``offset``; with ``enum``, undefined codes decode to None."""
    mask = (1 << (high - low + 1)) - 1
    # every code's member looked up once: decoding is a shift, a mask and an index
    table = None if enum is None else tuple(enum_or_none(enum, code) for code in range(mask + 1))

    def decode(buf: bytes) -> Any:
        code = (buf[offset] >> low) & mask
        return code if table is None else table[code]

    code_source = f"((buf[{offset}] >> {low}) & {mask})"

    def encode(value: Any, buf: bytearray) -> None:
        code = 0 if value is None else int(value)
        if not 0 <= code <= mask:
            raise EncodeError(f"{name}: {code} does not fit in bits {high}-{low}")
        buf[offset] = (buf[offset] & ~(mask << low) & 0xFF) | (code << low)

    if table is None:
        return Field(name, decode, encode, code_source)
    return Field(name, decode, encode, f"_table[{code_source}]", (("_table", table),))


def scaled(name: str, offset: int, size: int, scale: float, add: float = 0.0, *, signed: bool = False,
           unknown: int | None = None, truncate: bool = False) -> Field:
    """``raw * scale + add``; the raw value ``unknown`` is None. Encoding rounds to the nearest step,
    or truncates toward zero with ``truncate`` (as the reference does for altitudes and climb)."""

    # a step of 1/n is applied as a division by n: correctly rounded, so 25 x 1e-7 reads 2.5e-06
    per_unit = round(1.0 / scale) if scale < 1.0 else None

    def decode(buf: bytes) -> float | None:
        raw = _int(buf, offset, size, signed)
        if raw == unknown:
            return None
        return (raw / per_unit if per_unit else raw * scale) + add

    def encode(value: float | None, buf: bytearray) -> None:
        if value is None:
            if unknown is None:
                raise EncodeError(f"{name}: a value is required")
            raw = unknown
        else:
            if not math.isfinite(value):
                raise EncodeError(f"{name}: {value} is not a number")
            steps = (value - add) * per_unit if per_unit else (value - add) / scale
            if not math.isfinite(steps):  # a finite value beyond any field: 1e308 degrees
                raise EncodeError(f"{name}: {value} is out of range")
            raw = math.trunc(steps) if truncate else math.floor(steps + 0.5)
        _put_int(buf, offset, size, raw, name, signed)

    value = f"_raw / {per_unit}" if per_unit else f"_raw * {scale!r}"
    if add:
        value += f" + {add!r}"
    raw_source = _raw_source(offset, size, signed)
    if unknown is None:
        source = f"({value.replace('_raw', raw_source)})"
    else:
        source = f"(None if (_raw := {raw_source}) == {unknown} else {value})"
    return Field(name, decode, encode, source)


def integer(name: str, offset: int, size: int) -> Field:
    return Field(name, lambda buf: _int(buf, offset, size),
                 lambda value, buf: _put_int(buf, offset, size, int(value), name), _raw_source(offset, size, False))


def text(name: str, offset: int, size: int) -> Field:
    """ASCII, NUL padded; the value ends at the first NUL (a full field has none)."""

    def decode(buf: bytes) -> str:
        raw = bytes(buf[offset:offset + size]).split(b"\0", 1)[0]
        for k, byte in enumerate(raw):
            if byte > 0x7E or byte < 0x20:
                raise DecodeError(f"{name}: byte 0x{byte:02x} is not printable ASCII", offset=offset + k)
        return raw.decode("ascii")

    def encode(value: str, buf: bytearray) -> None:
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            raise EncodeError(f"{name}: {value!r} is not ASCII") from None
        if len(raw) > size or b"\0" in raw:
            raise EncodeError(f"{name}: {value!r} longer than {size} characters or holds NUL")
        buf[offset:offset + size] = raw.ljust(size, b"\0")

    return Field(name, decode, encode)


def raw_bytes(name: str, offset: int, size: int) -> Field:
    def encode(value: bytes, buf: bytearray) -> None:
        if len(value) > size:
            raise EncodeError(f"{name}: {len(value)} bytes, at most {size}")
        buf[offset:offset + size] = bytes(value).ljust(size, b"\0")

    return Field(name, lambda buf: bytes(buf[offset:offset + size]), encode)


def epoch_2019(name: str, offset: int) -> Field:
    """uint32 seconds since 2019-01-01 UTC, as UNIX seconds; 0 (not set) is None."""

    def decode(buf: bytes) -> float | None:
        raw = _int(buf, offset, 4)
        return None if raw == 0 else float(raw + EPOCH_2019)

    def encode(value: float | None, buf: bytearray) -> None:
        _put_int(buf, offset, 4, 0 if value is None else round(value) - EPOCH_2019, name)

    return Field(name, decode, encode)


def _direction() -> Field:
    """Track over ground, degrees clockwise from north: byte 2 + 180 if the E/W bit (byte 1, bit 1)."""

    def decode(buf: bytes) -> float | None:
        degrees = buf[2] + (180 if buf[1] & 0x02 else 0)
        return None if degrees == 361 else float(degrees)

    def encode(value: float | None, buf: bytearray) -> None:
        degrees = 361 if value is None else math.floor(value + 0.5) % 360
        if value is not None and not 0.0 <= value < 360.0:
            raise EncodeError(f"direction_deg: {value} is not within [0, 360)")
        east_west = degrees >= 180
        buf[2] = degrees - 180 if east_west else degrees
        buf[1] = (buf[1] & ~0x02) | (0x02 if east_west else 0)

    return Field("direction_deg", decode, encode)


def _horizontal_speed() -> Field:
    """Ground speed: byte 3 x 0.25 m/s, or x 0.75 + 63.75 with the multiplier (byte 1, bit 0)."""

    def decode(buf: bytes) -> float | None:
        if buf[1] & 0x01:
            return None if buf[3] == 255 else buf[3] * 0.75 + 63.75
        return buf[3] * 0.25

    def encode(value: float | None, buf: bytearray) -> None:
        if value is None:
            multiplier, raw = True, 255
        elif not 0.0 <= value <= 254.25:
            raise EncodeError(f"speed_mps: {value} is not within [0, 254.25]")
        elif value <= 63.75:
            multiplier, raw = False, math.floor(value / 0.25 + 0.5)
        else:
            multiplier, raw = True, min(math.floor((value - 63.75) / 0.75 + 0.5), 254)
        buf[3] = raw
        buf[1] = (buf[1] & ~0x01) | (0x01 if multiplier else 0)

    return Field("speed_mps", decode, encode)


def _altitude(name: str, offset: int) -> Field:
    return scaled(name, offset, 2, 0.5, -1000.0, unknown=0, truncate=True)


def _degrees(name: str, offset: int) -> Field:
    return scaled(name, offset, 4, 1e-7, signed=True)


# --------------------------------------------------------------------------- messages
@dataclass(frozen=True, slots=True)
class Message:
    """Base of the six message types; ``protocol_version`` is metadata (every version decodes alike)."""

    TYPE: ClassVar[MessageType]
    LAYOUT: ClassVar[tuple[Field, ...]]


@dataclass(frozen=True, slots=True)
class BasicId(Message):
    TYPE = MessageType.BASIC_ID
    protocol_version: int = 2
    id_type: IdType | None = IdType.SERIAL_NUMBER
    ua_type: UaType | None = UaType.NONE
    uas_id: str | bytes = ""
    """Text for serial numbers and CAA registrations; the 20 raw bytes for other ID types."""


def _uas_id() -> Field:
    as_text = text("uas_id", 2, 20)
    as_bytes = raw_bytes("uas_id", 2, 20)

    def textual(buf: bytes | bytearray) -> bool:
        return (buf[1] >> 4) in (IdType.SERIAL_NUMBER, IdType.CAA_REGISTRATION_ID)

    def decode(buf: bytes) -> str | bytes:
        value: str | bytes = as_text.decode(buf) if textual(buf) else as_bytes.decode(buf)
        return value

    def encode(value: str | bytes, buf: bytearray) -> None:
        if textual(buf) != isinstance(value, str):
            raise EncodeError("uas_id: text for serial numbers and CAA registrations, bytes for other types")
        (as_text if isinstance(value, str) else as_bytes).encode(value, buf)

    return Field("uas_id", decode, encode)


@dataclass(frozen=True, slots=True)
class Location(Message):
    TYPE = MessageType.LOCATION
    protocol_version: int = 2
    status: OperationalStatus | None = OperationalStatus.UNDECLARED
    height_type: HeightType | None = HeightType.ABOVE_TAKEOFF
    direction_deg: float | None = None
    speed_mps: float | None = None
    vertical_speed_mps: float | None = None
    lat: float | None = None
    lon: float | None = None
    pressure_altitude_m: float | None = None
    geodetic_altitude_m: float | None = None
    height_m: float | None = None
    horizontal_accuracy: HorizontalAccuracy | None = HorizontalAccuracy.UNKNOWN
    vertical_accuracy: VerticalAccuracy | None = VerticalAccuracy.UNKNOWN
    baro_accuracy: VerticalAccuracy | None = VerticalAccuracy.UNKNOWN
    speed_accuracy: SpeedAccuracy | None = SpeedAccuracy.UNKNOWN
    timestamp_s: float | None = None
    """Seconds after the top of the UTC hour."""
    timestamp_accuracy_s: float | None = None


@dataclass(frozen=True, slots=True)
class Authentication(Message):
    """One page; page 0 also carries the last page index, the data length and the timestamp."""

    TYPE = MessageType.AUTHENTICATION
    protocol_version: int = 2
    auth_type: AuthType | None = AuthType.NONE
    page: int = 0
    last_page_index: int | None = None
    length: int | None = None
    timestamp: float | None = None
    """UNIX seconds (page 0)."""
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class SelfId(Message):
    TYPE = MessageType.SELF_ID
    protocol_version: int = 2
    description_type: int = DescriptionType.TEXT
    """A :class:`DescriptionType`, or the raw code when reserved (3-200) or private (201-255)."""
    description: str = ""


@dataclass(frozen=True, slots=True)
class System(Message):
    TYPE = MessageType.SYSTEM
    protocol_version: int = 2
    operator_location_type: OperatorLocationType | None = OperatorLocationType.TAKEOFF
    classification_type: ClassificationType | None = ClassificationType.UNDECLARED
    operator_lat: float | None = None
    operator_lon: float | None = None
    area_count: int = 1
    area_radius_m: float = 0.0
    area_ceiling_m: float | None = None
    area_floor_m: float | None = None
    ua_category: EuCategory | None = EuCategory.UNDECLARED
    ua_class: EuClass | None = EuClass.UNDECLARED
    operator_altitude_m: float | None = None
    timestamp: float | None = None
    """UNIX seconds."""


@dataclass(frozen=True, slots=True)
class OperatorId(Message):
    TYPE = MessageType.OPERATOR_ID
    protocol_version: int = 2
    operator_id_type: int = 0
    operator_id: str = ""


def _self_id_type() -> Field:
    def decode(buf: bytes) -> int:
        return enum_or_none(DescriptionType, buf[1]) or buf[1]

    return Field("description_type", decode, lambda value, buf: _put_int(buf, 1, 1, int(value), "description_type"))


_AUTH_LAST_PAGE_MAX = 15
_AUTH_FIRST_PAGE_DATA = 17
_AUTH_PAGE_DATA = 23


def _auth_page_fields() -> Field:
    """Page 0 holds last page index, length, timestamp and 17 data bytes; other pages 23 data bytes."""
    stamp = epoch_2019("timestamp", 4)

    def decode(buf: bytes) -> dict[str, Any]:
        if buf[1] & 0x0F == 0:
            # page 0 states how many pages follow and how long the data is: the reference decoder refuses a
            # page 0 whose figures no set of pages can meet
            if buf[2] > _AUTH_LAST_PAGE_MAX:
                raise DecodeError(f"authentication page 0: last page index {buf[2]}, at most {_AUTH_LAST_PAGE_MAX}",
                                  offset=2)
            if buf[3] > _AUTH_FIRST_PAGE_DATA + _AUTH_PAGE_DATA * buf[2]:
                raise DecodeError(f"authentication page 0: length {buf[3]} does not fit in {buf[2] + 1} page(s) "
                                  f"({_AUTH_FIRST_PAGE_DATA + _AUTH_PAGE_DATA * buf[2]} bytes)", offset=3)
            return {"last_page_index": buf[2], "length": buf[3], "timestamp": stamp.decode(buf),
                    "data": bytes(buf[8:25])}
        return {"last_page_index": None, "length": None, "timestamp": None, "data": bytes(buf[2:25])}

    def encode(value: dict[str, Any], buf: bytearray) -> None:
        first = buf[1] & 0x0F == 0
        data = value["data"]
        if len(data) > (17 if first else 23):
            raise EncodeError(f"data: {len(data)} bytes, at most {17 if first else 23} on this page")
        if first:
            _put_int(buf, 2, 1, value["last_page_index"] or 0, "last_page_index")
            _put_int(buf, 3, 1, value["length"] or 0, "length")
            stamp.encode(value["timestamp"], buf)
            buf[8:25] = bytes(data).ljust(17, b"\0")
        else:
            buf[2:25] = bytes(data).ljust(23, b"\0")

    return Field("*page", decode, encode)


BasicId.LAYOUT = (bits("id_type", 1, 7, 4, IdType), bits("ua_type", 1, 3, 0, UaType), _uas_id())
Location.LAYOUT = (
    bits("status", 1, 7, 4, OperationalStatus), bits("height_type", 1, 2, 2, HeightType), _direction(),
    _horizontal_speed(), scaled("vertical_speed_mps", 4, 1, 0.5, signed=True, unknown=126, truncate=True),
    _degrees("lat", 5), _degrees("lon", 9), _altitude("pressure_altitude_m", 13),
    _altitude("geodetic_altitude_m", 15), _altitude("height_m", 17),
    bits("vertical_accuracy", 19, 7, 4, VerticalAccuracy), bits("horizontal_accuracy", 19, 3, 0, HorizontalAccuracy),
    bits("baro_accuracy", 20, 7, 4, VerticalAccuracy), bits("speed_accuracy", 20, 3, 0, SpeedAccuracy),
    scaled("timestamp_s", 21, 2, 0.1, unknown=0xFFFF),
    Field("timestamp_accuracy_s", lambda buf: (buf[23] & 0x0F) * 0.1 or None,
          lambda value, buf: bits("timestamp_accuracy", 23, 3, 0).encode(
              0 if value is None else math.floor(value / 0.1 + 0.5), buf)),
)
Authentication.LAYOUT = (bits("auth_type", 1, 7, 4, AuthType), bits("page", 1, 3, 0), _auth_page_fields())
SelfId.LAYOUT = (_self_id_type(), text("description", 2, 23))
System.LAYOUT = (
    bits("classification_type", 1, 4, 2, ClassificationType),
    bits("operator_location_type", 1, 1, 0, OperatorLocationType),
    _degrees("operator_lat", 2), _degrees("operator_lon", 6), integer("area_count", 10, 2),
    scaled("area_radius_m", 12, 1, 10.0), _altitude("area_ceiling_m", 13), _altitude("area_floor_m", 15),
    bits("ua_category", 17, 7, 4, EuCategory), bits("ua_class", 17, 3, 0, EuClass),
    _altitude("operator_altitude_m", 18), epoch_2019("timestamp", 20),
)
OperatorId.LAYOUT = (integer("operator_id_type", 1, 1), text("operator_id", 2, 20))

MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.TYPE: cls for cls in (BasicId, Location, Authentication, SelfId, System, OperatorId)
}
# (lat, lon) pairs where both zero means "no position": names and the latitude's byte offset
_POSITION_PAIRS: dict[type[Message], tuple[str, str, int]] = {
    Location: ("lat", "lon", 5), System: ("operator_lat", "operator_lon", 2)}


def _compile(cls: type[Message]) -> Callable[[bytes], dict[str, Any]]:
    """One function decoding every field of ``cls`` into a dict: no per-field loop at run time.

    Fields with a ``source`` expression are inlined; the others are called; a field named
    ``*...`` returns several values at once and is merged.
    """
    env: dict[str, Any] = {"_from_bytes": int.from_bytes}
    items = ['"protocol_version": buf[0] & 15']
    merged = []
    for k, f in enumerate(cls.LAYOUT):
        if f.name.startswith("*"):
            env[f"_field{k}"] = f.decode
            merged.append(f"**_field{k}(buf)")
            continue
        source = f.source
        for key, value in f.env:
            env[f"{key}{k}"] = value
            source = source.replace(key, f"{key}{k}") if source else source
        if source is None:
            env[f"_field{k}"] = f.decode
            source = f"_field{k}(buf)"
        items.append(f"{f.name!r}: {source}")
    code = f"def _decode(buf):\n    return {{{', '.join(items + merged)}}}\n"
    # the source is built from our own declarations above, never from input
    exec(compile(code, f"<remoteid {cls.__name__} decoder>", "exec"), env)
    decoder: Callable[[bytes], dict[str, Any]] = env["_decode"]
    return decoder


_DECODERS = {cls: _compile(cls) for cls in MESSAGE_CLASSES.values()}


def decode_message(data: bytes | bytearray | memoryview, offset: int = 0) -> Message:
    """Decode the 25-byte message at ``data[offset:]`` (one message, not a pack)."""
    buf = bytes(data[offset:offset + MESSAGE_SIZE])
    if len(buf) < MESSAGE_SIZE:
        raise DecodeError(f"a message is {MESSAGE_SIZE} bytes, only {len(buf)} left", offset=offset)
    cls = MESSAGE_CLASSES.get(buf[0] >> 4)
    if cls is None:
        kind = "message pack inside a message" if buf[0] >> 4 == MessageType.MESSAGE_PACK else "undefined type"
        raise DecodeError(f"message type {buf[0] >> 4}: {kind}", offset=offset)
    try:
        values = _DECODERS[cls](buf)
    except DecodeError as error:
        raise DecodeError(error.reason, offset=offset + (error.offset or 0)) from None
    pair = _POSITION_PAIRS.get(cls)
    if pair is not None:
        lat_name, lon_name, lat_offset = pair
        lat, lon = values[lat_name], values[lon_name]
        if lat == 0.0 and lon == 0.0:
            values[lat_name] = values[lon_name] = None
        elif abs(lat) > 90.0:
            raise DecodeError(f"{lat_name}: {lat} is beyond +-90 degrees", offset=offset + lat_offset)
        elif abs(lon) > 180.0:
            raise DecodeError(f"{lon_name}: {lon} is beyond +-180 degrees", offset=offset + lat_offset + 4)
    return cls(**values)


def encode_message(message: Message) -> bytes:
    """The 25 bytes of ``message``."""
    buf = bytearray(MESSAGE_SIZE)
    values = {f.name: getattr(message, f.name) for f in fields(message)}
    if not 0 <= values["protocol_version"] <= 15:
        raise EncodeError(f"protocol_version: {values['protocol_version']} is not within 0-15")
    buf[0] = (message.TYPE << 4) | values["protocol_version"]
    pair = _POSITION_PAIRS.get(type(message))
    if pair is not None:
        lat_name, lon_name, _ = pair
        if (values[lat_name] is None) != (values[lon_name] is None):
            raise EncodeError(f"{lat_name}, {lon_name}: give both or neither")
        if values[lat_name] is None:
            values[lat_name] = values[lon_name] = 0.0
    for field in message.LAYOUT:
        field.encode(values if field.name.startswith("*") else values[field.name], buf)
    return bytes(buf)


@dataclass(frozen=True, slots=True)
class MessagePack:
    """Several messages sent together (Wi-Fi always, Bluetooth 5 usually)."""

    messages: tuple[Message, ...]
    protocol_version: int = 2


# At most this many of each type in one pack.
_PACK_LIMITS = {MessageType.BASIC_ID: 2, MessageType.LOCATION: 1, MessageType.AUTHENTICATION: 16,
                MessageType.SELF_ID: 1, MessageType.SYSTEM: 1, MessageType.OPERATOR_ID: 1}


def decode(data: bytes | bytearray | memoryview) -> Message | MessagePack:
    """Decode one message or one message pack (trailing padding ignored). A pack that declares no messages is
    refused, as the reference decoder (opendroneid-core-c) refuses it."""
    buf = bytes(data)
    if not buf:
        raise DecodeError("no bytes", offset=0)
    if buf[0] >> 4 != MessageType.MESSAGE_PACK:
        return decode_message(buf)
    if len(buf) < 3:
        raise DecodeError(f"a message pack header is 3 bytes, only {len(buf)}", offset=0)
    size, count = buf[1], buf[2]
    if count == 0:
        raise DecodeError("message pack: declares 0 messages", offset=2)
    if size != MESSAGE_SIZE:
        raise DecodeError(f"message pack: message size {size}, must be {MESSAGE_SIZE}", offset=1)
    if not 1 <= count <= MAX_PACK_MESSAGES:
        raise DecodeError(f"message pack: {count} messages, must be 1-{MAX_PACK_MESSAGES}", offset=2)
    if len(buf) < 3 + MESSAGE_SIZE * count:
        raise DecodeError(f"message pack: {count} messages need {3 + MESSAGE_SIZE * count} bytes, "
                          f"only {len(buf)}", offset=len(buf))
    messages = tuple(decode_message(buf, 3 + MESSAGE_SIZE * k) for k in range(count))
    for kind, limit in _PACK_LIMITS.items():
        if sum(kind == m.TYPE for m in messages) > limit:
            raise DecodeError(f"message pack: more than {limit} {kind.name} message(s)", offset=2)
    return MessagePack(messages, buf[0] & 0x0F)


def encode(item: Message | MessagePack) -> bytes:
    """The bytes of a message or a message pack."""
    if isinstance(item, Message):
        return encode_message(item)
    if not 1 <= len(item.messages) <= MAX_PACK_MESSAGES:
        raise EncodeError(f"message pack: {len(item.messages)} messages, must be 1-{MAX_PACK_MESSAGES}")
    header = bytes([(MessageType.MESSAGE_PACK << 4) | item.protocol_version, MESSAGE_SIZE, len(item.messages)])
    return header + b"".join(encode_message(m) for m in item.messages)


_TYPE_NAMES = {BasicId: "basic_id", Location: "location", Authentication: "authentication", SelfId: "self_id",
               System: "system", OperatorId: "operator_id"}


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-ready dict: ``type``, then every field; enums by lower-case name, bytes as hex."""
    out: dict[str, Any] = {"type": _TYPE_NAMES[type(message)]}
    for f in fields(message):
        value = getattr(message, f.name)
        if isinstance(value, IntEnum):
            value = value.name.lower()
        elif isinstance(value, bytes):
            value = value.hex()
        out[f.name] = value
    return out


_TYPES_BY_NAME = {name: cls for cls, name in _TYPE_NAMES.items()}


def message_from_dict(values: dict[str, Any]) -> Message:
    """The inverse of :func:`message_to_dict`; missing fields take their defaults.

    Enums are given by lower-case name or code, bytes as hex; unknown keys are an error.
    """
    kind = values.get("type")
    cls = _TYPES_BY_NAME.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EncodeError(f"type: {kind!r} is not one of {', '.join(_TYPES_BY_NAME)}")
    hints = get_type_hints(cls)
    if cls is SelfId:
        hints["description_type"] = DescriptionType | int
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names - {"type"}
    if unknown:
        raise EncodeError(f"{kind}: unknown field(s) {', '.join(sorted(unknown))}")
    kwargs = {name: _from_json(f"{kind}.{name}", value, hints[name])
              for name, value in values.items() if name != "type"}
    uas_id = kwargs.get("uas_id")
    if (cls is BasicId and isinstance(uas_id, str)
            and kwargs.get("id_type", IdType.SERIAL_NUMBER) not in (IdType.SERIAL_NUMBER, IdType.CAA_REGISTRATION_ID)):
        kwargs["uas_id"] = _from_json(f"{kind}.uas_id", uas_id, bytes)
    message: Message = cls(**kwargs)
    return message


def _from_json(where: str, value: Any, hint: Any) -> Any:
    options = get_args(hint) or (hint,)
    if value is None:
        if type(None) not in options:
            raise EncodeError(f"{where}: may not be null")
        return None
    enum = next((t for t in options if isinstance(t, type) and issubclass(t, IntEnum)), None)
    if enum is not None and isinstance(value, str):
        try:
            return enum[value.upper()]
        except KeyError:
            raise EncodeError(f"{where}: {value!r} is not one of "
                              f"{', '.join(m.name.lower() for m in enum)}") from None
    if enum is not None and isinstance(value, int) and not isinstance(value, bool):
        member = enum_or_none(enum, value)
        return value if member is None and int in options else member
    if bytes in options and str not in options and isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise EncodeError(f"{where}: {value!r} is not hexadecimal") from None
    if float in options and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not any(isinstance(t, type) and isinstance(value, t) and not isinstance(value, bool) for t in options):
        raise EncodeError(f"{where}: {value!r} has the wrong type")
    return value
