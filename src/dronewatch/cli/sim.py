"""``dronewatch sim``: simulate a scenario to scenario JSON Lines."""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.cli._io import open_output
from dronewatch.errors import ConfigError, FormatError
from dronewatch.model import TruthClass
from dronewatch.sim import engine, motion
from dronewatch.sim.broadcast import RemoteIdCaptureWriter
from dronewatch.sim.custom import load_scenario
from dronewatch.sim.scenarios import BUILT_IN, built_in

TRAJECTORY_CLASSES: tuple[TruthClass, ...] = ("drone", "bird", "aircraft")


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "sim", help=COMMANDS["sim"][1],
        description="Write a simulated scenario as scenario JSON Lines. Same seed, same bytes.")
    parser.add_argument("--scenario", default="border-station",
                        help=f"built-in name ({', '.join(BUILT_IN)}) or a scenario .toml file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=float, help="seconds (default: the scenario's, 600)")
    parser.add_argument("--realtime", action="store_true", help="pace the lines to the wall clock")
    parser.add_argument("--trajectory", action="append", default=[], metavar="FILE.csv",
                        help="add a recorded flight (columns t, lat, lon, alt); may repeat")
    parser.add_argument("--trajectory-origin", default="0,800", metavar="EAST,NORTH",
                        help="where the recorded flight's first fix goes, metres from the site (default 0,800)")
    parser.add_argument("--trajectory-altitude", choices=("lowest", "ground"), default="lowest",
                        help="heights of a recorded flight: above its lowest fix (default; for AMSL or ellipsoid "
                             "logs that start or end on the ground), or the alt column as height above ground")
    parser.add_argument("--trajectory-class", choices=TRAJECTORY_CLASSES,
                        help="what the recorded flights are (default drone)")
    parser.add_argument("--trajectory-rf-link", action=argparse.BooleanOptionalAction,
                        help="whether the recorded flights emit an RF control link the direction finders hear "
                             "(default: a drone does, a bird or a crewed aircraft does not)")
    parser.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    parser.add_argument("--remoteid-pcap", metavar="FILE.pcapng",
                        help="also write the Remote ID broadcasts the receivers heard as a Wi-Fi beacon capture")
    parser.set_defaults(run=run)


def read_trajectory(path: str, origin: tuple[float, float], altitude: str = "lowest") -> motion.Trajectory:
    """A recorded flight from CSV with columns t, lat, lon, alt (alt may be empty)."""
    rows: list[tuple[float, float, float, float | None]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"t", "lat", "lon", "alt"} - set(reader.fieldnames or ())
        if missing:
            raise FormatError(f"needs columns t, lat, lon, alt; missing {', '.join(sorted(missing))}", source=path,
                              line=1)
        for number, row in enumerate(reader, start=2):
            try:
                alt = row["alt"].strip()
                rows.append((float(row["t"]), float(row["lat"]), float(row["lon"]), float(alt) if alt else None))
            except (TypeError, ValueError) as error:
                raise FormatError(f"bad number: {error}", source=path, line=number) from None
    try:
        return motion.from_csv_rows(rows, origin, altitude=altitude)
    except ValueError as error:
        raise FormatError(str(error), source=path) from None


def recorded_objects(paths: list[str], origin: tuple[float, float], altitude: str, cls: TruthClass | None = None,
                     rf_link: bool | None = None) -> list[engine.SimObject]:
    """The recorded flights as objects ``recorded-1``, ``recorded-2``, ... of class ``cls`` (default drone).

    ``rf_link`` None: a drone has a control link, a bird has none, nor has a crewed aircraft (it
    talks to air traffic control, which is not what the direction finders listen for)."""
    cls = cls or "drone"
    link = cls == "drone" if rf_link is None else rf_link
    return [engine.SimObject(f"recorded-{k + 1}", cls, read_trajectory(path, origin, altitude), rf_link=link)
            for k, path in enumerate(paths)]


def run(args: argparse.Namespace) -> int:
    if args.scenario.endswith(".toml"):
        scenario = load_scenario(args.scenario, args.seed, args.duration)
    else:
        scenario = built_in(args.scenario, args.seed, args.duration)
    try:
        east, north = (float(v) for v in args.trajectory_origin.split(","))
    except ValueError:
        raise ConfigError(f"--trajectory-origin: expected EAST,NORTH in metres, got {args.trajectory_origin!r}"
                          ) from None
    if not args.trajectory and (args.trajectory_class is not None or args.trajectory_rf_link is not None):
        raise ConfigError("--trajectory-class and --trajectory-rf-link describe recorded flights: "
                          "give them with --trajectory FILE.csv")
    recorded = recorded_objects(args.trajectory, (east, north), args.trajectory_altitude, args.trajectory_class,
                                args.trajectory_rf_link)
    if recorded:
        scenario = replace(scenario, objects=scenario.objects + recorded)
    with contextlib.ExitStack() as files:
        output = files.enter_context(open_output(args.output))
        broadcasts = None
        if args.remoteid_pcap:
            broadcasts = RemoteIdCaptureWriter(files.enter_context(open(args.remoteid_pcap, "wb")))
        counts = engine.write(scenario, output, realtime=args.realtime, tap=broadcasts.add if broadcasts else None)
    summary = ", ".join(f"{n} {name.lower()}" for name, n in counts.items())
    target = "standard output" if args.output == "-" else str(Path(args.output))
    print(f"{scenario.name} (seed {scenario.seed}, {scenario.duration_s:g} s): {summary} -> {target}", file=sys.stderr)
    if broadcasts is not None:
        print(f"{broadcasts.frames} Remote ID beacons -> {args.remoteid_pcap}", file=sys.stderr)
    return 0
