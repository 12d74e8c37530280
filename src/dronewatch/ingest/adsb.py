"""ADS-B and Mode S replies to messages and ``adsb`` detections, with state per aircraft.

Every reply is decoded by rs1090 (MIT, the Rust decoder behind jet1090): its CRC check, its
fields. Around it, what a receiver's software must add:

- **Addresses.** DF17/18 (extended squitter, CRC checked) and DF11 (all-call reply, address
  in clear) make an aircraft *heard*. Surveillance and Comm-B replies (DF0/4/5/16/20/21)
  carry their address only overlaid on the parity: one whose address has not been heard in
  the last ``heard_s`` is dropped (``unheard_address``), or noise makes phantom aircraft.
- **Positions (CPR).** An aircraft's first position needs an even and an odd airborne
  position message at most ``pair_s`` apart (global decoding, rs1090's); after that each
  message is decoded alone against the aircraft's last position while it is less than
  ``local_s`` old (local decoding). A position further from the receiver than
  ``max_range_m``, or further from the aircraft's last than ``max_speed_mps`` allows, is
  dropped (``implausible_position``). Surface positions are decoded against the receiver's
  position (within 45 NM), or the aircraft's last.
- **Time.** Beast and AVR timestamps count the receiver's 12 MHz clock, not UNIX time:
  ``start`` maps the first frame's count to a UNIX time (a live feed: the time it arrived).

Mode A/C replies (no address) are counted and not decoded. Every dropped frame is counted by
reason in :attr:`ModeSDecoder.counts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import rs1090

from dronewatch.errors import DecodeError, DronewatchError, FormatError
from dronewatch.formats.adsb import FeedFormat, ModeSFrame, avr_line, beast_frames, hex_line, parse_feed_url, sbs_line
from dronewatch.model import EMERGENCY_SQUAWKS, Detection

FEET = 0.3048
ADSB_SIGMA = {"lat": 15.0, "lon": 15.0, "alt": 25.0}
"""A transponder's reported position, one standard deviation in metres (NACp 8 and better: under 93 m at 95 %)."""
_EXTENDED_SQUITTER = (17, 18)
_ALL_CALL = 11
_AIRBORNE_POSITION_TC = (*range(9, 19), *range(20, 23))
_SURFACE_POSITION_TC = range(5, 9)
_MAX_LINE_BYTES = 4096
_REANCHOR_S = 2.0


@dataclass(slots=True)
class Aircraft:
    """What is known of one aircraft (ICAO address)."""

    icao: str
    heard_t: float = -math.inf
    callsign: str | None = None
    squawk: str | None = None
    altitude_ft: float | None = None
    geo_minus_baro_ft: float | None = None
    groundspeed_kt: float | None = None
    track_deg: float | None = None
    vertical_rate_fpm: float | None = None
    position: tuple[float, float] | None = None
    position_t: float = -math.inf
    pending: dict[str, tuple[str, float]] = field(default_factory=dict)
    """The last airborne position message of each parity not yet paired: hex and time."""


class ModeSDecoder:
    """Feed frames with :meth:`decode`; it returns each one's message, and keeps every aircraft's state."""

    def __init__(self, receiver: tuple[float, float] | None = None, *, start: float | None = None,
                 heard_s: float = 60.0, pair_s: float = 10.0, local_s: float = 30.0,
                 max_range_m: float = 600_000.0, max_speed_mps: float = 600.0, forget_s: float = 600.0) -> None:
        self.receiver = receiver
        self.start = start
        self.heard_s, self.pair_s, self.local_s = heard_s, pair_s, local_s
        self.max_range_m, self.max_speed_mps = max_range_m, max_speed_mps
        self.forget_s = forget_s
        """An aircraft not heard for this long is forgotten: a receiver runs for months, and noise (or a
        transmitter sending made-up addresses) would otherwise grow the table without end."""
        self._swept_t = -math.inf
        self.aircraft: dict[str, Aircraft] = {}
        self.counts: Counter[str] = Counter()
        self.first_errors: dict[str, DronewatchError] = {}
        """The first error of each counted kind of bad input, to name it (what, where)."""
        self._first_t: float | None = None

    def count_error(self, kind: str, error: DronewatchError) -> None:
        self.counts[kind] += 1
        self.first_errors.setdefault(kind, error)

    def apply_sbs(self, message: dict[str, Any]) -> dict[str, Any]:
        """Take an SBS-1 message (already decoded by the receiver) into its aircraft's state; returns it,
        with ``emergency`` where the squawk is one."""
        self.counts["sbs_messages"] += 1
        plane = self.aircraft.setdefault(message["icao"], Aircraft(message["icao"]))
        plane.heard_t = message["t"]
        for key, attribute in (("callsign", "callsign"), ("altitude_ft", "altitude_ft"), ("squawk", "squawk"),
                               ("groundspeed_kt", "groundspeed_kt"), ("track_deg", "track_deg"),
                               ("vertical_rate_fpm", "vertical_rate_fpm")):
            if key in message:
                setattr(plane, attribute, message[key])
        if "lat" in message and "lon" in message:
            plane.position, plane.position_t = (message["lat"], message["lon"]), message["t"]
        if plane.squawk in EMERGENCY_SQUAWKS and "squawk" in message:
            message["emergency"] = EMERGENCY_SQUAWKS[plane.squawk]
        return message

    def time_of(self, frame: ModeSFrame, arrived: float | None = None) -> float:
        """The frame's UNIX time. From a file: ``start`` plus its receiver time since the first frame's, else
        its own time (``hex`` lines). Live (``arrived`` given): its arrival time, the receiver's count keeping
        the spacing between frames, anchored afresh when the two drift more than 2 s apart (the receiver
        restarted, or the connection stalled)."""
        if frame.t is None:
            return arrived if arrived is not None else 0.0
        if arrived is not None and (self.start is None or self._first_t is None
                                    or abs(self.start + frame.t - self._first_t - arrived) > _REANCHOR_S):
            self.start, self._first_t = arrived, frame.t
        if self.start is None:
            return frame.t
        if self._first_t is None:
            self._first_t = frame.t
        return self.start + (frame.t - self._first_t)

    def decode(self, frames: Sequence[ModeSFrame], arrived: float | None = None) -> list[dict[str, Any] | None]:
        """Per frame, in order, its message (``t``, ``icao``, ``df``, ``tc`` for extended squitter, and
        what it carries), or ``None`` when it is dropped (counted by reason). Frames are decoded in one
        batch: many at a time are faster than one by one."""
        mode_s = [k for k, frame in enumerate(frames) if len(frame.data) != 2]
        hexes = [frames[k].data.hex() for k in mode_s]
        decoded = _rs1090(hexes) if mode_s else []
        out: list[dict[str, Any] | None] = [None] * len(frames)
        for k, hex_frame, fields in zip(mode_s, hexes, decoded, strict=True):
            out[k] = self._apply(frames[k], hex_frame, fields, arrived)
        self.counts["frames"] += len(frames)
        self.counts["mode_ac"] += len(frames) - len(mode_s)
        latest = max((m["t"] for m in out if m is not None), default=-math.inf)
        if latest - self._swept_t > self.forget_s / 10.0:
            self._swept_t = latest
            for icao in [k for k, plane in self.aircraft.items() if latest - plane.heard_t > self.forget_s]:
                del self.aircraft[icao]
        return out

    def _apply(self, frame: ModeSFrame, hex_frame: str, decoded: dict[str, Any] | None, arrived: float | None
               ) -> dict[str, Any] | None:
        t = self.time_of(frame, arrived)
        df = frame.data[0] >> 3
        if decoded is None or "icao24" not in decoded:
            self.counts["crc_failed" if df in _EXTENDED_SQUITTER else "undecodable"] += 1
            return None
        icao = str(decoded["icao24"]).upper()
        plane = self.aircraft.get(icao)
        if df in _EXTENDED_SQUITTER or df == _ALL_CALL:
            plane = plane or self.aircraft.setdefault(icao, Aircraft(icao))
            plane.heard_t = t
        elif plane is None or t - plane.heard_t > self.heard_s:
            self.counts["unheard_address"] += 1
            return None
        self.counts[f"df{df}"] += 1
        message: dict[str, Any] = {"t": t, "icao": icao, "df": df}
        if df in _EXTENDED_SQUITTER:
            message["tc"] = frame.data[4] >> 3
            self._squitter(plane, hex_frame, message["tc"], decoded, t, message)
        if decoded.get("altitude") is not None and df != 17:
            plane.altitude_ft = message["altitude_ft"] = float(decoded["altitude"])
        if decoded.get("squawk"):
            plane.squawk = message["squawk"] = str(decoded["squawk"])
            if plane.squawk in EMERGENCY_SQUAWKS:
                message["emergency"] = EMERGENCY_SQUAWKS[plane.squawk]
        return message

    def _squitter(self, plane: Aircraft, hex_frame: str, tc: int, decoded: dict[str, Any], t: float,
                  message: dict[str, Any]) -> None:
        if decoded.get("callsign"):
            plane.callsign = message["callsign"] = str(decoded["callsign"]).strip("_ ")
        if decoded.get("groundspeed") is not None:
            plane.groundspeed_kt = message["groundspeed_kt"] = float(decoded["groundspeed"])
        if decoded.get("track") is not None:
            plane.track_deg = message["track_deg"] = float(decoded["track"])
        if decoded.get("vertical_rate") is not None:
            plane.vertical_rate_fpm = message["vertical_rate_fpm"] = float(decoded["vertical_rate"])
        if decoded.get("geo_minus_baro") is not None:
            plane.geo_minus_baro_ft = float(decoded["geo_minus_baro"])
        if tc in _AIRBORNE_POSITION_TC and decoded.get("altitude") is not None:
            plane.altitude_ft = message["altitude_ft"] = float(decoded["altitude"])
        if tc in _AIRBORNE_POSITION_TC or tc in _SURFACE_POSITION_TC:
            position = self._position(plane, hex_frame, tc, decoded, t)
            if position is not None:
                plane.position, plane.position_t = position, t
                message["lat"], message["lon"] = position
                if tc in _SURFACE_POSITION_TC:
                    message["on_ground"] = True

    def _position(self, plane: Aircraft, hex_frame: str, tc: int, decoded: dict[str, Any], t: float
                  ) -> tuple[float, float] | None:
        recent = plane.position is not None and t - plane.position_t <= self.local_s
        if tc in _SURFACE_POSITION_TC:
            reference = plane.position if recent else self.receiver
            if reference is None:
                self.counts["no_reference"] += 1
                return None
            return self._checked(plane, _rs1090(hex_frame, reference=reference), t)
        if recent:
            assert plane.position is not None
            return self._checked(plane, _rs1090(hex_frame, reference=plane.position), t)
        parity = str(decoded.get("parity"))
        other = plane.pending.get("odd" if parity == "even" else "even")
        plane.pending[parity] = (hex_frame, t)
        if other is None or abs(t - other[1]) > self.pair_s:
            self.counts["awaiting_pair"] += 1
            return None
        pair = sorted([other, (hex_frame, t)], key=lambda item: item[1])
        result = _rs1090([h for h, _ in pair], [s for _, s in pair])
        plane.pending.clear()
        return self._checked(plane, result[-1] if result[-1]["frame"] == hex_frame.lower() else result[0], t)

    def _checked(self, plane: Aircraft, decoded: dict[str, Any] | None, t: float) -> tuple[float, float] | None:
        if decoded is None or decoded.get("latitude") is None or decoded.get("longitude") is None:
            self.counts["no_position"] += 1
            return None
        position = (float(decoded["latitude"]), float(decoded["longitude"]))
        far = self.receiver is not None and _distance_m(self.receiver, position) > self.max_range_m
        fast = plane.position is not None and _distance_m(plane.position, position) > self.max_speed_mps * max(
            t - plane.position_t, 1.0)
        if far or fast or not (-90.0 <= position[0] <= 90.0 and -180.0 <= position[1] <= 180.0):
            self.counts["implausible_position"] += 1
            return None
        return position

    def detection(self, message: dict[str, Any], sensor: str) -> Detection | None:
        """The ``adsb`` detection a position message makes: its aircraft's position, altitude (geometric
        where the aircraft reports the difference from barometric, else barometric; metres), speed and track."""
        plane = self.aircraft[message["icao"]]
        altitude_ft = plane.altitude_ft
        if "lat" not in message or altitude_ft is None:
            return None
        if altitude_ft is not None and plane.geo_minus_baro_ft is not None:
            altitude_ft += plane.geo_minus_baro_ft
        return Detection(
            t=message["t"], sensor=sensor, lat=message["lat"], lon=message["lon"],
            alt=altitude_ft * FEET, icao=plane.icao,
            speed_mps=plane.groundspeed_kt * 1852.0 / 3600.0 if plane.groundspeed_kt is not None else None,
            track_deg=plane.track_deg, callsign=plane.callsign, squawk=plane.squawk)


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, a spherical Earth: ample for a plausibility check)."""
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((lat2 - lat1) / 2.0) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(
        math.radians(b[1] - a[1]) / 2.0) ** 2
    return 2.0 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(h)))


def sniff_format(data: bytes, source: str = "<feed>") -> FeedFormat:
    """Which feed ``data`` holds, from its first bytes (Beast: ``1a`` and a frame type; text: the first
    line's shape); a :class:`DecodeError` if none."""
    if data[:1] == b"\x1a" and len(data) > 1 and data[1] in (0x31, 0x32, 0x33, 0x34):
        return "beast"
    first = next((line.strip() for line in data[:4096].decode("ascii", "replace").splitlines() if line.strip()), "")
    if first[:1] in ("*", "@", "<") and first.endswith(";"):
        return "avr"
    if first.startswith(("MSG,", "SEL,", "ID,", "AIR,", "STA,", "CLK,")):
        return "sbs"
    parts = first.replace(",", " ").split()
    if len(parts) == 2 and all(c in "0123456789abcdefABCDEF" for c in parts[1]) and len(parts[1]) in (14, 28):
        return "hex"
    raise DecodeError(f"{source}: not a Mode S feed (Beast, AVR, SBS-1 or timestamped hex): starts {data[:16]!r}",
                      offset=0)


def feed_messages(data: bytes, feed: FeedFormat, decoder: ModeSDecoder, source: str = "<feed>",
                  batch: int = 4096, arrived: float | None = None) -> Iterator[dict[str, Any]]:
    """The messages of a whole feed file, in order; bad frames and lines are counted in ``decoder.counts``
    (``bad_line``, ``beast_error``) and the first of each reason kept in ``decoder.first_errors``."""
    if feed == "beast":
        frames, _, errors = beast_frames(data)
        for error in errors:
            decoder.count_error("beast_error", error)
        for start in range(0, len(frames), batch):
            yield from (m for m in decoder.decode(frames[start:start + batch], arrived) if m is not None)
        return
    lines = data.decode("ascii", "replace").splitlines()
    if feed == "sbs":
        for number, line in enumerate(lines, start=1):
            try:
                message = sbs_line(line, source=source, number=number)
            except FormatError as error:
                decoder.count_error("bad_line", error)
                continue
            if message is not None:
                yield decoder.apply_sbs(message)
        return
    parse = avr_line if feed == "avr" else hex_line
    pending: list[ModeSFrame] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            pending.append(parse(line, source=source, number=number))
        except FormatError as error:
            decoder.count_error("bad_line", error)
            continue
        if len(pending) >= batch:
            yield from (m for m in decoder.decode(pending, arrived) if m is not None)
            pending = []
    yield from (m for m in decoder.decode(pending, arrived) if m is not None)


def _rs1090(messages: str | list[str], timestamps: list[float] | None = None, *,
            reference: tuple[float, float] | None = None) -> Any:
    """rs1090's decode, its results as plain dicts: their keys depend on the message's type."""
    if isinstance(messages, str):
        return rs1090.decode(messages, reference=reference)
    if timestamps is None:
        return rs1090.decode(messages)
    return rs1090.decode(messages, timestamps, reference=reference)


async def live_feed(url: str, decoder: ModeSDecoder, read_bytes: int = 65_536
                    ) -> AsyncIterator[list[dict[str, Any]]]:
    """The messages of a receiver's TCP feed, a batch per read, each at its arrival time (the receiver's
    12 MHz count keeps the spacing within a read); bad frames and lines counted in ``decoder.counts``. Ends
    when the receiver closes the connection (the caller reconnects)."""
    feed, host, port = parse_feed_url(url)
    reader, writer = await asyncio.open_connection(host, port)
    buffer = b""
    try:
        while chunk := await reader.read(read_bytes):
            arrived = time.time()
            buffer += chunk
            if feed == "beast":
                frames, used, errors = beast_frames(buffer, final=False)
                buffer = buffer[used:]
                for error in errors:
                    decoder.count_error("beast_error", error)
                yield [m for m in decoder.decode(frames, arrived) if m is not None]
                continue
            text, _, rest = buffer.rpartition(b"\n")
            buffer = rest
            if len(buffer) > _MAX_LINE_BYTES:  # a line without an end: not a feed of lines
                decoder.count_error("bad_line", FormatError("line too long", source=url))
                buffer = b""
            yield list(feed_messages(text, feed, decoder, url, arrived=arrived))
    finally:
        writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()
