"""``dronewatch asterix decode|detections``: ASTERIX radar plots, service messages and system tracks from
captures (pcap, pcapng) and raw recordings."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import open_output
from dronewatch.errors import ConfigError, DecodeError
from dronewatch.formats.asterix import EDITIONS, is_capture, record_to_dict
from dronewatch.formats.scenario import ScenarioWriter
from dronewatch.ingest.asterix import (
    AsterixDecoder,
    Decoded,
    Output,
    edition_entries,
    file_records,
    radar_entry,
    sac_sic,
)
from dronewatch.model import Scan, Sensor

_SUMMARY_KEYS = ("datagrams", "blocks", "cat034", "cat048", "cat062", "detections", "scans", "tracks")


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("asterix", help=COMMANDS["asterix"][1])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    decoder = actions.add_parser(
        "decode", help="one JSON object per ASTERIX record of a capture or raw recording",
        description="Decode the CAT034, CAT048 and CAT062 records of a pcap/pcapng capture (UDP) or a raw ASTERIX "
                    "recording: one JSON object per record (category, sac, sic, and its fields; t when the file or "
                    "--date gives a day); a summary on stderr. Exits 2 on a file that holds no such record.")
    _common(decoder)
    decoder.add_argument("--json", action="store_true", help="JSON lines (the default output format too)")
    decoder.add_argument("--all", action="store_true", help="keep duplicates (a record again from another link)")
    decoder.set_defaults(run=run_decode)
    detections = actions.add_parser(
        "detections", help="radar detections of a capture or recording, as scenario JSON Lines for dronewatch track",
        description="CAT048 plots of the radars named with --radar as radar detections (slant range, azimuth, "
                    "elevation from the plot's height), CAT034 north markers as scans, CAT062 tracks of the systems "
                    "named with --system as track lines; a sensor line per radar first, then the rest in time order.")
    _common(detections)
    detections.add_argument("--radar", action="append", default=[], required=True, metavar="SAC/SIC=ID,LAT,LON,ALT",
                            help="a radar: its SAC/SIC, the sensor id, where it stands (degrees, degrees, metres "
                                 "above the ellipsoid); repeat for more")
    detections.add_argument("--system", action="append", default=[], metavar="SAC/SIC=ID",
                            help="a tracker (SDPS) whose CAT062 tracks to write as track lines; repeat for more")
    detections.add_argument("--assumed-height", type=float, metavar="METRES",
                            help="the height to place plots that have none (no Mode C, no 3-D height); default: drop")
    detections.add_argument("-o", "--output", default="-", help="scenario JSON Lines (default: standard output)")
    detections.set_defaults(run=run_detections)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="pcap or pcapng capture of ASTERIX over UDP, or a raw ASTERIX recording")
    parser.add_argument("--edition", action="append", default=[], metavar="[SAC/SIC:]CAT=EDITION",
                        help="read CAT in EDITION (for every source, or one); e.g. 62=0.17. Editions: " + "; ".join(
                            f"CAT{c:03d} {', '.join(e)}" for c, e in EDITIONS.items()))
    parser.add_argument("--date", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="UTC date of the first record (a raw recording has no clock; a capture's gives it)")
    parser.add_argument("--port", type=int, metavar="UDP_PORT", help="only datagrams to this UDP port")


def _decoder(args: argparse.Namespace, radars: dict[tuple[int, int], Sensor] | None = None,
             systems: dict[tuple[int, int], str] | None = None, assumed_height_m: float | None = None
             ) -> AsterixDecoder:
    common, per_source = edition_entries(args.edition, "--edition")
    return AsterixDecoder(radars, systems, editions=common, source_editions=per_source, date=args.date,
                          dedupe_s=0.0 if getattr(args, "all", False) else 2.0, assumed_height_m=assumed_height_m)


def _read(args: argparse.Namespace, data: bytes, decoder: AsterixDecoder) -> list[Decoded]:
    """Every record of the file; a :class:`DecodeError` when it holds none dronewatch reads."""
    records = list(file_records(data, decoder, args.file, args.port))
    if not any(decoder.counts[f"cat{c:03d}"] for c in (34, 48, 62)):
        first = next(iter(decoder.first_errors.values()), None)
        raise DecodeError(f"{args.file}: no CAT034, CAT048 or CAT062 record"
                          + (f" (first problem: {first})" if first else ""))
    return records


def _summary(args: argparse.Namespace, decoder: AsterixDecoder) -> None:
    counts = decoder.counts
    by_category = ", ".join(f"CAT{c:03d} {counts[f'cat{c:03d}']}" for c in (34, 48, 62) if counts[f"cat{c:03d}"])
    print(f"{args.file}: {counts['datagrams']} datagrams, {counts['blocks']} data blocks, records: {by_category}"
          + (f"; {counts['duplicate']} duplicates dropped" if counts["duplicate"] else ""), file=sys.stderr)
    dropped = {k: v for k, v in counts.items() if k not in (*_SUMMARY_KEYS, "duplicate")}
    if dropped:
        print("  not taken: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())), file=sys.stderr)
    for kind, error in decoder.first_errors.items():
        print(f"  first {kind}: {error}", file=sys.stderr)


def run_decode(args: argparse.Namespace) -> int:
    decoder = _decoder(args)
    data = Path(args.file).read_bytes()
    clocked = is_capture(data) or args.date is not None
    for decoded in _read(args, data, decoder):
        line = record_to_dict(decoded.record)
        if clocked:
            line = {"t": decoded.t, **line}
        print(json.dumps(line))
    _summary(args, decoder)
    return 0


def run_detections(args: argparse.Namespace) -> int:
    radars = dict(radar_entry(entry, "--radar") for entry in args.radar)
    systems: dict[tuple[int, int], str] = {}
    for entry in args.system:
        source, equals, name = entry.partition("=")
        if not equals or not name.strip():
            raise ConfigError(f"--system: expected SAC/SIC=ID, got {entry!r}")
        systems[sac_sic(source, "--system")] = name.strip()
    data = Path(args.file).read_bytes()
    if not is_capture(data) and args.date is None:
        raise ConfigError(f"{args.file}: a raw ASTERIX recording has no clock: give --date (the UTC date of its "
                          "first record)")
    decoder = _decoder(args, radars, systems, args.assumed_height)
    out: list[Output] = [r for r in (decoder.convert(d) for d in _read(args, data, decoder)) if r is not None]
    out.sort(key=lambda r: (r.t, isinstance(r, Scan)))  # the scenario format orders lines by time
    kinds: Counter[str] = Counter(type(r).__name__ for r in out)
    with open_output(args.output) as output:
        writer = ScenarioWriter(output)
        for sensor in radars.values():
            writer.write(replace(sensor, period_s=decoder.status[sensor.id].scan_period_s))
        writer.write_all(out)
    _summary(args, decoder)
    print(f"  written: {len(radars)} sensors, {kinds['Detection']} detections, {kinds['Scan']} scans, "
          f"{kinds['TrackReport']} tracks", file=sys.stderr)
    for sensor in radars.values():
        status = decoder.status[sensor.id]
        if status.north_markers or status.sector_crossings:
            period = f"{status.scan_period_s:.3f} s" if status.scan_period_s is not None else "unknown"
            print(f"  {sensor.id}: scan period {period}, {status.north_markers} north markers, "
                  f"{status.sector_crossings} sector crossings" + (", NOGO" if status.nogo else ""), file=sys.stderr)
    return 0
