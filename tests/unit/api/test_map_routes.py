"""The map background through the API: the archive's tiles byte for byte, 404 and 401 where due."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from dronewatch.api.app import create_app
from dronewatch.api.security import hash_password
from dronewatch.config import Config, MapConfig, ServiceConfig
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0
PASSWORD = "correct horse battery"


def client_for(tmp_path: Path, map_config: MapConfig) -> TestClient:
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repo.ensure_site("station", "station", NOW)
    repo.add_user("pat", hash_password(PASSWORD), "partner", now=NOW, sites=["station"], levels=["critical"])
    config = Config(service=ServiceConfig(data_dir=str(tmp_path)), map=map_config)
    return TestClient(create_app(config, repo, {"station": Pipeline("station", repo)}))


def test_the_archive_serves_its_exact_tiles_to_signed_in_users(tmp_path: Path, png_tile: Callable[..., bytes],
                                                               mbtiles: Callable[..., Path]) -> None:
    red, green = png_tile((200, 30, 30)), png_tile((30, 200, 30))
    archive = mbtiles(tmp_path / "site.mbtiles", {(14, 3348, 6621): red, (14, 3349, 6621): green},
                      {"format": "png", "minzoom": "14", "maxzoom": "14", "bounds": "-106.6,31.7,-106.4,31.8",
                       "attribution": "<b>imagery</b> by us"})
    with client_for(tmp_path, MapConfig(tile_archive=str(archive))) as client:
        assert client.get("/api/tiles/14/3348/6621").status_code == 401
        assert client.get("/api/map").status_code == 401
        client.post("/api/login", json={"name": "pat", "password": PASSWORD})  # a partner sees the map too
        got = client.get("/api/tiles/14/3348/6621")
        assert (got.status_code, got.headers["content-type"], got.content) == (200, "image/png", red)
        assert client.get("/api/tiles/14/3349/6621").content == green
        assert client.get("/api/tiles/14/3350/6621").status_code == 404  # not in the archive
        assert client.get("/api/tiles/3/8/0").status_code == 404  # x beyond the 8 columns of zoom 3
        assert client.get("/api/tiles/25/0/0").status_code == 422  # deeper than any map goes
        assert client.get("/api/tiles/14/-1/0").status_code == 422
        assert client.get("/api/map").json() == {
            "tiles": "/api/tiles/{z}/{x}/{y}", "min_native_zoom": 14, "max_native_zoom": 14,
            "bounds": [[31.7, -106.6], [31.8, -106.4]], "attribution": "<b>imagery</b> by us"}


def test_a_tile_url_is_handed_to_the_page_and_no_tile_is_served(tmp_path: Path) -> None:
    url = "https://tiles.example/{z}/{x}/{y}.png?key=site-secret"
    with client_for(tmp_path, MapConfig(tile_url=url, attribution="Example tiles")) as client:
        assert "site-secret" not in client.get("/").text  # the public page does not carry the key
        client.post("/api/login", json={"name": "pat", "password": PASSWORD})
        assert client.get("/api/map").json()["tiles"] == url
        assert client.get("/api/map").json()["attribution"] == "Example tiles"
        missing = client.get("/api/tiles/0/0/0")
        assert missing.status_code == 404 and "no tile archive" in missing.text


def test_without_a_background_the_page_gets_none(tmp_path: Path) -> None:
    with client_for(tmp_path, MapConfig()) as client:
        client.post("/api/login", json={"name": "pat", "password": PASSWORD})
        assert client.get("/api/map").json()["tiles"] == ""
