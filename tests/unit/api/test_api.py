"""The API: nothing without credentials, roles, partner isolation, CSRF, the alert flow, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dronewatch.api.app import create_app
from dronewatch.api.security import hash_password
from dronewatch.assessment import Assessor, Condition
from dronewatch.config import Config, ServiceConfig
from dronewatch.model import Alert, TrackReport
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.scenarios import SITE, station_sensors, station_zones
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0
PASSWORD = "correct horse battery"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, Repository, dict[str, Pipeline]]]:
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    pipelines = {}
    for site_id in ("station", "other"):
        repo.ensure_site(site_id, site_id, NOW)
        for sensor in station_sensors():
            repo.put_sensor(site_id, sensor)
        pipeline = Pipeline(site_id, repo)
        pipeline.live_tracks = {"T1": TrackReport(t=NOW, id="T1", lat=31.78, lon=-106.53, alt=1200.0,
                                                  vel_enu=(1.0, 0.0, 0.0), cls="drone")}
        pipelines[site_id] = pipeline
    repo.add_track_points("station", list(pipelines["station"].live_tracks.values()))
    repo.save_alert("station", Alert(t=NOW, id="A1", track="T1", level="critical", kind="zone_entry",
                                     state="open", reasons=("inside zone compound",), zone="compound"))
    repo.save_alert("station", Alert(t=NOW, id="A2", track="T1", level="info", kind="no_remote_id",
                                     state="open", reasons=("drone without Remote ID",)))
    for name, role, sites, levels in (("ada", "admin", [], []), ("olga", "operator", [], []),
                                      ("ann", "analyst", [], []), ("pat", "partner", ["station"], ["critical"])):
        repo.add_user(name, hash_password(PASSWORD), role, now=NOW, sites=sites, levels=levels)
    config = Config(service=ServiceConfig(data_dir=str(tmp_path)))
    with TestClient(create_app(config, repo, pipelines)) as client:
        yield client, repo, pipelines


def login(client: TestClient, name: str) -> dict[str, str]:
    response = client.post("/api/login", json={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def token(client: TestClient, name: str) -> dict[str, str]:
    csrf = login(client, name)
    made = client.post("/api/tokens", json={"name": "test"}, headers=csrf).json()["token"]
    client.cookies.clear()
    return {"Authorization": f"Bearer {made}"}


def test_every_route_refuses_an_anonymous_request(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    spec = client.get("/openapi.json").json()
    tried = 0
    for path, methods in spec["paths"].items():
        if path == "/api/login":
            continue
        url = path.replace("{site_id}", "station").replace("{zone_id}", "compound").replace("{alert_id}", "A1")
        url = url.replace("{token_id}", "1").replace("{name}", "olga").replace("{z}/{x}/{y}", "14/3348/6621")
        for method in methods:
            response = client.request(method.upper(), url, params={"from": NOW, "to": NOW + 1}, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            tried += 1
    assert tried >= 17 and {"/api/map", "/api/tiles/{z}/{x}/{y}"} <= set(spec["paths"])
    with pytest.raises(Exception), client.websocket_connect("/api/sites/station/stream") as ws:  # noqa: B017
        ws.receive_json()


def test_a_partner_sees_only_its_site_and_levels(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    headers = token(client, "pat")
    assert client.get("/api/sites", headers=headers).json() == [{"id": "station"}]
    assert client.get("/api/sites/other/tracks", headers=headers).status_code == 404
    assert [a["id"] for a in client.get("/api/sites/station/alerts", headers=headers).json()] == ["A1"]
    assert client.get("/api/sites/station/tracks/history", params={"from": NOW, "to": NOW + 1},
                      headers=headers).status_code == 403
    assert client.get("/api/sites/station/operators", params={"from": NOW, "to": NOW + 1},
                      headers=headers).status_code == 403


def test_sessions_need_the_csrf_header_for_changes(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    csrf = login(client, "olga")
    assert client.get("/api/me").json()["role"] == "operator"
    assert client.post("/api/tokens", json={"name": "x"}).status_code == 403
    assert client.post("/api/tokens", json={"name": "x"}, headers=csrf).status_code == 200
    assert client.post("/api/login", json={"name": "olga", "password": "wrong"}).status_code == 401


def test_login_is_rate_limited(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    codes = [client.post("/api/login", json={"name": "ada", "password": "guess"}).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    assert client.post("/api/login", json={"name": "ada", "password": PASSWORD}).status_code == 429


def test_acknowledge_and_resolve_through_the_assessment(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, pipelines = service
    assessor = Assessor(SITE, station_sensors(), station_zones())
    (line,) = assessor.book.step(NOW, [Condition(("T9", "compound", "zone_entry"), "T9", "critical", ("inside",))],
                                 {"T9"})
    repo.save_alert("station", line)
    pipelines["station"].assessor = assessor
    operator = token(client, "olga")
    analyst = token(client, "ann")
    assert client.post(f"/api/sites/station/alerts/{line.id}/acknowledge", json={"comment": "seen"},
                       headers=analyst).status_code == 403
    acked = client.post(f"/api/sites/station/alerts/{line.id}/acknowledge", json={"comment": "seen"},
                        headers=operator)
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    resolved = client.post(f"/api/sites/station/alerts/{line.id}/resolve", json={"comment": "bird after all"},
                           headers=operator)
    assert resolved.json()["state"] == "resolved"
    events = repo.alert_events("station", line.id)
    assert [(e["state"], e["actor"], e["comment"]) for e in events][-2:] == [
        ("acknowledged", "olga", "seen"), ("resolved", "olga", "bird after all")]
    actions = [r["action"] for r in repo.audit_records()]
    assert "alert.acknowledge" in actions and "alert.resolve" in actions and repo.verify_audit().ok


def test_reads_of_history_and_operator_locations_are_audited(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    headers = token(client, "ada")
    history = client.get("/api/sites/station/tracks/history", params={"from": NOW - 1, "to": NOW + 1},
                         headers=headers)
    assert history.status_code == 200 and history.json()[0]["id"] == "T1"
    assert client.get("/api/sites/station/operators", params={"from": NOW, "to": NOW + 1},
                      headers=headers).status_code == 200
    assert client.get("/api/sites/station/tracks/history", params={"from": NOW + 1, "to": NOW},
                      headers=headers).status_code == 422
    actions = [r["action"] for r in repo.audit_records()]
    assert "read.track_history" in actions and "read.operator_locations" in actions


def test_zone_changes_are_validated_and_audited(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    admin, operator = token(client, "ada"), token(client, "olga")
    square = [[-106.53, 31.77], [-106.52, 31.77], [-106.52, 31.78], [-106.53, 31.78]]
    body = {"level": "critical", "floor_m": 1100.0, "ceiling_m": 1600.0, "polygon": square}
    assert client.put("/api/sites/station/zones/gate", json=body, headers=operator).status_code == 403
    assert client.put("/api/sites/station/zones/gate", json=body, headers=admin).status_code == 200
    bowtie = {**body, "polygon": [square[0], square[2], square[1], square[3]]}
    bad = client.put("/api/sites/station/zones/gate", json=bowtie, headers=admin)
    assert bad.status_code == 422 and "Self-intersection" in bad.text
    assert [z["id"] for z in client.get("/api/sites/station/zones", headers=admin).json()] == ["gate"]
    assert "zone.put" in [r["action"] for r in repo.audit_records()]


def test_tokens_can_be_revoked_and_users_disabled(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    admin, olga = token(client, "ada"), token(client, "olga")
    assert client.get("/api/me", headers=olga).status_code == 200
    (mine,) = client.get("/api/tokens", headers=olga).json()
    assert client.delete(f"/api/tokens/{mine['id']}", headers=admin).status_code == 404  # not the admin's token
    assert client.delete(f"/api/tokens/{mine['id']}", headers=olga).json() == {"revoked": mine["id"]}
    assert client.get("/api/me", headers=olga).status_code == 401
    ann = token(client, "ann")
    assert client.get("/api/users", headers=ann).status_code == 403
    assert [u["name"] for u in client.get("/api/users", headers=admin).json()] == ["ada", "olga", "ann", "pat"]
    assert client.post("/api/users/ann/disable", headers=admin).status_code == 200
    assert client.get("/api/me", headers=ann).status_code == 401
    assert client.post("/api/users/ada/disable", headers=admin).status_code == 409
