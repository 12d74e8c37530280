"""ADS-B / Mode S decoding on real recordings, checked against an independent decode (dump1090's SBS-1 output)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.cli import main
from dronewatch.formats.adsb import ModeSFrame, avr_line, beast_frames, sbs_line
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.ingest.adsb import ModeSDecoder, feed_messages, sniff_format
from dronewatch.model import Detection, Sensor

DATA = Path(__file__).resolve().parents[2] / "data" / "feeds" / "adsb"
BEAST = DATA / "ulss7_beast_2018-04-03.bin"
SBS = DATA / "ulss7_sbs_2018-04-03.txt"
DELFT = DATA / "pymodes_delft_2015-03-03.txt"
START = 1522782148.136310917
"""The Beast capture's start (its original file name): the SBS file's times are counted from it."""
PULKOVO = (59.80, 30.26)
CALLSIGNS = {"71BE34": "AAR542", "4242E5": "AFL030", "4249B5": "AFL032", "780C5D": "CAO1024", "780A5C": "CPA238",
             "504DD9": "MLD185", "400159": "SDM6244", "4CAAAE": "SDM6414", "4248E7": "SDM6620", "424263": "UTA470",
             "42460C": "UTA582"}


@pytest.fixture(scope="module")
def beast() -> tuple[ModeSDecoder, list[dict[str, object]]]:
    decoder = ModeSDecoder(PULKOVO, start=START)
    return decoder, list(feed_messages(BEAST.read_bytes(), "beast", decoder, str(BEAST)))


def test_every_mode_s_reply_of_the_beast_recording_is_decoded_or_counted(beast) -> None:  # type: ignore[no-untyped-def]
    decoder, messages = beast
    by_df = Counter(m["df"] for m in messages)
    # the README's counts by downlink format; 6 surveillance replies name an address never heard (dump1090
    # says the same: "6 messages that might be valid, but we couldn't validate the CRC against a known ICAO")
    assert by_df == {11: 3_978, 17: 3_436, 0: 436, 4: 328, 20: 260, 21: 226, 5: 196, 16: 62}
    assert decoder.counts["unheard_address"] == 6 and decoder.counts["mode_ac"] == 5_026
    assert sum(by_df.values()) + 6 + 5_026 == 13_954
    assert Counter(m["tc"] for m in messages if "tc" in m) == {19: 1_492, 11: 1_156, 18: 218, 29: 174, 4: 146,
                                                              12: 124, 31: 78, 28: 48}
    assert {p.icao: p.callsign for p in decoder.aircraft.values()} == CALLSIGNS


def test_positions_agree_with_dump1090s_decode_aircraft_by_aircraft(beast) -> None:  # type: ignore[no-untyped-def]
    _, messages = beast
    reference: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for line in SBS.read_text().splitlines():
        found = sbs_line(line)
        if found and "lat" in found:
            reference[found["icao"]].append((found["t"], found["lat"], found["lon"]))
    ours = [m for m in messages if "lat" in m]
    assert len(ours) == sum(map(len, reference.values())) == 1_456
    assert {m["icao"] for m in ours} == set(reference) == set(CALLSIGNS)
    for m in ours:
        t, lat, lon = min(reference[m["icao"]], key=lambda r: abs(r[0] - m["t"]))  # type: ignore[operator]
        assert abs(t - m["t"]) < 0.005  # type: ignore[operator]
        assert math.hypot((lat - m["lat"]) * 111_320, (lon - m["lon"]) * 111_320 * 0.5) < 1.0  # type: ignore[operator]


def test_the_avr_form_of_the_same_frames_decodes_the_same() -> None:
    frames, _, _ = beast_frames(BEAST.read_bytes())
    avr = "\n".join(f"@{round(f.t * 12e6):012X}{f.data.hex().upper()};" for f in frames).encode()  # type: ignore[operator]
    assert sniff_format(avr) == "avr" and avr_line(avr.split(b"\n")[0].decode()).data == frames[0].data
    first, second = ModeSDecoder(start=START), ModeSDecoder(start=START)
    assert list(feed_messages(avr, "avr", first)) == list(feed_messages(BEAST.read_bytes(), "beast", second))


def test_the_delft_recording_gives_its_four_extended_squitter_aircraft() -> None:
    decoder = ModeSDecoder((52.0, 4.37))
    messages = list(feed_messages(DELFT.read_bytes(), "hex", decoder))
    named = {p.icao: p.callsign for p in decoder.aircraft.values() if p.callsign}
    assert named == {"4840D6": "KLM1023", "40621D": "BAW168", "400E13": "EZY28WP", "45AC33": "SAS1517"}
    placed = [m for m in messages if "lat" in m]
    assert {m["icao"] for m in placed} == {"40621D", "400E13", "45AC33"}
    assert all(52.05 < m["lat"] < 52.44 and 3.69 < m["lon"] < 4.10 for m in placed)  # type: ignore[operator]
    assert decoder.counts["undecodable"] == 25  # the DF19 (military) squitters


def test_a_position_far_beyond_any_receiver_range_is_dropped() -> None:
    decoder = ModeSDecoder((0.0, 0.0))  # a receiver in the Gulf of Guinea does not hear St Petersburg
    assert not any("lat" in m for m in feed_messages(BEAST.read_bytes(), "beast", decoder))
    assert decoder.counts["implausible_position"] > 100


def test_an_emergency_squawk_is_flagged_and_reaches_the_detection() -> None:
    decoder = ModeSDecoder()
    base = "MSG,{kind},1,1,4CA123,1,2024/06/06,10:00:0{s}.000,2024/06/06,10:00:00.000,{rest}"
    lines = [base.format(kind=1, s=0, rest="EIN5GV,,,,,,,,,,,0"),
             base.format(kind=3, s=1, rest=",3000,,,53.4,-6.2,,,,,,0"),
             base.format(kind=6, s=2, rest=",3000,,,,,,7700,0,1,0,0")]
    messages = [decoder.apply_sbs(m) for m in (sbs_line(line) for line in lines) if m]
    assert messages[-1]["emergency"] == "emergency"
    detection = decoder.detection(messages[1], "adsb-1")
    assert detection == Detection(t=messages[1]["t"], sensor="adsb-1", lat=53.4, lon=-6.2, alt=3000 * 0.3048,
                                  icao="4CA123", callsign="EIN5GV", squawk="7700")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=7, max_size=7) | st.binary(min_size=14, max_size=14) |
                st.binary(min_size=2, max_size=2), max_size=40))
def test_any_replies_decode_or_are_counted(replies: list[bytes]) -> None:
    decoder = ModeSDecoder(PULKOVO)
    out = decoder.decode([ModeSFrame(float(k), data) for k, data in enumerate(replies)])
    assert len(out) == len(replies) and decoder.counts["frames"] == len(replies)


def test_cli_writes_adsb_detections_the_tracker_can_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adsb.jsonl"
    assert main(["adsb", "detections", str(BEAST), "--receiver", "59.80,30.26,20", "--start", str(START),
                 "-o", str(out)]) == 0
    records = list(ScenarioReader(out.open()))
    sensor, detections = records[0], records[1:]
    assert isinstance(sensor, Sensor) and sensor.kind == "adsb"
    assert len(detections) == 1_456 and all(isinstance(d, Detection) and d.icao and d.alt for d in detections)
    assert {d.callsign for d in detections if isinstance(d, Detection)} - {None} == set(CALLSIGNS.values())
    assert "1456 detections written" in capsys.readouterr().err


def test_cli_decode_prints_messages_and_refuses_what_is_not_a_feed(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adsb", "decode", str(DELFT)]) == 0
    captured = capsys.readouterr()
    first = json.loads(captured.out.splitlines()[0])
    assert first["icao"] == "4840D6" and first["df"] == 11
    assert "4516 frames or lines" in captured.err and "unheard_address" in captured.err
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert main(["adsb", "decode", str(text)]) == 2
    assert "not a Mode S feed" in capsys.readouterr().err
    assert main(["adsb", "detections", str(BEAST), "--receiver", "59.8,30.26,20", "-o", str(tmp_path / "x")]) == 2
    assert "give --start" in capsys.readouterr().err


def test_bad_lines_in_a_text_feed_are_counted_named_and_skipped() -> None:
    lines = DELFT.read_text().splitlines()[:50]
    lines[3] = "2015-03-03T16:12:24.949538    NOTHEX"
    decoder = ModeSDecoder()
    messages = list(feed_messages("\n".join(lines).encode(), "hex", decoder, "delft.txt"))
    assert decoder.counts["bad_line"] == 1 and decoder.counts["frames"] == 49 and messages
    assert str(decoder.first_errors["bad_line"]).startswith("delft.txt:4: ")


def test_an_aircraft_not_heard_for_long_is_forgotten() -> None:
    decoder = ModeSDecoder(forget_s=600.0)
    frames, _, _ = beast_frames(BEAST.read_bytes())
    decoder.decode(frames)
    assert len(decoder.aircraft) == 11
    later = [ModeSFrame((f.t or 0.0) + 700.0, f.data) for f in frames if f.data.hex().upper()[2:8] == "400159"]
    decoder.decode(later)
    assert set(decoder.aircraft) == {"400159"}
