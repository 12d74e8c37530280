"""Mode S receiver feeds as dump1090, readsb and their kin serve them: framing only.

The replies themselves are decoded by a maintained library (:mod:`dronewatch.ingest.adsb`);
this module cuts a feed into frames, each a Mode S reply's bytes and the receiver's time:

``beast``  binary, port 30005: ``1a`` + type (``31`` Mode A/C 2 bytes, ``32`` Mode S short 7,
           ``33`` Mode S long 14, ``34`` receiver status 14) + 6-byte timestamp + 1 signal byte +
           the reply; a ``1a`` inside is doubled. The timestamp is the receiver's 12 MHz counter.
``avr``    text, port 30002: ``*HEX;``, or ``@`` + 12 hex digits of that counter + ``HEX;``
           (``<`` adds 2 digits of signal after the counter).
``hex``    text, one reply a line after its UNIX time: ``TIME,HEX`` or ``ISO-8601<spaces>HEX``.
``sbs``    SBS-1 / BaseStation CSV, port 30003: already decoded by the receiver
           (:func:`sbs_line`), no reply bytes.

A frame that cannot be cut raises :class:`~dronewatch.errors.DecodeError` (binary) or
:class:`~dronewatch.errors.FormatError` (text) naming the offset or the line; readers count it
and go on with the next frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from dronewatch.errors import ConfigError, DecodeError, FormatError

FeedFormat = Literal["beast", "avr", "hex", "sbs"]
FEED_FORMATS: tuple[FeedFormat, ...] = ("beast", "avr", "hex", "sbs")
RECEIVER_CLOCK_HZ = 12e6
"""The Beast and AVR timestamps count a 12 MHz clock (dump1090's, readsb's)."""

_ESCAPE = 0x1A
_BEAST_LENGTHS = {0x31: 2, 0x32: 7, 0x33: 14, 0x34: 14}
_BEAST_STATUS = 0x34
_REPLY_LENGTHS = (2, 7, 14)
_HEX = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True, slots=True)
class ModeSFrame:
    """One reply as the receiver framed it: ``t`` in seconds of the receiver's clock (UNIX seconds for
    ``hex`` lines; ``None`` when the feed gives no time), its bytes (2 for Mode A/C, 7 or 14 for
    Mode S), and the signal level byte where the feed gives one."""

    t: float | None
    data: bytes
    signal: int | None = None


def beast_frames(buffer: bytes | bytearray, *, final: bool = True) -> tuple[list[ModeSFrame], int, list[DecodeError]]:
    """The Beast frames in ``buffer``, how many bytes they used, and the errors met between them.

    Bytes before the first ``1a`` that starts a frame, and frames of an unknown type, are skipped with
    an error naming their offset (the reader resynchronises on the next ``1a``). With ``final`` false
    (a live stream), a frame cut short at the end is left for the next call: it is not counted in the
    bytes used. Receiver status frames (type ``34``) are consumed and not returned."""
    frames: list[ModeSFrame] = []
    errors: list[DecodeError] = []
    n, offset, used = len(buffer), 0, 0
    while offset < n:
        start = buffer.find(_ESCAPE, offset)
        if start < 0:
            errors.append(DecodeError(f"{n - offset} bytes outside any Beast frame", offset=offset))
            return frames, n, errors
        if start > offset:
            errors.append(DecodeError(f"{start - offset} bytes outside any Beast frame", offset=offset))
        if start + 1 >= n:
            if final:
                errors.append(DecodeError("Beast frame cut short", offset=start))
                return frames, n, errors
            return frames, start, errors
        kind = buffer[start + 1]
        length = _BEAST_LENGTHS.get(kind)
        if length is None:
            errors.append(DecodeError(f"unknown Beast frame type {kind:#04x}", offset=start))
            offset = used = start + 2  # the type byte too (a doubled 1a is a data byte of a frame missed)
            continue
        body, end = _unescape(buffer, start + 2, 7 + length)
        if body is None:
            if end < 0:  # cut short
                if final:
                    errors.append(DecodeError("Beast frame cut short", offset=start))
                    return frames, n, errors
                return frames, start, errors
            errors.append(DecodeError("Beast frame broken by an unescaped 1a", offset=start))
            offset = used = end
            continue
        offset = used = end
        if kind == _BEAST_STATUS:
            continue
        frames.append(ModeSFrame(int.from_bytes(body[:6], "big") / RECEIVER_CLOCK_HZ, bytes(body[7:]), body[6]))
    return frames, used, errors


def _unescape(buffer: bytes | bytearray, offset: int, count: int) -> tuple[bytearray | None, int]:
    """``count`` bytes from ``offset`` with doubled ``1a`` undone, and the offset after them. ``(None, -1)``
    if the buffer ends first; ``(None, k)`` if a lone ``1a`` at ``k`` starts the next frame early."""
    out = bytearray()
    n = len(buffer)
    while len(out) < count:
        if offset >= n:
            return None, -1
        byte = buffer[offset]
        if byte == _ESCAPE:
            if offset + 1 >= n:
                return None, -1
            if buffer[offset + 1] != _ESCAPE:
                return None, offset
            offset += 1
        out.append(byte)
        offset += 1
    return out, offset


def avr_line(line: str, *, source: str = "<avr>", number: int | None = None) -> ModeSFrame:
    """One AVR line: ``*HEX;``, ``@`` + 12-digit counter + ``HEX;``, or ``<`` + counter + 2-digit signal + ``HEX;``."""
    text = line.strip()
    if len(text) < 2 or text[0] not in "*@<" or not text.endswith(";"):
        raise FormatError(f"not an AVR frame (*HEX; or @TIMEHEX;): {text[:40]!r}", source=source, line=number)
    body = text[1:-1]
    t: float | None = None
    signal: int | None = None
    if text[0] in "@<":
        head = 14 if text[0] == "<" else 12
        if len(body) <= head or not _HEX.fullmatch(body[:head]):
            raise FormatError(f"AVR timestamp missing or not hex: {text[:40]!r}", source=source, line=number)
        t = int(body[:12], 16) / RECEIVER_CLOCK_HZ
        signal = int(body[12:14], 16) if text[0] == "<" else None
        body = body[head:]
    return ModeSFrame(t, _reply(body, source, number), signal)


def hex_line(line: str, *, source: str = "<hex>", number: int | None = None) -> ModeSFrame:
    """One timestamped hex line: ``UNIXTIME,HEX`` or ``ISO-8601<spaces>HEX`` (an ISO time without a zone is UTC)."""
    text = line.strip()
    if "," in text:
        stamp, _, body = text.partition(",")
        try:
            t = float(stamp)
        except ValueError:
            raise FormatError(f"time {stamp[:30]!r} is not a number of seconds", source=source, line=number) from None
    else:
        parts = text.split()
        if len(parts) != 2:
            raise FormatError(f"not TIME,HEX or ISO-TIME HEX: {text[:40]!r}", source=source, line=number)
        stamp, body = parts
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            raise FormatError(f"time {stamp[:30]!r} is not ISO 8601", source=source, line=number) from None
        t = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return ModeSFrame(t, _reply(body.strip(), source, number))


def _reply(body: str, source: str, number: int | None) -> bytes:
    if not _HEX.fullmatch(body) or len(body) // 2 not in _REPLY_LENGTHS or len(body) % 2:
        raise FormatError(f"reply {body[:30]!r} is not 4, 14 or 28 hex digits", source=source, line=number)
    return bytes.fromhex(body)


_SBS_FIELDS = 22
_SBS_MESSAGE_TYPES = range(1, 9)


def sbs_line(line: str, *, source: str = "<sbs>", number: int | None = None) -> dict[str, Any] | None:
    """One SBS-1 line as a decoded message (the keys :mod:`dronewatch.ingest.adsb` writes: ``t``,
    ``icao``, ``msg_type`` and what the line carries); ``None`` for lines that are not ``MSG``
    (``SEL``, ``ID``, ``AIR``, ``STA``, ``CLK``, and the blank and tool-output lines files end with).
    The generated date and time are taken as UTC."""
    text = line.strip()
    if not text.startswith("MSG,"):
        return None
    cells = text.split(",")
    if len(cells) < _SBS_FIELDS:
        raise FormatError(f"SBS MSG line has {len(cells)} fields, not {_SBS_FIELDS}", source=source, line=number)
    try:
        kind = int(cells[1])
        icao = cells[4].strip().upper()
        if kind not in _SBS_MESSAGE_TYPES or not re.fullmatch(r"[0-9A-F]{6}", icao):
            raise ValueError(f"message type {cells[1]!r} or address {cells[4]!r}")
        moment = datetime.strptime(f"{cells[6]} {cells[7]}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
        out: dict[str, Any] = {"t": moment.timestamp(), "icao": icao, "msg_type": kind}
        for key, cell, convert in (("callsign", 10, str), ("altitude_ft", 11, float), ("groundspeed_kt", 12, float),
                                   ("track_deg", 13, float), ("lat", 14, float), ("lon", 15, float),
                                   ("vertical_rate_fpm", 16, float), ("squawk", 17, str)):
            value = cells[cell].strip()
            if value:
                out[key] = convert(value)
        if cells[21].strip() not in ("", "0"):
            out["on_ground"] = True
    except ValueError as exc:
        raise FormatError(f"SBS MSG line: {exc}", source=source, line=number) from None
    return out


def parse_feed_url(url: str) -> tuple[FeedFormat, str, int]:
    """``FORMAT+tcp://HOST:PORT`` (format ``beast``, ``avr``, ``sbs`` or ``hex``) as its parts; a
    :class:`ConfigError` naming what is wrong otherwise."""
    scheme, sep, rest = url.partition("://")
    feed, plus, transport = scheme.partition("+")
    host, colon, port = rest.rpartition(":")
    if not sep or not plus or transport != "tcp" or feed not in FEED_FORMATS or not colon or not port.isdigit():
        raise ConfigError(f"ADS-B feed {url!r}: expected FORMAT+tcp://HOST:PORT with FORMAT one of "
                          f"{', '.join(FEED_FORMATS)} (e.g. beast+tcp://127.0.0.1:30005)")
    if not 0 < int(port) < 65536:
        raise ConfigError(f"ADS-B feed {url!r}: port {port} is not a TCP port")
    return feed, host.strip("[]"), int(port)
