"""Live receiver lines: the line format on real captured frames, and the UDP, TCP and file sources."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.cli import main
from dronewatch.errors import FormatError
from dronewatch.formats.capture import read_frames
from dronewatch.formats.remoteid import MessagePack, decode
from dronewatch.formats.remoteid.messages import message_to_dict
from dronewatch.formats.remoteid.receiver import parse_receiver_line
from dronewatch.formats.remoteid.wifi import strip_radiotap
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.ingest.remoteid_capture import remoteid_frames
from dronewatch.ingest.remoteid_live import MAX_LINE_BYTES, LiveStats, ReceiverStream, live_detections
from dronewatch.model import Detection

DATA = Path(__file__).resolve().parents[2] / "data" / "remoteid"
PARROT = DATA / "parrot_anafi4_real_frames1-800.pcapng"
BT5 = DATA / "odid_bt5_lr_sample.pcapng"


def wifi_lines(capture: Path) -> list[str]:
    """Each captured frame as an ESP32 would hand it over: the 802.11 frame, no radiotap, no FCS."""
    out = []
    for frame in read_frames(capture.read_bytes()):
        body, has_fcs, bad_fcs, _ = strip_radiotap(frame.data)
        if not bad_fcs:
            out.append(f"t={frame.t!r} rssi=-60 wifi={(body[:-4] if has_fcs else body).hex()}")
    return out


def ble_lines(capture: Path) -> list[str]:
    """Each Remote ID advertisement as a BLE scanner reports it: the advertiser and its AD structures."""
    out = []
    for found in remoteid_frames(capture.read_bytes()):
        data = found.payload.data
        service_data = bytes([len(data) + 5, 0x16, 0xFA, 0xFF, 0x0D, found.payload.counter]) + data
        out.append(f"t={found.t!r} src={found.payload.sender} ble={service_data.hex()}")
    return out


def offline_detections(capture: Path) -> list[Detection]:
    assembler = RemoteIdAssembler(ground_alt_m=400.0)
    return [d for found in remoteid_frames(capture.read_bytes())
            for d in assembler.add(found.t, found.payload.sender, found.messages)]


def test_wifi_lines_of_a_real_capture_decode_as_the_capture_does() -> None:
    from_lines = [frame for line in wifi_lines(PARROT) for frame in parse_receiver_line(line, 0.0)]
    from_capture = list(remoteid_frames(PARROT.read_bytes()))
    assert len(from_lines) == len(from_capture) == 163
    for got, expected in zip(from_lines, from_capture, strict=True):
        assert (got.t, got.sender, got.transport, got.messages) == (
            expected.t, expected.payload.sender, expected.payload.transport, expected.messages)
        assert got.rssi_dbm == -60.0


def test_ble_and_bare_lines() -> None:
    (line, *_) = ble_lines(BT5)
    (frame,) = parse_receiver_line(line, 0.0)
    assert frame.transport == "bluetooth" and frame.sender.count(":") == 5
    hex_pack = line.split("ble=")[1][12:]
    (bare,) = parse_receiver_line(f"  {hex_pack.upper()}  ", 42.0, peer="10.0.0.7:9000")
    assert bare.messages == frame.messages and bare.t == 42.0 and bare.sender == "10.0.0.7:9000"
    assert parse_receiver_line("# comment", 0.0) == parse_receiver_line("   ", 0.0) == []
    assert parse_receiver_line("wifi=" + "00" * 30, 0.0) == []  # a frame that is not Remote ID


@pytest.mark.parametrize(("line", "reason"), [
    ("t=1 src=a", "need exactly one payload .* got 0"),
    ("odid=f0 wifi=00", "need exactly one payload .* got 2"),
    ("t=1 t=2 odid=00", "t= given twice"),
    ("freq=2437 odid=00", "unknown key\\(s\\) freq"),
    ("odid=abc", "'abc' is not an even number of hex digits"),
    ("t=soon odid=00", "t=: 'soon' is not a number"),
    ("t=nan odid=00", "t=: 'nan' is not finite"),
    ("odid=f01904" + "00" * 20, "odid=: .*message pack: 4 messages need 103 bytes"),
    ("odid=70" + "00" * 24, "odid=: .*type 7"),
])
def test_bad_lines_are_rejected_with_their_reason(line: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        parse_receiver_line(line, 0.0)


async def collect(stream: ReceiverStream, count: int) -> list[Detection]:
    out: list[Detection] = []
    async for detection in live_detections(stream, RemoteIdAssembler(ground_alt_m=400.0)):
        out.append(detection)
        if len(out) == count:
            break
    return out


def test_udp_datagrams_of_a_real_flight_become_the_offline_detections() -> None:
    expected = offline_detections(PARROT)

    async def run() -> tuple[list[Detection], LiveStats]:
        async with ReceiverStream("udp://127.0.0.1:0") as stream:
            assert stream.address is not None
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                lines = wifi_lines(PARROT)
                for k in range(0, len(lines), 3):  # several lines per datagram, too
                    sender.sendto("\n".join(lines[k:k + 3]).encode() + b"\n", stream.address)
                    await asyncio.sleep(0)  # a receiver paces its frames; a burst of 800 could overflow the socket
                sender.sendto(b"x" * (MAX_LINE_BYTES + 1), stream.address)
                sender.sendto(b"wifi=80\n", stream.address)
            return await asyncio.wait_for(collect(stream, len(expected)), 10), stream.stats

    got, stats = asyncio.run(run())
    assert got == expected
    assert stats.rejected["line too long: over 8192 bytes"] == 1


def test_tcp_listen_keeps_going_past_bad_lines() -> None:
    expected = offline_detections(PARROT)  # the Bluetooth samples carry no position

    async def run() -> tuple[list[Detection], LiveStats]:
        async with ReceiverStream("tcp-listen://127.0.0.1:0") as stream:
            assert stream.address is not None
            _, writer = await asyncio.open_connection(*stream.address)
            lines = ble_lines(PARROT)
            writer.write(b"not a line\n" + ("x" * (MAX_LINE_BYTES + 10)).encode() + b"\n")
            writer.write("\r\n".join(lines).encode() + b"\r\n")
            await writer.drain()
            got = await asyncio.wait_for(collect(stream, len(expected)), 10)
            writer.close()
            return got, stream.stats

    got, stats = asyncio.run(run())
    assert got == expected
    assert stats.rejected["line too long: over 8192 bytes"] == 1
    assert any("'not': expected key=value" in reason for reason in stats.rejected)


def test_tcp_client_reconnects_to_a_receiver_that_serves_lines() -> None:
    lines = wifi_lines(PARROT)
    expected = offline_detections(PARROT)

    async def run() -> list[Detection]:
        connections = 0

        async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            half = lines[:400] if connections == 1 else lines[400:]  # the first connection drops half-way
            writer.write("\n".join(half).encode() + b"\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        async with server, ReceiverStream(f"tcp://{host}:{port}") as stream:
            return await asyncio.wait_for(collect(stream, len(expected)), 10)

    assert asyncio.run(run()) == expected


def test_listen_on_a_file_writes_what_detections_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines_file = tmp_path / "receiver.log"
    lines_file.write_text("\n".join(["# ESP32 receiver log", *wifi_lines(PARROT), "wifi=zz"]) + "\n")
    live, offline = tmp_path / "live.jsonl", tmp_path / "offline.jsonl"
    receiver = "47.1,7.0,400"
    assert main(["remoteid", "listen", str(lines_file), "--receiver", receiver, "-o", str(live)]) == 0
    assert "rejected 1: wifi=: 'zz' is not an even number" in capsys.readouterr().err
    assert main(["remoteid", "detections", str(PARROT), "--receiver", receiver, "-o", str(offline)]) == 0
    assert live.read_text() == offline.read_text()
    assert len(live.read_text().splitlines()) == 1 + len(offline_detections(PARROT))


def test_encode_is_the_inverse_of_decode_hex(capsys: pytest.CaptureFixture[str]) -> None:
    for found in remoteid_frames(PARROT.read_bytes()):
        as_json = json.dumps({"messages": [message_to_dict(m) for m in found.messages]})
        assert main(["remoteid", "encode", "--pack", as_json]) == 0
        hex_pack = capsys.readouterr().out.strip()
        assert decode(bytes.fromhex(hex_pack)) == MessagePack(found.messages, 2)
        assert main(["remoteid", "decode", "--hex", hex_pack]) == 0
        assert capsys.readouterr().out == as_json + "\n"


@settings(max_examples=500)
@given(st.text(max_size=300) | st.builds(lambda k, h: f"{k}={h}", st.sampled_from(["wifi", "ble", "odid"]),
                                         st.binary(max_size=200).map(bytes.hex)))
def test_any_line_gives_frames_or_a_format_error(line: str) -> None:
    with contextlib.suppress(FormatError):
        parse_receiver_line(line, 0.0)
