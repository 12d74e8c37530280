"""BlueMark DroneScout sensor uploads: the real samples, byte-exact struct fields, refusals, fuzzing."""

from __future__ import annotations

import base64
import contextlib
import json
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.cli import main
from dronewatch.errors import DecodeError, FormatError
from dronewatch.formats.remoteid import BasicId, Location, System
from dronewatch.formats.remoteid.dronescout import UAS_DATA_SIZE, Reception, read_uploads, uas_data_messages
from dronewatch.formats.remoteid.enums import IdType, OperationalStatus, UaType
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.model import Detection

DATA = Path(__file__).resolve().parents[2] / "data" / "remoteid" / "dronescout"
FILES = {"BLE-legacy": 19, "BLE-long_range": 4, "WiFi-NaN": 3, "WiFi-beacon": 2}


def receptions(name: str) -> list[Reception | FormatError]:
    path = DATA / f"dronescout_rid_module_{name}.json"
    return list(read_uploads(path.read_text(), str(path)))


@pytest.mark.parametrize(("name", "count"), FILES.items())
def test_every_real_upload_gives_the_one_transmitter_as_its_readme_describes(name: str, count: int) -> None:
    found = receptions(name)
    assert len(found) == count and all(isinstance(r, Reception) for r in found)
    for item in found:
        assert isinstance(item, Reception) and item.sensor == "SNSTAC-CUAS-0002"
        assert datetime(2024, 12, 31, 20, 38, 28, tzinfo=UTC).timestamp() <= item.t
        assert item.t <= datetime(2024, 12, 31, 20, 38, 39, tzinfo=UTC).timestamp()
        basic = next(m for m in item.messages if isinstance(m, BasicId))
        assert (basic.uas_id, basic.id_type, basic.ua_type) == ("1787F04BM24010011195", IdType.SERIAL_NUMBER,
                                                                UaType.HELICOPTER_OR_MULTIROTOR)
        location = next(m for m in item.messages if isinstance(m, Location))
        assert location.status == OperationalStatus.GROUND
        assert location.lat == pytest.approx(37.759979, abs=1e-5)
        assert location.lon == pytest.approx(-122.497734, abs=1e-5)
    senders = {r.sender for r in found if isinstance(r, Reception)}
    assert senders <= {"df:72:11:d2:6b:95", "7a:60:b8:80:be:e4", "7e:60:b8:80:be:e4"}


def test_the_struct_fields_come_from_their_offsets() -> None:
    raw = bytearray(921)
    struct.pack_into("<ii21s", raw, 0, 1, 2, b"FAA-0001")  # aeroplane, CAA registration
    struct.pack_into("<ifffddffifiiiiif", raw, 64, 2, 90.0, 12.5, -1.0, 31.5, -106.5, -1000.0, 1250.0, 1, 40.0,
                     10, 4, 0, 3, 2, 1800.5)
    struct.pack_into("<iiddHHffiifI", raw, 808, 1, 0, 31.49, -106.51, 1, 0, -1000.0, -1000.0, 0, 0, 1190.0, 0)
    raw[892] = raw[894] = raw[912] = 1  # Basic ID 1, Location, System valid
    basic, location, system = uas_data_messages(bytes(raw))
    assert isinstance(basic, BasicId) and basic.uas_id == "FAA-0001" and basic.ua_type == UaType.AEROPLANE
    assert isinstance(location, Location)
    assert (location.status, location.direction_deg, location.speed_mps, location.vertical_speed_mps) == (
        OperationalStatus.AIRBORNE, 90.0, 12.5, -1.0)
    assert (location.lat, location.lon, location.pressure_altitude_m, location.geodetic_altitude_m) == (
        31.5, -106.5, None, 1250.0)
    assert (location.height_m, location.timestamp_s, location.timestamp_accuracy_s) == (40.0, 1800.5, 0.2)
    assert isinstance(system, System) and (system.operator_lat, system.operator_lon) == (31.49, -106.51)
    assert system.operator_altitude_m == 1190.0 and system.timestamp is None and system.area_ceiling_m is None


@pytest.mark.parametrize(("text", "reason"), [
    ('{"protocol": 1.0}', 'not a DroneScout upload: no "data" object'),
    ('{"data": {"timestamp": 1735677509089, "sensor ID": "s", "MAC address": "m"}}', "'UASdata' missing"),
    ('{"data": {"timestamp": 1735677509089, "sensor ID": "s", "MAC address": "m", "UASdata": "@@"}}',
     "UASdata is not base64"),
    ('{"data": {"timestamp": "soon", "sensor ID": "s", "MAC address": "m", "UASdata": "AAAA"}}',
     "timestamp 'soon' is not UNIX milliseconds"),
    ('{"data": {"timestamp": 1735677509089, "sensor ID": "s", "MAC address": "m", "UASdata": "AAAA"}}',
     "UAS data: 3 bytes, an opendroneid UAS data struct is at least 914"),
    ("{not json", "not JSON"),
])
def test_a_bad_upload_is_refused_with_its_reason_and_line_and_the_rest_read(text: str, reason: str) -> None:
    good = (DATA / "dronescout_rid_module_BLE-long_range.json").read_text().splitlines()
    found = list(read_uploads("\n".join([good[0], text, good[1]]), "uploads.jsonl"))
    assert isinstance(found[0], Reception) and isinstance(found[2], Reception)
    assert isinstance(found[1], FormatError) and reason in found[1].reason and found[1].line == 2


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=UAS_DATA_SIZE, max_size=930))
def test_any_struct_bytes_give_messages_or_a_decode_error(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        uas_data_messages(raw)


def test_cli_makes_remote_id_detections_of_uploads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uploads = tmp_path / "uploads.json"
    records = json.loads((DATA / "dronescout_rid_module_WiFi-NaN.json").read_text())
    records.append({"data": {"timestamp": 1, "sensor ID": "s", "MAC address": "m",
                             "UASdata": base64.b64encode(b"short").decode()}})
    uploads.write_text(json.dumps(records))
    out = tmp_path / "rid.jsonl"
    assert main(["remoteid", "detections", str(uploads), "--receiver", "37.7597,-122.4975,20", "-o", str(out)]) == 0
    detections = [r for r in ScenarioReader(out.open()) if isinstance(r, Detection)]
    assert len(detections) == 3 and {d.uas_id for d in detections} == {"1787F04BM24010011195"}
    assert (detections[0].operator_lat, detections[0].operator_lon) == (pytest.approx(37.7599643),
                                                                         pytest.approx(-122.4976683))
    err = capsys.readouterr().err
    assert "3 DroneScout uploads decoded, 1 refused" in err and "element 4: UAS data: 5 bytes" in err
