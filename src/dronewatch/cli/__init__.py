"""The ``dronewatch`` command: ``main(argv) -> exit status``; one sub-command a module.

Only the chosen sub-command's module is imported (the service's pulls in FastAPI, SQLAlchemy and
Alembic; a batch command or ``--help`` must not wait for them): the others are listed from
:data:`COMMANDS` alone.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dronewatch import __version__
from dronewatch.errors import DronewatchError

COMMANDS: dict[str, tuple[str, str]] = {  # name: (module in dronewatch.cli, summary)
    "demo": ("demo", "the live service with a simulated border station: open the printed URL"),
    "serve": ("serve", "run the live service: sources, tracking, assessment, storage and the API"),
    "worker": ("worker", "run some of a site's parts (tracker, assessment, ...) as one process on NATS"),
    "sim": ("sim", "simulate a scenario: traffic, sensors, ground truth"),
    "track": ("track", "run the multi-sensor tracker over a scenario file"),
    "assess": ("assess", "classify tracks and raise alerts (zones and sensors from the scenario file)"),
    "run": ("assess", "track, assess and score a scenario in one go, with a readable report"),
    "score": ("score", "GOSPA, SIAP and C-UAS metrics of tracks (and alerts) against a scenario's truth"),
    "remoteid": ("remoteid", "decode broadcast Remote ID (ASTM F3411) from captures or hex"),
    "adsb": ("adsb", "decode ADS-B / Mode S receiver feeds (Beast, AVR, SBS-1, hex) into messages and detections"),
    "asterix": ("asterix", "decode ASTERIX radar feeds (CAT048 plots, CAT034 scans, CAT062 tracks) from captures"),
    "sapient-sensor": ("sapient_sensor", "replay a scenario's detections as SAPIENT edge nodes"),
    "audit": ("audit", "the audit log"),
    "evidence": ("evidence", "signed incident packages: export one, verify one, show the site's public key"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; in full for the ``chosen`` command (and the others its module defines), names and
    summaries only for the rest."""
    parser = argparse.ArgumentParser(prog="dronewatch", description="Counter-drone early warning.")
    parser.add_argument("--version", action="version", version=f"dronewatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module = COMMANDS[chosen][0] if chosen in COMMANDS else None
    if module is not None:
        importlib.import_module(f"dronewatch.cli.{module}").add_parser(commands)
    for name, (home, summary) in COMMANDS.items():
        if home != module:
            commands.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((word for word in argv if not word.startswith("-")), None)
    parser = build_parser(chosen)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the sub-command's usage, not the top level's: the mistake is in its options
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        status: int = args.run(args)
    except DronewatchError as error:
        print(f"dronewatch {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 141
    except OSError as error:
        print(f"dronewatch {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status
