"""Broadcast Remote ID (ASTM F3411, ASD-STAN EN 4709-002): pure message codecs."""

from dronewatch.formats.remoteid.messages import (
    Authentication,
    BasicId,
    Location,
    Message,
    MessagePack,
    OperatorId,
    SelfId,
    System,
    decode,
    decode_message,
    encode,
    encode_message,
)

__all__ = [
    "Authentication",
    "BasicId",
    "Location",
    "Message",
    "MessagePack",
    "OperatorId",
    "SelfId",
    "System",
    "decode",
    "decode_message",
    "encode",
    "encode_message",
]
