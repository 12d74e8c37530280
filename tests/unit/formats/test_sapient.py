"""SAPIENT codecs on real messages: Dstl's 43 harness samples, our framed vectors, the invalid sample;
fuzzed framing and decoding; our outbound messages checked by an independent ICD implementation."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage
from sapient_msg_pydantic._options import IcdValidationError
from sapient_msg_pydantic.bsi_flex_335_v2_0.sapient_message import SapientMessage as PydanticMessage
from ulid import ULID

from dronewatch.errors import DecodeError
from dronewatch.formats.sapient import (
    FrameError,
    FrameReader,
    build,
    decode,
    encode,
    frame,
    is_ulid,
    is_uuid4,
    kind_of,
    site_node_id,
    stable_ulid,
    stable_uuid,
    ulid,
    validate,
)
from dronewatch.formats.sapient.messages import seconds_of, timestamp_of, ulid_time_s
from dronewatch.model import Alert, Detection, Sensor, TrackReport

DATA = Path(__file__).resolve().parents[2] / "data" / "interop" / "sapient"
DSTL = sorted((DATA / "dstl-test-harness-samples").glob("*/*.json"))
SAMPLES = sorted((DATA / "samples").glob("*.json"))
NODE = "8a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c02"


def parse(path: Path) -> SapientMessage:
    return json_format.Parse(path.read_text(), SapientMessage())


def test_there_are_43_dstl_samples() -> None:
    assert len(DSTL) == 43
    assert {p.parent.name for p in DSTL} == {"asm", "dmm"}


@pytest.mark.parametrize("path", DSTL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dstl_sample_frames_decodes_and_validates(path: Path) -> None:
    message = parse(path)
    framed = frame(message.SerializeToString())
    (payload,) = FrameReader().feed(framed)
    decoded = decode(payload)
    assert decoded == message
    assert validate(decoded) == []
    assert kind_of(decoded) == {"Alert": "alert", "AlertAck": "alert_ack", "DetectionReport": "detection_report",
                                "Registration": "registration", "RegistrationAck": "registration_ack",
                                "StatusReport": "status_report", "Task": "task", "TaskAck": "task_ack"}[
        path.name.split(".")[1]]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_framing_vectors_are_byte_exact(path: Path) -> None:
    binary = path.with_suffix(".bin").read_bytes()
    assert frame(parse(path).SerializeToString()) == binary
    assert struct.unpack_from("<I", binary)[0] == len(binary) - 4


def test_frame_reader_gives_the_same_messages_at_every_split() -> None:
    stream = b"".join(p.with_suffix(".bin").read_bytes() for p in SAMPLES)
    expected = [p.with_suffix(".bin").read_bytes()[4:] for p in SAMPLES]
    for cut in range(len(stream) + 1):
        reader = FrameReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == expected, cut
        assert reader.pending == 0 and reader.offset == len(stream)


def test_frame_reader_byte_by_byte_and_several_per_read() -> None:
    messages = [b"", b"x", b"\x00" * 300]
    stream = b"".join(frame(m) for m in messages)
    reader = FrameReader()
    assert [m for byte in stream for m in reader.feed(bytes([byte]))] == messages
    assert FrameReader().feed(stream * 3) == messages * 3


def test_an_absurd_length_is_refused_before_allocating_and_the_reader_recovers() -> None:
    reader = FrameReader(max_bytes=1000)
    good = frame(b"ok")
    with pytest.raises(FrameError, match="frame length 4294967295 exceeds the 1000-byte limit") as caught:
        reader.feed(good + b"\xff\xff\xff\xff" + b"junk")
    assert caught.value.frames == [b"ok"]  # what came before the bad header is not lost
    assert caught.value.offset == len(good)
    assert caught.value.dropped.startswith(b"\xff\xff\xff\xff")
    assert reader.pending == 0
    assert reader.feed(frame(b"again")) == [b"again"]  # the next read starts afresh
    assert isinstance(caught.value, DecodeError)


def test_invalid_sample_is_reported_as_apex_reports_it() -> None:
    binary = (DATA / "samples" / "INVALID_detection_report_missing_object_id.bin").read_bytes()
    (payload,) = FrameReader().feed(binary)
    assert validate(decode(payload)) == [
        "detection_report.object_id (mandatory fields present): Missing mandatory field: object_id"]


def test_validator_finds_oneofs_repeated_ids_enums_and_unknown_fields() -> None:
    message = parse(DSTL[0])  # asm Alert
    message.node_id = "A8654CDF-4328-47DE-81FA-C495589E30C9"  # upper case: strict peers refuse it
    message.alert.alert_id = "01h4r63d7nvn8444z5m77weby7"
    message.alert.alert_type = 99  # type: ignore[assignment]
    problems = validate(message)
    assert "node_id (id format valid): Invalid UUID: A8654CDF-4328-47DE-81FA-C495589E30C9" in problems
    assert "alert.alert_id (id format valid): Invalid ULID: 01h4r63d7nvn8444z5m77weby7" in problems
    assert "alert.alert_type (no unknown enum values): Unknown enum value: 99" in problems
    empty = SapientMessage()
    assert validate(empty) == [
        "(root) (mandatory oneof present): Missing mandatory OneOf field: content",
        "timestamp (mandatory fields present): Missing mandatory field: timestamp",
        "node_id (mandatory fields present): Missing mandatory field: node_id"]
    registration = build.registration_ack(NODE, 0.0, None, True)
    registration.registration_ack.ClearField("acceptance")
    assert "registration_ack.acceptance (mandatory fields present): Missing mandatory field: acceptance" in (
        validate(registration))
    reg = parse(DATA / "samples" / "registration_radar.json")
    del reg.registration.capabilities[:]
    assert ("registration.capabilities (mandatory repeated present): Missing mandatory repeated field: "
            "capabilities") in validate(reg)
    unknown = decode(encode(build.alert_ack(NODE, 0.0, None, stable_ulid("a"))) + b"\xa8\x06\x01")  # field 101
    assert validate(unknown) == ["(root) (no unknown fields): Unknown field number 101"]


def test_decode_refuses_what_is_not_a_sapient_message() -> None:
    with pytest.raises(DecodeError, match=r"not a SAPIENT v2.0 SapientMessage"):
        decode(b"\xff\xff\xff")


@settings(max_examples=300)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=400))
def test_any_bytes_give_messages_or_decode_errors(data: bytes, cut: int) -> None:
    reader = FrameReader(max_bytes=256)
    for part in (data[:cut], data[cut:]):
        try:
            payloads = reader.feed(part)
        except FrameError as error:
            payloads = error.frames
        for payload in payloads:
            try:
                message = decode(payload)
            except DecodeError:
                continue
            assert isinstance(validate(message), list)


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=60), max_size=5), st.data())
def test_framed_payloads_come_back_whatever_the_reads(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader = FrameReader()
    got: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reader.feed(stream[start:end])
    assert got == payloads


def test_ulid_layout_time_and_randomness_injected() -> None:
    value = ulid(lambda: 1_777_636_800.123, lambda n: bytes(range(n)))
    assert is_ulid(value) and len(value) == 26
    assert ULID.from_str(value).milliseconds == 1_777_636_800_123  # an independent ULID implementation agrees
    assert ULID.from_str(value).bytes[6:] == bytes(range(10))
    assert ulid_time_s(value) == pytest.approx(1_777_636_800.123)
    assert ulid(lambda: 1.0, lambda n: b"\x00" * n) < ulid(lambda: 2.0, lambda n: b"\x00" * n)  # sortable
    assert is_ulid(stable_ulid("zone station")) and stable_ulid("zone station") == stable_ulid("zone station")
    assert stable_ulid("a") != stable_ulid("b")


def test_stable_uuids_are_version_4_so_strict_peers_accept_them() -> None:
    node = stable_uuid("radar-1")
    assert node == stable_uuid("radar-1") != stable_uuid("radar-2")
    assert uuid.UUID(node).version == 4 and is_uuid4(node)
    assert is_uuid4(site_node_id("station-7"))


def test_timestamps_round_trip_to_the_nanosecond() -> None:
    stamp = timestamp_of(1_777_636_800.000000123)
    assert (stamp.seconds, abs(stamp.nanos - 123) <= 256) == (1_777_636_800, True)
    assert seconds_of(timestamp_of(-1.5)) == -1.5


# ----------------------------------------------------------------- what we send
SENSOR = Sensor(id="radar-1", kind="radar", lat=31.7775, lon=-106.529, alt=1140.0,
                sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5}, pd=0.9, period_s=1.0,
                max_range_m=3000.0, min_elevation_deg=-2.0, max_elevation_deg=40.0)
TRACK = TrackReport(t=1.0, id="T7", lat=31.78, lon=-106.53, alt=1230.0, vel_enu=(3.0, -7.5, 0.2), cls="drone",
                    confidence=0.93, uas_id=None, sensors=("radar-1",))
ALERT = Alert(t=2.0, id="A3", track="T7", level="critical", kind="zone_breach_predicted", state="open",
              reasons=("drone without Remote ID", "heading for zone compound, breach in 31 s"), zone="compound",
              eta_s=31.0, evidence={"track": {"lat": 31.78, "lon": -106.53, "alt": 1230.0, "sigma_m": 4.2},
                                    "confidence": 0.97})


def outbound() -> dict[str, SapientMessage]:
    t = 1_777_636_800.25
    return {
        "registration": build.fusion_registration(NODE, t, name="dronewatch station-7", short_name="station-7",
                                                  dependent_nodes=[stable_uuid("radar-1")], status_interval_s=5.0,
                                                  software_version="0.1.0"),
        "status_new": build.status_report(NODE, t, stable_ulid("s1"), location=(31.7775, -106.529, 1140.0)),
        "status_unchanged": build.status_report(NODE, t, stable_ulid("s2"), info="UNCHANGED"),
        "track": build.track_report(NODE, t, TRACK, report_id=stable_ulid("r1"), object_id=stable_ulid("o1"),
                                    sigma_m=4.2, contributors=[build.Contributor(stable_uuid("radar-1"),
                                                                                 stable_ulid("x"), 0.9)]),
        "track_lost": build.track_report(NODE, t, TRACK, report_id=stable_ulid("r2"), object_id=stable_ulid("o1"),
                                         sigma_m=None, state="lost"),
        "alert": build.alert(NODE, t, ALERT, alert_id=stable_ulid("a1"), region_id=stable_ulid("compound"),
                             track_object_id=stable_ulid("o1")),
        "alert_clear": build.alert(NODE, t, Alert(**{**{f: getattr(ALERT, f) for f in ALERT.__slots__},  # type: ignore[arg-type]
                                                     "state": "resolved", "evidence": None}),
                                   alert_id=stable_ulid("a1"), region_id=None, track_object_id=None),
        "registration_ack": build.registration_ack(NODE, t, stable_uuid("radar-1"), False, ["unsupported"]),
        "error": build.error(NODE, t, stable_uuid("radar-1"), b"\x00\x01", ["bad protobuf: x"]),
        "task_ack": build.task_ack(NODE, t, stable_uuid("c2"), stable_ulid("task"), "REJECTED", ["no tasking"]),
        "alert_ack": build.alert_ack(NODE, t, stable_uuid("radar-1"), stable_ulid("a9")),
        "sensor_registration": build.sensor_registration(stable_uuid("radar-1"), t, SENSOR),
        "sensor_status": build.sensor_status(stable_uuid("radar-1"), t, stable_ulid("s3"), SENSOR),
        "sensor_detection": build.sensor_detection(stable_uuid("radar-1"), t, Detection(
            t=0.0, sensor="radar-1", range_m=812.3, azimuth_deg=45.2, elevation_deg=3.1), SENSOR,
            report_id=stable_ulid("r3"), object_id=stable_ulid("o3")),
    }


@pytest.mark.parametrize("name", list(outbound()))
def test_what_we_send_passes_our_validator_and_an_independent_icd_checker(name: str) -> None:
    message = outbound()[name]
    assert validate(message) == []
    again = decode(encode(message))
    checked = PydanticMessage.from_pb2(again)  # sapient-pydantic: its own UUID/ULID checks at construction
    back = checked.to_pb2()  # and its own mandatory-field and oneof checks (IcdValidationError)
    assert back.WhichOneof("content") == kind_of(message)
    assert back.node_id == message.node_id


def test_fused_track_and_alert_carry_what_dronewatch_knows() -> None:
    messages = outbound()
    report = messages["track"].detection_report
    assert (report.location.y, report.location.x, report.location.z, report.location.x_error) == (
        31.78, -106.53, 1230.0, 4.2)
    assert (report.enu_velocity.east_rate, report.enu_velocity.north_rate) == (3.0, -7.5)
    assert [(c.type, round(c.confidence, 2)) for c in report.classification] == [("UAV", 0.93)]
    (associated,) = report.associated_detection
    assert associated.node_id == stable_uuid("radar-1") and associated.association_type == 3  # CHILD
    assert messages["track_lost"].detection_report.state == "lost"
    alert = messages["alert"].alert
    assert (alert.alert_type, alert.status, alert.priority) == (3, 1, 3)  # CRITICAL, ACTIVE, HIGH
    assert alert.description == ("zone_breach_predicted: drone without Remote ID; heading for zone compound, "
                                 "breach in 31 s")
    assert alert.region_id == stable_ulid("compound") and alert.associated_detection[0].object_id == stable_ulid("o1")
    assert messages["alert_clear"].alert.status == 5  # CLEAR
    registration = messages["registration"].registration
    assert registration.node_definition[0].node_type == 20  # NODE_TYPE_FUSION_NODE
    assert registration.icd_version == "BSI Flex 335 v2.0"
    definition = registration.mode_definition[0].detection_definition[0]
    assert (definition.location_type.location_units, definition.location_type.location_datum) == (1, 1)
    assert definition.velocity_type.enu_velocity_units.east_north_rate_units == 1  # m/s
    assert [c.type for c in definition.detection_class_definition[0].class_definition] == [
        "UAV", "Bird", "Manned Aircraft", "Other", "Unknown"]
    assert list(registration.dependent_nodes) == [stable_uuid("radar-1")]


def test_the_independent_checker_is_not_vacuous() -> None:
    invalid = parse(DATA / "samples" / "INVALID_detection_report_missing_object_id.json")
    with pytest.raises(IcdValidationError, match="object_id"):
        PydanticMessage.from_pb2(invalid).to_pb2()
