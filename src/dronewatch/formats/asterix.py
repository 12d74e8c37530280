"""EUROCONTROL ASTERIX: data blocks, UDP datagrams out of captures, and the radar and tracker records
dronewatch reads (CAT048 plots, CAT034 service messages, CAT062 system tracks).

Pure functions and typed frozen records; no state, no I/O. The records themselves are parsed by
libasterix (Zoran Bošnjak's library generated from the asterix-specs definitions, BSD-3-Clause) in
whichever edition the source sends, except CAT062 edition 0.17, which no maintained library has any
more: a small table-driven reader below covers it.

Framing (all categories, big-endian)::

    data block = CAT (1 byte) · LEN (2 bytes, counts the 3 header bytes too) · record · record ...
    record     = FSPEC · the items its bits name, in the edition's UAP order
    FSPEC      = 1+ bytes: bits 8..2 flag the next 7 items (FRN 1-7, 8-14, ...), bit 1 (FX) says
                 another FSPEC byte follows

A UDP datagram holds one or more data blocks back to back; so does a raw recording.

Items read, by category (bit 1 is the least significant bit of an item)::

    I048/010  SAC (16-9) · SIC (8-1)                                   data source
    I048/140  time of day, 24 bits, LSB 1/128 s                        seconds since UTC midnight
    I048/020  TYP (8-6): 0 none, 1 PSR, 2 SSR, 3 SSR+PSR, 4 Mode S all-call, 5 roll-call, 6/7 +PSR
    I048/040  RHO 16 bits, LSB 1/256 NM · THETA 16 bits, LSB 360/2^16 deg  slant range, azimuth
    I048/070  V (16) G (15) L (14) · Mode 3/A (12-1), 4 octal digits
    I048/090  V (16) G (15) · flight level (14-1) two's complement, LSB 1/4 FL
    I048/110  3-D height (14-1) signed, LSB 25 ft
    I048/161  track number (12-1)
    I048/220  aircraft address, 24 bits · I048/240  identification, 8 x 6-bit ICAO characters

    I034/000  message type: 1 north marker, 2 sector crossing, 3 geographical filtering,
              4 jamming strobe, 5 solar storm, 6 SSR jamming strobe, 7 Mode S jamming strobe
    I034/010  SAC · SIC                I034/030  time of day, LSB 1/128 s
    I034/020  sector azimuth, 8 bits, LSB 360/2^8 deg
    I034/041  antenna rotation period, 16 bits, LSB 1/128 s
    I034/050  system configuration: COM NOGO (8), OVL RDP (4), OVL XMT (3)
    I034/120  the radar's own position: height 16 bits m · lat, lon 24 bits signed, LSB 180/2^23 deg

    I062/010  SAC · SIC    I062/040  track number, 16 bits    I062/070  time of track, LSB 1/128 s
    I062/105  lat, lon: 1.x 32 bits signed, LSB 180/2^25 deg; 0.17 24 bits, LSB 180/2^23 deg
    I062/100  x, y from the system reference: 1.x 24 bits, LSB 0.5 m; 0.17 16 bits, LSB 1/64 NM
    I062/185  vx (east), vy (north), 16 bits signed, LSB 0.25 m/s                     (1.x)
    I062/180  speed 16 bits, LSB 2^-14 NM/s · heading 16 bits, LSB 360/2^16 deg      (0.17)
    I062/060  Mode 3/A (12-1)       I062/080  SRC (first octet, 5-3): where the height came from
    I062/130  geometric altitude, signed, LSB 6.25 ft   I062/135  barometric, (15-1) LSB 1/4 FL
    I062/136  measured flight level, signed, LSB 1/4 FL  I062/220  rate of climb, LSB 6.25 ft/min
    I062/245  target identification (1.x)  I062/380  ADR aircraft address, ID identification (1.x)
    I062/390  CSN flight-plan callsign, 7 ASCII characters

A value the record does not carry is ``None``. Codes a record flags as not validated or garbled
(Mode 3/A, flight level: V or G set) are ``None`` too: they are not to be believed.

Bad input raises or returns :class:`~dronewatch.errors.DecodeError` naming the byte offset (from the
start of the datagram or stream): a length that runs past the end, an unsupported category, a record
the edition cannot parse. A data block's records are parsed in turn; one that fails ends its block
(without a valid FSPEC there is no telling where the next one starts), and those before it stand.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import math
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from asterix.base import Bits, ParsingMode

from dronewatch.errors import ConfigError, DecodeError
from dronewatch.formats.capture import read_frames

NM_M = 1852.0
"""One nautical mile in metres (exact)."""
FT_M = 0.3048
"""One foot in metres (exact)."""
FL_M = 100.0 * FT_M
"""One flight level (100 ft of pressure altitude) in metres."""
DAY_S = 86_400.0

SUPPORTED_CATEGORIES = (34, 48, 62)
EDITIONS: dict[int, tuple[str, ...]] = {
    34: ("1.27", "1.28", "1.29"),
    48: ("1.27", "1.28", "1.29", "1.30", "1.31", "1.32"),
    62: ("0.17", "1.16", "1.17", "1.18", "1.19", "1.20", "1.21"),
}
"""The editions each category can be read in: libasterix's, and CAT062 0.17 (read here)."""
DEFAULT_EDITIONS: dict[int, str] = {34: "1.29", 48: "1.32", 62: "1.21"}
"""A source's editions unless configured: the newest. Editions of one major number keep the items
read here where they were, so an older 1.x radar (CAT048 1.21, say) reads right in the newest."""

MESSAGE_TYPES = {1: "north_marker", 2: "sector_crossing", 3: "geographical_filtering", 4: "jamming_strobe",
                 5: "solar_storm", 6: "ssr_jamming_strobe", 7: "mode_s_jamming_strobe"}
"""CAT034 message types (I034/000)."""
NORTH_MARKER, SECTOR_CROSSING = 1, 2

_TOD_MAX_S = 86_401.0  # a leap second's day has 86 401 s
_PRINTABLE = re.compile(r"[ -~]*")


@dataclass(frozen=True, slots=True)
class DataBlock:
    """One data block: its category, where it starts in the datagram or stream, and its records' bytes."""

    category: int
    offset: int
    records: bytes


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """One UDP datagram of a capture: frame number (1-based, as Wireshark counts), capture time (UNIX s),
    addresses, ports, payload."""

    number: int
    t: float | None
    src: str
    src_port: int
    dst: str
    dst_port: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Cat048Plot:
    """A CAT048 monoradar target report: the radar's plot (and its track's identity)."""

    sac: int
    sic: int
    tod_s: float | None
    """Time of day: seconds since UTC midnight."""
    rho_m: float | None
    """Slant range from the radar, metres (RHO in 1/256 NM x 1852)."""
    theta_deg: float | None
    """Azimuth, degrees clockwise from north, [0, 360)."""
    flight_level: float | None = None
    """Mode C pressure altitude, hundreds of feet (validated, not garbled)."""
    height_m: float | None = None
    """Height measured by a 3-D radar (I048/110), metres above mean sea level."""
    mode3a: str | None = None
    """Mode 3/A code, 4 octal digits (validated, not garbled)."""
    aircraft_address: str | None = None
    """Mode S address, 6 hex digits."""
    callsign: str | None = None
    track_number: int | None = None
    report_type: int | None = None
    """I048/020 TYP: 0 no detection, 1 PSR, 2 SSR, 3 SSR+PSR, 4 Mode S all-call, 5 roll-call, 6 all-call+PSR,
    7 roll-call+PSR."""
    category: Literal[48] = 48


@dataclass(frozen=True, slots=True)
class Cat034Status:
    """A CAT034 monoradar service message: north marker, sector crossing, and the radar's status."""

    sac: int
    sic: int
    message_type: int
    tod_s: float | None
    sector_deg: float | None = None
    """Sector crossing: the azimuth the antenna passed, degrees."""
    antenna_period_s: float | None = None
    """The antenna's rotation period (I034/041)."""
    nogo: bool | None = None
    """True when the radar says it is not released for operational use (I034/050 COM NOGO)."""
    overload: bool | None = None
    """True when its plot processing or transmission is overloaded (I034/050 COM OVL RDP / OVL XMT)."""
    position: tuple[float, float, float] | None = None
    """The radar's own position as it reports it (I034/120): lat, lon (degrees), height (m)."""
    category: Literal[34] = 34

    @property
    def message(self) -> str:
        return MESSAGE_TYPES.get(self.message_type, f"type {self.message_type}")


@dataclass(frozen=True, slots=True)
class Cat062Track:
    """A CAT062 system track (an SDPS's fused track, e.g. ARTAS)."""

    sac: int
    sic: int
    track_number: int | None
    tod_s: float | None
    lat: float | None = None
    lon: float | None = None
    x_m: float | None = None
    """Cartesian position from the system's reference point (east), metres."""
    y_m: float | None = None
    vx_mps: float | None = None
    """Velocity east, m/s (0.17: from speed and heading)."""
    vy_mps: float | None = None
    """Velocity north, m/s."""
    climb_mps: float | None = None
    geometric_alt_m: float | None = None
    """I062/130, metres (above WGS-84 per 1.x); only meaningful as ``height_source`` says."""
    height_source: int | None = None
    """I062/080 SRC: 0 none, 1 GNSS, 2 3-D radar, 3 triangulation, 4 coverage, 5 speed table, 6 default,
    7 multilateration."""
    flight_level: float | None = None
    """Barometric (I062/135), else measured (I062/136) flight level."""
    mode3a: str | None = None
    aircraft_address: str | None = None
    callsign: str | None = None
    """The aircraft's downlinked identification (I062/245 or I062/380 ID), else the flight plan's (I062/390)."""
    category: Literal[62] = 62


AsterixRecord = Cat048Plot | Cat034Status | Cat062Track


def record_to_dict(record: AsterixRecord) -> dict[str, Any]:
    """The record as JSON-ready keys: ``category`` first, fields that are not set left out."""
    values = {key: value for key, value in asdict(record).items() if value is not None}
    return {"category": values.pop("category"), **values}


# --- framing -----------------------------------------------------------------------------------------


def data_blocks(data: bytes, *, base: int = 0) -> Iterator[DataBlock]:
    """The data blocks of a datagram or stream, in order. A header cut short, or a LEN under 3 or past
    the end, raises :class:`DecodeError` at that block's offset (``base`` plus its position) after the
    blocks before it: the length is the only way to the next block, so nothing after it can be read."""
    offset, n = 0, len(data)
    while offset < n:
        if n - offset < 3:
            raise DecodeError(f"data block header cut short: {n - offset} of 3 bytes", offset=base + offset)
        category, length = data[offset], int.from_bytes(data[offset + 1:offset + 3], "big")
        if length < 3:
            raise DecodeError(f"data block LEN {length} is under 3 (CAT {category})", offset=base + offset)
        if offset + length > n:
            raise DecodeError(f"data block LEN {length} runs {offset + length - n} bytes past the end "
                              f"(CAT {category})", offset=base + offset)
        yield DataBlock(category, base + offset, data[offset + 3:offset + length])
        offset += length


def split_blocks(data: bytes) -> list[DataBlock]:
    """Every data block of ``data``, or a :class:`DecodeError` naming the offset of the first bad one."""
    return list(data_blocks(data))


def looks_like_asterix(data: bytes) -> bool:
    """Whether ``data`` is a raw ASTERIX stream: blocks whose lengths meet its end exactly, the first of a
    category dronewatch or the standard knows (1-255: category 0 does not exist)."""
    try:
        blocks = split_blocks(data)
    except DecodeError:
        return False
    return bool(blocks) and blocks[0].category != 0


# --- captures ----------------------------------------------------------------------------------------

_LINK_ETHERNET, _LINK_NULL, _LINK_RAW, _LINK_RAW_ALT, _LINK_SLL, _LINK_IPV4, _LINK_IPV6, _LINK_SLL2 = (
    1, 0, 101, 12, 113, 228, 229, 276)
_ETHER_IPV4, _ETHER_IPV6, _ETHER_VLAN = 0x0800, 0x86DD, (0x8100, 0x88A8, 0x9100)
_UDP = 17


_CAPTURE_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
                   b"\x0a\x0d\x0d\x0a")


def is_capture(data: bytes) -> bool:
    """Whether ``data`` starts as a pcap (either byte order, micro- or nanoseconds) or pcapng capture."""
    return data[:4] in _CAPTURE_MAGICS


def capture_datagrams(capture: bytes) -> tuple[list[UdpDatagram], Counter[str], DecodeError | None]:
    """The UDP datagrams of a pcap or pcapng capture (Ethernet with or without VLAN tags, Linux cooked
    v1/v2, raw IP, BSD loopback; IPv4 and IPv6), the frames skipped by reason (``not_ip``, ``not_udp``,
    ``ip_fragment``, ``truncated``, ``link_type``), and where the capture broke off, if it did.

    IP fragments are not reassembled (an ASTERIX datagram fits one Ethernet frame in practice): each is
    skipped and counted. A capture that is none raises :class:`DecodeError` at offset 0."""
    if not is_capture(capture):
        raise DecodeError(f"not a pcap or pcapng capture (magic {capture[:4].hex() or 'missing'})", offset=0)
    datagrams: list[UdpDatagram] = []
    skipped: Counter[str] = Counter()
    try:
        for frame in read_frames(capture):
            found = _udp(frame.linktype, frame.data)
            if isinstance(found, str):
                skipped[found] += 1
                continue
            src, src_port, dst, dst_port, payload = found
            datagrams.append(UdpDatagram(frame.number, frame.t, src, src_port, dst, dst_port, payload))
    except DecodeError as error:
        return datagrams, skipped, error
    return datagrams, skipped, None


def _udp(linktype: int, data: bytes) -> tuple[str, int, str, int, bytes] | str:
    """The UDP datagram in one link-layer frame, or why there is none."""
    if linktype == _LINK_ETHERNET:
        offset, ethertype = 14, int.from_bytes(data[12:14], "big")
        while ethertype in _ETHER_VLAN and len(data) >= offset + 4:
            ethertype, offset = int.from_bytes(data[offset + 2:offset + 4], "big"), offset + 4
        version = {_ETHER_IPV4: 4, _ETHER_IPV6: 6}.get(ethertype)
    elif linktype == _LINK_SLL:
        offset, version = 16, {_ETHER_IPV4: 4, _ETHER_IPV6: 6}.get(int.from_bytes(data[14:16], "big"))
    elif linktype == _LINK_SLL2:
        offset, version = 20, {_ETHER_IPV4: 4, _ETHER_IPV6: 6}.get(int.from_bytes(data[0:2], "big"))
    elif linktype == _LINK_NULL:
        family = int.from_bytes(data[:4], "little") if data[:2] != b"\x00\x00" else int.from_bytes(data[:4], "big")
        offset, version = 4, 4 if family == 2 else 6 if family in (10, 24, 28, 30) else None
    elif linktype in (_LINK_RAW, _LINK_RAW_ALT, _LINK_IPV4, _LINK_IPV6):
        offset, version = 0, (data[0] >> 4 if data else None)
    else:
        return "link_type"
    if len(data) < offset + 1 or version not in (4, 6):
        return "not_ip"
    if version == 4:
        header = data[offset:offset + 20]
        if len(header) < 20 or header[0] >> 4 != 4 or (header[0] & 0x0F) < 5:
            return "truncated" if len(header) < 20 else "not_ip"
        if int.from_bytes(header[6:8], "big") & 0x3FFF:  # MF set or a fragment offset
            return "ip_fragment"
        if header[9] != _UDP:
            return "not_udp"
        src, dst = ".".join(map(str, header[12:16])), ".".join(map(str, header[16:20]))
        udp = offset + (header[0] & 0x0F) * 4
    else:
        header = data[offset:offset + 40]
        if len(header) < 40:
            return "truncated"
        if header[6] != _UDP:  # extension headers (fragments among them) not followed
            return "not_udp"
        src, dst = _ipv6(header[8:24]), _ipv6(header[24:40])
        udp = offset + 40
    if len(data) < udp + 8:
        return "truncated"
    src_port, dst_port, length = struct.unpack_from(">HHH", data, udp)
    if length < 8 or udp + length > len(data):
        return "truncated"
    return src, src_port, dst, dst_port, bytes(data[udp + 8:udp + length])


def _ipv6(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


# --- records -----------------------------------------------------------------------------------------


def check_edition(category: int, edition: str) -> str:
    """``edition`` if dronewatch can read ``category`` in it; a :class:`ConfigError` listing those it can."""
    if category not in EDITIONS:
        raise ConfigError(f"ASTERIX category {category} is not read (only "
                          f"{', '.join(f'CAT{c:03d}' for c in SUPPORTED_CATEGORIES)})")
    if edition not in EDITIONS[category]:
        raise ConfigError(f"ASTERIX CAT{category:03d} edition {edition!r}: readable editions are "
                          f"{', '.join(EDITIONS[category])}")
    return edition


def block_source(block: DataBlock) -> tuple[int, int] | None:
    """The SAC/SIC of a block's first record, read before choosing its edition: every category read here
    puts I010 first (FRN 1) in every edition. ``None`` if that record does not start with it."""
    data = block.records
    end = 0
    while end < len(data) and data[end] & 1:
        end += 1
    if end + 3 > len(data) or not data[0] & 0x80:
        return None
    return data[end + 1], data[end + 2]


def decode_block(block: DataBlock, edition: str | None = None) -> tuple[list[AsterixRecord], DecodeError | None]:
    """The records of one data block read in ``edition`` (default: :data:`DEFAULT_EDITIONS`), and the
    error that ended it early, if one did: an unsupported category, or a record the edition cannot parse
    (offset: that record's first byte). Raises :class:`ConfigError` only for an edition not in
    :data:`EDITIONS`."""
    category = block.category
    if category not in SUPPORTED_CATEGORIES:
        return [], DecodeError(f"CAT{category:03d} is not read (only CAT034, CAT048, CAT062)", offset=block.offset)
    edition = check_edition(category, edition or DEFAULT_EDITIONS[category])
    if not block.records:
        return [], DecodeError(f"CAT{category:03d} data block without records", offset=block.offset)
    if category == 62 and edition == "0.17":
        return _decode_062_v017(block)
    record_class = _spec(category, edition).cv_uap.cv_record
    convert = _CONVERTERS[category]
    records: list[AsterixRecord] = []
    bits = Bits.from_bytes(block.records)
    total = len(bits)
    while len(bits):
        offset = block.offset + 3 + (total - len(bits)) // 8
        where = f"CAT{category:03d} {edition} record {len(records) + 1}"
        try:
            parsed = record_class.parse(ParsingMode.StrictParsing, bits)
            if isinstance(parsed, ValueError):
                return records, DecodeError(f"{where}: {parsed}", offset=offset)
            record, bits = parsed
            records.append(convert(record))
        except DecodeError as error:
            return records, DecodeError(f"{where}: {error.reason}", offset=offset)
        except Exception as error:  # whatever the library raises on hostile bytes is that record's fault
            return records, DecodeError(f"{where}: {type(error).__name__}: {error}", offset=offset)
    return records, None


@functools.cache
def _spec(category: int, edition: str) -> Any:
    """libasterix's class for a category and edition. Its generated module (6 MB of typed classes, a second
    to import) is loaded on first use, by name: dronewatch reads records generically, by item name, in
    whichever edition a source sends, so its per-edition types would not help the type checker."""
    generated = importlib.import_module("asterix.generated")
    major, minor = edition.split(".")
    return getattr(generated, f"Cat_{category:03d}_{major}_{minor}")


def _node(record: Any, path: tuple[str, ...]) -> Any:
    """The (sub)item at ``path`` ("040", "RHO"), or ``None`` when the record or extension lacks it, or the
    edition does not define it (libasterix raises ``ValueError`` for a group's unknown subitem)."""
    node = record.get_item(path[0])
    for name in path[1:]:
        if node is None:
            return None
        try:
            node = node.variation.get_item(name)
        except ValueError:
            return None
    return node


def _quantity(record: Any, unit: str, *path: str) -> float | None:
    node = _node(record, path)
    if node is None:
        return None
    content = node.variation.content
    if type(content).cv_unit != unit:  # an edition that changed the item's unit: not what the code expects
        raise DecodeError(f"I{'/'.join(path)} is in {type(content).cv_unit}, not {unit}")
    return float(content.as_quantity())


def _uint(record: Any, *path: str) -> int | None:
    node = _node(record, path)
    return None if node is None else int(node.variation.as_uint())


def _text(record: Any, *path: str) -> str | None:
    node = _node(record, path)
    return None if node is None else _clean(str(node.variation.content.as_string()))


def _clean(text: str) -> str | None:
    """A callsign as sent, without padding; ``None`` if empty or not printable ASCII (hostile bytes)."""
    text = text.strip()
    return text if text and _PRINTABLE.fullmatch(text) else None


def _flight_level_048(record: Any) -> float | None:
    """I048/090's flight level, two's complement as the standard codes it in every edition (libasterix's
    definitions before 1.32 take it unsigned: FL -1, a vehicle on the ground, would read as FL 4095)."""
    node = _trusted(record, "090", "FL")
    if node is None:
        return None
    raw, bits = int(node.variation.as_uint()), int(type(node.variation).cv_bit_size)
    return (raw - (1 << bits) if raw >> (bits - 1) else raw) / 4.0


def _trusted(record: Any, item: str, value: str) -> Any:
    """``value`` of a Mode 3/A or Mode C item unless its V (not validated) or G (garbled) bit is set."""
    if _uint(record, item, "V") or _uint(record, item, "G"):
        return None
    return _node(record, (item, value))


def _source(record: Any, category: int) -> tuple[int, int]:
    sac, sic = _uint(record, "010", "SAC"), _uint(record, "010", "SIC")
    if sac is None or sic is None:
        raise DecodeError(f"no I{category:03d}/010 (data source identifier)")
    return sac, sic


def _time_of_day(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value < _TOD_MAX_S:
        raise DecodeError(f"time of day {value} s is not within a day")
    return value


def _cat048(record: Any) -> Cat048Plot:
    sac, sic = _source(record, 48)
    rho = _quantity(record, "NM", "040", "RHO")
    code = _trusted(record, "070", "MODE3A")
    height = _quantity(record, "ft", "110", "3DH")
    address = _uint(record, "220")
    return Cat048Plot(
        sac=sac, sic=sic, tod_s=_time_of_day(_quantity(record, "s", "140")),
        rho_m=rho * NM_M if rho is not None else None,
        theta_deg=_quantity(record, "°", "040", "THETA"),
        flight_level=_flight_level_048(record),
        height_m=height * FT_M if height is not None else None,
        mode3a=str(code.variation.content.as_string()) if code is not None else None,
        aircraft_address=f"{address:06X}" if address is not None else None,
        callsign=_text(record, "240"), track_number=_uint(record, "161", "TRN"),
        report_type=_uint(record, "020", "TYP"))


def _cat034(record: Any) -> Cat034Status:
    sac, sic = _source(record, 34)
    kind = _uint(record, "000")
    if kind is None:
        raise DecodeError("no I034/000 (message type)")
    nogo = _uint(record, "050", "COM", "NOGO")
    overloads = [_uint(record, "050", "COM", name) for name in ("OVLRDP", "OVLXMT")]
    lat, lon = _quantity(record, "°", "120", "LAT"), _quantity(record, "°", "120", "LON")
    height = _quantity(record, "m", "120", "HGT")
    return Cat034Status(
        sac=sac, sic=sic, message_type=kind, tod_s=_time_of_day(_quantity(record, "s", "030")),
        sector_deg=_quantity(record, "°", "020"), antenna_period_s=_quantity(record, "s", "041"),
        nogo=bool(nogo) if nogo is not None else None,
        overload=any(overloads) if any(o is not None for o in overloads) else None,
        position=(lat, lon, height) if lat is not None and lon is not None and height is not None else None)


def _cat062(record: Any) -> Cat062Track:
    sac, sic = _source(record, 62)
    code = _trusted(record, "060", "MODE3A")
    address = _uint(record, "380", "ADR")
    climb = _quantity(record, "ft/min", "220")
    geometric = _quantity(record, "ft", "130")
    level = _quantity(record, "FL", "135", "CTB")
    return Cat062Track(
        sac=sac, sic=sic, track_number=_uint(record, "040"), tod_s=_time_of_day(_quantity(record, "s", "070")),
        lat=_quantity(record, "°", "105", "LAT"), lon=_quantity(record, "°", "105", "LON"),
        x_m=_quantity(record, "m", "100", "X"), y_m=_quantity(record, "m", "100", "Y"),
        vx_mps=_quantity(record, "m/s", "185", "VX"), vy_mps=_quantity(record, "m/s", "185", "VY"),
        climb_mps=climb * FT_M / 60.0 if climb is not None else None,
        geometric_alt_m=geometric * FT_M if geometric is not None else None,
        height_source=_uint(record, "080", "SRC"),
        flight_level=level if level is not None else _quantity(record, "FL", "136"),
        mode3a=str(code.variation.content.as_string()) if code is not None else None,
        aircraft_address=f"{address:06X}" if address is not None else None,
        callsign=_text(record, "245", "CHR") or _text(record, "380", "ID") or _text(record, "390", "CSN"))


_CONVERTERS: dict[int, Callable[[Any], AsterixRecord]] = {34: _cat034, 48: _cat048, 62: _cat062}


# --- CAT062 edition 0.17 -------------------------------------------------------------------------------
# Pre-1.0 UAP (FRN: item, layout). Layouts: an int is a fixed length; "fx" a variable item of octets
# extended by their bit 1; ("fx3",) parts of 3 octets extended alike; "explicit" a length octet first;
# a tuple a compound item: FX-extended primary subfield, then its subfields' fixed lengths ("rep4": a
# count octet and that many 4-octet parts). None: an item this reader does not know (a record with it
# set is refused, naming it).

_V017_UAP: dict[int, tuple[str, Any]] = {
    1: ("010", 2), 2: ("015", 1), 3: ("070", 3), 4: ("040", 2), 5: ("105", 6), 6: ("100", 4), 7: ("060", 2),
    8: ("130", 2), 9: ("135", 2), 10: ("136", 2), 11: ("180", 4), 12: ("200", 1), 13: ("220", 2), 14: ("240", 1),
    15: ("210", 2), 16: ("080", "fx"), 17: ("290", (1, 1, 1, 1, 1, 2, 1, 1, 1)), 18: ("340", (2, 4, 2, 2, 2, 1)),
    19: ("380", None), 20: ("050", None),
    21: ("390", (2, 7, 4, 1, 4, 1, 4, 4, 3, 2, 2, "rep4", 6, 1)),
    22: ("110", 1), 23: ("120", 2), 24: ("510", "fx3"), 25: ("spare", None), 26: ("spare", None),
    27: ("RE", "explicit"), 28: ("SP", "explicit"),
}
_V017_LATLON_DEG = 180.0 / (1 << 23)
_V017_SPEED_MPS = NM_M / (1 << 14)
_ANGLE_16_DEG = 360.0 / (1 << 16)


class _Reader:
    """Bytes of one record, read forward; running past the end raises :class:`DecodeError` at the offset."""

    def __init__(self, data: bytes, offset: int, base: int) -> None:
        self.data, self.offset, self.base = data, offset, base

    def take(self, count: int, what: str) -> bytes:
        if self.offset + count > len(self.data):
            raise DecodeError(f"{what} cut short: {count} bytes wanted, {len(self.data) - self.offset} left",
                              offset=self.base + self.offset)
        out = self.data[self.offset:self.offset + count]
        self.offset += count
        return out

    def extended(self, part: int, what: str) -> bytes:
        """Parts of ``part`` octets while the last octet's bit 1 (FX) is set."""
        out = b""
        while True:
            chunk = self.take(part, what)
            out += chunk
            if not chunk[-1] & 1:
                return out


def _decode_062_v017(block: DataBlock) -> tuple[list[AsterixRecord], DecodeError | None]:
    records: list[AsterixRecord] = []
    reader = _Reader(block.records, 0, block.offset + 3)
    while reader.offset < len(block.records):
        start = reader.offset
        try:
            records.append(_record_062_v017(reader))
        except DecodeError as error:
            return records, DecodeError(f"CAT062 0.17 record {len(records) + 1}: {error.reason}",
                                        offset=error.offset if error.offset is not None else reader.base + start)
    return records, None


def _record_062_v017(reader: _Reader) -> Cat062Track:
    fspec = reader.extended(1, "FSPEC")
    if len(fspec) > 4:
        raise DecodeError(f"FSPEC of {len(fspec)} bytes: the 0.17 UAP has 28 items", offset=reader.base + reader.offset)
    items: dict[str, bytes] = {}
    for frn in (7 * k + bit + 1 for k, octet in enumerate(fspec) for bit in range(7) if octet & (0x80 >> bit)):
        name, layout = _V017_UAP[frn]
        if layout is None:
            raise DecodeError(f"FRN {frn} (I062/{name}) is not read in edition 0.17",
                              offset=reader.base + reader.offset)
        items[name] = _item_v017(reader, name, layout)
    if "010" not in items:
        raise DecodeError("no I062/010 (data source identifier)", offset=reader.base + reader.offset)

    def signed(name: str, start: int, size: int) -> int | None:
        raw = items.get(name)
        return int.from_bytes(raw[start:start + size], "big", signed=True) if raw is not None else None

    def unsigned(name: str, start: int, size: int) -> int | None:
        raw = items.get(name)
        return int.from_bytes(raw[start:start + size], "big") if raw is not None else None

    lat, lon = signed("105", 0, 3), signed("105", 3, 3)           # 24 bits each, LSB 180/2^23 deg
    x, y = signed("100", 0, 2), signed("100", 2, 2)               # 16 bits each, LSB 1/64 NM
    speed, heading = unsigned("180", 0, 2), unsigned("180", 2, 2)  # LSB 2^-14 NM/s, 360/2^16 deg
    tod = unsigned("070", 0, 3)                                   # LSB 1/128 s
    climb, geometric = signed("220", 0, 2), signed("130", 0, 2)   # LSB 6.25 ft/min, 6.25 ft
    baro, measured = unsigned("135", 0, 2), signed("136", 0, 2)   # (15-1) signed LSB 1/4 FL; LSB 1/4 FL
    code = unsigned("060", 0, 2)                                  # (12-1) Mode 3/A, octal
    vx = vy = None
    if speed is not None and heading is not None:
        bearing = heading * _ANGLE_16_DEG
        vx = speed * _V017_SPEED_MPS * math.sin(math.radians(bearing))
        vy = speed * _V017_SPEED_MPS * math.cos(math.radians(bearing))
    level = None
    if baro is not None:
        level = ((baro & 0x7FFF) - (0x8000 if baro & 0x4000 else 0)) / 4.0
    elif measured is not None:
        level = measured / 4.0
    flight_plan = items.get("390")
    return Cat062Track(
        sac=items["010"][0], sic=items["010"][1], track_number=unsigned("040", 0, 2),
        tod_s=_time_of_day(tod / 128.0 if tod is not None else None),
        lat=lat * _V017_LATLON_DEG if lat is not None else None,
        lon=lon * _V017_LATLON_DEG if lon is not None else None,
        x_m=x / 64.0 * NM_M if x is not None else None, y_m=y / 64.0 * NM_M if y is not None else None,
        vx_mps=vx, vy_mps=vy, climb_mps=climb * 6.25 * FT_M / 60.0 if climb is not None else None,
        geometric_alt_m=geometric * 6.25 * FT_M if geometric is not None else None,
        height_source=(items["080"][0] >> 2) & 7 if "080" in items else None,
        flight_level=level, mode3a=f"{code & 0x0FFF:04o}" if code is not None else None,
        callsign=_v017_callsign(flight_plan) if flight_plan is not None else None)


def _item_v017(reader: _Reader, name: str, layout: Any) -> bytes:
    what = f"I062/{name}"
    if isinstance(layout, int):
        return reader.take(layout, what)
    if layout == "fx":
        return reader.extended(1, what)
    if layout == "fx3":
        return reader.extended(3, what)
    if layout == "explicit":
        size = reader.take(1, what)[0]
        if size < 1:
            raise DecodeError(f"{what}: length 0", offset=reader.base + reader.offset - 1)
        return reader.take(size - 1, what)
    primary = reader.extended(1, what)
    out = bytearray(primary)
    flags = [bool(octet & (0x80 >> bit)) for octet in primary for bit in range(7)]
    for present, sub in zip(flags, layout, strict=False):
        if not present:
            continue
        if sub == "rep4":
            count = reader.take(1, what)
            out += count + reader.take(4 * count[0], what)
        else:
            out += reader.take(sub, what)
    if any(flags[len(layout):]):
        raise DecodeError(f"{what}: a subfield past those edition 0.17 defines", offset=reader.base + reader.offset)
    return bytes(out)


def _v017_callsign(item: bytes) -> str | None:
    """I062/390 subfield 2 (CSN, 7 ASCII characters), when the primary subfield flags it: it follows the
    primary subfield and subfield 1 (TAG, SAC/SIC, 2 bytes) if that is present."""
    if not item[0] & 0x40:  # CSN absent
        return None
    primary = 1
    while item[primary - 1] & 1:
        primary += 1
    start = primary + (2 if item[0] & 0x80 else 0)
    return _clean(item[start:start + 7].decode("ascii", "replace"))
