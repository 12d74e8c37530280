"""SAPIENT (BSI Flex 335 v2.0): pure codecs over the ``sapient_msg`` bindings of PyPI ``sapient-proto``.

- :mod:`.framing`: 4-byte little-endian length + protobuf, :class:`FrameReader` for TCP reads;
- :mod:`.messages`: :func:`decode`, :func:`encode`, :func:`validate` (the ICD's mandatory/UUID/ULID
  options), ULID and stable UUID helpers;
- :mod:`.build`: what dronewatch sends (acks, errors, its Registration and StatusReport, fused
  tracks as DetectionReports, alerts; and, for ``sapient-sensor``, edge-node messages);
- :mod:`.convert`: what edge nodes send, as dronewatch ``Sensor`` and ``Detection`` records.

No I/O, no state: the transports are :mod:`dronewatch.ingest.sapient` (edge nodes connect to us)
and :mod:`dronewatch.outputs.sapient` (we connect to a parent). See docs/sapient.md.
"""

from dronewatch.formats.sapient.framing import MAX_MESSAGE_BYTES, FrameError, FrameReader, frame
from dronewatch.formats.sapient.messages import (
    ICD_VERSION,
    decode,
    encode,
    is_ulid,
    is_uuid4,
    kind_of,
    seconds_of,
    site_node_id,
    stable_ulid,
    stable_uuid,
    timestamp_of,
    ulid,
    validate,
)

__all__ = [
    "ICD_VERSION",
    "MAX_MESSAGE_BYTES",
    "FrameError",
    "FrameReader",
    "decode",
    "encode",
    "frame",
    "is_ulid",
    "is_uuid4",
    "kind_of",
    "seconds_of",
    "site_node_id",
    "stable_ulid",
    "stable_uuid",
    "timestamp_of",
    "ulid",
    "validate",
]
