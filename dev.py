#!/usr/bin/env python3
"""Developer entry point: ``python3 dev.py demo`` or ``python3 dev.py test``.

Each command creates ``.venv`` beside this file if it is missing, installs the
package into it (editable; ``test`` and ``bench`` with their tools), then runs.
Needs only Python 3.11+.
``test`` also creates ``.venv-fts`` with FreeTAKServer, a TAK server the integration tests run
(it pins protobuf 3.18, so it cannot share ``.venv``).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".dronewatch-installed"
# FreeTAKServer 2.2.1 pins ~60 packages (protobuf 3.18, cryptography 36, eventlet ...) and leaves
# opentelemetry unpinned, whose 1.45 kills its CoT services: its own venv, with that pin
# (shared/formats/cot.md section 9)
VENV_FTS = ROOT / ".venv-fts"
FTS_REQUIREMENTS = ("freetakserver==2.2.1", "opentelemetry-sdk==1.24.0", "opentelemetry-api==1.24.0")
STAMP_FTS = VENV_FTS / ".fts-installed"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    with subprocess.Popen([str(a) for a in args], cwd=ROOT) as process:
        # Ctrl-C reaches the child too and it stops itself cleanly (the demo service): wait for it
        # here instead of letting subprocess kill it
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            code = process.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
    if code:
        raise subprocess.CalledProcessError(code, [str(a) for a in args])


def ensure_venv(extras: str = "") -> None:
    """The package installed in ``.venv`` with ``extras`` (comma-separated; none: what it needs to run),
    and with any it already had: the demo does not wait for the test tools, and does not take them away."""
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    version = str((ROOT / "pyproject.toml").stat().st_mtime_ns)
    had_version, _, had = STAMP.read_text().partition(":") if STAMP.exists() else ("", "", "")
    installed = set(filter(None, had.split(","))) if had_version == version else set()
    wanted = set(filter(None, extras.split(",")))
    if had_version == version and wanted <= installed:
        return
    together = ",".join(sorted(wanted | installed))
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e",
        f".[{together}]" if together else ".")
    STAMP.write_text(f"{version}:{together}")


def ensure_fts_venv() -> None:
    """FreeTAKServer for the TAK integration tests (tests/integration/tak_peers.py), installed once."""
    bin_fts = VENV_FTS / ("Scripts" if os.name == "nt" else "bin")
    if not (bin_fts / "python").exists():
        # FTS 2.2.1 (eventlet 0.33) was checked on Python 3.11: take it when there is one
        python = shutil.which("python3.11") or sys.executable
        print(f"creating {VENV_FTS} with {python}", flush=True)
        run(python, "-m", "venv", VENV_FTS)
    wanted = " ".join(FTS_REQUIREMENTS)
    if STAMP_FTS.exists() and STAMP_FTS.read_text() == wanted:
        return
    run(bin_fts / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *FTS_REQUIREMENTS)
    STAMP_FTS.write_text(wanted)


def ensure_system_packages() -> None:
    """Servers the tests start: PostgreSQL (storage tests) and Chromium (browser tests), Debian packages;
    iproute2's ``ip`` for the network namespaces of the TAK integration tests."""
    missing = []
    if not shutil.which("ip"):
        missing.append("iproute2")
    if not (shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        missing.append("postgresql")
    if not Path("/usr/bin/chromium").exists():
        missing.append("chromium")
    if not missing:
        return
    if not shutil.which("apt-get"):
        print(f"missing {', '.join(missing)} and there is no apt-get: install them yourself", file=sys.stderr)
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"installing {', '.join(missing)} (Debian packages) for the tests ...", file=sys.stderr)
    run(*sudo, "apt-get", "update", "-q")
    run(*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--no-install-recommends",
        *missing)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    try:
        if command == "demo":
            ensure_venv()
            run(BIN / "dronewatch", "demo", *rest)
        elif command == "test":
            ensure_venv("test")
            ensure_fts_venv()
            ensure_system_packages()
            run(BIN / "ruff", "check", "src", "tests", "benchmarks")
            run(BIN / "mypy")
            run(BIN / "python", "-m", "pytest", "-n", "auto", "-q", *rest)
        elif command == "bench":
            ensure_venv("test,bench")
            run(BIN / "python", *rest)
        elif command in ("help", "-h", "--help"):
            print(__doc__)
        else:
            print(f"dev.py: unknown command {command!r}: the commands are demo, test and bench\n", file=sys.stderr)
            print(__doc__, file=sys.stderr)
            return 2
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
