"""The text line format of live Remote ID receivers (ESP32, nRF52 and similar boards).

One received frame per line, ``key=value`` tokens separated by spaces, in any order::

    t=1764000000.25 src=60:60:1f:5a:3b:0c rssi=-71 wifi=80000000ffffffffffff...
    src=e4:5f:01:aa:bb:cc ble=1e16faff0d...
    odid=f019030012...
    f019030012...

Exactly one payload token:

- ``wifi=HEX``: an 802.11 management frame without radiotap header or FCS (a beacon with
  the Remote ID vendor element, or a NAN service discovery frame), as an ESP32 in
  promiscuous mode hands it over. The sender is the frame's transmitter address.
- ``ble=HEX``: Bluetooth LE advertising data (the AD structures, legacy or extended), as
  BLE scanner callbacks report it; give the advertiser address as ``src``.
- ``odid=HEX``, or a line of hex alone: one Remote ID message or message pack without any
  transport header.

Optional: ``t`` (UNIX seconds at reception; default: when the line arrived), ``src`` (the
transmitter address; default: the peer the line came from), ``rssi`` (dBm, kept for
display). Blank lines and lines starting with ``#`` are skipped. Hex may be in either case.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dronewatch.errors import DecodeError, FormatError
from dronewatch.formats.remoteid.bluetooth import ad_payloads
from dronewatch.formats.remoteid.messages import Message, MessagePack, decode
from dronewatch.formats.remoteid.wifi import Payload, wifi_payloads

_HEX = re.compile(r"[0-9a-fA-F]+")
_PAYLOAD_KINDS = ("wifi", "ble", "odid")


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """The Remote ID content of one receiver line."""

    t: float
    sender: str
    transport: str
    messages: tuple[Message, ...]
    rssi_dbm: float | None = None


def parse_receiver_line(line: str, received_at: float, peer: str = "unknown") -> list[ReceivedFrame]:
    """The frames of one line (none for a blank or comment line, or a frame without Remote ID).

    Raises :class:`FormatError` naming the token at fault, or carrying the decoder's reason.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return []
    tokens: dict[str, str] = {}
    words = text.split()
    for token in words:
        key, sep, value = token.partition("=")
        if not sep:
            if len(words) > 1:
                raise FormatError(f"{token[:20]!r}: expected key=value")
            key, value = "odid", token
        if key in tokens:
            raise FormatError(f"{key}= given twice")
        tokens[key] = value
    unknown = set(tokens) - {"t", "src", "rssi", *_PAYLOAD_KINDS}
    if unknown:
        raise FormatError(f"unknown key(s) {', '.join(sorted(unknown))}; expected t, src, rssi and one of "
                          f"{', '.join(_PAYLOAD_KINDS)}")
    kinds = [k for k in _PAYLOAD_KINDS if k in tokens]
    if len(kinds) != 1:
        raise FormatError(f"need exactly one payload (wifi=, ble= or odid=), got {len(kinds)}")
    kind = kinds[0]
    raw = tokens[kind]
    if not _HEX.fullmatch(raw) or len(raw) % 2:
        raise FormatError(f"{kind}=: {raw[:20]!r} is not an even number of hex digits")
    data = bytes.fromhex(raw)
    given_t = _number(tokens, "t")
    t = received_at if given_t is None else given_t
    rssi = _number(tokens, "rssi")
    sender = tokens.get("src", peer).lower()
    try:
        if kind == "wifi":
            payloads = wifi_payloads(data)
            if "src" in tokens:
                payloads = [Payload(p.transport, sender, p.counter, p.data, p.offset) for p in payloads]
        elif kind == "ble":
            payloads = ad_payloads(data, sender, "bluetooth")
        else:
            payloads = [Payload("raw", sender, 0, data, 0)]
        out = []
        for payload in payloads:
            item = decode(payload.data)
            messages = item.messages if isinstance(item, MessagePack) else (item,)
            out.append(ReceivedFrame(t, payload.sender, payload.transport, messages, rssi))
        return out
    except DecodeError as error:
        raise FormatError(f"{kind}=: {error}") from None


def _number(tokens: dict[str, str], key: str) -> float | None:
    if key not in tokens:
        return None
    try:
        value = float(tokens[key])
    except ValueError:
        raise FormatError(f"{key}=: {tokens[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise FormatError(f"{key}=: {tokens[key]!r} is not finite")
    return value
