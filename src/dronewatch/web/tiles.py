"""A local tile archive for the dashboard's map: an MBTiles file, read-only.

MBTiles 1.3 is SQLite with two tables (``tiles`` may be a view over deduplicated images)::

    metadata(name TEXT, value TEXT)      name: format, minzoom, maxzoom, bounds, attribution, ...
    tiles(zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)

Rows are in TMS order, counted from the south: the web map's ``(z, x, y)`` (XYZ, from the
north) is ``tile_row = 2**z - 1 - y``. Only raster tiles (PNG, JPEG, WebP) can be drawn by
the dashboard; an archive of vector tiles (``format = pbf``) is refused when it is opened.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dronewatch.errors import StorageError

MAX_ZOOM = 24
"""Deepest zoom the service answers for (1.5 cm pixels at the equator: far below any imagery)."""

_FORMATS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """What the dashboard needs to know of an archive (from its metadata, or its tiles when missing)."""

    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float] | None
    """``(west, south, east, north)`` in degrees, if the metadata has them."""
    attribution: str


class TileArchive:
    """An MBTiles file opened read-only; :meth:`tile` is safe to call from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StorageError(f"{self.path}: no such file")
        try:
            self._db = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True,
                                       check_same_thread=False)
        except sqlite3.Error as error:
            raise StorageError(f"{self.path}: cannot open: {error}") from None
        self._lock = threading.Lock()
        try:
            self._db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").fetchall()
            metadata = self._metadata()
            zooms = self._db.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        except sqlite3.Error as error:
            self._db.close()
            raise StorageError(f"{self.path}: not an MBTiles archive (SQLite with a tiles table): {error}") from None
        self.format = metadata.get("format", "png").lower()
        if self.format not in _FORMATS:
            self._db.close()
            raise StorageError(f"{self.path}: tiles of format {self.format!r} cannot be drawn; "
                               f"the map shows raster tiles ({', '.join(_FORMATS)})")
        self.info = ArchiveInfo(min_zoom=_int(metadata.get("minzoom"), zooms[0], 0),
                                max_zoom=_int(metadata.get("maxzoom"), zooms[1], 0),
                                bounds=_bounds(metadata.get("bounds")),
                                attribution=metadata.get("attribution", ""))

    def _metadata(self) -> dict[str, str]:
        has = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'metadata'").fetchone()
        if not has:
            return {}
        return {str(name): str(value) for name, value in self._db.execute("SELECT name, value FROM metadata")}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``(z, x, y)``, or None if the archive has none there."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        with self._lock:
            row = self._db.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? "
                                   "AND tile_row = ?", (z, x, 2**z - 1 - y)).fetchone()
        return bytes(row[0]) if row is not None and row[0] is not None else None

    def content_type(self, data: bytes) -> str:
        """The media type of a tile: from its first bytes, else the archive's declared format."""
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png"
        if data.startswith(b"\xff\xd8\xff"):
            return "image/jpeg"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return "image/webp"
        return _FORMATS[self.format]

    def close(self) -> None:
        self._db.close()


def _int(text: str | None, fallback: int | None, default: int) -> int:
    try:
        return int(float(text)) if text is not None else fallback if fallback is not None else default
    except ValueError:
        return fallback if fallback is not None else default


def _bounds(text: str | None) -> tuple[float, float, float, float] | None:
    try:
        west, south, east, north = (float(v) for v in (text or "").split(","))
    except ValueError:
        return None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        return None
    return west, south, east, north
