"""Remote ID message codec: byte-exact vectors from the format notes, edges, round trips, fuzzing."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import DecodeError, EncodeError
from dronewatch.formats.remoteid import (
    Authentication,
    BasicId,
    Location,
    MessagePack,
    OperatorId,
    SelfId,
    System,
    decode,
    encode,
)
from dronewatch.formats.remoteid.enums import (
    AuthType,
    ClassificationType,
    EuCategory,
    EuClass,
    IdType,
    OperationalStatus,
    UaType,
)

# Bluetooth 5 long-range capture, frame 26 (format notes 6.2): pack v0 of one Basic ID v0
FRAME_26_PACK = bytes.fromhex("f01901") + bytes([0x00, 0x12]) + b"SSEVTFG93700070".ljust(20, b"\0") + bytes(3)


def location_bytes(flags: int = 0x20, direction: int = 90, speed: int = 40, climb: int = 4, lat: int = 0,
                   lon: int = 0, alts: tuple[int, int, int] = (2200, 2240, 100), accuracy: tuple[int, int] = (0, 0),
                   timestamp: int = 0xFFFF, timestamp_accuracy: int = 0) -> bytes:
    return (bytes([0x12, flags, direction, speed, climb & 0xFF]) + struct.pack("<ii", lat, lon)
            + struct.pack("<HHH", *alts) + bytes(accuracy) + struct.pack("<H", timestamp)
            + bytes([timestamp_accuracy, 0]))


def test_the_real_basic_id_pack_of_frame_26() -> None:
    pack = decode(FRAME_26_PACK + bytes(228 - len(FRAME_26_PACK)))  # zero padding after the pack
    assert isinstance(pack, MessagePack) and pack.protocol_version == 0
    (basic,) = pack.messages
    assert basic == BasicId(protocol_version=0, id_type=IdType.SERIAL_NUMBER,
                            ua_type=UaType.HELICOPTER_OR_MULTIROTOR, uas_id="SSEVTFG93700070")
    assert encode(pack) == FRAME_26_PACK


def test_location_fields_and_units() -> None:
    raw = location_bytes(flags=0x26, direction=30, speed=40, climb=-7, lat=-338417210, lon=262874700,
                         alts=(2200, 2240, 100), accuracy=(0x4B, 0x23), timestamp=12345, timestamp_accuracy=3)
    m = decode(raw)
    assert isinstance(m, Location)
    assert m.status == OperationalStatus.AIRBORNE and m.height_type == 1
    assert m.direction_deg == 210.0  # 30 + 180 with the E/W bit
    assert m.speed_mps == 10.0 and m.vertical_speed_mps == -3.5
    assert m.lat == pytest.approx(-33.841721) and m.lon == pytest.approx(26.28747)
    assert (m.pressure_altitude_m, m.geodetic_altitude_m, m.height_m) == (100.0, 120.0, -950.0)
    assert (m.vertical_accuracy, m.horizontal_accuracy) == (4, 11)
    assert (m.baro_accuracy, m.speed_accuracy) == (2, 3)
    assert m.timestamp_s == pytest.approx(1234.5) and m.timestamp_accuracy_s == pytest.approx(0.3)
    assert encode(m) == raw


@pytest.mark.parametrize(("flags", "byte2", "expected"), [
    (0x00, 0, 0.0), (0x00, 179, 179.0), (0x02, 0, 180.0), (0x02, 179, 359.0), (0x02, 181, None),
])
def test_direction_east_west_and_unknown(flags: int, byte2: int, expected: float | None) -> None:
    m = decode(location_bytes(flags=flags, direction=byte2))
    assert isinstance(m, Location) and m.direction_deg == expected
    assert encode(m)[1:3] == bytes([flags, byte2])


@pytest.mark.parametrize(("flags", "byte3", "expected"), [
    (0x00, 255, 63.75), (0x01, 0, 63.75), (0x01, 254, 254.25), (0x01, 255, None), (0x00, 1, 0.25),
])
def test_speed_multiplier_and_unknown(flags: int, byte3: int, expected: float | None) -> None:
    m = decode(location_bytes(flags=flags, speed=byte3))
    assert isinstance(m, Location) and m.speed_mps == expected


def test_unknowns_decode_to_none_and_encode_back() -> None:
    raw = location_bytes(climb=126, lat=0, lon=0, alts=(0, 0, 0), timestamp=0xFFFF)
    m = decode(raw)
    assert isinstance(m, Location)
    assert m.vertical_speed_mps is None and m.lat is None and m.lon is None
    assert m.pressure_altitude_m is None and m.geodetic_altitude_m is None and m.height_m is None
    assert m.timestamp_s is None and m.timestamp_accuracy_s is None
    assert encode(m) == raw


def test_extremes() -> None:
    m = decode(location_bytes(climb=-128, lat=-900000000, lon=1800000000, alts=(0xFFFF, 1, 0)))
    assert isinstance(m, Location)
    assert (m.lat, m.lon, m.vertical_speed_mps) == (-90.0, 180.0, -64.0)
    assert m.pressure_altitude_m == 31767.5 and m.geodetic_altitude_m == -999.5
    with pytest.raises(DecodeError, match="lat") as caught:
        decode(location_bytes(lat=900000001, lon=1))
    assert caught.value.offset == 5


def test_encoder_quantises_as_the_reference() -> None:
    raw = encode(Location(vertical_speed_mps=5.25, pressure_altitude_m=100.7, direction_deg=359.6, speed_mps=64.0))
    m = decode(raw)
    assert isinstance(m, Location)
    assert m.vertical_speed_mps == 5.0 and m.pressure_altitude_m == 100.5  # truncated
    assert m.direction_deg == 0.0 and m.speed_mps == 63.75  # rounded
    with pytest.raises(EncodeError, match="speed_mps"):
        encode(Location(speed_mps=300.0))
    with pytest.raises(EncodeError, match="lat, lon"):
        encode(Location(lat=1.0))


def test_authentication_pages() -> None:
    first = bytes([0x22, 0x10, 2, 40]) + struct.pack("<I", 100) + bytes(range(17))
    m = decode(first)
    assert isinstance(m, Authentication)
    assert (m.auth_type, m.page, m.last_page_index, m.length) == (AuthType.UAS_ID_SIGNATURE, 0, 2, 40)
    assert m.timestamp == 1546300900.0 and m.data == bytes(range(17))
    later = bytes([0x22, 0x12]) + bytes(range(100, 123))
    m2 = decode(later)
    assert isinstance(m2, Authentication) and m2.page == 2 and m2.last_page_index is None
    assert m2.data == bytes(range(100, 123))
    assert encode(m) == first and encode(m2) == later
    assert isinstance(decode(bytes([0x22, 0x60]) + bytes(23)), Authentication)  # reserved auth type
    assert decode(bytes([0x22, 0x60]) + bytes(23)).auth_type is None  # type: ignore[union-attr]


def test_system_eu_classification_and_timestamps() -> None:
    raw = (bytes([0x42, 0x05]) + struct.pack("<ii", 317775000, -1065290000) + struct.pack("<H", 3)
           + bytes([25]) + struct.pack("<HH", 2400, 2000) + bytes([0x12]) + struct.pack("<H", 4260)
           + struct.pack("<I", 200) + bytes(1))
    m = decode(raw)
    assert isinstance(m, System)
    assert m.classification_type == ClassificationType.EUROPEAN_UNION and m.operator_location_type == 1
    assert m.operator_lat == pytest.approx(31.7775) and m.operator_lon == pytest.approx(-106.529)
    assert (m.area_count, m.area_radius_m, m.area_ceiling_m, m.area_floor_m) == (3, 250.0, 200.0, 0.0)
    assert m.ua_category == EuCategory.OPEN and m.ua_class == EuClass.C1  # code 2 is C1
    assert m.operator_altitude_m == 1130.0 and m.timestamp == 1546301000.0
    assert encode(m) == raw
    v0 = decode(bytes([0x40, 0x00]) + bytes(23))
    assert isinstance(v0, System) and v0.timestamp is None and v0.operator_lat is None


def test_self_id_and_operator_id_text() -> None:
    full = "ABCDEFGHIJKLMNOPQRSTUVW"  # 23 characters: no terminator
    m = decode(bytes([0x32, 0x00]) + full.encode())
    assert isinstance(m, SelfId) and m.description == full
    private = decode(bytes([0x32, 210]) + b"x".ljust(23, b"\0"))
    assert isinstance(private, SelfId) and private.description_type == 210
    op = decode(bytes([0x52, 0x00]) + b"FIN87astrdge12k8".ljust(20, b"\0") + bytes(3))
    assert isinstance(op, OperatorId) and op.operator_id == "FIN87astrdge12k8"
    assert decode(bytes([0x52, 0]) + bytes(23)) == OperatorId(operator_id="")
    with pytest.raises(DecodeError, match="not printable ASCII") as caught:
        decode(bytes([0x52, 0x00]) + b"AB\xffD".ljust(23, b"\0"))
    assert caught.value.offset == 4


def test_binary_uas_ids_stay_bytes() -> None:
    uuid = bytes(range(16)) + bytes(4)
    m = decode(bytes([0x02, 0x32]) + uuid + bytes(3))
    assert isinstance(m, BasicId) and m.id_type == IdType.UTM_ASSIGNED_UUID and m.uas_id == uuid


@pytest.mark.parametrize(("data", "says"), [
    (bytes([0x62]) + bytes(24), "undefined type"),
    (bytes([0x12]) + bytes(10), "25 bytes"),
    (bytes.fromhex("f01801") + bytes(25), "message size 24"),
    (bytes.fromhex("f0190a") + bytes(250), "10 messages"),
    (bytes.fromhex("f01902") + bytes(30), "need 53 bytes"),
    (bytes.fromhex("f01901") + bytes.fromhex("f01901") + bytes(22), "message pack inside"),
    (bytes.fromhex("f01902") + location_bytes() + location_bytes(), "LOCATION"),
])
def test_invalid_packs_and_messages_are_rejected(data: bytes, says: str) -> None:
    with pytest.raises(DecodeError, match=says):
        decode(data)


def test_an_empty_pack_is_refused_and_a_full_pack_of_nine_decodes() -> None:
    with pytest.raises(DecodeError, match="declares 0 messages"):
        decode(bytes.fromhex("f01900") + bytes(225))
    auth = [Authentication(auth_type=AuthType.MESSAGE_SET_SIGNATURE, page=k, data=bytes([k]) * 5) for k in range(9)]
    pack = decode(encode(MessagePack(tuple(auth))))
    assert isinstance(pack, MessagePack) and [m.page for m in pack.messages] == list(range(9))  # type: ignore[attr-defined]


# ---------------------------------------------------------------- round trips and fuzzing
angles = st.integers(0, 359).map(float)
locations = st.builds(
    Location, protocol_version=st.integers(0, 15), status=st.sampled_from(list(OperationalStatus)),
    direction_deg=st.one_of(st.none(), angles),
    speed_mps=st.one_of(st.none(), st.integers(0, 255).map(lambda r: r * 0.25),
                        st.integers(1, 254).map(lambda r: r * 0.75 + 63.75)),
    vertical_speed_mps=st.one_of(st.none(), st.integers(-128, 125).map(lambda r: r * 0.5)),
    lat=st.integers(-900000000, 900000000).map(lambda r: r / 1e7),
    lon=st.integers(-1800000000, 1800000000).map(lambda r: r / 1e7),
    pressure_altitude_m=st.one_of(st.none(), st.integers(1, 65535).map(lambda r: r * 0.5 - 1000.0)),
    timestamp_s=st.one_of(st.none(), st.integers(0, 36000).map(lambda r: r / 10)),
)
texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
systems = st.builds(System, area_count=st.integers(0, 65535), ua_class=st.sampled_from(list(EuClass)),
                    area_radius_m=st.integers(0, 255).map(lambda r: r * 10.0),
                    timestamp=st.one_of(st.none(), st.integers(1, 2**32 - 1).map(lambda r: float(r + 1546300800))))
others = st.one_of(
    st.builds(BasicId, uas_id=texts), st.builds(OperatorId, operator_id=texts, operator_id_type=st.integers(0, 255)),
    st.builds(SelfId, description=texts), systems,
    st.builds(Authentication, auth_type=st.sampled_from(list(AuthType)), page=st.integers(1, 15),
              data=st.binary(max_size=23)),
)


@settings(max_examples=300)
@given(st.one_of(locations, others))
def test_encode_then_decode_gives_the_message_back(message: object) -> None:
    decoded = decode(encode(message))  # type: ignore[arg-type]
    if isinstance(message, Location) and message.lat == 0.0 and message.lon == 0.0:
        return  # (0, 0) is "no position" by the standard
    if isinstance(message, Authentication):
        assert decoded.data.rstrip(b"\0") == message.data.rstrip(b"\0")  # type: ignore[union-attr]
        return
    assert decoded == message


@settings(max_examples=2000)
@given(st.binary(max_size=260))
def test_any_bytes_give_a_message_or_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


@settings(max_examples=1000)
@given(st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0xF]), st.binary(min_size=24, max_size=260))
def test_bytes_behind_a_valid_header_give_a_message_or_a_decode_error(kind: int, body: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(bytes([kind << 4 | 2]) + body)


@pytest.mark.parametrize(("frame", "reason"), [
    (bytes([0xF2, 25, 0]) + bytes(25), "message pack: declares 0 messages"),
    (bytes([0xF2, 0, 0]), "message pack: declares 0 messages"),
    (bytes([0x22, 0x10, 0, 18]) + bytes(21), "authentication page 0: length 18 does not fit in 1 page(s) (17 bytes)"),
    (bytes([0x22, 0x10, 2, 64]) + bytes(21), "authentication page 0: length 64 does not fit in 3 page(s) (63 bytes)"),
    (bytes([0x22, 0x10, 16, 17]) + bytes(21), "authentication page 0: last page index 16, at most 15"),
])
def test_what_the_reference_decoder_refuses_is_refused_with_its_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(frame)
    assert caught.value.reason == reason


def test_a_page_0_that_fills_its_pages_exactly_is_taken() -> None:
    page = decode(bytes([0x22, 0x10, 2, 63]) + bytes(21))
    assert isinstance(page, Authentication) and (page.last_page_index, page.length) == (2, 63)


def test_a_finite_value_beyond_any_field_is_an_encode_error_not_an_overflow() -> None:
    with pytest.raises(EncodeError, match=r"lat: 1e\+?308 is out of range"):
        encode(Location(lat=1e308, lon=0.0))
