"""One API over a region and its sites: a partner granted some of a region's sites sees the regional
picture of those sites only (tracks they contributed to, alerts on their zones), live and stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dronewatch.api.app import create_app
from dronewatch.api.security import hash_password
from dronewatch.bus import Message, subject
from dronewatch.config import Config, RegionConfig, ServiceConfig
from dronewatch.model import Alert, Sensor, TrackReport, Zone
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0
PASSWORD = "correct horse battery"
SQUARE = ((-106.53, 31.77), (-106.52, 31.77), (-106.52, 31.78), (-106.53, 31.78))


def track(track_id: str, members: tuple[str, ...]) -> TrackReport:
    sensors = tuple(f"{m.split('/')[0]}/radar-1" for m in members)
    return TrackReport(t=NOW, id=track_id, lat=31.775, lon=-106.525, alt=1200.0, vel_enu=(5.0, 0.0, 0.0),
                       cls="drone", confidence=0.9, sensors=sensors, sigma_m=6.0, members=members)


def alert(alert_id: str, track_id: str, zone: str | None, sensors: list[str]) -> Alert:
    return Alert(t=NOW, id=alert_id, track=track_id, level="critical", kind="zone_entry" if zone else "swarm",
                 state="open", reasons=("test",), zone=zone, evidence={"sensors": sensors})


@pytest.fixture
def region(tmp_path: Path) -> Iterator[tuple[TestClient, Pipeline]]:
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    config = Config(service=ServiceConfig(data_dir=str(tmp_path)),
                    regions=(RegionConfig(id="border", sites=("north", "south")),))
    pipelines = {site: Pipeline(site, repo, stages=()) for site in ("north", "south", "border")}
    for site in pipelines:
        repo.ensure_site(site, site, NOW)
    border = pipelines["border"]
    border.site.live_tracks = {"border-1": track("border-1", ("north/T1", "south/T4")),
                               "border-2": track("border-2", ("south/T7",))}
    border.site.sensors = [Sensor(id=f"{s}/radar-1", kind="radar", lat=31.7, lon=-106.5, alt=1150.0)
                           for s in ("north", "south")]
    border.site.zones = [Zone(id=f"{s}/gate", level="critical", floor_m=1100.0, ceiling_m=1600.0, polygon=SQUARE)
                         for s in ("north", "south")]
    for line in (alert("A1", "border-1", "north/gate", ["north/radar-1", "south/radar-1"]),
                 alert("A2", "border-2", "south/gate", ["south/radar-1"]),
                 alert("A3", "border-2", None, ["south/radar-1"]),
                 alert("A4", "border-1", None, ["north/radar-1", "south/radar-1"])):
        repo.save_alert("border", line)
    for name, role, sites in (("ada", "admin", []), ("pat", "partner", ["north"])):
        repo.add_user(name, hash_password(PASSWORD), role, now=NOW, sites=sites, levels=["critical"])
    with TestClient(create_app(config, repo, pipelines)) as client:
        yield client, border


def token(client: TestClient, name: str) -> dict[str, str]:
    csrf = {"X-CSRF-Token": client.post("/api/login", json={"name": name, "password": PASSWORD}).json()["csrf_token"]}
    made = client.post("/api/tokens", json={"name": "test"}, headers=csrf).json()["token"]
    client.cookies.clear()
    return {"Authorization": f"Bearer {made}"}


def test_a_partner_sees_the_regional_picture_of_its_granted_sites_only(region: tuple[TestClient, Pipeline]) -> None:
    client, _ = region
    pat, ada = token(client, "pat"), token(client, "ada")
    assert client.get("/api/sites", headers=pat).json() == [{"id": "north"}, {"id": "border"}]
    assert client.get("/api/sites/south/tracks", headers=pat).status_code == 404
    [seen] = client.get("/api/sites/border/tracks", headers=pat).json()
    assert (seen["id"], seen["members"], seen["sensors"]) == ("border-1", ["north/T1"], ["north/radar-1"])
    alerts = client.get("/api/sites/border/alerts", headers=pat).json()
    assert [(a["id"], a["evidence"]["sensors"]) for a in alerts] == [("A1", ["north/radar-1"]),
                                                                    ("A4", ["north/radar-1"])]
    assert [z["id"] for z in client.get("/api/sites/border/zones", headers=pat).json()] == ["north/gate"]
    assert [s["id"] for s in client.get("/api/sites/border/sensors", headers=pat).json()] == ["north/radar-1"]
    # the region's own staff see all of it
    assert len(client.get("/api/sites/border/tracks", headers=ada).json()) == 2
    assert len(client.get("/api/sites/border/alerts", headers=ada).json()) == 4
    assert len(client.get("/api/sites/border/zones", headers=ada).json()) == 2


def test_a_partners_live_stream_of_a_region_is_cut_to_its_sites(region: tuple[TestClient, Pipeline]) -> None:
    client, border = region
    pat = token(client, "pat")
    assert client.portal is not None
    with client.websocket_connect("/api/sites/border/stream", headers=pat) as ws:
        picture = [track("border-2", ("south/T7",)), track("border-1", ("north/T1", "south/T4"))]
        client.portal.call(border.bus.publish, Message(subject("border", "picture"), records=picture))
        client.portal.call(border.bus.publish, Message(subject("border", "alerts"), records=[
            alert("A2", "border-2", "south/gate", ["south/radar-1"]),
            alert("A1", "border-1", "north/gate", ["north/radar-1", "south/radar-1"])]))
        received = [json.loads(ws.receive_text()) for _ in range(2)]
    items = {item["id"]: item for batch in received for item in batch}
    assert set(items) == {"border-1", "A1"}
    assert items["border-1"]["members"] == ["north/T1"]


def test_a_regions_zones_are_its_sites(region: tuple[TestClient, Pipeline]) -> None:
    client, _ = region
    body = {"level": "critical", "floor_m": 1100.0, "ceiling_m": 1600.0, "polygon": [list(p) for p in SQUARE]}
    refused = client.put("/api/sites/border/zones/gate", json=body, headers=token(client, "ada"))
    assert refused.status_code == 409 and "north" in refused.text
