"""Remote ID reassembly: messages from several frames make detections the tracker fuses by UAS ID."""

from __future__ import annotations

from pathlib import Path

import pytest

from dronewatch.cli import main
from dronewatch.formats.remoteid import BasicId, Location, System
from dronewatch.formats.remoteid.authentication import Signature, split_pages
from dronewatch.formats.remoteid.enums import AuthType
from dronewatch.formats.scenario import open_scenario
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.model import Detection, TrackReport

DATA = Path(__file__).resolve().parents[2] / "data" / "remoteid"
HOUR = 1_764_000_000.0 - 1_764_000_000.0 % 3600.0


def location(t_after_hour: float, lat: float = 31.78) -> Location:
    return Location(status=2, lat=lat, lon=-106.52, geodetic_altitude_m=1250.0, speed_mps=8.0, direction_deg=90.0,
                    timestamp_s=t_after_hour)


def test_bluetooth_style_single_messages_merge_per_transmitter() -> None:
    assembler = RemoteIdAssembler()
    assert assembler.add(HOUR + 10.2, "aa", [location(10.0)]) == []  # no UAS ID yet: held
    assert assembler.add(HOUR + 10.4, "aa", [System(operator_lat=31.77, operator_lon=-106.53)]) == []
    (held,) = assembler.add(HOUR + 10.6, "aa", [BasicId(uas_id="1581F5FKD229400C37EF")])
    assert held.uas_id == "1581F5FKD229400C37EF" and held.t == pytest.approx(HOUR + 10.0)
    (fresh,) = assembler.add(HOUR + 11.3, "aa", [location(11.0, lat=31.7801)])
    assert fresh.operator_lat == 31.77 and fresh.track_deg == 90.0 and fresh.alt == 1250.0
    assert assembler.add(HOUR + 11.4, "aa", [location(11.0, lat=31.7801)]) == []  # an exact repeat
    assert assembler.skipped["repeat"] == 1
    assert assembler.add(HOUR + 11.5, "bb", [location(11.0)]) == []  # another transmitter knows no UAS ID


def test_location_timestamps_wrap_at_the_hour() -> None:
    assembler = RemoteIdAssembler()
    assembler.add(HOUR + 0.3, "aa", [BasicId(uas_id="X1")])
    (d,) = assembler.add(HOUR + 0.3, "aa", [location(3599.8)])  # sent just before the hour turned
    assert d.t == pytest.approx(HOUR - 0.2)


def test_a_real_capture_becomes_one_fused_track_with_its_uas_id(tmp_path: Path) -> None:
    detections, tracks = tmp_path / "rid.jsonl", tmp_path / "tracks.jsonl"
    assert main(["remoteid", "detections", str(DATA / "parrot_anafi4_real_frames1-800.pcapng"),
                 "--receiver", "47.1987,8.7302,500", "-o", str(detections)]) == 0
    found = [r for r in open_scenario(detections, on_error="raise") if isinstance(r, Detection)]
    assert len(found) == 17 and {d.uas_id for d in found} == {"1588E040445AC004418"}
    assert all(d.operator_lat is not None for d in found)
    assert main(["track", str(detections), "-o", str(tracks), "--no-progress"]) == 0
    reports = [r for r in open_scenario(tracks) if isinstance(r, TrackReport)]
    assert {r.uas_id for r in reports} == {"1588E040445AC004418"} and {r.id for r in reports} == {"T1"}


def test_authentication_pages_from_separate_frames_become_the_record_signature() -> None:
    signature = Signature(AuthType.MESSAGE_SET_SIGNATURE, 1_764_000_000.0, bytes(range(60)))
    pages = split_pages(signature)
    assert len(pages) == 3
    assembler = RemoteIdAssembler(auth_timeout_s=5.0)
    assembler.add(HOUR, "bb", [BasicId(uas_id="X1")])
    assembler.add(HOUR + 1, "bb", [pages[2]])
    assembler.add(HOUR + 1.5, "bb", [pages[0]])
    assert assembler.records["bb"].signature is None
    assembler.add(HOUR + 2, "bb", [pages[1]])
    record = assembler.records["bb"]
    assert record.signature == signature and record.uas_id == "X1" and record.last_seen == HOUR + 2
    assembler.add(HOUR + 10, "bb", [pages[0]])
    assembler.add(HOUR + 20, "bb", [pages[1]])  # the set started at +10 timed out
    assert assembler.skipped["authentication incomplete"] == 1
