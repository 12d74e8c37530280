"""``dronewatch worker PART [PART ...] --config site.toml``: some of a site's parts, as one process on NATS.

Parts: ``sources`` (the configured inputs through the site's edge), ``tracker``, ``assessment``
(with operators' commands), ``storage``, ``outputs`` (TAK, SAPIENT upward) and ``api`` (the
HTTP API and dashboard, with the site's live picture from the bus). ``dronewatch serve`` is all
of them in one process. A worker's stages read through durable JetStream consumers named
``<site>-<stage>``: run each stage of a site in one process only; restarted, it goes on from
the first message it had not finished. docs/scale-out.md shows a site run as workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.cli.serve import PARTS, serve, stop_on_sigterm
from dronewatch.config import load_config
from dronewatch.errors import ConfigError


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "worker", help=COMMANDS["worker"][1], description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("parts", nargs="+", choices=PARTS, metavar="PART", help=f"one or more of {', '.join(PARTS)}")
    parser.add_argument("--config", required=True, help="TOML configuration with [bus] url (docs/configuration.md)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if not config.bus.url:
        raise ConfigError(f"{args.config}: a worker needs [bus] url: parts in separate processes talk over NATS")
    stop_on_sigterm()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, parts=tuple(dict.fromkeys(args.parts)), durable=True,
                          announce=lambda text: print(text, file=sys.stderr, flush=True)))
    return 0
