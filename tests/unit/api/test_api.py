"""The API: nothing without credentials, roles, partner isolation, CSRF, the alert flow, audit;
sessions and tokens that end, password changes, grants, paging, WebSocket close codes."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dronewatch.api.app import create_app
from dronewatch.api.security import hash_password
from dronewatch.config import Config, ServiceConfig, SourcesConfig
from dronewatch.evidence import load_public_key, verify_package
from dronewatch.model import Alert, Detection, TrackReport
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.scenarios import station_sensors
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0
PASSWORD = "correct horse battery"
DAY = 86400.0


class Clock:
    """The service's clock, moved by the test (sessions and tokens expire by it)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def service(tmp_path: Path, clock: Clock) -> Iterator[tuple[TestClient, Repository, dict[str, Pipeline]]]:
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    pipelines = {}
    for site_id in ("station", "other"):
        repo.ensure_site(site_id, site_id, NOW)
        for sensor in station_sensors():
            repo.put_sensor(site_id, sensor)
        pipeline = Pipeline(site_id, repo)
        pipeline.site.live_tracks = {"T1": TrackReport(t=NOW, id="T1", lat=31.78, lon=-106.53, alt=1200.0,
                                                  vel_enu=(1.0, 0.0, 0.0), cls="drone")}
        pipelines[site_id] = pipeline
    repo.add_track_points("station", list(pipelines["station"].site.live_tracks.values()))
    repo.save_alert("station", Alert(t=NOW, id="A1", track="T1", level="critical", kind="zone_entry",
                                     state="open", reasons=("inside zone compound",), zone="compound"))
    repo.save_alert("station", Alert(t=NOW, id="A2", track="T1", level="info", kind="no_remote_id",
                                     state="open", reasons=("drone without Remote ID",)))
    for name, role, sites, levels in (("ada", "admin", [], []), ("olga", "operator", [], []),
                                      ("ann", "analyst", [], []), ("pat", "partner", ["station"], ["critical"])):
        repo.add_user(name, hash_password(PASSWORD), role, now=NOW, sites=sites, levels=levels)
    config = Config(service=ServiceConfig(data_dir=str(tmp_path)))
    with TestClient(create_app(config, repo, pipelines, clock, stream_recheck_s=0.05)) as client:
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
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/sites/station/stream") as ws:
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


def until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_acknowledge_comment_and_resolve_through_the_assessment(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, pipelines = service
    station = pipelines["station"]
    assert client.portal is not None
    client.portal.start_task_soon(station.run)  # restores A1 and A2, open in storage, into its alert book
    until(lambda: station.assessor is not None and len(station.assessor.book.open_alerts) == 2)
    operator = token(client, "olga")
    analyst = token(client, "ann")
    try:
        assert client.post("/api/sites/station/alerts/A1/acknowledge", json={"comment": "seen"},
                           headers=analyst).status_code == 403
        acked = client.post("/api/sites/station/alerts/A1/acknowledge", json={"comment": "seen"},
                            headers=operator)
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
        noted = client.post("/api/sites/station/alerts/A1/comment", json={"comment": "two people\non the roof"},
                            headers=operator)
        assert noted.status_code == 200 and noted.json()["state"] == "acknowledged"
        assert client.post("/api/sites/station/alerts/A1/comment", json={"comment": "bell \a"},
                           headers=operator).status_code == 422
        resolved = client.post("/api/sites/station/alerts/A1/resolve", json={"comment": "bird after all"},
                               headers=operator)
        assert resolved.json()["state"] == "resolved"
        assert client.post("/api/sites/station/alerts/A1/acknowledge", json={},
                           headers=operator).status_code == 404
        # storage writes what the assessment published, once, with who did it
        until(lambda: len(repo.alert_events("station", "A1")) == 4)
        events = repo.alert_events("station", "A1")
        assert [(e["state"], e["actor"], e["comment"]) for e in events] == [
            ("open", "assessment", None), ("acknowledged", "olga", "seen"),
            ("acknowledged", "olga", "two people on the roof"), ("resolved", "olga", "bird after all")]
        actions = [r["action"] for r in repo.audit_records()]
        assert {"alert.acknowledge", "alert.comment", "alert.resolve"} <= set(actions) and repo.verify_audit().ok
    finally:
        station.stop()


def test_reads_of_history_and_operator_locations_are_audited(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    headers = token(client, "ada")
    history = client.get("/api/sites/station/tracks/history", params={"from": NOW - 1, "to": NOW + 1},
                         headers=headers)
    assert history.status_code == 200 and history.json()[0]["id"] == "T1"
    assert history.json()[0]["type"] == "track" and None not in history.json()[0].values()  # absent, not null
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



# ------------------------------------------------------------ sessions and tokens
def test_logout_ends_the_session_on_the_server(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    csrf = login(client, "olga")
    cookie = client.cookies["dw_session"]
    assert client.post("/api/logout", headers=csrf).status_code == 200
    client.cookies.set("dw_session", cookie)  # a copy of the cookie kept (another tab, a thief)
    assert client.get("/api/me").status_code == 401
    assert "logout" in [r["action"] for r in repo.audit_records()]


def test_a_session_expires_with_the_service_clock(service: tuple[TestClient, Repository, dict],
                                                  clock: Clock) -> None:
    client, _, _ = service
    login(client, "olga")
    clock.t += 12 * 3600.0 - 1.0
    assert client.get("/api/me").status_code == 200
    clock.t += 1.0
    assert client.get("/api/me").status_code == 401


def test_a_password_change_ends_the_other_sessions(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    with TestClient(client.app) as laptop:
        login(laptop, "olga")
        csrf = login(client, "olga")
        new = {"current_password": PASSWORD, "new_password": "a much longer one"}
        assert client.post("/api/me/password", json={**new, "current_password": "wrong guess"},
                           headers=csrf).status_code == 403
        assert client.post("/api/me/password", json={**new, "new_password": "short"}, headers=csrf).status_code == 422
        assert client.post("/api/me/password", json=new, headers=csrf).json() == {"changed": "olga",
                                                                                 "sessions_ended": 1}
        assert laptop.get("/api/me").status_code == 401  # the other session ended
        assert client.get("/api/me").status_code == 200  # this one goes on
    assert client.post("/api/login", json={"name": "olga", "password": PASSWORD}).status_code == 401
    assert client.post("/api/login", json={"name": "olga", "password": "a much longer one"}).status_code == 200
    actions = [r["action"] for r in repo.audit_records()]
    assert "user.password" in actions and "user.password.failed" in actions


def test_an_admin_resets_a_password_disables_and_enables(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    admin = token(client, "ada")
    login(client, "ann")
    reset = client.post("/api/users/ann/password", json={"new_password": "given by the admin"}, headers=admin)
    assert reset.json() == {"reset": "ann", "sessions_ended": 1}
    assert client.get("/api/me").status_code == 401
    assert client.post("/api/users/ada/password", json={"new_password": "given by the admin"},
                       headers=admin).status_code == 409  # one's own: with the current password
    assert client.post("/api/users/nobody/password", json={"new_password": "given by the admin"},
                       headers=admin).status_code == 404
    login(client, "olga")
    assert client.post("/api/users/olga/disable", headers=admin).status_code == 200
    assert client.get("/api/me").status_code == 401
    assert client.post("/api/login", json={"name": "olga", "password": PASSWORD}).status_code == 401
    assert client.post("/api/users/olga/enable", headers=admin).json() == {"enabled": "olga"}
    assert client.get("/api/me").status_code == 401  # enabling does not bring the ended session back
    assert client.post("/api/login", json={"name": "olga", "password": PASSWORD}).status_code == 200
    assert client.post("/api/users/nobody/enable", headers=admin).status_code == 404
    actions = [r["action"] for r in repo.audit_records()]
    assert {"user.password_reset", "user.disable", "user.enable"} <= set(actions) and repo.verify_audit().ok


def test_tokens_expire(service: tuple[TestClient, Repository, dict], clock: Clock) -> None:
    client, _, _ = service
    csrf = login(client, "olga")
    made = client.post("/api/tokens", json={"name": "ci", "expires_in_days": 2}, headers=csrf).json()
    assert made["expires_at"] == NOW + 2 * DAY
    default = client.post("/api/tokens", json={"name": "tak"}, headers=csrf).json()
    assert default["expires_at"] == NOW + 90 * DAY  # security.token_days_default
    for days in (0, 366, 100_000):  # beyond security.token_days_max (365), or not a lifetime
        assert client.post("/api/tokens", json={"name": "x", "expires_in_days": days},
                           headers=csrf).status_code == 422
    assert [(t["name"], t["expires_at"]) for t in client.get("/api/tokens").json()] == [
        ("ci", NOW + 2 * DAY), ("tak", NOW + 90 * DAY)]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {made['token']}"}
    clock.t += 2 * DAY - 1.0
    assert client.get("/api/me", headers=bearer).status_code == 200
    clock.t += 1.0
    refused = client.get("/api/me", headers=bearer)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


# ------------------------------------------------------------------ grants
def test_grants_name_known_sites_and_levels_and_can_be_edited(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    admin = token(client, "ada")
    new = {"name": "pia", "role": "partner", "password": PASSWORD, "sites": ["station"], "levels": ["critical"]}
    for bad, named in ((("sites", ["nowhere"]), "'nowhere'"), (("levels", ["Critical"]), "'Critical'"),
                       (("role", "pilot"), "'pilot'")):
        refused = client.post("/api/users", json={**new, bad[0]: bad[1]}, headers=admin)
        assert refused.status_code == 422 and named in refused.json()["detail"], refused.text
        refused = client.patch("/api/users/pat", json={bad[0]: bad[1]}, headers=admin)
        assert refused.status_code == 422 and named in refused.json()["detail"], refused.text
    assert client.post("/api/users", json=new, headers=admin).status_code == 200
    pat = token(client, "pat")
    assert [a["id"] for a in client.get("/api/sites/station/alerts", headers=pat).json()] == ["A1"]
    changed = client.patch("/api/users/pat", json={"levels": ["info", "critical"]}, headers=admin)
    assert changed.json() == {"name": "pat", "role": "partner", "sites": ["station"], "levels": ["info", "critical"]}
    assert [a["id"] for a in client.get("/api/sites/station/alerts", headers=pat).json()] == ["A1", "A2"]
    assert client.patch("/api/users/pat", json={"sites": ["other"]}, headers=admin).status_code == 200
    assert client.get("/api/sites/station/alerts", headers=pat).status_code == 404
    assert client.get("/api/sites/other/alerts", headers=pat).status_code == 200
    assert client.patch("/api/users/ada", json={"role": "analyst"}, headers=admin).status_code == 409
    assert client.patch("/api/users/nobody", json={"role": "analyst"}, headers=admin).status_code == 404
    assert client.patch("/api/users/pat", json={"role": "admin"}, headers=pat).status_code == 403
    (edit, *_) = [r for r in repo.audit_records() if r["action"] == "user.update"]
    assert edit["detail"] == {"before": {"role": "partner", "sites": ["station"], "levels": ["critical"]},
                              "after": {"role": "partner", "sites": ["station"], "levels": ["info", "critical"]}}


# ------------------------------------------------------------------ logins
def test_an_unknown_user_takes_as_long_to_refuse_as_a_wrong_password(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    repo.set_user_disabled("pat", True, now=NOW)

    def seconds(name: str) -> float:
        start = time.perf_counter()
        assert client.post("/api/login", json={"name": name, "password": "not it"}).status_code == 401
        return time.perf_counter() - start

    # interleaved, and medians: a busy machine slows all alike (the limiter allows 5 a name)
    wrong, unknown, disabled = [], [], []
    for k in range(4):
        wrong.append(seconds("ann"))
        unknown.append(seconds(f"nobody-{k}"))
        disabled.append(seconds("pat"))
    assert statistics.median(unknown) > 0.3 * statistics.median(wrong), (wrong, unknown)  # it was 1/27
    assert statistics.median(disabled) > 0.3 * statistics.median(wrong), (wrong, disabled)
    assert min(unknown) > 0.02  # an argon2 verification, not a dictionary look-up (was 5 ms)


def test_a_login_does_not_stop_the_event_loop(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service

    async def ticks_during_a_login() -> int:
        ticks = 0
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            signing_in = asyncio.create_task(http.post("/api/login", json={"name": "olga", "password": PASSWORD}))
            while not signing_in.done():
                await asyncio.sleep(0.005)  # the live service's other work: the tracker, the streams
                ticks += 1
            assert (await signing_in).status_code == 200
        return ticks

    assert asyncio.run(ticks_during_a_login()) >= 5  # argon2 runs in a thread (blocking: 1 tick)


def test_credentials_come_before_the_body_is_read(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    for method, url in (("POST", "/api/users"), ("PUT", "/api/sites/station/zones/gate"),
                        ("PATCH", "/api/users/olga"), ("POST", "/api/me/password")):
        for body in (b"{not json", b'{"role": 5, "polygon": "x"}'):
            refused = client.request(method, url, content=body, headers={"Content-Type": "application/json"})
            assert refused.status_code == 401, (method, url, refused.text)
            assert refused.headers["www-authenticate"] == "Bearer"
    login(client, "ada")  # a session without the CSRF header: 403 before the body, too
    assert client.post("/api/users", content=b"{not json", headers={"Content-Type": "application/json"}
                       ).status_code == 403
    assert client.get("/api/no/such/route").status_code == 404  # signed in: routing as usual
    client.cookies.clear()
    assert client.get("/api/no/such/route").status_code == 401  # anonymous: no map of the routes


def test_openapi_declares_how_to_authenticate_and_the_errors(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["token"] == {"type": "http", "scheme": "bearer", "description": schemes["token"]["description"]}
    assert (schemes["session"]["type"], schemes["session"]["in"], schemes["session"]["name"]) == (
        "apiKey", "cookie", "dw_session")
    create = spec["paths"]["/api/users"]["post"]
    assert {"token": []} in create["security"] and {"session": []} in create["security"]
    assert {"401", "403", "409", "422"} <= set(create["responses"])
    history = spec["paths"]["/api/sites/{site_id}/tracks/history"]["get"]
    assert {"401", "403", "404", "422"} <= set(history["responses"])
    assert "X-Next-Cursor" in history["responses"]["200"]["headers"]
    assert {"401", "429"} <= set(spec["paths"]["/api/login"]["post"]["responses"])
    assert "security" not in spec["paths"]["/api/login"]["post"]
    # every answer's shape is declared, records as the scenario format writes them ("class", not "cls")
    shapes = spec["components"]["schemas"]
    assert set(shapes["TrackOut"]["required"]) == {"t", "id", "lat", "lon", "alt", "vel_enu"}
    assert "class" in shapes["TrackOut"]["properties"] and "cls" not in shapes["TrackOut"]["properties"]
    for path, model in [("/api/sites/{site_id}/tracks", "TrackOut"), ("/api/sites/{site_id}/alerts", "AlertOut"),
                        ("/api/sites/{site_id}/zones", "ZoneOut"), ("/api/users", "UserRow")]:
        answer = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["items"]["$ref"] == f"#/components/schemas/{model}", path


# ------------------------------------------------------------------ paging
def test_history_comes_in_pages_holding_every_row_once(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    points = [TrackReport(t=NOW + 10 + k // 4, id=f"P{k}", lat=31.78, lon=-106.53, alt=1200.0,
                          vel_enu=(0.0, 0.0, 0.0)) for k in range(23)]  # 4 a second: ties the cursor must split
    repo.add_track_points("station", points)
    headers = token(client, "ann")
    url, seen, pages = "/api/sites/station/tracks/history", [], 0
    params: dict[str, Any] = {"from": NOW + 1, "to": NOW + 100, "limit": 5}
    while True:
        page = client.get(url, params=params, headers=headers)
        assert page.status_code == 200 and isinstance(page.json(), list) and len(page.json()) <= 5
        seen += [p["id"] for p in page.json()]
        pages += 1
        if "x-next-cursor" not in page.headers:
            assert "link" not in page.headers
            break
        cursor = page.headers["x-next-cursor"]
        link = page.headers["link"]
        assert link.startswith(f"<{url}?") and link.endswith('>; rel="next"') and f"cursor={cursor}" in link
        following = client.get(link[1:link.index(">")], headers=headers)  # the Link is the same next page
        params = {**params, "cursor": cursor}
        assert following.json() == client.get(url, params=params, headers=headers).json()
    assert seen == [p.id for p in points] and pages == 5
    everything = client.get(url, params={"from": NOW + 1, "to": NOW + 100}, headers=headers)
    assert len(everything.json()) == 23 and "x-next-cursor" not in everything.headers  # default limit: 5000
    for bad in ({"limit": 0}, {"limit": 50_001}, {"cursor": "not-a-cursor"}, {"cursor": "bmFuOjE"}):
        assert client.get(url, params={**params, **bad}, headers=headers).status_code == 422, bad
    audited = [r["detail"] for r in repo.audit_records() if r["action"] == "read.track_history"]
    assert (audited[0]["rows"], audited[0]["cursor"], audited[0]["next"] is not None) == (5, None, True)
    assert {"rows": 3, "next": None} in [{"rows": d["rows"], "next": d["next"]} for d in audited]  # the last page


def test_detections_and_operator_positions_come_in_pages(service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    repo.add_detections("station", [Detection(t=NOW + k // 2, sensor="rid-1", lat=31.78, lon=-106.52, alt=1200.0,
                                              uas_id=f"U{k}", operator_lat=31.77, operator_lon=-106.53)
                                    for k in range(7)])
    headers = token(client, "ada")
    for path in ("detections", "operators"):
        seen, pages, params = [], 0, {"from": NOW, "to": NOW + 10, "limit": 3}
        while True:
            page = client.get(f"/api/sites/station/{path}", params=params, headers=headers)
            seen += [d["uas_id"] for d in page.json()]
            pages += 1
            if "x-next-cursor" not in page.headers:
                break
            params = {**params, "cursor": page.headers["x-next-cursor"]}
        assert (seen, pages) == ([f"U{k}" for k in range(7)], 3), path


# ------------------------------------------------------------------ stream
def closed_with(client: TestClient, url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    with client.websocket_connect(url, headers=headers or {}) as ws:
        message: dict[str, Any] = ws.receive()
        assert message["type"] == "websocket.close", message
        return message["code"], message.get("reason", "")


def test_the_stream_says_why_it_refuses(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    code, reason = closed_with(client, "/api/sites/station/stream")
    assert code == 4401 and "credentials" in reason
    assert closed_with(client, "/api/sites/station/stream", {"Authorization": "Bearer dw_forged"})[0] == 4401
    pat = token(client, "pat")
    code, reason = closed_with(client, "/api/sites/other/stream", pat)  # a site not granted: as if none
    assert code == 4404 and "'other'" in reason
    assert closed_with(client, "/api/sites/nowhere/stream", token(client, "ada"))[0] == 4404
    login(client, "olga")  # a session cookie from another site's page: cross-site WebSocket hijacking
    code, reason = closed_with(client, "/api/sites/station/stream", {"Origin": "https://evil.example"})
    assert code == 4403 and "Origin" in reason
    with client.websocket_connect("/api/sites/station/stream", headers={"Origin": "http://testserver"}) as ws:
        ws.send_text("hello")  # the service's own page: accepted, the stream stays open


def test_an_open_stream_closes_when_its_session_ends(service: tuple[TestClient, Repository, dict]) -> None:
    client, _, _ = service
    csrf = login(client, "olga")
    with ThreadPoolExecutor(1) as waiting, client.websocket_connect("/api/sites/station/stream") as ws:
        assert client.post("/api/logout", headers=csrf).status_code == 200
        # in a thread, so that a stream that stays open fails the test instead of hanging it (leaving
        # the block closes the socket first, which ends the waiting thread)
        message = waiting.submit(ws.receive).result(timeout=10)
    assert (message["type"], message["code"]) == ("websocket.close", 4401)


def test_the_event_log_keeps_every_change_of_every_alert_with_who_made_it(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    repo.save_alert("station", Alert(t=NOW + 5, id="A1", track="T1", level="critical", kind="zone_entry",
                                     state="acknowledged", reasons=("inside zone compound", "acknowledged by olga"),
                                     zone="compound"), actor="olga", comment="on it")
    repo.save_alert("station", Alert(t=NOW + 9, id="A1", track="T1", level="critical", kind="zone_entry",
                                     state="resolved", zone="compound",
                                     reasons=("inside zone compound", "acknowledged by olga", "track ended")))
    window = {"from": NOW - 1, "to": NOW + 60}
    log = client.get("/api/sites/station/events", params=window, headers=token(client, "ann"))
    assert log.status_code == 200
    assert [(e["t"] - NOW, e["alert"], e["state"], e["by"], e["comment"], e["why"]) for e in log.json()] == [
        (0, "A1", "open", "assessment", None, None), (0, "A2", "open", "assessment", None, None),
        (5, "A1", "acknowledged", "olga", "on it", None), (9, "A1", "resolved", "assessment", None, "track ended")]
    assert {(e["track"], e["zone"], e["kind"]) for e in log.json() if e["alert"] == "A1"} == {
        ("T1", "compound", "zone_entry")}
    # a partner sees its granted levels only; every read is audited
    partner = client.get("/api/sites/station/events", params=window, headers=token(client, "pat")).json()
    assert {e["level"] for e in partner} == {"critical"}
    assert client.get("/api/sites/other/events", params=window, headers=token(client, "pat")).status_code == 404
    assert [r["action"] for r in repo.audit_records()].count("read.events") == 2


def test_an_alarm_mute_is_the_user_s_bounded_audited_and_ends_by_itself(
        service: tuple[TestClient, Repository, dict], clock: Clock) -> None:
    client, repo, _ = service
    olga, ann = token(client, "olga"), token(client, "ann")
    assert client.put("/api/me/alarm-mute", json={"minutes": 31}, headers=olga).status_code == 422  # at most 30
    muted = client.put("/api/me/alarm-mute", json={"minutes": 10}, headers=olga)
    assert muted.status_code == 200 and muted.json() == {"muted_until": NOW + 600}
    assert client.get("/api/me", headers=olga).json()["alarm_muted_until"] == NOW + 600
    assert client.get("/api/me", headers=ann).json()["alarm_muted_until"] is None  # the user's, nobody else's
    clock.t = NOW + 601
    assert client.get("/api/me", headers=olga).json()["alarm_muted_until"] is None  # it ran out
    assert client.delete("/api/me/alarm-mute", headers=olga).json() == {"muted_until": None}
    assert [(r["actor"], r["action"]) for r in repo.audit_records() if r["action"].startswith("alarm.")] == [
        ("olga", "alarm.mute"), ("olga", "alarm.unmute")]


def test_evidence_is_exported_by_the_roles_allowed_audited_and_verifies(
        service: tuple[TestClient, Repository, dict], tmp_path: Path) -> None:
    client, repo, _ = service
    repo.add_detections("station", [Detection(t=NOW, sensor="rid-1", lat=31.78, lon=-106.53, alt=1200.0,
                                              uas_id="1581F00TEST", operator_lat=31.77, operator_lon=-106.54)])
    repo.add_track_points("station", [TrackReport(t=NOW, id="T1", lat=31.78, lon=-106.53, alt=1200.0,
                                                  vel_enu=(1.0, 0.0, 0.0), cls="drone", uas_id="1581F00TEST")])
    analyst, admin = token(client, "ann"), token(client, "ada")
    key = client.get("/api/evidence/public-key", headers=analyst)
    assert key.status_code == 200 and key.text.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "site.pem").write_text(key.text)

    packages = {}
    for name, headers in (("ann", analyst), ("ada", admin)):
        response = client.post("/api/sites/station/evidence", json={"alert": "A1"}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["x-signing-key-sha256"] == key.headers["x-signing-key-sha256"]
        packages[name] = tmp_path / f"{name}.zip"
        packages[name].write_bytes(response.content)
        verdict = verify_package(packages[name], load_public_key(key.text.encode(), "site.pem"))
        assert verdict.ok, verdict.message
    # an analyst may not see where operators stand: nor in a package
    with zipfile.ZipFile(packages["ann"]) as archive:
        assert json.loads(archive.read("manifest.json"))["operator_positions"].startswith("withheld")
    with zipfile.ZipFile(packages["ada"]) as archive:
        assert json.loads(archive.read("manifest.json"))["operator_positions"] == "included"
        assert b"1581F00TEST" in archive.read("tracks.gpx")
    exports = [r for r in repo.audit_records() if r["action"] == "evidence_export"]
    assert [(r["actor"], r["detail"]["scope"]["alert"]) for r in exports] == [("ann", "A1"), ("ada", "A1")]
    assert exports[0]["source"] == "testclient" and repo.verify_audit().ok

    operator, partner = token(client, "olga"), token(client, "pat")
    assert client.post("/api/sites/station/evidence", json={"alert": "A1"}, headers=operator).status_code == 403
    assert client.post("/api/sites/station/evidence", json={"alert": "A1"}, headers=partner).status_code == 403
    refused = {
        "no such alert": ({"alert": "A404"}, 404),
        "both": ({"alert": "A1", "from": NOW, "to": NOW + 60}, 422),
        "neither": ({}, 422),
        "half a window": ({"from": NOW}, 422),
        "over a day": ({"from": NOW, "to": NOW + 2 * DAY}, 422),
        "not finite": ({"from": NOW, "to": "Infinity"}, 422),
        "a path in the id": ({"alert": "../../etc"}, 404),
        "a bad character": ({"alert": "A1\x00"}, 422),
    }
    for case, (body, status) in refused.items():
        assert client.post("/api/sites/station/evidence", json=body, headers=analyst).status_code == status, case
    window = client.post("/api/sites/station/evidence", json={"from": NOW - 60, "to": NOW + 60}, headers=analyst)
    assert window.status_code == 200
    assert client.post("/api/sites/elsewhere/evidence", json={"alert": "A1"}, headers=analyst).status_code == 404


def test_the_allow_and_watch_lists_are_admin_changes_audited_and_reach_the_assessment(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, pipelines = service
    station = pipelines["station"]
    assert client.portal is not None
    client.portal.start_task_soon(station.run)
    until(lambda: station.assessor is not None)
    admin, analyst = token(client, "ada"), token(client, "ann")
    body = {"identity": "1581F00TEST", "list": "allow", "valid_from": NOW - DAY, "valid_to": NOW + DAY,
            "note": "the agency's own\ninspection drone", "sites": ["station"]}
    try:
        assert client.post("/api/airframe-lists", json=body, headers=analyst).status_code == 403
        made = client.post("/api/airframe-lists", json=body, headers=admin)
        assert made.status_code == 201, made.text
        entry = made.json()
        assert (entry["added_by"], entry["list"]) == ("ada", "allow")
        assert entry["note"] == "the agency's own inspection drone"  # one line in the history
        # the assessment has the entry once the request returns
        assert station.assessor.airframes.entry(["1581f00test"], NOW) is not None
        for bad in ({**body, "valid_to": NOW - 2 * DAY}, {**body, "list": "deny"}, {**body, "sites": ["nowhere"]},
                    {**body, "identity": "bad id"}, {**body, "note": "bell \a"}):
            assert client.post("/api/airframe-lists", json=bad, headers=admin).status_code == 422, bad
        assert [e["id"] for e in client.get("/api/airframe-lists", headers=analyst).json()] == [entry["id"]]
        assert client.delete(f"/api/airframe-lists/{entry['id']}", headers=analyst).status_code == 403
        removed = client.delete(f"/api/airframe-lists/{entry['id']}", headers=admin)
        assert removed.status_code == 200 and removed.json()["removed_by"] == "ada"
        assert station.assessor.airframes.entry(["1581F00TEST"], NOW) is None
        assert client.delete(f"/api/airframe-lists/{entry['id']}", headers=admin).status_code == 404
        assert client.delete(f"/api/airframe-lists/{2**63}", headers=admin).status_code == 422
        assert client.get("/api/airframe-lists", headers=analyst).json() == []
        assert len(client.get("/api/airframe-lists", params={"removed": True}, headers=analyst).json()) == 1
        audited = [(r["actor"], r["action"], r["target"]) for r in repo.audit_records()
                   if r["action"].startswith("airframes.")]
        assert audited == [("ada", "airframes.allow", "airframe/1581F00TEST"),
                           ("ada", "airframes.remove", f"airframe-list/{entry['id']}")]
    finally:
        station.stop()


def test_the_airframe_register_tells_where_an_identity_flew_and_hides_its_operator_from_analysts(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    repo.add_track_points("station", [
        TrackReport(t=NOW + k, id=track, lat=31.78, lon=-106.53, alt=1200.0, vel_enu=(1.0, 0.0, 0.0), cls="drone",
                    uas_id="1581F00SEEN") for k, track in ((0, "T7"), (5, "T7"), (900, "T8"))])
    repo.save_alert("station", Alert(t=NOW, id="A7", track="T7", level="critical", kind="zone_entry", state="open",
                                     reasons=("inside zone compound",), zone="compound"))
    repo.add_detections("station", [Detection(t=NOW, sensor="rid-1", lat=31.78, lon=-106.53, alt=1200.0,
                                              uas_id="1581F00SEEN", operator_lat=31.77, operator_lon=-106.54)])
    admin, analyst, partner = token(client, "ada"), token(client, "ann"), token(client, "pat")
    (seen,) = [a for a in client.get("/api/airframes", headers=admin).json() if a["identity"] == "1581F00SEEN"]
    assert (seen["kind"], seen["first_seen"], seen["last_seen"], seen["tracks"]) == ("remote_id", NOW, NOW + 900, 2)
    assert seen["zones_entered"] == ["compound"] and seen["alerts"] == {"critical": 1}
    assert seen["operator"]["last"] == {"t": NOW, "lat": 31.77, "lon": -106.54}
    (hidden,) = client.get("/api/airframes", params={"identity": "1581f00seen"}, headers=analyst).json()
    assert "operator" not in hidden and hidden["tracks"] == 2
    assert client.get("/api/airframes", headers=partner).status_code == 403
    assert [r["actor"] for r in repo.audit_records() if r["action"] == "read.airframes"] == ["ada", "ann"]


def test_an_analyst_s_bulletin_sets_the_posture_audited_and_withdrawn(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, pipelines = service
    station = pipelines["station"]
    assert client.portal is not None
    client.portal.start_task_soon(station.run)
    until(lambda: station.assessor is not None)
    analyst, operator, partner = token(client, "ann"), token(client, "olga"), token(client, "pat")
    body = {"text": "Credible threat against the station this week", "source": "social media", "level": "elevated",
            "valid_from": NOW - 60, "valid_to": NOW + 7 * DAY, "sites": ["station"]}
    try:
        assert client.get("/api/sites/station/posture", headers=operator).json()["level"] == "normal"
        assert client.post("/api/bulletins", json=body, headers=operator).status_code == 403
        made = client.post("/api/bulletins", json=body, headers=analyst)
        assert made.status_code == 201, made.text
        bulletin = made.json()
        assert bulletin["recorded_by"] == "ann" and bulletin["level"] == "elevated"
        posture = client.get("/api/sites/station/posture", headers=operator).json()
        assert posture["level"] == "elevated" and posture["bulletins"][0]["text"] == body["text"]
        # a partner is told the level, not the intelligence behind it
        told = client.get("/api/sites/station/posture", headers=partner).json()
        assert told["level"] == "elevated" and "text" not in told["bulletins"][0]
        assert client.get("/api/sites/other/posture", headers=operator).json()["level"] == "normal"
        # the assessment has it; its next step follows it
        client.portal.call(station.publish, "tracks", [TrackReport(t=NOW, id="T1", lat=31.78, lon=-106.53,
                                                                    alt=1200.0, vel_enu=(1.0, 0.0, 0.0))])
        until(lambda: station.posture_level == "elevated")
        for bad in ({**body, "level": "severe"}, {**body, "valid_to": NOW - DAY}, {**body, "text": ""},
                    {**body, "sites": ["nowhere"]}):
            assert client.post("/api/bulletins", json=bad, headers=analyst).status_code == 422, bad
        withdrawn = client.delete(f"/api/bulletins/{bulletin['id']}", headers=analyst)
        assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_by"] == "ann"
        assert client.get("/api/sites/station/posture", headers=operator).json()["level"] == "normal"
        assert client.delete(f"/api/bulletins/{bulletin['id']}", headers=analyst).status_code == 404
        assert client.delete(f"/api/bulletins/{2**63}", headers=analyst).status_code == 422  # no database integer
        audited = [(r["actor"], r["action"]) for r in repo.audit_records() if r["action"].startswith("posture.")]
        assert audited == [("ann", "posture.bulletin"), ("ann", "posture.withdraw")]
    finally:
        station.stop()


def test_the_pattern_of_life_counts_drone_arrivals_by_place_and_hour(
        service: tuple[TestClient, Repository, dict]) -> None:
    client, repo, _ = service
    monday_9 = 1_764_579_600.0  # 2025-12-01 09:00 UTC, a Monday
    points = []
    for day in range(3):  # the same drone pilot, three mornings running, from the same field
        t = monday_9 + day * DAY
        points += [TrackReport(t=t + k, id=f"R{day}", lat=31.79 + k * 1e-4, lon=-106.52, alt=1200.0,
                               vel_enu=(0.0, 10.0, 0.0), cls=cls) for k, cls in ((0, "unknown"), (5, "drone"),
                                                                                 (6, "drone"))]
    points.append(TrackReport(t=monday_9, id="B1", lat=31.70, lon=-106.50, alt=1200.0, vel_enu=(0.0, 5.0, 0.0),
                              cls="bird"))
    repo.add_track_points("station", points)
    repo.add_detections("station", [Detection(t=monday_9 + day * DAY, sensor="rid-1", lat=31.79, lon=-106.52,
                                              alt=1200.0, uas_id="1581F00SCOUT", operator_lat=31.80,
                                              operator_lon=-106.51) for day in range(3)])
    admin, analyst = token(client, "ada"), token(client, "ann")
    window = {"from": monday_9 - DAY, "to": monday_9 + 7 * DAY}
    pattern = client.get("/api/sites/station/pattern", params=window, headers=admin).json()
    assert pattern["drones"] == 3  # the bird is not a drone; each track counts where it was first called one
    (cell,) = pattern["arrivals"]
    assert cell[2] == 3 and abs(cell[0] - 31.7905) < 0.001
    assert [pattern["weekly"][day][9] for day in range(7)] == [1, 1, 1, 0, 0, 0, 0]
    assert sum(map(sum, pattern["weekly"])) == 3
    assert pattern["operators"][0][2] == 1  # one operator standing in one place, however often reported
    assert "operators" not in client.get("/api/sites/station/pattern", params=window, headers=analyst).json()
    assert client.get("/api/sites/station/pattern", params={"from": 0, "to": 100 * DAY},
                      headers=admin).status_code == 422


DRONESCOUT = Path(__file__).resolve().parents[2] / "data" / "remoteid" / "dronescout"


def test_a_dronescout_sensor_posts_its_uploads_with_a_sensor_account_that_reads_nothing(tmp_path: Path) -> None:
    repo = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repo.ensure_site("station", "station", NOW)
    repo.add_user("ada", hash_password(PASSWORD), "admin", now=NOW)
    repo.add_user("scout-1", hash_password(PASSWORD), "sensor", now=NOW, sites=["station"])
    repo.add_user("scout-other", hash_password(PASSWORD), "sensor", now=NOW, sites=["other"])
    config = Config(service=ServiceConfig(data_dir=str(tmp_path)),
                    sources=SourcesConfig(dronescout=("SNSTAC-CUAS-0002=31.7775,-106.529,1140",)))
    uploads = json.loads((DRONESCOUT / "dronescout_rid_module_WiFi-NaN.json").read_text())
    # the service's clock at the recording's end (it is posted at once): the gate takes a live source's times
    # only near its clock
    recorded, started = max(u["data"]["timestamp"] for u in uploads) / 1000.0, time.time()
    pipelines = {site: Pipeline(site, repo, clock=lambda: recorded + time.time() - started)
                 for site in ("station", "other")}
    with TestClient(create_app(config, repo, pipelines, time.time)) as client:
        assert client.portal is not None
        client.portal.start_task_soon(pipelines["station"].run)
        try:
            sensor = token(client, "scout-1")
            posted = client.post("/api/sites/station/remoteid/dronescout", json=uploads, headers=sensor)
            assert posted.status_code == 200, posted.text
            answer = posted.json()
            assert answer["receptions"] == len(uploads) and answer["refused"] == {}
            assert answer["detections"] == answer["admitted"] == 3
            until(lambda: repo.count("detections") >= answer["detections"])
            assert {s.id for s in repo.sensors("station")} == {"SNSTAC-CUAS-0002"}
            # an upload of another sensor, and one that is not an upload, are counted, not taken
            stranger = [{**uploads[0], "data": {**uploads[0]["data"], "sensor ID": "SNSTAC-ELSEWHERE"}}]
            refused = client.post("/api/sites/station/remoteid/dronescout", json=stranger, headers=sensor).json()
            assert refused["receptions"] == 0 and list(refused["refused"]) == [
                "sensor 'SNSTAC-ELSEWHERE' is not in sources.dronescout"]
            assert client.post("/api/sites/station/remoteid/dronescout", content=b"{not json",
                               headers=sensor).status_code == 422
            assert client.post("/api/sites/station/remoteid/dronescout", content=b"[" + b" " * (1 << 20) + b"]",
                               headers=sensor).status_code == 413
            stats = pipelines["station"].stats()["dronescout"]
            assert stats["receptions"] == len(uploads) and sum(stats["bad_input"].values()) >= 2
            # the sensor's token reads nothing of the picture, and sends only to its own sites
            for path in ("/api/sites", "/api/sites/station/tracks", "/api/sites/station/alerts", "/api/airframes"):
                assert client.get(path, headers=sensor).status_code == 403, path
            assert client.get("/api/me", headers=sensor).json()["role"] == "sensor"
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(
                    "/api/sites/station/stream", headers=sensor) as ws:
                ws.receive_json()
            other = token(client, "scout-other")
            assert client.post("/api/sites/station/remoteid/dronescout", json=uploads,
                               headers=other).status_code == 404
            assert client.post("/api/sites/station/remoteid/dronescout", json=uploads,
                               headers=token(client, "ada")).status_code == 200
        finally:
            pipelines["station"].stop()
