"""ASTERIX framing and records: byte-exact vectors decoded by hand, every record of the real recordings,
and hostile bytes."""

from __future__ import annotations

import io
import math
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import ConfigError, DecodeError
from dronewatch.formats.asterix import (
    DEFAULT_EDITIONS,
    EDITIONS,
    NM_M,
    Cat034Status,
    Cat048Plot,
    Cat062Track,
    DataBlock,
    block_source,
    capture_datagrams,
    check_edition,
    data_blocks,
    decode_block,
    looks_like_asterix,
    record_to_dict,
    split_blocks,
)
from dronewatch.formats.capture import PcapngWriter

DATA = Path(__file__).resolve().parents[2] / "data" / "feeds" / "asterix"
RADARS = DATA / "croatiacontrol_cat034_cat048_2016-05-05.pcap"
TRACKS_017 = DATA / "croatiacontrol_cat062v0.17_2008-05-15.pcap"
TRACKS_PCAP = DATA / "croatiacontrol_cat062_cat065_2014-02-25.pcap"
TRACKS_RAW = DATA / "croatiacontrol_cat062_cat065.raw"

# A CAT048 record of radar 25/12 (frame 13 of the radar capture, byte 3 of its datagram), by hand:
# FSPEC ff df 02: FRN 1-7 (010 140 020 040 070 090 130), 8 9 11 12 13 14 (220 240 161 042 200 170), 21 (230)
# 190c: SAC 25 SIC 12 · 356df3: time of day /128 · a8: TYP 5 (101.....), no extension · 270f de5f: RHO, THETA
# 0c28: V=0 G=0 L=0, Mode 3/A 0xc28 = 6050 octal · 03d8: FL 0x3d8/4 · e0 56 0c ca: I130 · 3c5eeb: I220
# 1d7277098820: I240 = GWI7BX in 6-bit ICAO characters
PLOT = bytes.fromhex("ffdf02190c356df3a8270fde5f0c2803d8e0560cca3c5eeb1d7277098820062df1a50d3d079de7824220f5")
# The north marker of radar 25/12 (frame 17): FSPEC ef 10: 010 000 030 041 050 060, 120
# 190c · 01: north marker · 356e49: time of day · 0279: rotation period /128 s · 84 44 4e00: I050 (COM 44:
# NOGO 0, OVL RDP 0, OVL XMT 0) · 84 00 00: I060 · 030c 1efbdd 0baaa2: I120 height m, lat, lon x 180/2^23
NORTH = bytes.fromhex("ef10190c01356e49027984444e00840000030c1efbdd0baaa2")
# The first CAT062 edition 0.17 record (frame 1 of the 2008 capture): FSPEC bb 3d 42: FRN 1 3 4 5 7 (010 070
# 040 105 060), 10 11 12 13 (136 180 200 220), 16 21 (080 390). 1964: SAC 25 SIC 100 · 59f8e1: time /128 ·
# 037e: track 894 · 1f7ae9 0cf6a7: lat, lon 24 bits x 180/2^23 · 0c3a: Mode 3/A · 0550: FL x 1/4 · 0756 cad6:
# speed 2^-14 NM/s, heading 360/2^16 · 00 · 0000 · 01 10: I080 · I390: 53 88 (CSN FCT DEP, DST TOD),
# "BAW891 ", 40, "LBSF", "EGLL", 01 08000000
TRACK_017 = bytes.fromhex("bb3d42196459f8e1037e1f7ae90cf6a70c3a05500756cad600000001105388"
                          "42415738393120" "40" "4c425346" "45474c4c" "0108000000")


def _blocks(path: Path) -> list[tuple[int, DataBlock]]:
    """(frame number, block) of every data block of a capture; the raw file as frame 0."""
    if path.suffix == ".raw":
        return [(0, b) for b in split_blocks(path.read_bytes())]
    datagrams, skipped, error = capture_datagrams(path.read_bytes())
    assert (skipped, error) == (Counter(), None)
    return [(d.number, b) for d in datagrams for b in split_blocks(d.payload)]


def test_the_block_splitter_on_byte_exact_vectors() -> None:
    data = bytes.fromhex("30 0005 aabb" "22 0003" "3e 0004 01")
    assert split_blocks(data) == [DataBlock(48, 0, b"\xaa\xbb"), DataBlock(34, 5, b""), DataBlock(62, 8, b"\x01")]
    assert split_blocks(b"") == []
    assert list(data_blocks(bytes.fromhex("30 0004 ff"), base=100)) == [DataBlock(48, 100, b"\xff")]


@pytest.mark.parametrize(("data", "offset", "reason"), [
    (bytes.fromhex("30 0004 ff" "30"), 4, "data block header cut short: 1 of 3 bytes"),
    (bytes.fromhex("30 0004 ff" "30 0002"), 4, "data block LEN 2 is under 3 (CAT 48)"),
    (bytes.fromhex("30 0004 ff" "30 0000"), 4, "data block LEN 0 is under 3 (CAT 48)"),
    (bytes.fromhex("30 0004 ff" "22 0009 0102"), 4, "data block LEN 9 runs 4 bytes past the end (CAT 34)"),
    (bytes.fromhex("30 0005 ff"), 0, "data block LEN 5 runs 1 bytes past the end (CAT 48)"),
])
def test_a_bad_length_names_its_offset_after_the_good_blocks(data: bytes, offset: int, reason: str) -> None:
    good = []
    with pytest.raises(DecodeError) as caught:
        good.extend(data_blocks(data))
    assert (caught.value.offset, caught.value.reason) == (offset, reason)
    assert good == ([DataBlock(48, 0, b"\xff")] if offset else [])
    assert f"(at byte {offset})" in str(caught.value)


def test_the_capture_gives_its_udp_datagrams_with_addresses_and_ports() -> None:
    datagrams, skipped, error = capture_datagrams(RADARS.read_bytes())
    assert (len(datagrams), skipped, error) == (100, Counter(), None)
    first = datagrams[0]
    assert (first.number, first.src, first.src_port, first.dst, first.dst_port) == (
        1, "10.17.58.184", 21124, "232.2.1.31", 22131)
    assert first.t == pytest.approx(1462433756.50891)
    assert first.payload[:3] == bytes.fromhex("300030") and len(first.payload) == 0x30  # one CAT048 block, LEN 48
    # each radar's stream twice: LAN A to 232.1.x.y, LAN B to 232.2.x.y
    assert Counter(d.dst.split(".")[1] for d in datagrams) == {"1": 50, "2": 50}


def test_a_capture_cut_short_keeps_its_datagrams_and_says_where() -> None:
    data = RADARS.read_bytes()
    datagrams, _, error = capture_datagrams(data[:5000])
    assert datagrams and error is not None and error.offset is not None and 24 < error.offset < 5000
    with pytest.raises(DecodeError, match="not a pcap"):
        capture_datagrams(b"\x30\x00\x03")


def _ipv4(payload: bytes, *, proto: int = 17, flags: int = 0, claim: int = 0) -> bytes:
    udp = struct.pack(">HHHH", 20124, 21112, 8 + len(payload) + claim, 0) + payload
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, flags, 64, proto, 0, bytes([10, 17, 58, 183]),
                       bytes([232, 1, 1, 12])) + udp


def _pcap(linktype: int, frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for k, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000 + k, 0, len(frame), len(frame)) + frame
    return out


def test_udp_is_found_under_every_link_layer_and_the_rest_is_counted() -> None:
    block = bytes.fromhex("300005aabb")
    ether = bytes(12)
    frames = [
        ether + b"\x08\x00" + _ipv4(block),                                     # Ethernet
        ether + b"\x81\x00\x00\x05" + b"\x08\x00" + _ipv4(block),              # 802.1Q VLAN 5
        ether + b"\x86\xdd" + struct.pack(">IHBB", 6 << 28, 8 + len(block), 17, 64) + bytes(15) + b"\x01"
        + bytes(15) + b"\x02" + struct.pack(">HHHH", 1, 8600, 8 + len(block), 0) + block,  # IPv6
        ether + b"\x08\x00" + _ipv4(block, flags=0x2000),                       # a first fragment (MF)
        ether + b"\x08\x00" + _ipv4(block, proto=6),                            # TCP
        ether + b"\x08\x06" + bytes(28),                                       # ARP
        ether + b"\x08\x00" + _ipv4(block, claim=10),                           # UDP length past the frame
    ]
    datagrams, skipped, error = capture_datagrams(_pcap(1, frames))
    assert error is None and skipped == {"ip_fragment": 1, "not_udp": 1, "not_ip": 1, "truncated": 1}
    assert [(d.number, d.src, d.dst, d.dst_port, d.payload) for d in datagrams] == [
        (1, "10.17.58.183", "232.1.1.12", 21112, block), (2, "10.17.58.183", "232.1.1.12", 21112, block),
        (3, "::1", "::2", 8600, block)]
    for linktype, frame in ((113, bytes(14) + b"\x08\x00" + _ipv4(block)), (101, _ipv4(block)),
                            (276, b"\x08\x00" + bytes(18) + _ipv4(block)), (0, b"\x02\x00\x00\x00" + _ipv4(block))):
        datagrams, skipped, error = capture_datagrams(_pcap(linktype, [frame]))
        assert [d.payload for d in datagrams] == [block] and not skipped, linktype
    assert capture_datagrams(_pcap(147, [b"x"]))[1] == {"link_type": 1}
    stream = io.BytesIO()
    writer = PcapngWriter(stream, 1)
    writer.write(1_700_000_000.25, frames[0])
    [datagram], _, _ = capture_datagrams(stream.getvalue())
    assert (datagram.t, datagram.payload) == (1_700_000_000.25, block)


@pytest.mark.parametrize(("path", "editions", "expected_blocks", "expected_records"), [
    (RADARS, {}, {48: 86, 34: 34}, {48: 128, 34: 34}),
    (TRACKS_017, {62: "0.17"}, {62: 100}, {62: 100}),
    (TRACKS_PCAP, {}, {62: 1, 65: 1}, {62: 2}),
    (TRACKS_RAW, {}, {62: 1, 65: 1}, {62: 2}),
])
def test_every_record_of_every_recording_decodes(path: Path, editions: dict[int, str],
                                                  expected_blocks: dict[int, int],
                                                  expected_records: dict[int, int]) -> None:
    blocks = _blocks(path)
    assert Counter(b.category for _, b in blocks) == expected_blocks
    records: Counter[int] = Counter()
    for _, block in blocks:
        if block.category == 65:  # an SDPS service message: not read, said so at its offset
            found, error = decode_block(block)
            assert found == [] and error is not None and error.reason.startswith("CAT065 is not read")
            continue
        found, error = decode_block(block, editions.get(block.category))
        assert error is None
        records.update(r.category for r in found)
    assert records == expected_records


@pytest.mark.parametrize(("category", "edition"), [(c, e) for c, es in EDITIONS.items() for e in es if e != "0.17"])
def test_the_recordings_read_alike_in_every_1x_edition(category: int, edition: str) -> None:
    reference = [r for path in (RADARS, TRACKS_PCAP, TRACKS_RAW) for _, b in _blocks(path)
                 if b.category == category for r in decode_block(b)[0]]
    again = [r for path in (RADARS, TRACKS_PCAP, TRACKS_RAW) for _, b in _blocks(path)
             if b.category == category for r in decode_block(b, edition)[0]]
    assert again == reference and reference


def test_a_negative_flight_level_reads_negative_in_every_edition() -> None:
    """A Mode S transponder at FL -1 (squawk 7000, no callsign: a vehicle or an aircraft on the ground): the
    standard codes I048/090 in two's complement; libasterix's 1.27-1.31 definitions have it unsigned."""
    for edition in EDITIONS[48]:
        [plot] = [r for _, b in _blocks(RADARS) if b.category == 48 for r in decode_block(b, edition)[0]
                  if isinstance(r, Cat048Plot) and r.aircraft_address == "3004E2"][:1]
        assert (plot.flight_level, plot.mode3a) == (-1.0, "7000")


def test_edition_017_is_needed_for_the_2008_tracks() -> None:
    errors = [decode_block(b)[1] for _, b in _blocks(TRACKS_017)]
    assert all(e is not None for e in errors)  # read as 1.21, every block fails: a different UAP
    assert {e.reason.split(": ")[0] for e in errors if e is not None} == {"CAT062 1.21 record 1"}


def test_a_cat048_plot_decoded_by_hand() -> None:
    assert PLOT[:3] == bytes.fromhex("ffdf02") and PLOT[8] >> 5 == 5
    [plot], error = decode_block(DataBlock(48, 0, PLOT))
    assert error is None and isinstance(plot, Cat048Plot)
    assert (plot.sac, plot.sic) == (PLOT[3], PLOT[4]) == (25, 12)
    assert plot.tod_s == int.from_bytes(PLOT[5:8], "big") / 128 == 27355.8984375
    assert plot.rho_m == int.from_bytes(PLOT[9:11], "big") / 256 * 1852 == 9999 / 256 * 1852
    assert plot.theta_deg == int.from_bytes(PLOT[11:13], "big") * 360 / 65536 == pytest.approx(312.70935)
    assert plot.mode3a == f"{int.from_bytes(PLOT[13:15], 'big') & 0xFFF:04o}" == "6050"
    assert plot.flight_level == (int.from_bytes(PLOT[15:17], "big") & 0x3FFF) / 4 == 246.0
    assert plot.aircraft_address == PLOT[21:24].hex().upper() == "3C5EEB"
    assert plot.callsign == "GWI7BX"
    assert plot.track_number == int.from_bytes(PLOT[30:32], "big") & 0xFFF == 1581
    assert (plot.report_type, plot.height_m) == (5, None)
    assert record_to_dict(plot) == {"category": 48, "sac": 25, "sic": 12, "tod_s": 27355.8984375,
                                    "rho_m": 9999 / 256 * NM_M, "theta_deg": plot.theta_deg, "flight_level": 246.0,
                                    "mode3a": "6050", "aircraft_address": "3C5EEB", "callsign": "GWI7BX",
                                    "track_number": 1581, "report_type": 5}


def test_a_north_marker_decoded_by_hand() -> None:
    [status], error = decode_block(DataBlock(34, 0, NORTH))
    assert error is None and isinstance(status, Cat034Status)
    assert (status.sac, status.sic, status.message_type, status.message) == (25, 12, 1, "north_marker")
    assert status.tod_s == int.from_bytes(NORTH[5:8], "big") / 128 == 27356.5703125
    assert status.antenna_period_s == int.from_bytes(NORTH[8:10], "big") / 128 == 4.9453125
    assert (status.nogo, status.overload, status.sector_deg) == (False, False, None)
    height, lat, lon = struct.unpack(">H", NORTH[-8:-6])[0], NORTH[-6:-3], NORTH[-3:]
    assert status.position == (int.from_bytes(lat, "big", signed=True) * 180 / 2**23,
                               int.from_bytes(lon, "big", signed=True) * 180 / 2**23, float(height))
    assert status.position == pytest.approx((43.57103, 16.40606, 780.0))


def test_a_cat062_edition_017_track_decoded_by_hand() -> None:
    [track], error = decode_block(DataBlock(62, 0, TRACK_017), "0.17")
    assert error is None and isinstance(track, Cat062Track)
    assert (track.sac, track.sic, track.track_number) == (25, 100, 894)
    assert track.tod_s == 0x59F8E1 / 128
    assert (track.lat, track.lon) == (0x1F7AE9 * 180 / 2**23, 0x0CF6A7 * 180 / 2**23)
    speed, heading = 0x0756 * 1852 / 2**14, 0xCAD6 * 360 / 2**16
    assert track.vx_mps == pytest.approx(speed * math.sin(math.radians(heading)))
    assert track.vy_mps == pytest.approx(speed * math.cos(math.radians(heading)))
    assert (track.flight_level, track.mode3a, track.callsign, track.climb_mps) == (340.0, "6072", "BAW891", 0.0)


def test_the_2008_tracks_are_those_the_readme_lists() -> None:
    tracks = [r for _, b in _blocks(TRACKS_017) for r in decode_block(b, "0.17")[0]]
    assert all(isinstance(t, Cat062Track) for t in tracks)
    assert len({t.track_number for t in tracks}) == 56  # type: ignore[union-attr]
    assert {"BAW891", "AUA848Z", "AZA421", "9ADAK"} <= {t.callsign for t in tracks}  # type: ignore[union-attr]
    lats = [t.lat for t in tracks]  # type: ignore[union-attr]
    lons = [t.lon for t in tracks]  # type: ignore[union-attr]
    assert (round(min(lats), 2), round(max(lats), 2), round(min(lons), 2), round(max(lons), 2)) == (  # type: ignore[type-var]
        42.18, 46.52, 12.04, 19.34)
    levels = [t.flight_level for t in tracks]  # type: ignore[union-attr]
    assert (min(levels), max(levels)) == (14.0, 450.0)  # type: ignore[type-var]


def test_the_1x_tracks_carry_their_identities() -> None:
    pcap = [r for _, b in _blocks(TRACKS_PCAP) for r in decode_block(b)[0]]
    assert [(t.track_number, t.callsign, t.aircraft_address) for t in pcap] == [  # type: ignore[union-attr]
        (4713, "RYR174C", "4CA7A8"), (6831, "ISS2007", "4CAC7F")]
    assert [(round(t.lat, 2), round(t.lon, 2)) for t in pcap] == [(41.17, 15.71), (41.42, 19.39)]  # type: ignore[union-attr, arg-type]
    raw = [r for _, b in _blocks(TRACKS_RAW) for r in decode_block(b)[0]]
    assert [(t.track_number, t.callsign, t.aircraft_address, t.mode3a) for t in raw] == [  # type: ignore[union-attr]
        (4980, None, None, "4276"), (7977, "SXD4723", "3C0A55", "2535")]
    assert raw[0].tod_s == pytest.approx(30911.66, abs=0.01)


def test_block_source_reads_sac_sic_before_the_edition_is_chosen() -> None:
    assert block_source(DataBlock(48, 0, PLOT)) == (25, 12)
    assert block_source(DataBlock(62, 0, TRACK_017)) == (25, 100)
    assert block_source(DataBlock(48, 0, b"\x40\x00")) is None  # first item not I010
    assert block_source(DataBlock(48, 0, b"\xff\xff")) is None  # FSPEC never ends


def test_hostile_blocks_give_a_decode_error_at_the_offset_and_keep_what_came_before() -> None:
    found, error = decode_block(DataBlock(1, 7, b"\x80\x19\x0c"))
    assert found == [] and error is not None and error.offset == 7 and "CAT001 is not read" in error.reason
    found, error = decode_block(DataBlock(48, 10, PLOT + PLOT[:12]))  # the second record cut short
    assert len(found) == 1 and error is not None and error.offset == 10 + 3 + len(PLOT)
    assert error.reason.startswith("CAT048 1.32 record 2: ")
    found, error = decode_block(DataBlock(62, 0, TRACK_017[:20]), "0.17")
    assert found == [] and error is not None and "cut short" in error.reason and error.offset == 3 + 20
    found, error = decode_block(DataBlock(62, 0, bytes.fromhex("80") + b"\x19"), "0.17")
    assert found == [] and error is not None and "I062/010 cut short" in error.reason
    found, error = decode_block(DataBlock(48, 0, b""))
    assert found == [] and error is not None and "without records" in error.reason
    bad_time = bytearray(PLOT)
    bad_time[5:8] = (86_500 * 128).to_bytes(3, "big")
    assert "not within a day" in str(decode_block(DataBlock(48, 0, bytes(bad_time)))[1])


def test_editions_are_checked() -> None:
    assert check_edition(62, "0.17") == "0.17" and DEFAULT_EDITIONS == {34: "1.29", 48: "1.32", 62: "1.21"}
    with pytest.raises(ConfigError, match=r"CAT048 edition '1.21': readable editions are 1.27"):
        check_edition(48, "1.21")
    with pytest.raises(ConfigError, match="category 21 is not read"):
        check_edition(21, "2.6")
    with pytest.raises(ConfigError):
        decode_block(DataBlock(48, 0, PLOT), "9.9")


def test_looks_like_asterix() -> None:
    assert looks_like_asterix(TRACKS_RAW.read_bytes())
    assert not looks_like_asterix(b"") and not looks_like_asterix(b"hello world")
    assert not looks_like_asterix(b"\x00\x00\x03")  # category 0 does not exist


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_give_blocks_or_a_decode_error(data: bytes) -> None:
    try:
        blocks = split_blocks(data)
    except DecodeError as error:
        assert error.offset is not None and 0 <= error.offset < len(data)
        return
    assert sum(3 + len(b.records) for b in blocks) == len(data)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([(34, None), (48, None), (62, None), (62, "0.17"), (48, "1.27"), (62, "1.16")]),
       st.binary(max_size=120) | st.builds(lambda cut, tail: (PLOT + NORTH + TRACK_017)[cut:] + tail,
                                            st.integers(0, 80), st.binary(max_size=8)))
def test_random_records_decode_or_give_a_decode_error(which: tuple[int, str | None], data: bytes) -> None:
    category, edition = which
    records, error = decode_block(DataBlock(category, 0, data), edition)
    assert error is None or (isinstance(error, DecodeError) and error.offset is not None)
    for record in records:
        assert record.category == category and 0 <= record.sac <= 255
        assert record.tod_s is None or 0 <= record.tod_s < 86_401
        record_to_dict(record)
