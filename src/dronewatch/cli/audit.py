"""``dronewatch audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.config import load_config
from dronewatch.storage import Repository, open_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "audit", help=COMMANDS["audit"][1])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain; name the first broken record",
                                description="Exit 0 when every record fits the chain, 1 when one does not.")
    verify.add_argument("--config", help="the service's TOML configuration (its storage is checked)")
    verify.add_argument("--database", help="a database URL instead of the configuration's")
    verify.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    url = args.database or load_config(args.config).database_url
    check = Repository(open_database(url)).verify_audit()
    if check.ok:
        print(f"audit log: {check.records} records, chain intact")
        return 0
    print(f"audit log: BROKEN at record {check.first_broken}: {check.reason}", file=sys.stderr)
    return 1
