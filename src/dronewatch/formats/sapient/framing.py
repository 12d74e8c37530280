"""SAPIENT framing on TCP: each message is its length, then the protobuf bytes.

    +--------+--------+--------+--------+---------------------------+
    | length: uint32, little-endian      | SapientMessage (length B) |
    +--------+--------+--------+--------+---------------------------+
      byte 0   byte 1   byte 2   byte 3    bytes 4 .. 4 + length - 1

No magic, no version, no terminator (Dstl's Apex middleware writes ``struct.pack("<I", n)``
before each message). A reader must loop on partial reads, take several messages from one
read, and refuse an absurd length before it allocates anything.

The stream has no resynchronisation marker, so after a refused length there is no way to
find the next message boundary in the bytes already held. :class:`FrameReader` drops them
and starts afresh with the next :meth:`FrameReader.feed` call: senders write whole messages,
so the next read usually begins at a boundary. The caller learns what happened from a
:class:`FrameError`, which also carries the complete messages that came before the bad
header in the same call.
"""

from __future__ import annotations

import struct

from dronewatch.errors import DecodeError

HEADER = struct.Struct("<I")
MAX_MESSAGE_BYTES = 1 << 20
"""Apex's default cap (``messageMaxSizeKb`` 1024)."""


def frame(payload: bytes) -> bytes:
    """``payload`` with its 4-byte little-endian length in front."""
    if len(payload) > 0xFFFFFFFF:
        raise ValueError(f"a SAPIENT message of {len(payload)} bytes does not fit a 32-bit length")
    return HEADER.pack(len(payload)) + payload


class FrameError(DecodeError):
    """A length that cannot be a message; ``frames`` are the messages decoded before it in the same call,
    ``header`` the bytes dropped (up to 64 of them, for the Error reply)."""

    def __init__(self, message: str, *, offset: int, frames: list[bytes], dropped: bytes) -> None:
        super().__init__(message, offset=offset)
        self.frames = frames
        self.dropped = dropped


class FrameReader:
    """Incremental reader: :meth:`feed` takes whatever a read gave and returns the complete messages.

    ``offset`` counts every byte fed so far (the stream position, for error messages).
    """

    __slots__ = ("_buffer", "_start", "max_bytes", "offset")

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.offset = 0
        self._buffer = bytearray()
        self._start = 0  # stream position of _buffer[0]

    @property
    def pending(self) -> int:
        """Bytes held for a message not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """The messages that ``data`` completes, in order. A length over ``max_bytes`` is a
        :class:`FrameError` naming the length and its stream offset; the bytes held are dropped."""
        self._buffer += data
        self.offset += len(data)
        out: list[bytes] = []
        view = self._buffer
        at = 0
        while len(view) - at >= HEADER.size:
            (length,) = HEADER.unpack_from(view, at)
            if length > self.max_bytes:
                where = self._start + at
                dropped = bytes(view[at:at + 64])
                self._start += len(view)
                self._buffer = bytearray()
                raise FrameError(f"SAPIENT frame length {length} exceeds the {self.max_bytes}-byte limit",
                                 offset=where, frames=out, dropped=dropped)
            end = at + HEADER.size + length
            if end > len(view):
                break
            out.append(bytes(view[at + HEADER.size:end]))
            at = end
        if at:
            del self._buffer[:at]
            self._start += at
        return out
