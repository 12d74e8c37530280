"""Storage on SQLite and on a real PostgreSQL server: the same tests for both."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dronewatch.cli import main
from dronewatch.config import RetentionConfig
from dronewatch.errors import ConfigError
from dronewatch.evidence.incident import HealthCount
from dronewatch.model import Alert, Detection, Sensor, TrackReport, Zone
from dronewatch.storage import Repository, create_database_engine, migrate, open_database
from dronewatch.storage.schema import metadata

DAY = 86400.0
NOW = 1_764_000_000.0
ZONE = Zone("compound", "critical", 1130.0, 1630.0, ((-106.53, 31.77), (-106.52, 31.77), (-106.52, 31.78)))


@pytest.fixture
def repo(database_url: str) -> Repository:
    repository = Repository(open_database(database_url))
    repository.ensure_site("station", "Border station", NOW)
    return repository


def test_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    engine = open_database(database_url)
    with engine.connect() as db:
        differences = compare_metadata(MigrationContext.configure(db), metadata)
    assert differences == []
    open_database(database_url)  # migrating again is a no-op


def test_sensors_and_zones(repo: Repository) -> None:
    radar = Sensor("radar-1", "radar", 31.7775, -106.529, 1140.0, sigma={"range_m": 5.0}, pd=0.9, max_range_m=3000.0)
    repo.put_sensor("station", radar)
    repo.put_sensor("station", Sensor("rid-1", "remoteid", 31.7775, -106.529, 1140.0))
    assert repo.sensors("station")[0] == radar
    repo.put_zone("station", ZONE)
    repo.put_zone("station", Zone("compound", "warning", 1130.0, 1530.0, ZONE.polygon))
    assert repo.zones("station") == [Zone("compound", "warning", 1130.0, 1530.0, ZONE.polygon)]
    assert repo.delete_zone("station", "compound") and not repo.delete_zone("station", "compound")


def test_detections_keep_operator_positions_apart(repo: Repository) -> None:
    repo.add_detections("station", [
        Detection(t=NOW, sensor="rid-1", lat=31.78, lon=-106.52, alt=1200.0, uas_id="1581F00TEST",
                  operator_lat=31.77, operator_lon=-106.53),
        Detection(t=NOW, sensor="radar-1", range_m=812.0, azimuth_deg=45.0, elevation_deg=3.0)])
    assert repo.count("detections") == 2
    assert repo.operator_positions("station", NOW - 1, NOW + 1) == [
        {"t": NOW, "uas_id": "1581F00TEST", "lat": 31.77, "lon": -106.53}]
    with repo.engine.connect() as db:
        stored = [row[0] for row in db.execute(text("SELECT record FROM detections ORDER BY seq"))]
    assert all("operator_lat" not in (r if isinstance(r, str) else str(r)) for r in stored)


def test_track_history_by_time_window(repo: Repository) -> None:
    reports = [TrackReport(t=NOW + k, id=f"T{k % 2}", lat=31.7 + k * 1e-4, lon=-106.5, alt=1200.0,
                           vel_enu=(1.0, 2.0, 0.0), cls="drone", sensors=("radar-1",), sigma_m=4.5 + k,
                           members=("north/T7", "south/T3") if k % 2 else None) for k in range(10)]
    repo.add_track_points("station", reports)
    assert repo.track_history("station", NOW + 2, NOW + 5) == reports[2:6]
    assert [r.t for r in repo.track_history("station", NOW, NOW + 9, "T1")] == [NOW + k for k in (1, 3, 5, 7, 9)]
    # the export's bulk read gives the same points, by track (less the regional members it does not carry)
    bulk = repo.track_points("station", NOW + 2, NOW + 5)
    assert {k: [TrackReport(r.t, r.id, r.lat, r.lon, r.alt, r.vel_enu, r.cls, r.confidence, r.uas_id, r.icao,
                            sensors=r.sensors, sigma_m=r.sigma_m) for r in v] for k, v in bulk.items()} == {
        tid: [replace(r, members=None) for r in reports[2:6] if r.id == tid] for tid in ("T0", "T1")}
    assert list(repo.track_points("station", NOW, NOW + 9, "T1")) == ["T1"]


def test_alert_lifecycle_is_kept_with_its_events(repo: Repository) -> None:
    opened = Alert(t=NOW, id="A1", track="T3", level="warning", kind="zone_breach_predicted", state="open",
                   reasons=("drone without Remote ID",), zone="compound", eta_s=55.0, evidence={"class": "drone"})
    repo.save_alert("station", opened)
    repo.save_alert("station", Alert(**{**_fields(opened), "t": NOW + 5, "level": "critical", "eta_s": 40.0}))
    repo.save_alert("station", Alert(**{**_fields(opened), "t": NOW + 6, "level": "critical",
                                        "state": "acknowledged"}), actor="officer-12", comment="on it")
    (stored,) = repo.alerts("station")
    assert (stored.state, stored.level, stored.t, stored.evidence) == ("acknowledged", "critical", NOW + 6,
                                                                       {"class": "drone"})
    assert repo.alerts("station", state="open") == []
    events = repo.alert_events("station", "A1")
    assert [(e["state"], e["level"], e["actor"]) for e in events] == [
        ("open", "warning", "assessment"), ("open", "critical", "assessment"),
        ("acknowledged", "critical", "officer-12")]
    assert events[-1]["comment"] == "on it"


def test_what_an_evidence_package_reads(repo: Repository) -> None:
    """Raw detection text (a cast), the sensor health counted from it, and alerts with their events, on both
    databases."""
    repo.add_detections("station", [Detection(t=NOW + k, sensor="radar-1", range_m=800.0 + k, azimuth_deg=45.0)
                                    for k in (0, 1, 2, 9)] + [Detection(t=NOW + 4, sensor="rf-1", azimuth_deg=10.0)])
    lines = [row for batch in repo.detection_lines("station", NOW + 1, NOW + 9) for row in batch]
    assert [(sensor, t, json.loads(line)["t"]) for sensor, t, line in lines] == [
        ("radar-1", NOW + 1, NOW + 1), ("radar-1", NOW + 2, NOW + 2), ("rf-1", NOW + 4, NOW + 4),
        ("radar-1", NOW + 9, NOW + 9)]
    assert json.loads(lines[0][2]) == {"type": "detection", "t": NOW + 1, "sensor": "radar-1", "range_m": 801.0,
                                       "azimuth_deg": 45.0}
    health = HealthCount(NOW - 1, NOW + 10)
    for batch in repo.detection_lines("station", NOW - 1, NOW + 10):
        for sensor, t, _ in batch:  # one at a time: a batch may end anywhere
            health.add([sensor], [t])
    assert health.result()["radar-1"] == {"detections": 4, "first": NOW, "last": NOW + 9, "longest_silence_s": 7.0}
    assert health.result()["rf-1"]["longest_silence_s"] == 6.0  # from the last report to the window's end
    opened = Alert(t=NOW, id="A1", track="T3", level="warning", kind="zone_entry", state="open", reasons=("in",))
    repo.save_alert("station", opened)
    repo.save_alert("station", Alert(**{**_fields(opened), "t": NOW + 30, "state": "resolved"}), actor="olga",
                    comment="kite")
    repo.save_alert("station", Alert(**{**_fields(opened), "id": "A2", "t": NOW + 100}))
    (row,) = repo.alert_rows("station", t_from=NOW + 10, t_to=NOW + 20)
    assert (row["id"], row["opened_at"], row["updated_at"]) == ("A1", NOW, NOW + 30)
    assert [(e["state"], e["actor"], e["comment"]) for e in row["events"]] == [
        ("open", "assessment", None), ("resolved", "olga", "kite")]
    assert [r["id"] for r in repo.alert_rows("station", alert_id="A2")] == ["A2"]
    assert repo.site_name("station") == "Border station" and repo.site_name("elsewhere") is None


def _fields(alert: Alert) -> dict[str, object]:
    return {name: getattr(alert, name) for name in alert.__dataclass_fields__}


def test_retention_purges_each_data_class_on_its_own_clock(repo: Repository) -> None:
    for age_days in (1, 10, 40):
        t = NOW - age_days * DAY
        repo.add_detections("station", [Detection(t=t, sensor="rid-1", lat=31.78, lon=-106.52, alt=1200.0,
                                                  uas_id="X", operator_lat=31.77, operator_lon=-106.53)])
        repo.add_track_points("station", [TrackReport(t=t, id="T1", lat=31.7, lon=-106.5, alt=1200.0,
                                                      vel_enu=(0.0, 0.0, 0.0))])
        repo.keep_notice("a hook since removed", f"station.A{age_days}.critical.open", "station", "opened", {},
                         "", t)
    removed = repo.purge(NOW, RetentionConfig(detections_days=30, tracks_days=365, operator_locations_days=7))
    assert removed == {"detections": 1, "track_points": 0, "operator_positions": 2, "notify_outbox": 1}
    assert repo.count("operator_positions") == 1 and repo.count("detections") == 2
    assert [n["delivery"] for n in repo.kept_notices("a hook since removed")] == ["station.A1.critical.open",
                                                                                  "station.A10.critical.open"]


def test_the_audit_chain_verifies_and_is_append_only(repo: Repository) -> None:
    for k in range(5):
        assert repo.audit("admin", "zone.update", f"zone/z{k}", at=NOW + k, source="10.0.0.7",
                          detail={"level": "critical", "k": k}) == k + 1
    check = repo.verify_audit()
    assert check.ok and check.records == 5
    with pytest.raises(DBAPIError, match="append-only"), repo.engine.begin() as db:
        db.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
    with pytest.raises(DBAPIError, match="append-only"), repo.engine.begin() as db:
        db.execute(text("DELETE FROM audit_log WHERE seq = 3"))


def _drop_append_only(repo: Repository) -> None:
    """What an attacker with the database's owner rights could do first."""
    with repo.engine.begin() as db:
        if repo.engine.dialect.name == "sqlite":
            db.execute(text("DROP TRIGGER audit_log_no_update"))
            db.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            db.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


@pytest.mark.parametrize(("tamper", "broken", "reason"), [
    ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3, "record 3 was altered"),
    ("DELETE FROM audit_log WHERE seq = 2", 3, "record 3 follows record 1: records are missing"),
    ("UPDATE audit_log SET prev_hash = hash WHERE seq = 4", 4, "record 4 does not chain to record 3"),
])
def test_tampering_is_detected_at_the_first_broken_record(repo: Repository, tamper: str, broken: int,
                                                          reason: str, database_url: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for k in range(5):
        repo.audit("admin", "alert.acknowledge", f"alert/A{k}", at=NOW + k)
    _drop_append_only(repo)
    with repo.engine.begin() as db:
        db.execute(text(tamper))
    check = repo.verify_audit()
    assert check.first_broken == broken and reason in check.reason
    assert main(["audit", "verify", "--database", database_url]) == 1
    assert f"BROKEN at record {broken}: {reason}" in capsys.readouterr().err


def test_verify_on_an_intact_log(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    Repository(open_database(database_url)).audit("admin", "login", "user/admin", at=NOW)
    assert main(["audit", "verify", "--database", database_url]) == 0
    assert "1 records, chain intact" in capsys.readouterr().out


def test_bad_database_urls_are_named() -> None:
    with pytest.raises(ConfigError, match="is not a database URL"):
        create_database_engine("not a url")
    with pytest.raises(ConfigError, match="'mysql' is not supported"):
        create_database_engine("mysql://localhost/x")


def _user(repo: Repository, name: str = "olga") -> int:
    return repo.add_user(name, "argon2-hash", "operator", now=NOW)


def test_a_session_ends_at_logout_and_at_expiry(repo: Repository) -> None:
    olga = _user(repo)
    repo.start_session(olga, "a" * 64, now=NOW, expires_at=NOW + 3600.0)
    assert repo.user_by_session("a" * 64, now=NOW + 10.0)["name"] == "olga"
    assert repo.user_by_session("a" * 64, now=NOW + 3600.0) is None  # expired
    assert repo.user_by_session("b" * 64, now=NOW) is None  # never started
    assert repo.end_session("a" * 64, now=NOW + 20.0) and not repo.end_session("a" * 64, now=NOW + 21.0)
    assert repo.user_by_session("a" * 64, now=NOW + 30.0) is None
    assert repo.sessions(olga) == [{"created_at": NOW, "expires_at": NOW + 3600.0, "ended_at": NOW + 20.0,
                                    "end_reason": "logout"}]


def test_a_new_password_ends_the_other_sessions_and_disabling_ends_all(repo: Repository) -> None:
    olga, ann = _user(repo), _user(repo, "ann")
    for id_hash in ("1" * 64, "2" * 64, "3" * 64):
        repo.start_session(olga, id_hash, now=NOW, expires_at=NOW + 3600.0)
    repo.start_session(ann, "4" * 64, now=NOW, expires_at=NOW + 3600.0)
    assert repo.set_password(olga, "new-hash", now=NOW + 1.0, keep_session="2" * 64) == 2
    assert repo.user(user_id=olga)["password_hash"] == "new-hash"
    assert [repo.user_by_session(h * 64, now=NOW + 2.0) is not None for h in "1234"] == [False, True, False, True]
    assert repo.set_user_disabled("olga", True, now=NOW + 3.0)
    assert repo.user_by_session("2" * 64, now=NOW + 4.0) is None
    assert [s["end_reason"] for s in repo.sessions(olga)] == ["password", "disabled", "password"]
    repo.set_user_disabled("olga", False, now=NOW + 5.0)  # enabling does not bring an ended session back
    assert repo.user_by_session("2" * 64, now=NOW + 6.0) is None and repo.user_by_session("4" * 64, now=NOW + 6.0)
    assert not repo.set_user_disabled("nobody", True, now=NOW)


def test_a_token_is_refused_once_expired_or_revoked(repo: Repository) -> None:
    olga = _user(repo)
    first = repo.add_token(olga, "ci", "c" * 64, now=NOW, expires_at=NOW + 86400.0)
    second = repo.add_token(olga, "tak", "d" * 64, now=NOW, expires_at=NOW + 2 * 86400.0)
    assert repo.user_by_token("c" * 64, now=NOW + 86399.0) is not None
    assert repo.user_by_token("c" * 64, now=NOW + 86400.0) is None
    assert repo.revoke_token(olga, second) and repo.user_by_token("d" * 64, now=NOW) is None
    assert [(t["id"], t["expires_at"], t["last_used_at"], t["revoked"]) for t in repo.tokens(olga)] == [
        (first, NOW + 86400.0, NOW + 86399.0, False), (second, NOW + 2 * 86400.0, None, True)]


def test_grants_change_and_the_old_ones_are_returned(repo: Repository) -> None:
    repo.add_user("pat", "hash", "partner", now=NOW, sites=["station"], levels=["critical"])
    before = repo.update_user("pat", levels=["warning", "critical"])
    assert before is not None and (before["role"], before["sites"], before["levels"]) == (
        "partner", ["station"], ["critical"])
    after = repo.user(name="pat")
    assert after is not None and (after["role"], after["sites"], after["levels"]) == (
        "partner", ["station"], ["warning", "critical"])
    assert repo.update_user("nobody", role="admin") is None
    assert repo.site_ids() == ["station"]


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_history_pages_hold_every_row_once_in_order(repo: Repository, limit: int) -> None:
    # several rows share a time: the cursor must tell them apart by seq, not skip or repeat them
    times = [NOW + k // 3 for k in range(20)]
    repo.add_track_points("station", [TrackReport(t=t, id=f"T{k}", lat=31.7, lon=-106.5, alt=1200.0,
                                                  vel_enu=(0.0, 0.0, 0.0)) for k, t in enumerate(times)])
    repo.add_detections("station", [Detection(t=t, sensor="rid-1", lat=31.78, lon=-106.52, alt=1200.0,
                                              uas_id=f"U{k}", operator_lat=31.77, operator_lon=-106.53)
                                    for k, t in enumerate(times)])
    for read, key in ((repo.track_history_page, lambda r: r.id), (repo.detections_page, lambda r: r["uas_id"]),
                      (repo.operator_positions_page, lambda r: r["uas_id"])):
        seen, after, pages = [], None, 0
        while True:
            page = read("station", NOW, NOW + 5, after=after, limit=limit)
            assert len(page.rows) <= limit
            seen += [key(r) for r in page.rows]
            pages += 1
            if page.next is None:
                break
            after = page.next
        prefix = "T" if read == repo.track_history_page else "U"
        assert seen == [f"{prefix}{k}" for k in range(18)]  # t <= NOW + 5: the first 18, in (t, seq) order
        assert pages == max(1, -(-18 // limit))


def test_the_0002_migration_gives_older_tokens_an_expiry(database_url: str) -> None:
    engine = create_database_engine(database_url)
    migrate(engine, "0001")
    with engine.begin() as db:
        db.execute(text("INSERT INTO users (name, password_hash, role, sites, levels, disabled, created_at) "
                        "VALUES ('olga', 'x', 'operator', '[]', '[]', false, 1)"))
        db.execute(text("INSERT INTO api_tokens (user_id, name, token_hash, created_at, revoked) "
                        "VALUES (1, 'old', 'e', 1, false)"))
    migrate(engine)
    (token,) = Repository(engine).tokens(1)
    assert time.time() + 89 * DAY < token["expires_at"] < time.time() + 91 * DAY
    with engine.connect() as db:
        assert compare_metadata(MigrationContext.configure(db), metadata) == []
