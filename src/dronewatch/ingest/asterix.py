"""ASTERIX radar and tracker feeds to dronewatch records, with state per feed: editions per source,
time of day to UNIX time, duplicated links de-duplicated, radar status, counters of what was dropped.

What becomes what:

- **CAT048 plot** -> a ``radar`` :class:`~dronewatch.model.Detection` of the sensor configured for its
  SAC/SIC (its position and identity come from the configuration, ``{(sac, sic): Sensor}``):
  ``range_m`` = RHO (slant range, 1/256 NM x 1852 m), ``azimuth_deg`` = THETA, ``elevation_deg`` from the
  plot's height (below), and the transponder's identity where the plot has it: ``icao`` (I048/220),
  ``squawk`` (Mode 3/A), ``callsign`` (I048/240).
- **CAT034 north marker** -> a :class:`~dronewatch.model.Scan` of that radar (the antenna passed north:
  a scan ended); every CAT034 message also updates the radar's :class:`RadarStatus` (scan period,
  antenna period, NOGO, overload, the position the radar reports for itself).
- **CAT062 system track** -> a :class:`~dronewatch.model.TrackReport` named ``<system id>:<track number>``
  with the SDPS's position, altitude, velocity and identities (``icao``, ``callsign``, ``squawk``): it is
  another tracker's estimate, not a measurement of one of the site's sensors, so it arrives as what
  trackers publish (the shape a regional tracker already takes from site trackers), not as a detection.

**Time.** ASTERIX gives seconds since UTC midnight. The day comes from a reference: the capture's
timestamp, the arrival time of a live datagram, or a configured date (then each record's neighbour in the
stream). The record falls on the reference's day unless that puts it more than 12 h away, when it is the
day before or after (midnight rollover): ``t = day + tod`` then ``-/+ 86 400`` as needed.

**Elevation from height.** A plot gives slant range ``rho`` and a height: the 3-D radar's measured height
(I048/110) or else the Mode C flight level (pressure altitude, taken as height above mean sea level: a
standard atmosphere, off by up to a few hundred metres with the day's pressure and temperature). On a
sphere of the Earth's radius of curvature in the plot's azimuth at the radar (Euler:
``R = M N / (N cos^2 az + M sin^2 az)``), with ``r1 = R + h_radar`` and ``r2 = R + h_target`` (heights
above the ellipsoid: a height above sea level plus the configured geoid undulation, none by default),
the law of cosines gives the elevation above the radar's horizontal::

    sin(elevation) = (r2^2 - r1^2 - rho^2) / (2 r1 rho)

without refraction, as the scenario format's angles are. Earth's curvature matters: a target at FL350
100 NM away is 2.5 deg up, not the 3.3 deg of a flat Earth, and 200 NM away it is on the horizon.
Against the ellipsoid itself (pymap3d) the height this places a plot at is off by under a metre at
200 km, a few metres at 400 km. A plot with no height is dropped (``no_height``) unless an
``assumed_height_m`` is given; one whose height cannot be reached at its range (``|sin| > 1``) is
dropped (``implausible_height``).

**Duplicated streams.** A radar's data often arrives twice (two links, two multicast groups). A record
whose key was seen within ``dedupe_s`` is dropped (``duplicate``): CAT048 (SAC, SIC, time of day, RHO,
THETA), CAT034 (SAC, SIC, message type, time of day, sector), CAT062 (SAC, SIC, track number, time).

Every dropped block or record is counted by reason in :attr:`AsterixDecoder.counts` (``bad_block``,
``decode_error``, ``unsupported_category``, ``duplicate``, ``unknown_source``, ``no_position``,
``no_height``, ``implausible_height``, ``no_altitude``, ``no_velocity``, ``implausible_position``,
``implausible_track`` (a track off the Earth, or faster than 2 km/s), ``bad_time``, and live ``queue_full``,
``socket_error``); the first of each is kept, naming where, in :attr:`AsterixDecoder.first_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import math
import socket
import struct
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dronewatch.config import receiver_position
from dronewatch.errors import ConfigError, DecodeError, DronewatchError
from dronewatch.formats.asterix import (
    DEFAULT_EDITIONS,
    FL_M,
    NORTH_MARKER,
    SECTOR_CROSSING,
    SUPPORTED_CATEGORIES,
    AsterixRecord,
    Cat034Status,
    Cat048Plot,
    Cat062Track,
    UdpDatagram,
    block_source,
    capture_datagrams,
    check_edition,
    data_blocks,
    decode_block,
    is_capture,
    looks_like_asterix,
)
from dronewatch.model import Detection, Scan, Sensor, SensorKind, TrackReport

log = logging.getLogger(__name__)

DROP_REASONS = ("bad_block", "decode_error", "unsupported_category", "duplicate", "unknown_source", "no_position",
                "no_height", "implausible_height", "no_altitude", "no_velocity", "implausible_position",
                "implausible_track", "bad_time", "queue_full")
"""The decoder's counts of what it did not pass on, by reason."""
SYSTEM_TRACK_SIGMA = {"lat": 60.0, "lon": 60.0, "alt": 60.0}
"""One standard deviation of a system track's position, in metres, when the configuration gives none: an
ATC tracker's accuracy in a terminal area (tens of metres) and a pressure altitude's error."""
RADAR_SIGMA = {"range_m": 50.0, "azimuth_deg": 0.1, "elevation_deg": 0.5}
"""One standard deviation of an ATC radar's plot when the configuration gives none: range and azimuth as
an SSR measures them (RHO's LSB is 7 m, THETA's 0.005 deg), elevation as a pressure altitude over a
sphere gives it (a few hundred metres of height at 30-100 km)."""
DEDUPE_S = 2.0
"""How long a record's key is remembered: duplicates arrive milliseconds apart; a radar cannot report the
same (time, range, azimuth) twice, so longer only costs memory."""
MAX_KEYS = 65_536
_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.69437999014e-3
_HALF_DAY_S = 43_200.0
_DAY_S = 86_400.0
_SCAN_GAP_S = 60.0  # north markers further apart than this say nothing about the period (a gap in the feed)
_T_MAX = 4_102_444_800.0  # 2100-01-01: what the scenario format takes (a capture's clock is 32 bits: up to 2106)
_ALT_M = (-1_000.0, 100_000.0)
_SPEED_MPS = 2_000.0
_UDP_BUFFER_BYTES = 4 << 20
IP_ADD_SOURCE_MEMBERSHIP = getattr(socket, "IP_ADD_SOURCE_MEMBERSHIP", 39 if sys.platform == "linux" else None)
"""Linux's value; Python's socket module does not name it."""

Output = Detection | Scan | TrackReport


def sac_sic(text: str, where: str) -> tuple[int, int]:
    """``SAC/SIC`` (two numbers 0-255) as a pair; :class:`ConfigError` naming ``where``."""
    sac, slash, sic = text.strip().partition("/")
    if not slash or not sac.isdigit() or not sic.isdigit() or int(sac) > 255 or int(sic) > 255:
        raise ConfigError(f"{where}: expected SAC/SIC (0-255 each), got {text!r}")
    return int(sac), int(sic)


def edition_entries(entries: Sequence[str], where: str
                    ) -> tuple[dict[int, str], dict[tuple[int, int], dict[int, str]]]:
    """``[SAC/SIC:]CAT=EDITION`` entries: the editions for every source, and those of single sources."""
    common: dict[int, str] = {}
    per_source: dict[tuple[int, int], dict[int, str]] = {}
    for entry in entries:
        source, colon, rest = entry.rpartition(":")
        category, equals, edition = rest.partition("=")
        if not equals or not category.strip().isdigit():
            raise ConfigError(f"{where}: expected [SAC/SIC:]CAT=EDITION, got {entry!r}")
        target = per_source.setdefault(sac_sic(source, where), {}) if colon else common
        target[int(category)] = edition.strip()
    return common, per_source


def radar_entry(entry: str, where: str) -> tuple[tuple[int, int], Sensor]:
    """``SAC/SIC=ID,LAT,LON[,ALT]``: a radar's source and its sensor."""
    return _source_entry(entry, where, "radar", RADAR_SIGMA)


def system_entry(entry: str, where: str) -> tuple[tuple[int, int], Sensor]:
    """``SAC/SIC=ID,LAT,LON[,ALT]``: a tracker's (SDPS) source, and the sensor its system tracks are reported
    by: a cooperative one (kind ``adsb``: positions with an aircraft address), at the system's reference point."""
    return _source_entry(entry, where, "adsb", SYSTEM_TRACK_SIGMA)


def _source_entry(entry: str, where: str, kind: SensorKind, sigma: Mapping[str, float]
                  ) -> tuple[tuple[int, int], Sensor]:
    source, equals, rest = entry.partition("=")
    sensor_id, comma, position = rest.partition(",")
    if not equals or not comma or not sensor_id.strip():
        raise ConfigError(f"{where}: expected SAC/SIC=ID,LAT,LON,ALT, got {entry!r}")
    lat, lon, alt = receiver_position(position, f"{where} {entry}")
    return sac_sic(source, where), Sensor(id=sensor_id.strip(), kind=kind, lat=lat, lon=lon, alt=alt,
                                          sigma=dict(sigma))


def system_detection(track: TrackReport) -> Detection | None:
    """A system track (:meth:`AsterixDecoder.convert`) of an aircraft with a Mode S address, as that
    address's position report from the system (fused with the site's own tracks of it, as ADS-B is); none
    without an address: the picture keys cooperative reports by address, and a track number is no
    aircraft's identity."""
    if not track.icao or not track.sensors:
        return None
    east, north, _ = track.vel_enu
    return Detection(t=track.t, sensor=track.sensors[0], lat=track.lat, lon=track.lon, alt=track.alt, icao=track.icao,
                     callsign=track.callsign, squawk=track.squawk, speed_mps=math.hypot(east, north),
                     track_deg=math.degrees(math.atan2(east, north)) % 360.0)


def tod_to_unix(tod_s: float, reference_t: float) -> float:
    """The UNIX time of ``tod_s`` seconds after a UTC midnight: the one nearest ``reference_t`` (the
    reference's day, or the day before or after when the time of day is more than 12 h from it)."""
    t = math.floor(reference_t / _DAY_S) * _DAY_S + tod_s
    if t - reference_t > _HALF_DAY_S:
        return t - _DAY_S
    if reference_t - t > _HALF_DAY_S:
        return t + _DAY_S
    return t


def earth_radius_m(lat_deg: float, azimuth_deg: float) -> float:
    """The WGS-84 ellipsoid's radius of curvature at ``lat_deg`` in the direction ``azimuth_deg`` (Euler):
    ``M N / (N cos^2 az + M sin^2 az)``, M the meridian's and N the prime vertical's radius."""
    w = 1.0 - _WGS84_E2 * math.sin(math.radians(lat_deg)) ** 2
    prime = _WGS84_A / math.sqrt(w)
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / (w * math.sqrt(w))
    az = math.radians(azimuth_deg)
    return meridian * prime / (prime * math.cos(az) ** 2 + meridian * math.sin(az) ** 2)


def elevation_deg(range_m: float, target_alt_m: float, radar_lat_deg: float, radar_alt_m: float,
                  azimuth_deg: float) -> float | None:
    """The elevation (degrees above the radar's horizontal) of a target ``range_m`` away (slant) in
    ``azimuth_deg`` at ``target_alt_m`` (both heights above the ellipsoid), on a sphere of the Earth's
    radius of curvature in that direction; ``None`` when no point at that range has that height."""
    if range_m <= 0.0:
        return None
    radius = earth_radius_m(radar_lat_deg, azimuth_deg)
    r1, r2 = radius + radar_alt_m, radius + target_alt_m
    sine = (r2 * r2 - r1 * r1 - range_m * range_m) / (2.0 * r1 * range_m)
    if not -1.0 <= sine <= 1.0:
        return None
    return math.degrees(math.asin(sine))


@dataclass(slots=True)
class RadarStatus:
    """What a radar's CAT034 messages said, as of the last one."""

    sensor: str
    north_markers: int = 0
    sector_crossings: int = 0
    last_north_t: float | None = None
    north_period_s: float | None = None
    """Between the last two north markers."""
    sector_period_s: float | None = None
    """From the last two sector crossings: their time apart over the angle between them, x 360 deg."""
    antenna_period_s: float | None = None
    """As the radar states it (I034/041)."""
    nogo: bool | None = None
    overload: bool | None = None
    reported_position: tuple[float, float, float] | None = None
    """Where the radar says it stands (I034/120): lat, lon, height (m)."""
    _last_sector: tuple[float, float] | None = None

    @property
    def scan_period_s(self) -> float | None:
        """The scan period: measured between north markers, else as stated, else from sector crossings."""
        return next((p for p in (self.north_period_s, self.antenna_period_s, self.sector_period_s)
                     if p is not None), None)

    def update(self, message: Cat034Status, t: float) -> None:
        if message.message_type == NORTH_MARKER:
            self.north_markers += 1
            if self.last_north_t is not None and 0.0 < t - self.last_north_t < _SCAN_GAP_S:
                self.north_period_s = t - self.last_north_t
            self.last_north_t = t
        elif message.message_type == SECTOR_CROSSING and message.sector_deg is not None:
            self.sector_crossings += 1
            if self._last_sector is not None:
                dt, turned = t - self._last_sector[0], (message.sector_deg - self._last_sector[1]) % 360.0
                if 0.0 < dt < _SCAN_GAP_S and turned > 0.0:
                    self.sector_period_s = dt * 360.0 / turned
            self._last_sector = (t, message.sector_deg)
        for name in ("antenna_period_s", "nogo", "overload"):
            value = getattr(message, name)
            if value is not None:
                setattr(self, name, value)
        if message.position is not None:
            self.reported_position = message.position


@dataclass(frozen=True, slots=True)
class Decoded:
    """One record as received: its UNIX time, the record, and where it came from (file or peer)."""

    t: float
    record: AsterixRecord
    source: str


class AsterixDecoder:
    """Feed datagrams (or whole raw streams) to :meth:`decode` and turn what it returns into records with
    :meth:`convert`, or both at once with :meth:`ingest`. Keeps the editions per source, the
    de-duplication window, each radar's status, and the counters.

    ``radars``: ``{(sac, sic): Sensor}`` (kind ``radar``) whose plots and service messages are taken;
    ``systems``: ``{(sac, sic): id}`` of the trackers (SDPS) whose CAT062 tracks are taken; records from
    any other source are dropped (``unknown_source``). ``editions``: ``{category: edition}`` for every
    source, ``source_editions``: ``{(sac, sic): {category: edition}}`` for one (default
    :data:`~dronewatch.formats.asterix.DEFAULT_EDITIONS`). ``date``: the UTC date of the first record
    (raw streams have no clock; a capture's, or live arrival time, serves otherwise)."""

    def __init__(self, radars: Mapping[tuple[int, int], Sensor] | None = None,
                 systems: Mapping[tuple[int, int], str] | None = None, *,
                 editions: Mapping[int, str] | None = None,
                 source_editions: Mapping[tuple[int, int], Mapping[int, str]] | None = None,
                 date: date | None = None, dedupe_s: float = DEDUPE_S, assumed_height_m: float | None = None,
                 geoid_undulation_m: float | None = None) -> None:
        self.radars = dict(radars or {})
        for key, sensor in self.radars.items():
            if sensor.kind != "radar":
                raise ConfigError(f"ASTERIX source {key[0]}/{key[1]}: sensor {sensor.id!r} is a {sensor.kind}, "
                                  "not a radar")
        self.systems = dict(systems or {})
        self.editions = {**DEFAULT_EDITIONS, **{c: check_edition(c, e) for c, e in (editions or {}).items()}}
        self.source_editions = {source: {c: check_edition(c, e) for c, e in chosen.items()}
                                for source, chosen in (source_editions or {}).items()}
        self.date = date
        self.dedupe_s = dedupe_s
        self.assumed_height_m = assumed_height_m
        self.geoid_undulation_m = geoid_undulation_m or 0.0
        self.counts: Counter[str] = Counter()
        self.first_errors: dict[str, DronewatchError] = {}
        self.status: dict[str, RadarStatus] = {s.id: RadarStatus(s.id) for s in self.radars.values()}
        self._seen: OrderedDict[Hashable, float] = OrderedDict()
        self._last_t: float | None = None

    def count_error(self, kind: str, error: DronewatchError) -> None:
        self.counts[kind] += 1
        if kind not in self.first_errors:
            self.first_errors[kind] = error
            log.debug("asterix: first %s: %s", kind, error)

    def edition(self, category: int, source: tuple[int, int] | None) -> str:
        """The edition ``category`` is read in from ``source``."""
        chosen = self.source_editions.get(source) if source is not None else None
        return (chosen or {}).get(category) or self.editions[category]

    def decode(self, payload: bytes, received_t: float | None = None, source: str = "<asterix>") -> list[Decoded]:
        """The records of one datagram (or a whole raw stream), duplicates dropped, each with its UNIX time
        (``received_t``: the capture's or arrival time, the reference for the day). Never raises on bad
        bytes: what cannot be read is counted."""
        self.counts["datagrams"] += 1
        out: list[Decoded] = []
        blocks = data_blocks(payload)
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except DecodeError as error:
                self.count_error("bad_block", DecodeError(f"{source}: {error.reason}", offset=error.offset))
                break
            self.counts["blocks"] += 1
            if block.category not in SUPPORTED_CATEGORIES:
                self.count_error("unsupported_category", DecodeError(
                    f"{source}: CAT{block.category:03d} is not read", offset=block.offset))
                continue
            records, problem = decode_block(block, self.edition(block.category, block_source(block)))
            if problem is not None:
                self.count_error("decode_error", DecodeError(f"{source}: {problem.reason}", offset=problem.offset))
            for record in records:
                t = self._time(record.tod_s, received_t)
                if self._duplicate(_key(record), t):
                    self.counts["duplicate"] += 1
                    continue
                self.counts[f"cat{record.category:03d}"] += 1
                out.append(Decoded(t, record, source))
        return out

    def _time(self, tod_s: float | None, received_t: float | None) -> float:
        if tod_s is None:
            return received_t if received_t is not None else self._last_t or 0.0
        if self.date is not None:
            midnight = datetime(self.date.year, self.date.month, self.date.day, tzinfo=UTC).timestamp()
            reference = self._last_t if self._last_t is not None else midnight + tod_s
        elif received_t is not None:
            reference = received_t
        else:  # no clock at all: the stream's own chain from 1970-01-01 (decode only; detections need a date)
            reference = self._last_t if self._last_t is not None else tod_s
        self._last_t = tod_to_unix(tod_s, reference)
        return self._last_t

    def _duplicate(self, key: Hashable, t: float) -> bool:
        if self.dedupe_s <= 0.0:  # keep every copy
            return False
        seen = self._seen
        while seen and (len(seen) >= MAX_KEYS or next(iter(seen.values())) < t - self.dedupe_s):
            seen.popitem(last=False)
        if key in seen:
            return True
        seen[key] = t
        return False

    def convert(self, decoded: Decoded) -> Output | None:
        """The dronewatch record a decoded one makes, or ``None`` when it makes none (counted by reason;
        a sector crossing makes none, and only updates its radar's status)."""
        record, t = decoded.record, decoded.t
        if not 0.0 <= t < _T_MAX:
            self.count_error("bad_time", DecodeError(f"{decoded.source}: time {t} is not between 1970 and 2100"))
            return None
        source = (record.sac, record.sic)
        if isinstance(record, Cat062Track):
            system = self.systems.get(source)
            if system is None:
                self._unknown(decoded)
                return None
            return self._track(record, t, system, decoded.source)
        sensor = self.radars.get(source)
        if sensor is None:
            self._unknown(decoded)
            return None
        if isinstance(record, Cat034Status):
            self.status[sensor.id].update(record, t)
            if record.message_type == NORTH_MARKER:
                self.counts["scans"] += 1
                return Scan(t=t, sensor=sensor.id)
            return None
        return self._detection(record, t, sensor, decoded.source)

    def ingest(self, payload: bytes, received_t: float | None = None, source: str = "<asterix>") -> list[Output]:
        """:meth:`decode` then :meth:`convert`: the records one datagram makes."""
        return [r for r in (self.convert(d) for d in self.decode(payload, received_t, source)) if r is not None]

    def _unknown(self, decoded: Decoded) -> None:
        record = decoded.record
        self.count_error("unknown_source", DecodeError(
            f"{decoded.source}: CAT{record.category:03d} from SAC/SIC {record.sac}/{record.sic}, which is not "
            "configured"))

    def _detection(self, plot: Cat048Plot, t: float, sensor: Sensor, where: str) -> Detection | None:
        if plot.rho_m is None or plot.theta_deg is None:
            self.counts["no_position"] += 1  # a track's end, or its coasting: no plot this scan
            return None
        if plot.height_m is not None:
            alt = plot.height_m + self.geoid_undulation_m
        elif plot.flight_level is not None:
            alt = plot.flight_level * FL_M + self.geoid_undulation_m
        elif self.assumed_height_m is not None:
            alt = self.assumed_height_m
        else:
            self.counts["no_height"] += 1
            return None
        elevation = elevation_deg(plot.rho_m, alt, sensor.lat, sensor.alt, plot.theta_deg)
        if elevation is None:
            self.count_error("implausible_height", DecodeError(
                f"{where}: plot of {sensor.id} at {plot.rho_m:.0f} m cannot be at {alt:.0f} m"))
            return None
        self.counts["detections"] += 1
        return Detection(t=t, sensor=sensor.id, range_m=plot.rho_m, azimuth_deg=plot.theta_deg % 360.0,
                         elevation_deg=elevation, icao=plot.aircraft_address, squawk=plot.mode3a,
                         callsign=plot.callsign)

    def _track(self, track: Cat062Track, t: float, system: str, where: str) -> TrackReport | None:
        if track.lat is None or track.lon is None:
            self.counts["no_position"] += 1  # cartesian only: relative to a reference point not configured
            return None
        if not (-90.0 <= track.lat <= 90.0 and -180.0 <= track.lon <= 180.0):
            self.count_error("implausible_position", DecodeError(
                f"{where}: track {track.track_number} at {track.lat}, {track.lon} is not on Earth"))
            return None
        if track.geometric_alt_m is not None and track.height_source in (1, 2, 3, 7):  # GNSS, 3-D, MLAT
            alt = track.geometric_alt_m
        elif track.flight_level is not None:
            alt = track.flight_level * FL_M + self.geoid_undulation_m
        else:
            self.counts["no_altitude"] += 1
            return None
        if track.vx_mps is None or track.vy_mps is None:
            self.counts["no_velocity"] += 1
            return None
        climb = track.climb_mps or 0.0
        if not _ALT_M[0] <= alt <= _ALT_M[1] or max(abs(track.vx_mps), abs(track.vy_mps), abs(climb)) > _SPEED_MPS:
            self.count_error("implausible_track", DecodeError(
                f"{where}: track {track.track_number} at {alt:.0f} m, moving {track.vx_mps}, {track.vy_mps}, "
                f"{climb} m/s"))
            return None
        self.counts["tracks"] += 1
        number = track.track_number if track.track_number is not None else "?"
        return TrackReport(t=t, id=f"{system}:{number}", lat=track.lat, lon=track.lon, alt=alt,
                           vel_enu=(track.vx_mps, track.vy_mps, climb),
                           icao=track.aircraft_address, callsign=track.callsign, squawk=track.mode3a,
                           sensors=(system,))


def _key(record: AsterixRecord) -> Hashable:
    if isinstance(record, Cat048Plot):
        return 48, record.sac, record.sic, record.tod_s, record.rho_m, record.theta_deg
    if isinstance(record, Cat034Status):
        return 34, record.sac, record.sic, record.message_type, record.tod_s, record.sector_deg
    return 62, record.sac, record.sic, record.track_number, record.tod_s


# --- files -------------------------------------------------------------------------------------------


def file_datagrams(data: bytes, source: str = "<file>") -> tuple[list[UdpDatagram], Counter[str], DecodeError | None]:
    """The datagrams of a pcap/pcapng capture, or a raw ASTERIX stream as one datagram without a clock;
    frames skipped by reason; where a capture broke off. A :class:`DecodeError` if ``data`` is neither."""
    if is_capture(data):
        return capture_datagrams(data)
    if looks_like_asterix(data):
        return [UdpDatagram(0, None, "", 0, "", 0, data)], Counter(), None
    raise DecodeError(f"{source}: neither a pcap/pcapng capture nor ASTERIX data blocks (starts "
                      f"{data[:8].hex() or 'empty'})", offset=0)


def file_records(data: bytes, decoder: AsterixDecoder, source: str = "<file>", port: int | None = None
                 ) -> Iterator[Decoded]:
    """Every record of a capture or raw stream, in order, duplicates dropped (see :meth:`AsterixDecoder.decode`);
    with ``port``, only datagrams to that UDP port. Skipped frames are counted (``frame_<reason>``), and a
    capture cut short (``bad_capture``)."""
    datagrams, skipped, error = file_datagrams(data, source)
    for reason, count in skipped.items():
        decoder.counts[f"frame_{reason}"] += count
    if error is not None:
        decoder.count_error("bad_capture", DecodeError(f"{source}: {error.reason}", offset=error.offset))
    for datagram in datagrams:
        if port is not None and datagram.dst_port != port:
            continue
        where = (f"{source} frame {datagram.number} ({datagram.src}:{datagram.src_port} -> "
                 f"{datagram.dst}:{datagram.dst_port})") if datagram.number else source
        yield from decoder.decode(datagram.payload, datagram.t, where)


# --- live --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UdpEndpoint:
    """Where to listen: ``udp://HOST:PORT`` binds a unicast address (``0.0.0.0``: all); ``udp://GROUP:PORT``
    joins a multicast group, ``?iface=`` on the interface of that address (or name), ``?source=`` only from
    that sender (source-specific multicast, the 232/8 range)."""

    host: str
    port: int
    group: bool = False
    iface: str | None = None
    source: str | None = None


def parse_udp_url(url: str) -> UdpEndpoint:
    """``udp://HOST:PORT[?iface=ADDRESS|NAME][&source=ADDRESS]`` as an endpoint; a :class:`ConfigError`
    naming what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "udp" or not parts.hostname or port is None:
        raise ConfigError(f"ASTERIX source {url!r}: expected udp://HOST:PORT (e.g. udp://0.0.0.0:8600 or "
                          "udp://239.1.1.1:8600?iface=10.0.0.5)")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"iface", "source"}
    if unknown:
        raise ConfigError(f"ASTERIX source {url!r}: unknown option(s) {', '.join(sorted(unknown))} "
                          "(iface, source)")
    try:
        address = ipaddress.ip_address(parts.hostname)
        source = query.get("source", [None])[-1]
        if source is not None:
            ipaddress.IPv4Address(source)
    except ValueError as error:
        raise ConfigError(f"ASTERIX source {url!r}: {error}") from None
    iface = query.get("iface", [None])[-1]
    if (iface or source) and not address.is_multicast:
        raise ConfigError(f"ASTERIX source {url!r}: iface and source are for a multicast group")
    if address.is_multicast and address.version != 4:
        raise ConfigError(f"ASTERIX source {url!r}: IPv6 multicast is not supported")
    if source is not None and iface is not None and not _is_ipv4(iface):
        raise ConfigError(f"ASTERIX source {url!r}: with source=, give iface= as the interface's IPv4 address")
    return UdpEndpoint(str(address), port, address.is_multicast, iface or None, source)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def multicast_request(endpoint: UdpEndpoint) -> tuple[int, bytes]:
    """The socket option and value that join ``endpoint``'s group: ``ip_mreq`` (group, interface address),
    ``ip_mreqn`` (group, any, interface index) for an interface named, ``ip_mreq_source`` (group, interface,
    source: Linux's order) for one sender."""
    group = socket.inet_aton(endpoint.host)
    if endpoint.source is not None:
        if IP_ADD_SOURCE_MEMBERSHIP is None:
            raise ConfigError("source-specific multicast (source=) is not supported on this system")
        return IP_ADD_SOURCE_MEMBERSHIP, group + socket.inet_aton(endpoint.iface or "0.0.0.0") + socket.inet_aton(
            endpoint.source)
    if endpoint.iface is None or _is_ipv4(endpoint.iface):
        return socket.IP_ADD_MEMBERSHIP, group + socket.inet_aton(endpoint.iface or "0.0.0.0")
    try:
        index = socket.if_nametoindex(endpoint.iface)
    except OSError:
        raise ConfigError(f"ASTERIX source: no network interface {endpoint.iface!r}") from None
    return socket.IP_ADD_MEMBERSHIP, struct.pack("=4s4si", group, socket.inet_aton("0.0.0.0"), index)


def open_socket(endpoint: UdpEndpoint) -> socket.socket:
    """A non-blocking UDP socket bound to ``endpoint`` (a group: joined). Several sockets may share a port
    (``SO_REUSEADDR``): the two links of a radar often do. On Linux a group's socket binds the group
    address, so it gets that group's datagrams only."""
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # bursts: ask for more than the default buffer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_BUFFER_BYTES)
        if endpoint.group:
            sock.bind((endpoint.host if sys.platform == "linux" else "", endpoint.port))
            option, value = multicast_request(endpoint)
            sock.setsockopt(socket.IPPROTO_IP, option, value)
        else:
            sock.bind((endpoint.host, endpoint.port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


_Datagram = tuple[float, str, bytes]


@dataclass(slots=True)
class _Receiver(asyncio.DatagramProtocol):
    queue: asyncio.Queue[_Datagram]
    decoder: AsterixDecoder
    clock: Callable[[], float]
    name: str
    transport: Any = field(default=None)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        item = (self.clock(), f"{addr[0]}:{addr[1]} -> {self.name}", data)
        if self.queue.full():  # the decoder fell behind: the newest data is worth more than the oldest
            self.queue.get_nowait()
            self.decoder.counts["queue_full"] += 1
        self.queue.put_nowait(item)

    def error_received(self, exc: Exception) -> None:
        self.decoder.count_error("socket_error", DecodeError(f"{self.name}: {exc}"))


async def live_asterix(urls: str | Sequence[str], decoder: AsterixDecoder, *, clock: Callable[[], float] = time.time,
                       queue_size: int = 4096, bound: asyncio.Future[list[tuple[str, int]]] | None = None,
                       ) -> AsyncIterator[list[Output]]:
    """The records of live ASTERIX over UDP, a list per datagram that makes any: detections, scans, tracks.

    ``urls``: one ``udp://`` URL or several (a radar's two links, several radars' groups), all into the
    one ``decoder``, so duplicates across them are dropped. Each datagram's arrival time (``clock``) is the
    reference for its records' day. Datagrams wait in a queue of ``queue_size``; when it is full the oldest
    is dropped (``queue_full``). Garbage is counted in ``decoder.counts`` and never ends the stream; it
    runs until cancelled. ``bound``, when given, is set to the addresses bound (port 0: the one chosen)."""
    endpoints = [parse_udp_url(u) for u in ([urls] if isinstance(urls, str) else urls)]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Datagram] = asyncio.Queue(maxsize=queue_size)
    transports: list[asyncio.DatagramTransport] = []
    try:
        for endpoint in endpoints:
            name = f"{endpoint.host}:{endpoint.port}"
            sock = open_socket(endpoint)
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_Receiver, queue, decoder, clock, name), sock=sock)
            transports.append(transport)
        if bound is not None and not bound.done():
            bound.set_result([tuple(t.get_extra_info("sockname")[:2]) for t in transports])
        while True:
            received_t, peer, payload = await queue.get()
            # pure-Python decoding: ~0.1-0.3 ms a record, up to a second for a 64 KiB datagram of tiny records;
            # off the event loop, the other sources and the API go on meanwhile (one datagram at a time, in order)
            records = await asyncio.to_thread(decoder.ingest, payload, received_t, peer)
            if records:
                yield records
    finally:
        for transport in transports:
            transport.close()
