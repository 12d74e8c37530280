"""The MBTiles reader: XYZ in, TMS rows in the file, the exact bytes out, clear errors for what it cannot use."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from dronewatch.errors import StorageError
from dronewatch.web.tiles import TileArchive


def test_tiles_are_found_by_xyz_with_tms_rows_in_the_file(tmp_path: Path, png_tile: Callable[..., bytes],
                                                         mbtiles: Callable[..., Path]) -> None:
    north, south = png_tile((200, 0, 0)), png_tile((0, 0, 200))
    path = tmp_path / "site.mbtiles"
    with sqlite3.connect(mbtiles(path, {})) as db:  # written by hand: row 3 of zoom 2 is the northern row
        db.executemany("INSERT INTO tiles VALUES (2, 1, ?, ?)", [(3, north), (0, south)])
        db.executemany("INSERT INTO metadata VALUES (?, ?)", [("bounds", "-180,-85,180,85"), ("attribution", "us")])
    archive = TileArchive(path)
    assert archive.tile(2, 1, 0) == north and archive.tile(2, 1, 3) == south
    assert archive.tile(2, 0, 0) is None and archive.tile(2, 4, 0) is None and archive.tile(40, 0, 0) is None
    assert archive.content_type(north) == "image/png"
    assert (archive.info.min_zoom, archive.info.max_zoom) == (2, 2)  # no zoom metadata: from the tiles
    assert archive.info.bounds == (-180.0, -85.0, 180.0, 85.0) and archive.info.attribution == "us"
    archive.close()


def test_content_type_from_the_bytes_then_the_declared_format(tmp_path: Path, mbtiles: Callable[..., Path]) -> None:
    archive = TileArchive(mbtiles(tmp_path / "a.mbtiles", {(0, 0, 0): b"\xff\xd8\xff\xe0 jpeg"},
                                  {"format": "webp", "minzoom": "0", "maxzoom": "18"}))
    assert archive.content_type(b"\xff\xd8\xff\xe0 jpeg") == "image/jpeg"
    assert archive.content_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert archive.content_type(b"unknown") == "image/webp"
    assert archive.info.max_zoom == 18


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p, "no such file"),
    (lambda p: (p.write_bytes(b"not sqlite at all" * 100), p)[1], "not an MBTiles archive"),
    (lambda p: (sqlite3.connect(p).execute("CREATE TABLE other (a)"), p)[1], "not an MBTiles archive"),
])
def test_what_is_not_an_archive_is_refused_by_name(tmp_path: Path, make: Callable[[Path], Path], reason: str) -> None:
    path = make(tmp_path / "bad.mbtiles")
    with pytest.raises(StorageError, match=f"bad.mbtiles: {reason}"):
        TileArchive(path)


def test_vector_tiles_are_refused(tmp_path: Path, mbtiles: Callable[..., Path]) -> None:
    with pytest.raises(StorageError, match="format 'pbf' cannot be drawn"):
        TileArchive(mbtiles(tmp_path / "v.mbtiles", {}, {"format": "pbf"}))
