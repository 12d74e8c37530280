"""Mode S receiver feed framing: byte-exact vectors, the real recordings' counts, and fuzzing."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import DecodeError, FormatError
from dronewatch.formats.adsb import ModeSFrame, avr_line, beast_frames, hex_line, sbs_line

DATA = Path(__file__).resolve().parents[2] / "data" / "feeds" / "adsb"
BEAST = DATA / "ulss7_beast_2018-04-03.bin"
SBS = DATA / "ulss7_sbs_2018-04-03.txt"
DELFT = DATA / "pymodes_delft_2015-03-03.txt"

# the file's first frame, and its AVR form (the workspace's AVR file, line 1)
FIRST_BEAST = bytes.fromhex("1a32030bf18cc2ab135f4001594b0fbb")
FIRST_AVR = "@030BF18CC2AB5F4001594B0FBB;"


def test_a_beast_frame_gives_its_counter_time_signal_and_reply() -> None:
    frames, used, errors = beast_frames(FIRST_BEAST)
    assert (used, errors) == (16, [])
    assert frames == [ModeSFrame(0x030BF18CC2AB / 12e6, bytes.fromhex("5f4001594b0fbb"), 0x13)]
    assert avr_line(FIRST_AVR) == ModeSFrame(frames[0].t, frames[0].data)


def test_a_doubled_1a_inside_a_frame_is_one_byte_and_status_frames_are_consumed() -> None:
    escaped = bytes.fromhex("1a31" "00000000001a1a" "20" "1a1a01")  # counter ...1a, reply 1a 01
    status = bytes.fromhex("1a34" "000000000000" "00" + "00" * 14)
    frames, used, errors = beast_frames(status + escaped)
    assert errors == [] and used == len(status + escaped)
    assert frames == [ModeSFrame(0x1A / 12e6, b"\x1a\x01", 0x20)]


def test_bytes_between_frames_and_unknown_types_are_reported_and_skipped() -> None:
    junk = b"\x00\xff" + bytes.fromhex("1a39") + FIRST_BEAST
    frames, used, errors = beast_frames(junk)
    assert [f.data for f in frames] == [bytes.fromhex("5f4001594b0fbb")] and used == len(junk)
    assert [(e.offset, e.reason) for e in errors] == [(0, "2 bytes outside any Beast frame"),
                                                      (2, "unknown Beast frame type 0x39")]


def test_a_live_stream_keeps_a_frame_cut_short_for_the_next_read() -> None:
    frames, used, errors = beast_frames(FIRST_BEAST + FIRST_BEAST[:9], final=False)
    assert (len(frames), used, errors) == (1, 16, [])
    frames, used, errors = beast_frames(FIRST_BEAST[:9])
    assert frames == [] and [e.reason for e in errors] == ["Beast frame cut short"]


def test_the_real_beast_recording_frames_as_its_readme_counts() -> None:
    data = BEAST.read_bytes()
    frames, used, errors = beast_frames(data)
    assert (len(frames), used, errors) == (13_954, len(data), [])
    assert Counter(len(f.data) for f in frames) == {2: 5_026, 7: 4_942, 14: 3_986}
    assert frames[-1].t - frames[0].t == pytest.approx(60.87, abs=0.01)
    assert max(f.signal or 0 for f in frames) == 207


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_any_bytes_frame_without_raising_and_in_pieces_as_whole(data: bytes, piece: int) -> None:
    whole, used, errors = beast_frames(data)
    assert used == len(data) and all(isinstance(e, DecodeError) for e in errors)
    assert all(len(f.data) in (2, 7, 14) for f in whole)
    pieces: list[ModeSFrame] = []
    buffer = b""
    for start in range(0, len(data), piece):
        buffer += data[start:start + piece]
        found, used, _ = beast_frames(buffer, final=False)
        pieces += found
        buffer = buffer[used:]
    pieces += beast_frames(buffer)[0]
    assert pieces == whole


@pytest.mark.parametrize(("line", "expected"), [
    ("*8D4840D6202CC371C32CE0576098;", ModeSFrame(None, bytes.fromhex("8D4840D6202CC371C32CE0576098"))),
    ("<030BF18CC2AB135F4001594B0FBB;", ModeSFrame(0x030BF18CC2AB / 12e6, bytes.fromhex("5F4001594B0FBB"), 0x13)),
    ("1425399144.846557,5D4840D6F87407", ModeSFrame(1425399144.846557, bytes.fromhex("5D4840D6F87407"))),
    ("2015-03-03T16:12:24.846557    5D4840D6F87407", ModeSFrame(1425399144.846557, bytes.fromhex("5D4840D6F87407"))),
])
def test_text_lines_give_their_frames(line: str, expected: ModeSFrame) -> None:
    parse = avr_line if line[0] in "*@<" else hex_line
    assert parse(line) == expected


@pytest.mark.parametrize(("line", "reason"), [
    ("*8D4840D6202CC371C32CE057609;", "not 4, 14 or 28 hex digits"),
    ("8D4840D6202CC371C32CE0576098;", "not an AVR frame"),
    ("@030BF18C;", "AVR timestamp missing"),
    ("*ZZ;", "not 4, 14 or 28 hex digits"),
    ("yesterday,5D4840D6F87407", "is not a number of seconds"),
    ("2015-13-03T16:12:24 5D4840D6F87407", "is not ISO 8601"),
])
def test_bad_text_lines_are_refused_naming_what_and_where(line: str, reason: str) -> None:
    parse = avr_line if line.endswith(";") else hex_line
    with pytest.raises(FormatError, match=reason) as caught:
        parse(line, source="feed.txt", number=7)
    assert str(caught.value).startswith("feed.txt:7: ")


def test_the_real_timestamped_hex_file_frames_whole() -> None:
    frames = [hex_line(line) for line in DELFT.read_text().splitlines()]
    assert len(frames) == 4_516 and Counter(len(f.data) for f in frames) == {7: 3_149, 14: 1_367}
    assert frames[-1].t - frames[0].t == pytest.approx(179, abs=1)  # type: ignore[operator]


def test_the_real_sbs_file_gives_its_messages_and_skips_its_tool_output() -> None:
    messages = [m for m in (sbs_line(line) for line in SBS.read_text().splitlines()) if m]
    assert Counter(m["msg_type"] for m in messages) == {1: 146, 3: 1_498, 4: 1_492, 5: 588, 6: 422, 7: 498, 8: 3_978}
    assert sum("lat" in m for m in messages) == 1_456
    first = messages[0]
    assert first == {"t": pytest.approx(1522782148.136), "icao": "400159", "msg_type": 8}
    named = {m["icao"]: m["callsign"] for m in messages if "callsign" in m}
    assert named["71BE34"] == "AAR542" and len(named) == 11


@pytest.mark.parametrize(("line", "reason"), [
    ("MSG,3,1,1,400159,1,2018/04/03", "7 fields, not 22"),
    ("MSG,3,1,1,4001ZZ,1,2018/04/03,19:02:28.136,2018/04/10,21:24:39.436,,,,,,,,,,,,", "address"),
    ("MSG,3,1,1,400159,1,2018/04/03,19:02:28.136,2018/04/10,21:24:39.436,,high,,,,,,,,,,", "could not convert"),
])
def test_bad_sbs_lines_are_refused(line: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        sbs_line(line, source="x.sbs", number=3)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_line_gives_a_frame_or_a_format_error(line: str) -> None:
    for parse in (avr_line, hex_line, sbs_line):
        with contextlib.suppress(FormatError):
            parse(line)
