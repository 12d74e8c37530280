"""Remote ID over Bluetooth: the real BT5 long-range capture, legacy advertising, CRC failures, fuzzing."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import DecodeError
from dronewatch.formats.capture import LINKTYPE_NORDIC_BLE, read_frames
from dronewatch.formats.remoteid import BasicId, Location, MessagePack, decode, encode
from dronewatch.formats.remoteid.bluetooth import ble_payloads, le_ll_with_phdr, nordic_ble

DATA = Path(__file__).resolve().parents[2] / "data" / "remoteid"


def test_the_bt5_long_range_capture_decodes_and_crc_failures_are_dropped() -> None:
    seen: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for frame in read_frames((DATA / "odid_bt5_lr_sample.pcapng").read_bytes()):
        assert frame.linktype == LINKTYPE_NORDIC_BLE
        packet, crc_ok, start = nordic_ble(frame.data)
        if not crc_ok:
            seen["crc failed"] += 1
            continue
        for payload in ble_payloads(packet, start):
            seen[payload.transport] += 1
            seen[payload.sender] += 1
            try:
                item = decode(payload.data)
            except DecodeError as error:  # the reference decoder refuses a pack of no messages too
                seen[error.reason] += 1
                continue
            assert isinstance(item, MessagePack)
            messages.update(type(m).__name__ for m in item.messages)
    assert seen == {"bt5-extended": 244, "e0:7d:ea:eb:2f:1c": 244, "crc failed": 30,
                    "message pack: declares 0 messages": 19}
    assert messages == {"BasicId": 225, "Location": 222, "SelfId": 216, "System": 207, "OperatorId": 199}


def test_frame_26_is_the_basic_id_of_the_format_notes() -> None:
    frame = list(read_frames((DATA / "odid_bt5_lr_sample.pcapng").read_bytes()))[25]
    packet, crc_ok, start = nordic_ble(frame.data)
    (payload,) = ble_payloads(packet, start)
    assert crc_ok and payload.counter == 0x25
    pack = decode(payload.data)
    assert isinstance(pack, MessagePack)
    assert pack.messages == (BasicId(protocol_version=0, id_type=1, ua_type=2, uas_id="SSEVTFG93700070"),)  # type: ignore[arg-type]


def legacy_packet(message: bytes, counter: int = 7, pdu_type: int = 0x2) -> bytes:
    """A BT4 legacy advertisement as a transmitter sends it (notes 6.1), CRC bytes left zero."""
    address = bytes.fromhex("665544332211")
    adv_data = bytes([30, 0x16, 0xFA, 0xFF, 0x0D, counter]) + message
    pdu = address + adv_data
    return bytes.fromhex("d6be898e") + bytes([0x40 | pdu_type, len(pdu)]) + pdu + bytes(3)


def test_legacy_advertising_carries_one_message() -> None:
    message = encode(Location(lat=31.7775, lon=-106.529, speed_mps=12.0, direction_deg=45.0))
    (payload,) = ble_payloads(legacy_packet(message))
    assert payload.transport == "bt4-legacy" and payload.sender == "11:22:33:44:55:66" and payload.counter == 7
    decoded = decode(payload.data)
    assert isinstance(decoded, Location) and decoded.speed_mps == 12.0
    assert ble_payloads(legacy_packet(message, pdu_type=0x0)) == []  # connectable: not Remote ID


def test_phdr_framing_honours_the_crc_flags() -> None:
    packet = legacy_packet(encode(BasicId(uas_id="1581F5FKD229400C37EF")))
    header = bytes([37, 0, 0, 0]) + bytes.fromhex("d6be898e")
    for flags, expected_ok in ((0x0000, True), (0x0C00, True), (0x0400, False)):
        ll, crc_ok, start = le_ll_with_phdr(header + flags.to_bytes(2, "little") + packet)
        assert crc_ok is expected_ok and start == 10 and ll == packet


@settings(max_examples=1500)
@given(st.sampled_from([0x02, 0x06, 0x07, 0x47]), st.binary(max_size=270))
def test_any_advertising_bytes_give_payloads_or_decode_errors(pdu_header: int, rest: bytes) -> None:
    packet = bytes.fromhex("d6be898e") + bytes([pdu_header]) + rest
    with contextlib.suppress(DecodeError):
        for payload in ble_payloads(packet):
            with contextlib.suppress(DecodeError):
                decode(payload.data)


@settings(max_examples=800)
@given(st.binary(max_size=300))
def test_any_bytes_as_a_sniffer_frame_give_a_packet_or_a_decode_error(frame: bytes) -> None:
    for unwrap in (nordic_ble, le_ll_with_phdr):
        with contextlib.suppress(DecodeError):
            packet, _, _ = unwrap(frame)
            ble_payloads(packet)
