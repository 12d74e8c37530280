"""ASTERIX feeds to dronewatch records on the real Croatia Control recordings: plots checked by hand against
an independent geodesy library (pymap3d), duplicated links, scan timing, system tracks, hostile input, the
command line and a live UDP feed."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import asterix.generated as gen
import numpy as np
import pymap3d
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.cli import main
from dronewatch.cli.serve import _add_sources
from dronewatch.config import Config, SourcesConfig, load_config
from dronewatch.errors import ConfigError
from dronewatch.formats.asterix import capture_datagrams, split_blocks
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.geo import aer2enu, enu2geodetic
from dronewatch.ingest.asterix import (
    AsterixDecoder,
    Decoded,
    UdpEndpoint,
    elevation_deg,
    file_records,
    live_asterix,
    multicast_request,
    parse_udp_url,
    system_detection,
    tod_to_unix,
)
from dronewatch.ingest.sources import AsterixReceiver
from dronewatch.model import Detection, Scan, Sensor, TrackReport
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository, open_database

DATA = Path(__file__).resolve().parents[2] / "data" / "feeds" / "asterix"
RADARS = DATA / "croatiacontrol_cat034_cat048_2016-05-05.pcap"
TRACKS_017 = DATA / "croatiacontrol_cat062v0.17_2008-05-15.pcap"
TRACKS_PCAP = DATA / "croatiacontrol_cat062_cat065_2014-02-25.pcap"
TRACKS_RAW = DATA / "croatiacontrol_cat062_cat065.raw"
MIDNIGHT = datetime(2016, 5, 5, tzinfo=UTC).timestamp()
SPLIT = (43.57102632522583, 16.4060640335083, 780.0)
"""Radar 25/12 where it says it stands: I034/120 of its own north marker."""
SICS = (11, 12, 13, 14, 201, 204, 205)


def radar(sic: int, position: tuple[float, float, float] = (45.0, 16.0, 500.0)) -> Sensor:
    return Sensor(id=f"radar-{sic}", kind="radar", lat=position[0], lon=position[1], alt=position[2])


def every_radar() -> dict[tuple[int, int], Sensor]:
    """All seven radars of the capture; only 25/12's position is known (its own), the rest are placeholders."""
    return {(25, sic): radar(sic, SPLIT if sic == 12 else (45.0, 16.0, 500.0)) for sic in SICS}


def run(path: Path, decoder: AsterixDecoder) -> tuple[list[Decoded], list[Detection | Scan | TrackReport]]:
    decoded = list(file_records(path.read_bytes(), decoder, path.name))
    return decoded, [r for r in (decoder.convert(d) for d in decoded) if r is not None]


# Four plots of radar 25/12, their first 24 bytes as captured (frame 13 bytes 3, 192 and 235; frame 79 byte 201).
# FSPEC (3) · I010 19 0c · I140 (3) · I020 a8 (one octet) · I040 RHO (2) THETA (2) · I070 (2) · I090 (2) ·
# I130 e0 + 3 subfields · I220 (3): every offset below follows from that.
HAND = ["ffdf02190c356df3a8270fde5f0c2803d8e0560cca3c5eeb",   # GWI7BX at 39 NM, FL246
        "ffdf02190c356deaa845dadabd0008009ce0560bbf501f87",   # 501F87 at 70 NM, FL39: below the radar's horizon
        "ffff02190c356e1ba81564ee6303db05a0e05e0cd302a1a0",   # LBT7408 at 21 NM, FL360: 14.7 deg up
        "ffff02190c356deaa8ca22da7f0d420527e0420ab4152ad7"]   # VDA6758 at 202 NM, FL329.75


def test_a_handful_of_plots_by_hand_become_detections_at_their_range_bearing_and_height() -> None:
    decoder = AsterixDecoder({(25, 12): radar(12, SPLIT)})
    _, out = run(RADARS, decoder)
    by_icao = {d.icao: d for d in out if isinstance(d, Detection)}
    assert len(by_icao) == 19
    for prefix in HAND:
        raw = bytes.fromhex(prefix)
        assert raw[3:5] == b"\x19\x0c" and raw[8] == 0xA8 and raw[17] == 0xE0
        tod = int.from_bytes(raw[5:8], "big") / 128                  # I140, LSB 1/128 s
        rho_nm = int.from_bytes(raw[9:11], "big") / 256              # I040 RHO, LSB 1/256 NM
        theta = int.from_bytes(raw[11:13], "big") * 360 / 65536      # I040 THETA, LSB 360/2^16
        squawk = f"{int.from_bytes(raw[13:15], 'big') & 0xFFF:04o}"  # I070, 12 bits, octal
        assert not raw[15] & 0x20                                    # I090: a positive flight level
        flight_level = int.from_bytes(raw[15:17], "big") / 4          # LSB 1/4 FL
        detection = by_icao[raw[21:24].hex().upper()]                # I220
        assert detection.t == MIDNIGHT + tod
        assert detection.range_m == rho_nm * 1852.0
        assert detection.azimuth_deg == theta
        assert (detection.squawk, detection.sensor) == (squawk, "radar-12")
        assert detection.elevation_deg is not None
        # the elevation places the plot at its flight level, by pymap3d's ellipsoid (not the code's sphere)
        lat, lon, height = pymap3d.aer2geodetic(theta, detection.elevation_deg, detection.range_m, *SPLIT)
        assert height == pytest.approx(flight_level * 100 * 0.3048, abs=3.0)
        # and dronewatch's own geodesy puts the detection where pymap3d does
        east, north, up = aer2enu(theta, detection.elevation_deg, detection.range_m)
        ours = enu2geodetic(east, north, up, *SPLIT)
        assert float(ours[0]) == pytest.approx(lat, abs=1e-7) and float(ours[1]) == pytest.approx(lon, abs=1e-7)
        back = pymap3d.geodetic2aer(lat, lon, height, *SPLIT)
        assert back[0] == pytest.approx(theta, abs=1e-6) and back[2] == pytest.approx(rho_nm * 1852, abs=1e-3)
    gwi = by_icao["3C5EEB"]
    assert (gwi.callsign, gwi.range_m, gwi.azimuth_deg) == ("GWI7BX", 72336.515625, 312.7093505859375)
    assert gwi.elevation_deg == pytest.approx(5.0055, abs=1e-4)
    assert by_icao["501F87"].elevation_deg < 0 < by_icao["02A1A0"].elevation_deg  # type: ignore[operator]


def test_elevation_from_height_on_a_curved_earth() -> None:
    # close in, the Earth is flat: asin(height / range)
    assert elevation_deg(1000.0, 100.0, 45.0, 0.0, 0.0) == pytest.approx(math.degrees(math.asin(0.1)), abs=0.01)
    # FL350 at 100 NM: 2.47 deg, not the flat 3.30; at 200 NM on the horizon
    assert elevation_deg(185_200.0, 10_668.0, 45.0, 0.0, 0.0) == pytest.approx(2.47, abs=0.01)
    assert elevation_deg(370_400.0, 10_668.0, 45.0, 0.0, 0.0) == pytest.approx(0.0, abs=0.02)
    assert elevation_deg(1000.0, 5000.0, 45.0, 0.0, 0.0) is None  # 5 km up, 1 km away: no such point
    assert elevation_deg(0.0, 5000.0, 45.0, 0.0, 0.0) is None
    for azimuth in (0.0, 45.0, 90.0, 200.0):  # against the ellipsoid, in every direction, 300 km out
        el = elevation_deg(300_000.0, 9000.0, 60.0, 200.0, azimuth)
        assert el is not None
        assert pymap3d.aer2geodetic(azimuth, el, 300_000.0, 60.0, 10.0, 200.0)[2] == pytest.approx(9000.0, abs=3.0)


def test_time_of_day_to_unix_time_across_midnight() -> None:
    day = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    assert tod_to_unix(3600.0, day + 3000.0) == day + 3600.0
    assert tod_to_unix(86_399.0, day + 2.0) == day - 1.0            # reference just after midnight: yesterday
    assert tod_to_unix(1.0, day + 86_398.0) == day + 86_401.0         # reference just before: tomorrow
    assert tod_to_unix(43_000.0, day) == day + 43_000.0


def _block(tod: float, rho_nm: float = 10.0, theta: float = 45.0, level: float | None = 100.0) -> bytes:
    """A CAT048 data block of one plot of radar 25/12 (primary only without ``level``), encoded by libasterix."""
    items: dict[str, object] = {"010": (("SAC", 25), ("SIC", 12)), "140": (tod, "s"),
                                "040": (("RHO", (rho_nm, "NM")), ("THETA", (theta, "°")))}
    if level is not None:
        items["090"] = (("V", 0), ("G", 0), ("FL", (level, "FL")))
    record = gen.Cat_048_1_32.cv_record.create(items)
    return bytes(gen.Cat_048_1_32.create([record]).unparse().to_bytes())


def test_a_stream_over_midnight_goes_on_into_the_next_day() -> None:
    decoder = AsterixDecoder({(25, 12): radar(12, SPLIT)}, date=date(2024, 2, 29))
    stream = _block(86_399.5) + _block(86_400.25, theta=46.0) + _block(0.75, theta=47.0)  # a leap second, then 00:00
    out = decoder.ingest(stream, source="raw")
    leap_day = datetime(2024, 2, 29, tzinfo=UTC).timestamp()
    assert [d.t for d in out] == [leap_day + 86_399.5, leap_day + 86_400.25, leap_day + 86_400.75]
    live = AsterixDecoder({(25, 12): radar(12, SPLIT)})  # live: the arrival time is the reference
    [after] = live.ingest(_block(86_399.5), received_t=leap_day + 86_400.0 + 1.0)
    assert after.t == leap_day + 86_399.5


def test_duplicated_links_are_deduplicated() -> None:
    everything = AsterixDecoder(every_radar(), dedupe_s=0.0)
    both, _ = run(RADARS, everything)
    assert Counter(d.record.category for d in both) == {48: 128, 34: 34}
    decoder = AsterixDecoder(every_radar())
    once, out = run(RADARS, decoder)
    assert Counter(d.record.category for d in once) == {48: 64, 34: 17}
    assert decoder.counts["duplicate"] == 81
    # LAN A alone (232.1.x.y) holds what both links hold once
    datagrams, _, _ = capture_datagrams(RADARS.read_bytes())
    link_a = AsterixDecoder(every_radar())
    alone = [r for d in datagrams if d.dst.startswith("232.1.") for r in link_a.decode(d.payload, d.t)]
    assert sorted(map(repr, (d.record for d in alone))) == sorted(map(repr, (d.record for d in once)))
    assert link_a.counts["duplicate"] == 0
    kinds = Counter(type(r).__name__ for r in out)
    assert kinds == {"Detection": 63, "Scan": 1}  # 64 plots, one a track's end without a plot
    assert decoder.counts["no_position"] == 1
    assert len({d.icao for d in out if isinstance(d, Detection)}) == 63


def test_north_markers_and_sector_crossings_give_each_radars_scan_timing() -> None:
    decoder = AsterixDecoder(every_radar())
    _, out = run(RADARS, decoder)
    assert [r for r in out if isinstance(r, Scan)] == [Scan(t=MIDNIGHT + 27_356.5703125, sensor="radar-12")]
    status = decoder.status
    split = status["radar-12"]
    # what the data says: 25/12 states a 4.945 s rotation (I034/041), its sector crossings come every 11.25 deg
    # at 0.15625 s (5.0 s a turn); one north marker in 0.44 s, so no period between two of them
    assert (split.north_markers, split.sector_crossings, split.north_period_s) == (1, 4, None)
    assert (split.antenna_period_s, split.sector_period_s, split.scan_period_s) == (4.9453125, 5.0, 4.9453125)
    assert (split.nogo, split.overload) == (False, False)
    assert split.reported_position == pytest.approx(SPLIT)
    assert {sic: status[f"radar-{sic}"].scan_period_s for sic in SICS} == {
        11: 5.0, 12: 4.9453125, 13: 5.0, 14: 5.0, 201: None, 204: None, 205: 10.0}


def test_system_tracks_become_track_reports_with_their_identity() -> None:
    decoder = AsterixDecoder(systems={(25, 100): "artas"}, editions={62: "0.17"})
    _, out = run(TRACKS_017, decoder)
    assert len(out) == 100 and all(isinstance(r, TrackReport) for r in out)
    first = out[0]
    assert isinstance(first, TrackReport)
    assert (first.id, first.callsign, first.squawk, first.sensors) == ("artas:894", "BAW891", "6072", ("artas",))
    assert first.alt == pytest.approx(340 * 30.48) and first.t == datetime(2008, 5, 15, tzinfo=UTC).timestamp() + \
        0x59F8E1 / 128
    assert len({r.id for r in out}) == 56
    speed = math.hypot(*first.vel_enu[:2])
    assert 150 < speed < 300  # an airliner's cruise, m/s

    decoder = AsterixDecoder(systems={(25, 100): "artas"})
    _, out = run(TRACKS_PCAP, decoder)
    assert [(r.id, r.icao, r.callsign, r.squawk) for r in out] == [  # type: ignore[union-attr]
        ("artas:4713", "4CA7A8", "RYR174C", "1275"), ("artas:6831", "4CAC7F", "ISS2007", "4175")]
    # the tracker's geometric altitudes here come from "default height" and "coverage": the flight levels win
    assert [r.alt for r in out] == pytest.approx([390 * 30.48, 380 * 30.48])  # type: ignore[union-attr]
    assert decoder.counts["unsupported_category"] == 1  # the CAT065 end-of-batch message

    decoder = AsterixDecoder(systems={(25, 100): "artas"}, date=date(2014, 2, 25))
    _, out = run(TRACKS_RAW, decoder)
    assert [(r.id, r.icao, r.callsign) for r in out] == [  # type: ignore[union-attr]
        ("artas:4980", None, None), ("artas:7977", "3C0A55", "SXD4723")]
    assert out[1].alt == pytest.approx(10763.25)  # triangulated geometric altitude (SRC 3) is taken
    assert out[0].t == pytest.approx(datetime(2014, 2, 25, 8, 35, 11, tzinfo=UTC).timestamp(), abs=1.0)


def test_what_is_not_taken_is_counted_by_reason() -> None:
    decoder = AsterixDecoder({(25, 12): radar(12, SPLIT)})
    run(RADARS, decoder)
    assert decoder.counts["unknown_source"] == 64 + 17 - 19 - 5  # the other six radars' plots and messages
    assert "SAC/SIC 25/201" in str(decoder.first_errors["unknown_source"])
    decoder = AsterixDecoder(systems={(25, 100): "artas"})  # the 2008 tracks read as 1.21: refused, counted
    decoded, _ = run(TRACKS_017, decoder)
    assert decoded == [] and decoder.counts["decode_error"] == 100
    assert "frame 1 (172.22.25.12:32773 -> 225.1.0.1:20402)" in str(decoder.first_errors["decode_error"])


def serve_datagrams(tmp_path: Path, sources: SourcesConfig, port: int, recorded: float, payloads: list[bytes],
                    detections: int) -> tuple[Repository, Pipeline]:
    """A site served with ``sources`` on the service's clock at ``recorded`` (the edge takes a live source's
    times only near it): ``payloads`` sent to ``port`` over UDP, until ``detections`` are stored (20 s at most)."""
    repository = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repository.ensure_site("site", "site", 0.0)
    pipeline = Pipeline("site", repository, clock=lambda: recorded)
    _add_sources(Config(sources=sources), pipeline, None)

    async def run() -> None:
        running = asyncio.create_task(pipeline.run())
        while "asterix" not in pipeline.stats():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for payload in payloads:
                sender.sendto(payload, ("127.0.0.1", port))
                await asyncio.sleep(0.001)
        deadline = asyncio.get_running_loop().time() + 20
        while repository.count("detections") < detections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        pipeline.stop()
        await running

    asyncio.run(run())
    return repository, pipeline


def test_serve_takes_the_system_tracks_of_aircraft_with_an_address_as_their_reports(tmp_path: Path,
                                                                                      free_port: Callable[..., int]
                                                                                      ) -> None:
    [datagram], _, _ = capture_datagrams(TRACKS_PCAP.read_bytes())
    port = free_port(socket.SOCK_DGRAM)
    repository, _ = serve_datagrams(tmp_path, SourcesConfig(asterix=(f"udp://127.0.0.1:{port}",),
                                                            asterix_systems=("25/100=artas,43.5,16.4,0",)),
                                    port, datagram.t or 0.0, [datagram.payload], detections=2)
    [(sensor, kind)] = [(s.id, s.kind) for s in repository.sensors("site")]
    assert (sensor, kind) == ("artas", "adsb")
    stored = [json.loads(text) for batch in repository.detection_lines("site", 0.0, 2e9) for _, _, text in batch]
    assert sorted((d["icao"], d["callsign"], d["squawk"]) for d in stored) == [
        ("4CA7A8", "RYR174C", "1275"), ("4CAC7F", "ISS2007", "4175")]
    ryanair = next(d for d in stored if d["icao"] == "4CA7A8")
    assert ryanair["alt"] == pytest.approx(39_000 * 0.3048, abs=0.5)  # FL390
    assert ryanair["speed_mps"] == pytest.approx(math.hypot(228.75, -47.25))
    assert ryanair["track_deg"] == pytest.approx(101.67, abs=0.01)


def test_a_system_track_without_an_address_is_no_report() -> None:
    track = TrackReport(t=1.0, id="artas:1", lat=45.0, lon=16.0, alt=3000.0, vel_enu=(0.0, 100.0, 0.0),
                        squawk="7000", sensors=("artas",))
    assert system_detection(track) is None
    assert system_detection(replace(track, icao="4CA7A8")) == Detection(
        t=1.0, sensor="artas", lat=45.0, lon=16.0, alt=3000.0, icao="4CA7A8", squawk="7000", speed_mps=100.0,
        track_deg=0.0)


def test_a_primary_only_plot_is_dropped_or_placed_at_the_height_the_service_assumes(tmp_path: Path) -> None:
    primary = _block(100.0, rho_nm=3.0, level=None)
    dropping = AsterixDecoder({(25, 12): radar(12, SPLIT)}, date=date(2024, 2, 29))
    assert dropping.ingest(primary) == [] and dropping.counts["no_height"] == 1
    site = tmp_path / "site.toml"
    site.write_text('[sources]\nasterix = ["udp://127.0.0.1:1"]\nasterix_radars = ["25/12=radar-split,'
                    f'{SPLIT[0]},{SPLIT[1]},{SPLIT[2]}"]\nasterix_assumed_height_m = 900\n')
    pipeline = Pipeline("site")
    _add_sources(load_config(site), pipeline, None)
    [(_, receiver)] = [(name, run) for name, run in pipeline._sources if name == "asterix"]
    assert isinstance(receiver, AsterixReceiver)
    [plot] = receiver.decoder.ingest(primary, received_t=datetime(2024, 2, 29, tzinfo=UTC).timestamp() + 100.0)
    assert isinstance(plot, Detection) and plot.range_m == pytest.approx(3 * 1852.0)
    *_, height = pymap3d.aer2geodetic(45.0, plot.elevation_deg, plot.range_m, *SPLIT)
    assert height == pytest.approx(900.0, abs=1.0)
    with pytest.raises(ConfigError, match=r"sources\.asterix_assumed_height_m: 99999\.0 is not a height"):
        load_config(site, environ={"DRONEWATCH_SOURCES__ASTERIX_ASSUMED_HEIGHT_M": "99999"})
    with pytest.raises(ConfigError, match=r"sources\.asterix_assumed_height_m: expected a number"):
        load_config(site, environ={"DRONEWATCH_SOURCES__ASTERIX_ASSUMED_HEIGHT_M": "high"})


@pytest.mark.parametrize(("payload", "kind", "offset"), [
    (b"\x30\x00", "bad_block", 0),                                     # header cut short
    (b"\x30\x00\x02\x00", "bad_block", 0),                             # LEN under 3
    (b"\x30\x00\x40\x01\x02", "bad_block", 0),                         # LEN past the end
    (b"\x01\x00\x05\x80\x00", "unsupported_category", 0),              # CAT001
    (b"\x30\x00\x05\xff\xff", "decode_error", 3),                      # a record the UAP cannot hold
    (_block(100.0)[:3] + _block(100.0)[3:-2], "bad_block", 0),         # LEN says more than came
])
def test_hostile_datagrams_are_counted_with_their_offset_never_raised(payload: bytes, kind: str, offset: int) -> None:
    decoder = AsterixDecoder({(25, 12): radar(12, SPLIT)})
    good = _block(3600.0)
    assert decoder.ingest(payload, 1.0e9, "peer") == []
    assert len(decoder.ingest(good + payload, 1.0e9, "peer")) == 1  # what came before the fault stands
    assert decoder.counts[kind] == 2
    error = decoder.first_errors[kind]
    assert getattr(error, "offset", None) == offset and str(error).startswith("peer: ")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200) | st.builds(lambda cut, data: data[:cut], st.integers(0, 60),
                                                     st.sampled_from([_block(5.0), _block(86_000.0, 300.0, 359.9)])),
                max_size=6))
def test_any_datagrams_are_decoded_or_counted(datagrams: list[bytes]) -> None:
    decoder = AsterixDecoder(every_radar(), systems={(25, 100): "artas"}, source_editions={(25, 100): {62: "0.17"}})
    for payload in datagrams:
        for record in decoder.ingest(payload, 1.0e9):
            assert record.t == record.t  # finite, not NaN
    assert decoder.counts["datagrams"] == len(datagrams)


def test_cli_decode_prints_records_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asterix", "decode", str(RADARS), "--json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert Counter(line["category"] for line in lines) == {48: 64, 34: 17}
    assert lines[0]["t"] == MIDNIGHT + lines[0]["tod_s"] and {"sac", "sic"} <= set(lines[0])
    assert "records: CAT034 17, CAT048 64; 81 duplicates dropped" in err
    assert main(["asterix", "decode", str(RADARS), "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 162
    assert main(["asterix", "decode", str(TRACKS_017), "--edition", "25/100:62=0.17"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 100
    assert main(["asterix", "decode", str(TRACKS_RAW)]) == 0  # no clock, no --date: no t
    out, err = capsys.readouterr()
    assert "t" not in json.loads(out.splitlines()[0]) and "unsupported_category 1" in err


def test_cli_decode_refuses_what_is_not_asterix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("no radar here\n")
    assert main(["asterix", "decode", str(text)]) == 2
    assert "neither a pcap/pcapng capture nor ASTERIX data blocks" in capsys.readouterr().err
    assert main(["asterix", "decode", str(TRACKS_017)]) == 2  # read as 1.21, not one record
    assert "no CAT034, CAT048 or CAT062 record" in capsys.readouterr().err
    assert main(["asterix", "decode", str(RADARS), "--edition", "48=1.21"]) == 2
    assert "readable editions are" in capsys.readouterr().err


def test_cli_detections_write_a_scenario_the_tracker_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "radar.jsonl"
    radars = [f"--radar=25/{sic}={f'radar-{sic}'},{45.0 if sic != 12 else SPLIT[0]},{16.0 if sic != 12 else SPLIT[1]},"
              f"{500 if sic != 12 else SPLIT[2]}" for sic in SICS]
    assert main(["asterix", "detections", str(RADARS), *radars, "-o", str(output)]) == 0
    err = capsys.readouterr().err
    assert "written: 7 sensors, 63 detections, 1 scans, 0 tracks" in err
    assert "radar-12: scan period 4.945 s, 1 north markers, 4 sector crossings" in err
    records = list(ScenarioReader(output.read_text().splitlines(), on_error="raise"))
    sensors = [r for r in records if isinstance(r, Sensor)]
    assert [s.id for s in sensors] == [f"radar-{sic}" for sic in SICS] and sensors[1].period_s == 4.9453125
    times = [r.t for r in records if isinstance(r, Detection | Scan)]
    assert times == sorted(times)
    assert main(["track", str(output), "-o", str(tmp_path / "tracks.jsonl")]) == 0
    assert "detections: 63" in capsys.readouterr().err
    # a raw recording has no clock: the date is needed
    assert main(["asterix", "detections", str(TRACKS_RAW), "--radar", "25/12=r,45,16,0", "-o", str(output)]) == 2
    assert "give --date" in capsys.readouterr().err
    assert main(["asterix", "detections", str(TRACKS_RAW), "--radar", "25/12=r,45,16,0", "--system", "25/100=artas",
                 "--date", "2014-02-25", "-o", str(output)]) == 0
    assert [r.id for r in ScenarioReader(output.read_text().splitlines()) if isinstance(r, TrackReport)] == [
        "artas:4980", "artas:7977"]
    assert main(["asterix", "detections", str(RADARS), "--radar", "25/300=r,45,16,0", "-o", str(output)]) == 2


def test_udp_urls_and_multicast_membership() -> None:
    assert parse_udp_url("udp://0.0.0.0:8600") == UdpEndpoint("0.0.0.0", 8600)
    group = parse_udp_url("udp://232.1.1.12:21112?iface=10.17.58.1&source=10.17.58.183")
    assert group == UdpEndpoint("232.1.1.12", 21112, True, "10.17.58.1", "10.17.58.183")
    assert multicast_request(group)[1] == socket.inet_aton("232.1.1.12") + socket.inet_aton(
        "10.17.58.1") + socket.inet_aton("10.17.58.183")  # ip_mreq_source: group, interface, source
    plain = parse_udp_url("udp://239.1.2.3:4000?iface=10.0.0.5")
    assert multicast_request(plain) == (socket.IP_ADD_MEMBERSHIP, socket.inet_aton("239.1.2.3") + socket.inet_aton(
        "10.0.0.5"))
    option, value = multicast_request(parse_udp_url("udp://239.1.2.3:4000?iface=lo"))
    assert option == socket.IP_ADD_MEMBERSHIP and value[:8] == socket.inet_aton("239.1.2.3") + bytes(4)
    assert int.from_bytes(value[8:], "little") == socket.if_nametoindex("lo")
    for bad in ("tcp://1.2.3.4:5", "udp://host-name:5", "udp://1.2.3.4", "udp://10.0.0.1:5?iface=eth0",
                "udp://239.1.1.1:5?ttl=3", "udp://[ff02::1]:5", "udp://239.1.1.1:5?source=x",
                "udp://239.1.1.1:5?source=10.0.0.1&iface=eth0"):
        with pytest.raises(ConfigError):
            parse_udp_url(bad)
    with pytest.raises(ConfigError, match="no network interface"):
        multicast_request(parse_udp_url("udp://239.1.2.3:4000?iface=no-such-interface0"))


def test_a_multicast_group_joined_on_the_loopback_interface_delivers_the_capture() -> None:
    datagrams, _, _ = capture_datagrams(RADARS.read_bytes())
    group = "239.255.42.99"

    async def listen() -> list[Detection | Scan | TrackReport]:
        decoder = AsterixDecoder({(25, 12): radar(12, SPLIT)})
        bound: asyncio.Future[list[tuple[str, int]]] = asyncio.get_running_loop().create_future()
        got: list[Detection | Scan | TrackReport] = []

        async def consume() -> None:
            async for records in live_asterix(f"udp://{group}:0?iface=127.0.0.1", decoder,
                                              clock=lambda: datagrams[0].t or 0.0, bound=bound):
                got.extend(records)
                if len(got) >= 20:
                    return

        task = asyncio.create_task(consume())
        [(address, port)] = await asyncio.wait_for(bound, 5)
        assert address == group
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            for datagram in datagrams:
                sender.sendto(datagram.payload, (group, port))
                await asyncio.sleep(0)
        await asyncio.wait_for(task, 10)
        return got

    got = asyncio.run(listen())
    assert Counter(type(r).__name__ for r in got) == {"Detection": 19, "Scan": 1}


def test_live_udp_replay_of_the_capture_gives_its_detections() -> None:
    datagrams, _, _ = capture_datagrams(RADARS.read_bytes())
    expected = AsterixDecoder({(25, 12): radar(12, SPLIT)})
    wanted = [r for d in datagrams for r in expected.ingest(d.payload, d.t)]
    assert Counter(type(r).__name__ for r in wanted) == {"Detection": 19, "Scan": 1}
    start = datagrams[0].t

    async def listen() -> tuple[list[Detection | Scan | TrackReport], AsterixDecoder]:
        decoder = AsterixDecoder({(25, 12): radar(12, SPLIT)})
        bound: asyncio.Future[list[tuple[str, int]]] = asyncio.get_running_loop().create_future()
        clock = iter(np.arange(len(datagrams) + 10) * 0.005 + (start or 0.0))
        got: list[Detection | Scan | TrackReport] = []

        async def consume() -> None:
            async for records in live_asterix("udp://127.0.0.1:0", decoder, clock=lambda: float(next(clock)),
                                              bound=bound):
                got.extend(records)
                if len(got) >= len(wanted):
                    return

        task = asyncio.create_task(consume())
        [address] = await asyncio.wait_for(bound, 5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"\x30\x00\x40garbage", address)   # a block longer than its datagram
            sender.sendto(b"\x01\x00\x04\x00", address)       # a category not read
            for datagram in datagrams:
                sender.sendto(datagram.payload, address)
                await asyncio.sleep(0)
        await asyncio.wait_for(task, 10)
        return got, decoder

    got, decoder = asyncio.run(listen())
    assert [(type(r).__name__, r.t) for r in got] == [(type(r).__name__, r.t) for r in wanted]
    assert [r for r in got if isinstance(r, Detection)] == [r for r in wanted if isinstance(r, Detection)]
    assert (decoder.counts["bad_block"], decoder.counts["unsupported_category"]) == (1, 1)
    assert decoder.counts["duplicate"] > 0  # LAN B's copies (the last ones may still wait when it stops)


def test_configuration_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match="is a rf, not a radar"):
        AsterixDecoder({(25, 1): Sensor(id="df", kind="rf", lat=0.0, lon=0.0, alt=0.0)})
    with pytest.raises(ConfigError, match=r"edition '2\.0'"):
        AsterixDecoder(source_editions={(25, 100): {62: "2.0"}})
    assert split_blocks(TRACKS_RAW.read_bytes())[0].category == 62


def test_serve_takes_a_live_feed_of_the_radar_configured_and_counts_what_it_drops(
        tmp_path: Path, free_port: Callable[..., int]) -> None:
    datagrams, _, _ = capture_datagrams(RADARS.read_bytes())
    port = free_port(socket.SOCK_DGRAM)
    repository, pipeline = serve_datagrams(
        tmp_path, SourcesConfig(asterix=(f"udp://127.0.0.1:{port}",),
                                asterix_radars=(f"25/12=radar-split,{SPLIT[0]},{SPLIT[1]},{SPLIT[2]}",)),
        port, datagrams[0].t or 0.0, [b"\x30\x00\x40garbage", *(d.payload for d in datagrams)], detections=19)
    assert repository.count("detections") == 19  # radar 25/12's plots; the other radars' are not this site's
    assert [s.id for s in repository.sensors("site")] == ["radar-split"]
    dropped = pipeline.stats()["asterix"]["bad_input"]
    assert dropped["bad_block"] == 1 and dropped["unknown_source"] > 0 and dropped["duplicate"] > 0
    with pytest.raises(ConfigError, match=r"sources\.asterix_radars"):
        _add_sources(Config(sources=SourcesConfig(asterix=("udp://127.0.0.1:1",), asterix_radars=("25/12",))),
                     Pipeline("site"), None)
