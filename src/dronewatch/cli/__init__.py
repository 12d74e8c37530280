"""The ``dronewatch`` command: ``main(argv) -> exit status``; one sub-command a module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dronewatch import __version__
from dronewatch.cli import assess, audit, demo, remoteid, sapient_sensor, score, serve, sim, track
from dronewatch.errors import DronewatchError

COMMANDS = (demo, serve, sim, track, assess, score, remoteid, sapient_sensor, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dronewatch", description="Counter-drone early warning.")
    parser.add_argument("--version", action="version", version=f"dronewatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
