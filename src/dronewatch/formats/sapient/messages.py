"""SAPIENT v2.0 messages: decode, encode, validate against the ICD's own proto options, identifiers.

The envelope (``sapient_message.proto``, BSI Flex 335 v2.0):

    field                   number  type                        ICD
    timestamp                 1     google.protobuf.Timestamp   mandatory: UTC, when the message was sent
    node_id                   2     string                      mandatory, UUID of the sender
    destination_id            3     string                      UUID of the node addressed (tasks, acks)
    content (oneof)         4-12    registration, registration_ack, status_report, detection_report,
                                    task, task_ack, alert, alert_ack, error      mandatory: exactly one
    additional_information   13     string

Every field is proto3 ``optional`` so presence can be checked; what is mandatory is written in
the protos themselves as options (``proto_options.proto``): ``field_options.is_mandatory``,
``is_uuid``, ``is_ulid`` and ``oneof_options.is_mandatory``. :func:`validate` walks those
options over a message and returns one line per problem, worded as Dstl's Apex middleware
words them (``detection_report.object_id (mandatory fields present): Missing mandatory field:
object_id``). Identifiers are checked strictly, as Apex does with ``strictIdFormat``: node ids
are UUID version 4, lower case with dashes; report, object, task, alert and region ids are
ULIDs in upper case.

Identifiers made here: :func:`ulid` (time and randomness injected), :func:`stable_ulid` and
:func:`stable_uuid` (from a name, the same every time). A name-based UUID is version 5 by
RFC 4122, but strict peers accept only version 4, so :func:`stable_uuid` takes uuid5's SHA-1
bits and stamps them as version 4: still 122 bits of hash, still stable.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any, cast

from google.protobuf import message as protobuf_message
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.unknown_fields import UnknownFieldSet
from sapient_msg import proto_options_pb2
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dronewatch.errors import DecodeError

ICD_VERSION = "BSI Flex 335 v2.0"
CONTENT_KINDS = ("registration", "registration_ack", "status_report", "detection_report", "task", "task_ack",
                 "alert", "alert_ack", "error")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DRONEWATCH_NAMESPACE = uuid.UUID("5d1e2f0a-8c3b-4b7e-9a61-d40e0a7c2b19")
"""Namespace of dronewatch's name-based identifiers (fixed: changing it changes every node id)."""


def decode(payload: bytes) -> SapientMessage:
    """One SapientMessage from its protobuf bytes (no framing); DecodeError if they are not one."""
    message = SapientMessage()
    try:
        message.ParseFromString(payload)
    except (protobuf_message.DecodeError, RuntimeError, ValueError, OverflowError) as error:
        raise DecodeError(f"not a SAPIENT v2.0 SapientMessage ({len(payload)} bytes): {error}") from None
    return message


def encode(message: SapientMessage) -> bytes:
    return bytes(message.SerializeToString())


def kind_of(message: SapientMessage) -> str | None:
    """Which content the message carries (``detection_report``, ...), None if none."""
    kind = message.WhichOneof("content")
    return str(kind) if kind is not None else None


# ------------------------------------------------------------------ time
def timestamp_of(t_s: float) -> Timestamp:
    """A protobuf Timestamp for float epoch seconds (rounded to the nanosecond)."""
    nanos_total = round(t_s * 1e9)
    seconds, nanos = divmod(nanos_total, 1_000_000_000)
    return Timestamp(seconds=seconds, nanos=nanos)


def seconds_of(timestamp: Timestamp) -> float:
    """Float epoch seconds of a protobuf Timestamp."""
    return float(timestamp.seconds) + float(timestamp.nanos) * 1e-9


# ------------------------------------------------------------------ identifiers
def _crockford(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def ulid(clock: Callable[[], float] = time.time, randbytes: Callable[[int], bytes] = os.urandom) -> str:
    """A new ULID: 48 bits of milliseconds since the epoch from ``clock``, 80 bits from ``randbytes``,
    26 Crockford base-32 characters, upper case."""
    millis = math.floor(clock() * 1000.0)
    if not 0 <= millis < 1 << 48:
        raise ValueError(f"ULID time {millis} ms is outside 0 .. 2^48")
    entropy = randbytes(10)
    if len(entropy) != 10:
        raise ValueError("a ULID needs 10 random bytes")
    return _crockford((millis << 80) | int.from_bytes(entropy, "big"), 26)


def ulid_time_s(text: str) -> float:
    """The time a ULID carries, in epoch seconds."""
    if not is_ulid(text):
        raise ValueError(f"{text!r} is not a ULID")
    value = 0
    for char in text:
        value = value * 32 + _CROCKFORD.index(char)
    return (value >> 80) / 1000.0


def stable_ulid(name: str) -> str:
    """A ULID-formatted identifier that is the same for the same ``name`` (128 bits of SHA-256)."""
    return _crockford(int.from_bytes(hashlib.sha256(name.encode()).digest()[:16], "big"), 26)


def stable_uuid(name: str) -> str:
    """A UUID that is the same for the same ``name``: uuid5's bits stamped as version 4 (see above)."""
    raw = bytearray(uuid.uuid5(DRONEWATCH_NAMESPACE, name).bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def site_node_id(site_id: str) -> str:
    """dronewatch's own node id for a site when the configuration gives none: stable across restarts."""
    return stable_uuid(f"dronewatch site {site_id}")


def is_ulid(text: str) -> bool:
    return bool(_ULID.match(text))


def is_uuid4(text: str) -> bool:
    return bool(_UUID4.match(text))


# ------------------------------------------------------------------ validation
_Rule = tuple[FieldDescriptor, bool, bool, bool]  # field, mandatory, ulid, uuid
# the bindings' stubs type the extensions as plain field descriptors
_FIELD_OPTIONS = cast(Any, proto_options_pb2.field_options)
_ONEOF_OPTIONS = cast(Any, proto_options_pb2.oneof_options)


@cache
def _rules(descriptor: Descriptor) -> tuple[list[_Rule], list[str]]:
    """Per message type: its fields with their ICD options, and its mandatory oneofs."""
    fields: list[_Rule] = []
    for field in descriptor.fields:
        options = field.GetOptions().Extensions[_FIELD_OPTIONS]
        fields.append((field, bool(options.is_mandatory), bool(options.is_ulid), bool(options.is_uuid)))
    oneofs = [oneof.name for oneof in descriptor.oneofs
              if oneof.GetOptions().Extensions[_ONEOF_OPTIONS].is_mandatory]
    return fields, oneofs


def validate(message: protobuf_message.Message, path: str = "") -> list[str]:
    """The ICD problems of ``message`` (empty when it is valid), one line each with its field path:
    missing mandatory fields, oneofs and repeated fields, malformed UUIDs and ULIDs, unknown enum
    values and unknown fields."""
    problems: list[str] = []
    _validate(message, path, problems)
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _validate(message: protobuf_message.Message, path: str, problems: list[str]) -> None:
    descriptor = message.DESCRIPTOR
    fields, oneofs = _rules(descriptor)
    where = path or "(root)"
    unknown = UnknownFieldSet(message)
    for k in range(len(unknown)):
        problems.append(f"{where} (no unknown fields): Unknown field number {unknown[k].field_number}")
    for oneof in oneofs:
        if message.WhichOneof(oneof) is None:
            problems.append(f"{where} (mandatory oneof present): Missing mandatory OneOf field: {oneof}")
    present = {field.name: value for field, value in message.ListFields()}
    for field, mandatory, is_ulid_field, is_uuid_field in fields:
        name = _join(path, field.name)
        value: Any = present.get(field.name)
        if value is None:
            if mandatory:
                kind = "mandatory repeated present" if field.is_repeated else "mandatory fields present"
                what = "Missing mandatory repeated field" if field.is_repeated else "Missing mandatory field"
                problems.append(f"{name} ({kind}): {what}: {field.name}")
            continue
        values = list(value) if field.is_repeated else [value]
        for k, item in enumerate(values):
            item_path = f"{name}.{k}" if field.is_repeated else name
            if is_ulid_field and not is_ulid(str(item)):
                problems.append(f"{item_path} (id format valid): Invalid ULID: {item}")
            if is_uuid_field and not is_uuid4(str(item)):
                problems.append(f"{item_path} (id format valid): Invalid UUID: {item}")
            enum, nested = field.enum_type, field.message_type
            if enum is not None and enum.values_by_number.get(item) is None:
                problems.append(f"{item_path} (no unknown enum values): Unknown enum value: {item}")
            if nested is not None and nested.full_name.startswith("sapient_msg."):
                _validate(item, item_path, problems)
