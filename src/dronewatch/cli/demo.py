"""``dronewatch demo``: the live service on 127.0.0.1:8080 with the simulated border station.

SQLite in a temporary directory (removed at the end), the ``border-station`` scenario in
real time, a demo user with a generated password printed with the URL. Ctrl-C stops it.
For the offline look (simulate, track, assess, score, report) use ``dronewatch sim`` then
``dronewatch run``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from typing import Any

from dronewatch.api.security import hash_password, new_password
from dronewatch.cli import COMMANDS
from dronewatch.cli.serve import serve, stop_on_sigterm
from dronewatch.config import Config, ServiceConfig, SiteConfig, SourcesConfig
from dronewatch.sim.scenarios import BUILT_IN
from dronewatch.storage import Repository, open_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help=COMMANDS["demo"][1],
        description="Starts the service on 127.0.0.1 with a simulated site, SQLite in a temporary directory, "
                    "and prints the URL and demo credentials. Ctrl-C stops it.")
    parser.add_argument("--scenario", default="border-station", choices=tuple(BUILT_IN))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=1.0, help="times real time (default 1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dronewatch-demo-") as data:
        config = Config(site=SiteConfig(id="demo", name="Border station (simulated)"),
                        service=ServiceConfig(host="127.0.0.1", port=args.port, data_dir=data),
                        sources=SourcesConfig(simulate=args.scenario, seed=args.seed, speed=args.speed))
        repository = Repository(open_database(config.database_url))
        password = new_password()
        # the demo user exists before the first start, so no separate admin password is printed
        repository.add_user("demo", hash_password(password), "admin", now=time.time())
        repository.engine.dispose()

        def announce(text: str) -> None:
            print(text, file=sys.stderr, flush=True)
            if text.startswith("dronewatch demo: http"):
                print(f"\n  open http://127.0.0.1:{args.port}/ and sign in as demo / {password}\n"
                      f"  (simulated {args.scenario}, seed {args.seed}, x{args.speed:g}; Ctrl-C stops)\n",
                      file=sys.stderr, flush=True)

        stop_on_sigterm()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, announce=announce))
    return 0
