"""``dronewatch remoteid decode``: Remote ID frames of a capture, or one message given in hex."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import open_output
from dronewatch.config import receiver_position
from dronewatch.errors import ConfigError, DecodeError, FormatError
from dronewatch.formats.capture import read_frames
from dronewatch.formats.remoteid import MessagePack, decode, encode
from dronewatch.formats.remoteid.dronescout import read_uploads
from dronewatch.formats.remoteid.messages import message_from_dict, message_to_dict
from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.ingest.remoteid_assembly import RemoteIdAssembler
from dronewatch.ingest.remoteid_capture import CaptureStats, remoteid_frames
from dronewatch.ingest.remoteid_live import LiveStats, ReceiverStream, live_detections
from dronewatch.model import Sensor

_STATUS_EVERY_S = 10.0


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "remoteid", help=COMMANDS["remoteid"][1])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    decoder = actions.add_parser("decode", help="decode a pcap/pcapng capture, or --hex one message or pack",
                                 description="One JSON object per line per decoded Remote ID frame; "
                                             "a summary on stderr.")
    decoder.add_argument("capture", nargs="?", help="pcap or pcapng file")
    decoder.add_argument("--hex", help="one message or message pack in hex (no transport header)")
    decoder.add_argument("--json", action="store_true", help="JSON lines (the default output format too)")
    decoder.set_defaults(run=run_decode)
    detections = actions.add_parser(
        "detections", help="Remote ID detections of a capture or a DroneScout sensor's uploads, as scenario JSON "
                           "Lines for dronewatch track",
        description="Merge each transmitter's messages and write one remoteid detection per Location, after a "
                    "sensor line for the receiver.")
    detections.add_argument("capture", help="pcap or pcapng file, or a BlueMark DroneScout sensor's uploads (JSON "
                                            "array or JSON Lines)")
    detections.add_argument("-o", "--output", default="-", help="scenario JSON Lines (default: standard output)")
    detections.add_argument("--receiver", required=True, metavar="LAT,LON[,ALT]",
                            help="where the receiver stood: degrees, degrees, metres above the ellipsoid (its "
                                 "ground, for drones that report only their height)")
    detections.add_argument("--sensor-id", default="rid-1")
    detections.set_defaults(run=run_detections)
    encoder = actions.add_parser(
        "encode", help="encode messages given as JSON into hex (the inverse of decode --hex)",
        description="JSON: one message object (fields as decode prints them; missing ones take defaults), a list "
                    "of them, or {\"messages\": [...]}. One message gives its 25 bytes; several, a message pack.")
    encoder.add_argument("json", nargs="?", default="-", help="the JSON text, or - to read it from standard input")
    encoder.add_argument("--pack", action="store_true", help="a message pack even for a single message")
    encoder.set_defaults(run=run_encode)
    listen = actions.add_parser(
        "listen", help="Remote ID detections from live receivers (UDP, TCP, serial)",
        description="Read receiver lines (docs/remoteid.md) and write remoteid detections as scenario "
                    "JSON Lines as they complete; a status line on stderr every 10 s and a summary at the end.")
    listen.add_argument("url", help="udp://HOST:PORT, tcp://HOST:PORT, tcp-listen://HOST:PORT, serial:///dev/tty..., "
                                    "a file path, or -")
    listen.add_argument("-o", "--output", default="-", help="scenario JSON Lines (default: standard output)")
    listen.add_argument("--receiver", required=True, metavar="LAT,LON[,ALT]", help="where the receiver stands")
    listen.add_argument("--sensor-id", default="rid-1")
    listen.add_argument("--duration", type=float, help="stop after this many seconds (default: until the stream "
                                                        "ends or Ctrl-C)")
    listen.set_defaults(run=run_listen)


def run_decode(args: argparse.Namespace) -> int:
    if (args.capture is None) == (args.hex is None):
        print("dronewatch remoteid decode: give a capture file or --hex, not both", file=sys.stderr)
        return 2
    if args.hex is not None:
        try:
            item = decode(bytes.fromhex(args.hex))
        except ValueError as error:
            print(f"dronewatch remoteid decode: --hex is not hexadecimal: {error}", file=sys.stderr)
            return 2
        except DecodeError as error:
            print(f"dronewatch remoteid decode: {error}", file=sys.stderr)
            return 1
        messages = item.messages if isinstance(item, MessagePack) else (item,)
        print(json.dumps({"messages": [message_to_dict(m) for m in messages]}))
        return 0
    stats = CaptureStats()
    for found in remoteid_frames(_capture(args.capture), stats):
        print(json.dumps({"frame": found.frame, "t": found.t, "transport": found.payload.transport,
                          "sender": found.payload.sender, "counter": found.payload.counter,
                          "messages": [message_to_dict(m) for m in found.messages]}))
    summary = (f"{args.capture}: {stats.frames} frames, {stats.remote_id_frames} Remote ID frames "
               f"({', '.join(f'{k} {v}' for k, v in stats.by_transport.items()) or 'none'}), "
               f"{stats.decoded} decoded, {stats.crc_failures} CRC/FCS failures, "
               f"{sum(stats.rejected.values())} rejected")
    print(summary, file=sys.stderr)
    for reason, count in stats.rejected.most_common():
        print(f"  rejected {count}: {reason}", file=sys.stderr)
    return 0


def _capture(path: str) -> bytes:
    """The bytes of a capture file, if they are one: a file whose first frame cannot be read (not pcap or
    pcapng, or cut off before it) is a :class:`DecodeError`, not an empty capture."""
    data = Path(path).read_bytes()
    try:
        next(iter(read_frames(data)), None)
    except DecodeError as error:
        raise DecodeError(f"{path}: not a capture: {error}") from None
    return data


def _receiver(args: argparse.Namespace) -> Sensor:
    lat, lon, alt = receiver_position(args.receiver, "--receiver")
    return Sensor(id=args.sensor_id, kind="remoteid", lat=lat, lon=lon, alt=alt)


def run_detections(args: argparse.Namespace) -> int:
    receiver = _receiver(args)
    assembler = RemoteIdAssembler(sensor_id=args.sensor_id, ground_alt_m=receiver.alt)
    found = []
    head = Path(args.capture).read_bytes()[:64].lstrip()
    if head[:1] in (b"{", b"["):  # a DroneScout sensor's uploads
        bad: Counter[str] = Counter()
        decoded = 0
        for item in read_uploads(Path(args.capture).read_text("utf-8", errors="replace"), args.capture):
            if isinstance(item, FormatError):
                bad[item.reason] += 1
                if sum(bad.values()) == 1:
                    print(f"{args.capture}: first bad upload: {item}", file=sys.stderr)
                continue
            decoded += 1
            found += assembler.add(item.t, item.sender, item.messages)
        if not decoded:
            why = next(iter(bad), "no uploads")
            raise DecodeError(f"{args.capture}: not a capture: not a pcap or pcapng capture, nor DroneScout uploads "
                              f"({why})")
        summary = f"{decoded} DroneScout uploads decoded, {sum(bad.values())} refused"
    else:
        stats = CaptureStats()
        for frame in remoteid_frames(_capture(args.capture), stats):
            found += assembler.add(frame.t, frame.payload.sender, frame.messages)
        summary = f"{stats.decoded} Remote ID frames decoded"
    found.sort(key=lambda d: d.t)
    with open_output(args.output) as output:
        writer = ScenarioWriter(output)
        writer.write(receiver)
        writer.write_all(found)
    skipped = ", ".join(f"{n} {why}" for why, n in assembler.skipped.items()) or "none skipped"
    print(f"{args.capture}: {summary}, {len(found)} detections "
          f"({len({d.uas_id for d in found})} UAS), {skipped}", file=sys.stderr)
    return 0


def run_encode(args: argparse.Namespace) -> int:
    source = sys.stdin.read() if args.json == "-" else args.json
    try:
        given = json.loads(source)
    except json.JSONDecodeError as error:
        raise ConfigError(f"JSON: {error}") from None
    if isinstance(given, dict) and "messages" in given:
        given = given["messages"]
    items = given if isinstance(given, list) else [given]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ConfigError("JSON: expected a message object, a list of them, or {\"messages\": [...]}")
    messages = tuple(message_from_dict(item) for item in items)
    single = len(messages) == 1 and not args.pack
    print(encode(messages[0] if single else MessagePack(messages)).hex())
    return 0


def run_listen(args: argparse.Namespace) -> int:
    receiver = _receiver(args)
    assembler = RemoteIdAssembler(sensor_id=args.sensor_id, ground_alt_m=receiver.alt)
    stats = LiveStats()

    async def listen(writer: ScenarioWriter, output: IO[str]) -> None:
        async with ReceiverStream(args.url, stats) as stream:
            print(f"dronewatch remoteid listen: reading {args.url}"
                  + (f" ({stream.address[0]}:{stream.address[1]})" if stream.address else ""), file=sys.stderr)
            next_status = time.monotonic() + _STATUS_EVERY_S
            async for detection in live_detections(stream, assembler):
                writer.write(detection)
                output.flush()
                if time.monotonic() >= next_status:
                    print(f"dronewatch remoteid listen: {stats.summary()}", file=sys.stderr)
                    next_status += _STATUS_EVERY_S

    with open_output(args.output) as output:
        writer = ScenarioWriter(output)
        writer.write(receiver)
        output.flush()
        try:
            asyncio.run(asyncio.wait_for(listen(writer, output), args.duration))
        except TimeoutError:
            pass
        finally:
            print(f"{args.url}: {stats.summary()}", file=sys.stderr)
            for reason, count in stats.rejected.most_common(10):
                print(f"  rejected {count}: {reason}", file=sys.stderr)
    return 0
