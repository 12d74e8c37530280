"""Packet captures: classic pcap (either byte order, micro- or nanosecond) and pcapng.

Pure functions over the bytes of a capture; frames are numbered from 1 as Wireshark counts
them (every packet block, whatever its interface). A capture cut short ends with a
:class:`~dronewatch.errors.DecodeError` naming the byte offset, after the frames before it.

pcap: 24-byte global header (magic ``a1b2c3d4`` us / ``a1b23c4d`` ns, either byte order;
link type at byte 20), then per packet: seconds, sub-seconds, captured length, original
length (4 bytes each) and the data. pcapng: blocks of (type, total length, body, total
length); Section Header ``0a0d0d0a`` (byte-order magic ``1a2b3c4d``), Interface Description
``1`` (link type, options with ``if_tsresol``), Enhanced Packet ``6`` (interface, timestamp
high/low, captured and original length, data), Simple Packet ``3`` (original length, data).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from dronewatch.errors import DecodeError

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR = 256
LINKTYPE_NORDIC_BLE = 272

_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
_PCAPNG_SECTION = b"\x0a\x0d\x0d\x0a"


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured packet: its 1-based number, UNIX time, link type and bytes."""

    number: int
    t: float
    linktype: int
    data: bytes


def read_frames(data: bytes) -> Iterator[Frame]:
    """The frames of a pcap or pcapng capture held in ``data``."""
    if data[:4] in _PCAP_MAGIC:
        yield from _pcap(data)
    elif data[:4] == _PCAPNG_SECTION:
        yield from _pcapng(data)
    else:
        raise DecodeError(f"not a pcap or pcapng capture (magic {data[:4].hex() or 'missing'})", offset=0)


def _pcap(data: bytes) -> Iterator[Frame]:
    order, tick = _PCAP_MAGIC[data[:4]]
    if len(data) < 24:
        raise DecodeError("pcap global header cut short", offset=len(data))
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    offset, number = 24, 0
    while offset < len(data):
        if offset + 16 > len(data):
            raise DecodeError("pcap packet header cut short", offset=offset)
        seconds, fraction, captured, _ = struct.unpack_from(order + "IIII", data, offset)
        end = offset + 16 + captured
        if end > len(data):
            raise DecodeError(f"pcap packet {number + 1} claims {captured} bytes past the end", offset=offset)
        number += 1
        yield Frame(number, seconds + fraction * tick, linktype, data[offset + 16:end])
        offset = end


def _pcapng(data: bytes) -> Iterator[Frame]:
    order = "<"
    interfaces: list[tuple[int, float]] = []
    offset, number = 0, 0
    while offset < len(data):
        if offset + 12 > len(data):
            raise DecodeError("pcapng block header cut short", offset=offset)
        block_type = data[offset:offset + 4]
        if block_type == _PCAPNG_SECTION:
            magic = data[offset + 8:offset + 12]
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise DecodeError(f"pcapng section: bad byte-order magic {magic.hex()}", offset=offset + 8)
            interfaces = []
        kind, length = struct.unpack_from(order + "II", data, offset)
        if length < 12 or length % 4 or offset + length > len(data):
            raise DecodeError(f"pcapng block of type {kind} with bad length {length}", offset=offset + 4)
        body = data[offset + 8:offset + length - 4]
        if kind == 1:
            if len(body) < 8:
                raise DecodeError("pcapng interface block cut short", offset=offset)
            linktype = struct.unpack_from(order + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], order)))
        elif kind == 6:
            if len(body) < 20:
                raise DecodeError("pcapng enhanced packet block cut short", offset=offset)
            interface, high, low, captured, _ = struct.unpack_from(order + "IIIII", body, 0)
            if interface >= len(interfaces) or 20 + captured > len(body):
                raise DecodeError(f"pcapng packet: interface {interface} or length {captured} invalid", offset=offset)
            number += 1
            linktype, tick = interfaces[interface]
            yield Frame(number, ((high << 32) | low) * tick, linktype, body[20:20 + captured])
        elif kind == 3:
            if not interfaces or len(body) < 4:
                raise DecodeError("pcapng simple packet without interface or cut short", offset=offset)
            original = struct.unpack_from(order + "I", body, 0)[0]
            number += 1
            yield Frame(number, 0.0, interfaces[0][0], body[4:4 + original])
        offset += length


def _tsresol(options: bytes, order: str) -> float:
    """The interface's time resolution (option ``if_tsresol``, code 9); microseconds by default."""
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, offset)
        if code == 0:
            break
        if code == 9 and length >= 1 and offset + 5 <= len(options):
            value = options[offset + 4]
            return float(2.0 ** -(value & 0x7F)) if value & 0x80 else 10.0 ** -value
        offset += 4 + (length + 3) // 4 * 4
    return 1e-6


class PcapngWriter:
    """Writes one section with one interface of ``linktype``; timestamps in microseconds."""

    def __init__(self, stream: IO[bytes], linktype: int, *, application: str = "dronewatch") -> None:
        self._stream = stream
        option = application.encode()
        options = struct.pack("<HH", 4, len(option)) + _pad(option) + struct.pack("<HH", 0, 0)  # shb_userappl
        self._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options)
        self._block(1, struct.pack("<HHI", linktype, 0, 0))
        self.frames = 0

    def write(self, t: float, data: bytes) -> None:
        """One Enhanced Packet Block: the frame captured at UNIX time ``t``."""
        ticks = round(t * 1e6)
        self._block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + _pad(data))
        self.frames += 1

    def _block(self, kind: int, body: bytes) -> None:
        length = 12 + len(body)
        self._stream.write(struct.pack("<II", kind, length) + body + struct.pack("<I", length))


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)
