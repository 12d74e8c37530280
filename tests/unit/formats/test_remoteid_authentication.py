"""Authentication pages joined into signatures, and messages given as JSON-ready dicts."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import DecodeError, EncodeError
from dronewatch.formats.remoteid import Authentication, BasicId, decode, encode
from dronewatch.formats.remoteid.authentication import Signature, join_pages, split_pages
from dronewatch.formats.remoteid.enums import AuthType, DescriptionType, IdType, OperationalStatus
from dronewatch.formats.remoteid.messages import message_from_dict, message_to_dict

SIGNATURE = bytes(range(1, 41))  # 40 bytes: page 0 holds 17, page 1 23


def pages_bytes(length: int = 40, last: int = 1, tail: bytes = b"") -> list[bytes]:
    body = (SIGNATURE[:length] + tail).ljust(17 + 23 * last, b"\0")
    first = bytes([0x22, 0x20, last, length]) + struct.pack("<I", 1000) + body[:17]
    return [first] + [bytes([0x22, 0x20 | n]) + body[17 + 23 * (n - 1):17 + 23 * n] for n in range(1, last + 1)]


def decoded(raw: list[bytes]) -> list[Authentication]:
    out = [decode(r) for r in raw]
    assert all(isinstance(m, Authentication) for m in out)
    return out  # type: ignore[return-value]


def test_pages_in_any_order_join_to_the_signature() -> None:
    pages = decoded(pages_bytes())
    signature = join_pages(reversed(pages + pages[:1]))
    assert signature == Signature(AuthType.OPERATOR_ID_SIGNATURE, 1546300800.0 + 1000, SIGNATURE, b"")


def test_extra_data_after_the_length_is_counted_by_its_first_byte() -> None:
    signature = join_pages(decoded(pages_bytes(length=30, last=1, tail=bytes([3, 7, 8, 9]))))
    assert signature.data == SIGNATURE[:30] and signature.extra == bytes([7, 8, 9])
    assert [encode(p) for p in split_pages(signature)] == pages_bytes(length=30, last=1, tail=bytes([3, 7, 8, 9]))


@pytest.mark.parametrize(("raw", "reason"), [
    (pages_bytes()[:1], "page\\(s\\) 1 of 0-1 missing"),
    (pages_bytes()[1:], "page 0 is missing"),
    (pages_bytes(length=41), "length 41 does not fit in 2 page"),  # refused already as page 0 is decoded
    (pages_bytes(length=17, last=0) + pages_bytes()[1:], "page 1 beyond the last page index 0"),
    (pages_bytes(length=10, last=1, tail=bytes([40])), "40 extra bytes do not fit"),
    ([pages_bytes()[0], pages_bytes()[1], bytes([0x22, 0x21]) + bytes(23)], "page 1 arrived twice"),
    ([pages_bytes()[0], bytes([0x22, 0x31]) + bytes(23)], "different authentication types"),
])
def test_inconsistent_pages_are_rejected(raw: list[bytes], reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        join_pages(decoded(raw))


def test_last_page_index_over_15_is_rejected() -> None:
    first = bytes([0x22, 0x20, 16, 20]) + bytes(4) + bytes(17)
    with pytest.raises(DecodeError, match="last page index 16"):
        join_pages(decoded([first]))


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=255), st.binary(max_size=40), st.sampled_from(list(AuthType)))
def test_split_then_join_gives_the_signature_back(data: bytes, extra: bytes, auth_type: AuthType) -> None:
    signature = Signature(auth_type, 1546300800.0 + 5, data, extra)
    if len(data) + (len(extra) + 1 if extra else 0) > 17 + 23 * 15:
        with pytest.raises(EncodeError):
            split_pages(signature)
        return
    pages = decoded([encode(p) for p in split_pages(signature)])
    joined = join_pages(pages)
    assert joined.data == data and joined.auth_type == auth_type
    assert joined.extra == extra


def test_messages_from_dicts() -> None:
    assert message_from_dict({"type": "location", "status": "airborne", "lat": 31, "lon": -106.5}) == \
        message_from_dict({"type": "location", "status": int(OperationalStatus.AIRBORNE), "lat": 31.0, "lon": -106.5})
    assert message_from_dict({"type": "self_id", "description_type": "emergency"}).description_type \
        == DescriptionType.EMERGENCY  # type: ignore[attr-defined]
    assert message_from_dict({"type": "self_id", "description_type": 250}).description_type == 250  # type: ignore[attr-defined]
    uuid = message_from_dict({"type": "basic_id", "id_type": "utm_assigned_uuid", "uas_id": "ab" * 20})
    assert uuid == BasicId(id_type=IdType.UTM_ASSIGNED_UUID, uas_id=bytes([0xAB]) * 20)
    assert message_from_dict(message_to_dict(uuid)) == uuid


@pytest.mark.parametrize(("values", "reason"), [
    ({"type": "telemetry"}, "type: 'telemetry' is not one of"),
    ({"type": "location", "lat": "north"}, "location.lat: 'north' has the wrong type"),
    ({"type": "location", "status": "flying"}, "location.status: 'flying' is not one of"),
    ({"type": "location", "altitude": 3}, "unknown field\\(s\\) altitude"),
    ({"type": "authentication", "data": "xyz"}, "authentication.data: 'xyz' is not hexadecimal"),
    ({"type": "basic_id", "uas_id": None}, "basic_id.uas_id: may not be null"),
])
def test_bad_dicts_name_the_field(values: dict[str, object], reason: str) -> None:
    with pytest.raises(EncodeError, match=reason):
        message_from_dict(values)
