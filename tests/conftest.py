"""Suite-wide settings (property tests judged on what they find, not on how fast a loaded CI machine runs)
and helpers for the tests that start servers."""

import socket
import sqlite3
import struct
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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
