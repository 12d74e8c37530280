"""Real Wi-Fi Remote ID captures: pcap/pcapng framing, radiotap, FCS, beacon and NAN walking, decoding."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import DecodeError
from dronewatch.formats.capture import LINKTYPE_IEEE802_11_RADIOTAP, PcapngWriter, read_frames
from dronewatch.formats.remoteid import MessagePack, decode
from dronewatch.formats.remoteid.wifi import beacon_frame, strip_radiotap, wifi_payloads

DATA = Path(__file__).resolve().parents[2] / "data" / "remoteid"


def survey(name: str) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per capture: frames by transport, messages by type, rejections by reason."""
    frames: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for frame in read_frames((DATA / name).read_bytes()):
        frames["frames"] += 1
        assert frame.linktype == LINKTYPE_IEEE802_11_RADIOTAP
        body, has_fcs, bad_fcs, _ = strip_radiotap(frame.data)
        if bad_fcs:
            frames["bad fcs"] += 1
            continue
        for payload in wifi_payloads(body[:-4] if has_fcs else body):
            frames[payload.transport] += 1
            try:
                item = decode(payload.data)
            except DecodeError as error:
                rejected[error.reason] += 1
                continue
            assert item is not None
            for message in item.messages if isinstance(item, MessagePack) else (item,):
                messages[type(message).__name__] += 1
    return frames, messages, rejected


@pytest.mark.parametrize(("name", "frames", "transports", "messages"), [
    ("odid_wifi_bcn_sample.pcap", 21, {"wifi-beacon": 21},
     {"BasicId": 21, "Location": 21, "SelfId": 21, "System": 21, "OperatorId": 21}),
    ("odid_wifi_sample.pcap", 63, {"wifi-beacon": 21, "wifi-nan": 21},
     {"Location": 31, "SelfId": 4, "System": 4, "OperatorId": 3}),
    ("beacon_sample_898e76b.pcap", 816, {"wifi-beacon": 21, "wifi-nan": 21},
     {"Location": 31, "SelfId": 4, "System": 4, "OperatorId": 3}),
    ("parrot_anafi4_real_frames1-800.pcapng", 800, {"wifi-beacon": 163},
     {"Location": 163, "BasicId": 55, "System": 55, "OperatorId": 55}),
])
def test_every_remote_id_frame_of_the_real_captures_decodes(name: str, frames: int, transports: dict[str, int],
                                                            messages: dict[str, int]) -> None:
    seen, decoded, rejected = survey(name)
    assert seen["frames"] == frames
    assert {k: v for k, v in seen.items() if k.startswith("wifi")} == transports
    assert dict(decoded) == messages
    assert not rejected


def test_the_spoofers_short_elements_are_rejected_not_read_past() -> None:
    seen, decoded, rejected = survey("parrot_anafi4_spoofed_frames1-400.pcapng")
    assert seen["wifi-beacon"] == 8 and not decoded
    assert rejected == {"message pack: 4 messages need 103 bytes, only 100": 8}


def test_the_parrot_reports_its_position_and_goes_airborne_at_frame_95() -> None:
    statuses = []
    for frame in read_frames((DATA / "parrot_anafi4_real_frames1-800.pcapng").read_bytes()):
        body, has_fcs, _, _ = strip_radiotap(frame.data)
        for payload in wifi_payloads(body[:-4] if has_fcs else body):
            pack = decode(payload.data)
            assert isinstance(pack, MessagePack)
            for m in pack.messages:
                if type(m).__name__ == "Location":
                    statuses.append((frame.number, m.status.name))  # type: ignore[attr-defined]
    assert statuses[0][1] == "GROUND" and ("AIRBORNE" in {s for _, s in statuses})
    assert min(n for n, s in statuses if s == "AIRBORNE") == 95


def test_a_capture_cut_short_gives_its_frames_then_an_error_with_the_offset() -> None:
    data = (DATA / "odid_wifi_bcn_sample.pcap").read_bytes()
    frames = []
    with pytest.raises(DecodeError) as caught:
        frames.extend(read_frames(data[:-10]))
    assert len(frames) == 20 and caught.value.offset is not None


@settings(max_examples=400)
@given(st.integers(0, 4706), st.binary(min_size=1, max_size=8))
def test_corrupted_captures_give_frames_or_decode_errors_only(position: int, junk: bytes) -> None:
    data = bytearray((DATA / "odid_wifi_bcn_sample.pcap").read_bytes())
    data[position:position + len(junk)] = junk
    with contextlib.suppress(DecodeError):
        for frame in read_frames(bytes(data)):
            with contextlib.suppress(DecodeError):
                body, _, _, _ = strip_radiotap(frame.data)
                for payload in wifi_payloads(body):
                    with contextlib.suppress(DecodeError):
                        decode(payload.data)


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_any_bytes_as_an_802_11_frame_give_payloads_or_decode_errors(frame: bytes) -> None:
    with contextlib.suppress(DecodeError):
        wifi_payloads(frame)
    with contextlib.suppress(DecodeError):
        strip_radiotap(frame)


@settings(max_examples=1000)
@given(st.sampled_from([b"\x80\x00", b"\xd0\x00"]), st.binary(min_size=22, max_size=40),
       st.sampled_from([b"", b"\x04\x09\x50\x6f\x9a\x13", b"\xdd\x05\xfa\x0b\xbc\x0d\x01"]), st.binary(max_size=200))
def test_frames_that_look_like_remote_id_give_payloads_or_decode_errors(control: bytes, header: bytes,
                                                                         marker: bytes, rest: bytes) -> None:
    frame = control + header + marker + rest
    with contextlib.suppress(DecodeError):
        for payload in wifi_payloads(frame):
            assert payload.offset + len(payload.data) <= len(frame)


def test_pcapng_writer_output_reads_back_frame_for_frame() -> None:
    frames = list(read_frames((DATA / "odid_wifi_bcn_sample.pcap").read_bytes()))
    buffer = io.BytesIO()
    writer = PcapngWriter(buffer, LINKTYPE_IEEE802_11_RADIOTAP)
    for frame in frames:
        writer.write(frame.t, frame.data)
    written = buffer.getvalue()
    # section header: block type, length 48, byte-order magic, version 1.0, section length unknown (-1)
    assert written[:28] == bytes.fromhex("0a0d0d0a30000000" "4d3c2b1a" "01000000" "ffffffffffffffff" "04000a00")
    again = list(read_frames(written))
    assert [(f.number, f.linktype, f.data) for f in again] == [(f.number, f.linktype, f.data) for f in frames]
    assert [f.t for f in again] == pytest.approx([f.t for f in frames], abs=1e-6)


def test_a_beacon_built_for_a_pack_decodes_to_it() -> None:
    pack = bytes.fromhex("f01901") + bytes([0x00, 0x12]) + b"SSEVTFG93700070".ljust(20, b"\0") + bytes(3)
    frame = beacon_frame("02:11:22:33:44:55", 9, pack, ssid="RID")
    assert frame[:4] == bytes.fromhex("80000000") and frame[4:10] == b"\xff" * 6
    assert frame[36:41] == b"\x00\x03RID"
    (payload,) = wifi_payloads(frame)
    assert (payload.sender, payload.counter, payload.data) == ("02:11:22:33:44:55", 9, pack)
