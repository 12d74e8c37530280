"""``dronewatch evidence export|verify|public-key``: signed incident packages (docs/evidence.md)."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dronewatch.cli import COMMANDS
from dronewatch.config import load_config
from dronewatch.errors import ConfigError
from dronewatch.evidence import collect, export, fingerprint, load_public_key, public_pem, site_key, verify_package
from dronewatch.storage import Repository, open_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("evidence", help=COMMANDS["evidence"][1])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    exporting = actions.add_parser(
        "export", help="write the signed package of an alert, or of a site and time window",
        description="Write an incident package (PDF report, tracks as GeoJSON, KML, GPX and CSV, raw detections, "
                    "alerts with who did what, sensors, and a manifest signed with the site's key). The export is "
                    "written to the audit log.")
    exporting.add_argument("--config", help="the service's TOML configuration (its storage, site and key)")
    exporting.add_argument("--database", help="a database URL instead of the configuration's")
    scope = exporting.add_mutually_exclusive_group(required=True)
    scope.add_argument("--alert", help="an alert id: its track, from half an hour before it opened")
    scope.add_argument("--from", dest="t_from", metavar="TIME",
                       help="start of the window: ISO 8601 (2026-12-07T16:00:00Z) or UNIX seconds")
    exporting.add_argument("--to", dest="t_to", metavar="TIME", help="end of the window (with --from)")
    exporting.add_argument("--site", help="the site (default: the configuration's site.id)")
    exporting.add_argument("--actor", help="who exports, for the audit log (default: cli:<login name>)")
    exporting.add_argument("-o", "--output", required=True, help="the package to write (.zip)")
    exporting.set_defaults(run=run_export)
    verifying = actions.add_parser(
        "verify", help="check a package: its signature, then every file; name the first that does not match",
        description="Exit 0 when the package is as exported, 1 when a file or the signature does not match.")
    verifying.add_argument("package", help="the package (.zip)")
    verifying.add_argument("--public-key", metavar="PEM", help="the site's public key (dronewatch evidence "
                           "public-key); without it the key inside the package is used, which proves integrity "
                           "but not origin")
    verifying.set_defaults(run=run_verify)
    public = actions.add_parser("public-key", help="the site's public key (PEM), to hand to investigators",
                                description="Print the site's public signing key; its SHA-256 on stderr.")
    public.add_argument("--config", help="the service's TOML configuration")
    public.set_defaults(run=run_public_key)


def run_export(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.t_from is not None and args.t_to is None:
        raise ConfigError("--from needs --to")
    repository = Repository(open_database(args.database or config.database_url))
    key = site_key(config.evidence_key_path)
    site = args.site or config.site.id
    if args.alert is not None:
        incident = collect(repository, site, alert_id=args.alert)
    else:
        incident = collect(repository, site, t_from=parse_time(args.t_from, "--from"),
                           t_to=parse_time(args.t_to, "--to"))
    manifest = export(repository, incident, key, args.output, actor=args.actor or f"cli:{getpass.getuser()}",
                      at=time.time(), progress=lambda text: print(f"dronewatch evidence export: {text}",
                                                                  file=sys.stderr))
    print(f"{args.output}: package {manifest['package']}, {len(manifest['files'])} files, "
          f"audit record {manifest['audit']['export_record']['seq']}, key SHA-256 {fingerprint(key)}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    key = None
    if args.public_key:
        try:
            key = load_public_key(Path(args.public_key).read_bytes(), args.public_key)
        except OSError as error:
            raise ConfigError(f"--public-key: cannot read {args.public_key}: {error.strerror}") from None
    verdict = verify_package(args.package, key)
    print(("OK: " if verdict.ok else "FAILED: ") + verdict.message, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


def run_public_key(args: argparse.Namespace) -> int:
    key = site_key(load_config(args.config).evidence_key_path)
    sys.stdout.write(public_pem(key).decode())
    print(f"SHA-256 of the public key: {fingerprint(key)}", file=sys.stderr)
    return 0


def parse_time(text: str, where: str) -> float:
    """UNIX seconds, or ISO 8601 (a time without a zone is UTC)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is neither ISO 8601 nor UNIX seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
