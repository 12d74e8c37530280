"""``dronewatch adsb decode|detections``: ADS-B / Mode S receiver feeds from files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import open_output
from dronewatch.config import receiver_position
from dronewatch.errors import ConfigError
from dronewatch.formats.adsb import FEED_FORMATS, FeedFormat
from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.ingest.adsb import ADSB_SIGMA, ModeSDecoder, feed_messages, sniff_format
from dronewatch.model import Sensor


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("adsb", help=COMMANDS["adsb"][1])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    decoder = actions.add_parser(
        "decode", help="one JSON object per decoded message of a feed file",
        description="Decode a Beast, AVR, SBS-1 or timestamped-hex file: one JSON object per message (t, icao, df, "
                    "tc and what it carries); a summary on stderr. Exits 2 on a file that is not a feed.")
    _common(decoder)
    decoder.add_argument("--receiver", metavar="LAT,LON[,ALT]", help="the receiver's position: surface positions "
                         "need it; airborne ones further than 600 km from it are dropped")
    decoder.add_argument("--json", action="store_true", help="JSON lines (the default output format too)")
    decoder.set_defaults(run=run_decode)
    detections = actions.add_parser(
        "detections", help="adsb detections of a feed file, as scenario JSON Lines for dronewatch track",
        description="One adsb detection per decoded position (ICAO address, callsign, squawk, position, altitude, "
                    "speed and track), after a sensor line for the receiver.")
    _common(detections)
    detections.add_argument("--receiver", required=True, metavar="LAT,LON,ALT",
                            help="where the receiver stands: degrees, degrees, metres above the ellipsoid")
    detections.add_argument("-o", "--output", default="-", help="scenario JSON Lines (default: standard output)")
    detections.add_argument("--sensor-id", default="adsb-1")
    detections.set_defaults(run=run_detections)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("feed", help="the file: Beast binary, AVR (*HEX; or @TIMEHEX;), SBS-1 CSV, or TIME,HEX lines")
    parser.add_argument("--format", choices=FEED_FORMATS, help="the feed's format (default: told from its first bytes)")
    parser.add_argument("--start", type=float, metavar="UNIX_TIME",
                        help="UNIX time of the first frame (Beast and AVR count the receiver's 12 MHz clock, not "
                             "UNIX time)")


def _receiver(text: str | None, sensor_id: str = "adsb-1") -> Sensor | None:
    if text is None:
        return None
    lat, lon, alt = receiver_position(text, "--receiver")
    return Sensor(id=sensor_id, kind="adsb", lat=lat, lon=lon, alt=alt, sigma=dict(ADSB_SIGMA), period_s=1.0)


def _read(args: argparse.Namespace, receiver: Sensor | None) -> tuple[ModeSDecoder, FeedFormat, bytes]:
    data = Path(args.feed).read_bytes()
    feed: FeedFormat = args.format or sniff_format(data, args.feed)
    decoder = ModeSDecoder((receiver.lat, receiver.lon) if receiver else None, start=args.start)
    return decoder, feed, data


def _summary(args: argparse.Namespace, feed: str, decoder: ModeSDecoder, messages: int) -> None:
    counts = decoder.counts
    planes = decoder.aircraft.values()
    print(f"{args.feed} ({feed}): {counts['frames'] or counts['sbs_messages']} frames or lines, {messages} messages, "
          f"{len(planes)} aircraft ({sum(p.position is not None for p in planes)} with positions, "
          f"{sum(p.callsign is not None for p in planes)} with callsigns)", file=sys.stderr)
    dropped = {k: v for k, v in counts.items() if k not in ("frames", "sbs_messages") and not k.startswith("df")}
    if dropped:
        print("  not decoded: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())), file=sys.stderr)
    for kind, error in decoder.first_errors.items():
        print(f"  first {kind}: {error}", file=sys.stderr)


def run_decode(args: argparse.Namespace) -> int:
    decoder, feed, data = _read(args, _receiver(args.receiver))
    count = 0
    for message in feed_messages(data, feed, decoder, args.feed):
        print(json.dumps(message))
        count += 1
    _summary(args, feed, decoder, count)
    return 0


def run_detections(args: argparse.Namespace) -> int:
    receiver = _receiver(args.receiver, args.sensor_id)
    assert receiver is not None
    decoder, feed, data = _read(args, receiver)
    if feed in ("beast", "avr") and args.start is None:
        raise ConfigError(f"{args.feed}: {feed} timestamps count the receiver's 12 MHz clock, not UNIX time: "
                          "give --start (the UNIX time of the first frame)")
    count = written = 0
    with open_output(args.output) as output:
        writer = ScenarioWriter(output)
        writer.write(receiver)
        for message in feed_messages(data, feed, decoder, args.feed):
            count += 1
            detection = decoder.detection(message, receiver.id)
            if detection is not None:
                writer.write(detection)
                written += 1
    _summary(args, feed, decoder, count)
    print(f"  {written} detections written", file=sys.stderr)
    return 0
