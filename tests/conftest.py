"""Suite-wide settings (property tests judged on what they find, not on how fast a loaded CI machine runs)
and helpers for the tests that start servers.

Databases: ``database_url`` is a fresh, empty SQLite file or a database on a real PostgreSQL
server started here for the session, from Debian's ``postgresql`` package (``.ci/run``
installs it), on 127.0.0.1 and a free port, in a temporary data directory, stopped
afterwards. As root, its programs run as the ``postgres`` user, as they must.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

# CI runs on 2 shared cores with xdist: time-based health checks and deadlines would fail at random.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def free_port() -> Callable[..., int]:
    """A port on 127.0.0.1 free right now: ``free_port()`` for TCP, ``free_port(socket.SOCK_DGRAM)`` for UDP."""
    return _free_port


def _bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        pytest.fail("PostgreSQL is not installed: .ci/run installs Debian's postgresql package")
    return Path(candidates[-1]).parent


@pytest.fixture(scope="session")
def postgres_url(free_port: Callable[..., int]) -> Iterator[str]:
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="dronewatch-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=60)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "dronewatch", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "server.log"), "-o",
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=dronewatch dbname=postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE dronewatch_test")
        yield f"postgresql+psycopg://dronewatch@127.0.0.1:{port}/dronewatch_test"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dronewatch.db'}"
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"host={server.host} port={server.port} user={server.username} dbname=postgres",
                         autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return server.set(database=name).render_as_string(hide_password=False)
