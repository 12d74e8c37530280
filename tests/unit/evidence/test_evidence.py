"""Evidence packages from a real pipeline run: what they hold, that the files open in the formats they claim,
that every export is audited, and that verification names the first file or signature that does not match."""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import json
import math
import os
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from dronewatch.cli import main
from dronewatch.errors import EvidenceError
from dronewatch.evidence import collect, export, load_public_key, public_pem, site_key, verify_package
from dronewatch.evidence.report import _Report
from dronewatch.evidence.tracks import CSV_COLUMNS, iso_times, spell, write_csv
from dronewatch.formats.scenario import ScenarioReader
from dronewatch.ingest.sources import Simulator
from dronewatch.model import Detection, TrackPoint
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.scenarios import built_in
from dronewatch.storage import Repository, open_database

NOW = 1_764_000_000.0
DATA_FILES = ("tracks.geojson", "tracks.kml", "tracks.gpx", "tracks.csv", "detections.jsonl", "alerts.json",
              "sensors.json", "report.pdf")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Repository, Path, Path]:
    """The border station's seed-1 attack run through the live pipeline into SQLite; its signing key; and
    the package of its first critical alert."""
    root = tmp_path_factory.mktemp("evidence")
    repo = Repository(open_database(f"sqlite:///{root / 'dronewatch.db'}"))
    repo.ensure_site("station", "Border station", NOW)

    async def run() -> None:
        pipeline = Pipeline("station", repo, live=False)
        pipeline.add_source("simulator", Simulator(built_in("border-station", 1, 420.0), speed=0.0,
                                                   clock=lambda: NOW))
        task = asyncio.create_task(pipeline.run())
        while not pipeline.stage("simulator").counts["runs"]:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        await pipeline.drain(180.0)
        pipeline.stop()
        await task

    asyncio.run(run())
    key_file = root / "key.pem"
    package = root / "alert.zip"
    critical = next(a for a in repo.alert_rows("station") if a["level"] == "critical")
    export(repo, collect(repo, "station", alert_id=critical["id"]), site_key(key_file), package, actor="ann",
           at=NOW + 1000)
    return repo, key_file, package


def test_an_alert_package_holds_its_track_alerts_detections_and_sensors(site: tuple[Repository, Path, Path]
                                                                        ) -> None:
    repo, _, package = site
    with zipfile.ZipFile(package) as archive:
        assert set(archive.namelist()) == {*DATA_FILES, "manifest.json", "manifest.sig", "public-key.pem"}
        manifest = json.loads(archive.read("manifest.json"))
        read = {name: archive.read(name) for name in DATA_FILES}
    assert manifest["scope"]["alert"] and manifest["exported_by"] == "ann"
    (track_id,) = {a["track_id"] for a in json.loads(read["alerts.json"])}
    history = [r for r in repo.track_history("station", manifest["scope"]["from"], manifest["scope"]["to"])
               if r.id == track_id]
    # every format holds every point of the track
    geojson = json.loads(read["tracks.geojson"])
    (line,) = [f for f in geojson["features"] if f["geometry"]["type"] == "LineString"]
    assert line["id"] == track_id and len(line["geometry"]["coordinates"]) == len(history)
    assert line["properties"]["times"] == [r.t for r in history]
    rows = list(csv.DictReader(io.StringIO(read["tracks.csv"].decode())))
    assert [(float(r["t"]), float(r["lat"])) for r in rows] == [(round(h.t, 3), round(h.lat, 7)) for h in history]
    gpx = etree.fromstring(read["tracks.gpx"])
    assert len(gpx.findall(".//{http://www.topografix.com/GPX/1/1}trkpt")) == len(history)
    kml = etree.fromstring(read["tracks.kml"])
    assert len(kml.findall(".//{http://www.google.com/kml/ext/2.2}coord")) == len(history)
    # the detections are the stored ones in the window, and replay as a scenario (sensors first)
    reader = ScenarioReader(read["detections.jsonl"].decode().splitlines(), source="detections.jsonl",
                            on_error="raise")
    records = list(reader)
    detections = [r for r in records if isinstance(r, Detection)]
    assert len(detections) == sum(len(batch) for batch in repo.detection_lines(
        "station", manifest["scope"]["from"], manifest["scope"]["to"])) > 100
    sensors = json.loads(read["sensors.json"])
    assert {s["id"] for s in sensors} == {s.id for s in repo.sensors("station")}
    assert all(s["health"]["detections"] > 0 for s in sensors if s["kind"] == "radar")
    alerts = json.loads(read["alerts.json"])
    assert any(a["level"] == "critical" for a in alerts) and all(a["events"] for a in alerts)
    assert read["report.pdf"].startswith(b"%PDF-") and len(read["report.pdf"]) > 5000


@given(st.lists(st.tuples(st.text(min_size=1), st.none() | st.text()), min_size=1, max_size=5))
def test_the_csv_reads_back_whatever_the_identities_hold(identities: list[tuple[str, str | None]]) -> None:
    tracks = {f"{track_id}": [TrackPoint(track_id, NOW + k, 31.5, -106.25, 1200.0, 3.0, 4.0, 0.0, None, None, uas_id,
                                         None, ("radar-1", "rf-east"), None)]
              for k, (track_id, uas_id) in enumerate(identities)}
    out = io.StringIO()
    write_csv(spell(tracks), out)
    header, *rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert tuple(header) == CSV_COLUMNS
    assert [(row[0], row[12], row[4], row[9], row[15]) for row in rows] == [
        (track_id, reports[0].uas_id or "", "-106.2500000", "5.00", "radar-1 rf-east")
        for track_id, reports in tracks.items()]


@given(st.lists(st.floats(min_value=0.0, max_value=4e9), min_size=1, max_size=50))
def test_point_times_are_iso_8601_utc_to_the_millisecond_truncated(times: list[float]) -> None:
    points = [TrackPoint("T1", t, 31.5, -106.25, 1200.0, 0.0, 0.0, 0.0, None, None, None, None, None, None)
              for t in sorted(times)]
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    assert iso_times(points) == [
        (epoch + datetime.timedelta(milliseconds=math.floor(p.t * 1000.0))).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z") for p in points]


def test_a_table_row_taller_than_half_a_page_is_cut_and_stays_on_its_page() -> None:
    pdf = _Report("a long comment")
    pdf.add_page()
    comment = " ".join(["word"] * 400)  # 2,000 characters, as long as an operator's comment may be
    pdf.rows(("alert", "comment"), [("A1", "short"), ("A2", comment), ("A3", "after")], (20, 32), more="alerts.json")
    assert pdf.page_no() == 1 and pdf.get_y() <= pdf.page_break_trigger


def test_every_export_is_in_the_audit_log_with_the_hashes_of_its_files(site: tuple[Repository, Path, Path]
                                                                       ) -> None:
    repo, _, package = site
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    record = repo.audit_record(manifest["audit"]["export_record"]["seq"])
    assert record is not None and record == manifest["audit"]["export_record"]
    assert record["action"] == "evidence_export" and record["actor"] == "ann"
    assert record["detail"]["files"] == {f["name"]: f["sha256"] for f in manifest["files"]}
    assert record["prev_hash"] == manifest["audit"]["head_at_export"]
    assert repo.verify_audit().ok


def test_a_package_verifies_with_the_site_key_and_not_with_another(site: tuple[Repository, Path, Path]) -> None:
    _, key_file, package = site
    public = load_public_key(public_pem(site_key(key_file)), "site key")
    verdict = verify_package(package, public)
    assert verdict.ok and "the given key" in verdict.message
    assert "not who signed it" in verify_package(package).message
    stranger = Ed25519PrivateKey.generate().public_key()
    verdict = verify_package(package, stranger)
    assert not verdict.ok and verdict.file == "manifest.sig"


def _rewrite(package: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """A copy of the package with each member passed through ``change`` (None: left out)."""
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for name in source.namelist():
            data = change(name, source.read(name))
            if data is not None:
                copy.writestr(name, data)


@pytest.mark.parametrize("name", [*DATA_FILES, "manifest.json"])
def test_one_changed_byte_in_any_file_is_named(site: tuple[Repository, Path, Path], tmp_path: Path,
                                               name: str) -> None:
    _, key_file, package = site
    changed = tmp_path / "changed.zip"

    def flip(member: str, data: bytes) -> bytes:
        if member != name:
            return data
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]

    _rewrite(package, changed, flip)
    verdict = verify_package(changed, load_public_key(public_pem(site_key(key_file)), "site key"))
    assert not verdict.ok
    # a changed manifest no longer matches its signature; any other file no longer matches the manifest
    assert verdict.file == ("manifest.sig" if name == "manifest.json" else name), verdict.message


def test_a_replaced_signature_an_added_file_and_a_damaged_zip_are_named(site: tuple[Repository, Path, Path],
                                                                       tmp_path: Path) -> None:
    _, _, package = site
    forged = tmp_path / "forged.zip"
    impostor = Ed25519PrivateKey.generate()
    manifest = zipfile.ZipFile(package).read("manifest.json")
    _rewrite(package, forged, lambda member, data: impostor.sign(manifest) if member == "manifest.sig" else data)
    assert verify_package(forged).file == "manifest.sig"
    # replacing the bundled key too fools only a check without the site's key: the key's hash differs
    both = tmp_path / "both.zip"
    _rewrite(forged, both, lambda member, data: public_pem(impostor) if member == "public-key.pem" else data)
    assert verify_package(both).ok
    assert verify_package(both, load_public_key(zipfile.ZipFile(package).read("public-key.pem"), "k")).file \
        == "manifest.sig"

    added = tmp_path / "added.zip"
    shutil.copy(package, added)
    with zipfile.ZipFile(added, "a") as archive:
        archive.writestr("note.txt", "planted")
    assert verify_package(added).file == "note.txt"

    removed = tmp_path / "removed.zip"
    _rewrite(package, removed, lambda member, data: None if member == "tracks.kml" else data)
    assert verify_package(removed).file == "tracks.kml"

    # one byte flipped in the zip itself, inside the stored report: its CRC or inflation fails
    damaged = tmp_path / "damaged.zip"
    raw = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as archive:
        info = archive.getinfo("report.pdf")
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
    raw[at] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    verdict = verify_package(damaged)
    assert not verdict.ok and verdict.file == "report.pdf", verdict.message
    # wherever the byte is, the CRC fails or the inflation does (zlib.error): named either way, never raised
    # (a byte in the bits after the compressed stream's end changes nothing the package holds)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    named = 0
    for at in range(start, start + info.compress_size, max(1, info.compress_size // 64)):
        raw = bytearray(package.read_bytes())
        raw[at] ^= 0xFF
        damaged.write_bytes(bytes(raw))
        verdict = verify_package(damaged)
        assert verdict.ok or verdict.file == "report.pdf", (at, verdict.message)
        named += not verdict.ok
    assert named >= 60

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert not verify_package(junk).ok


def test_operator_positions_are_left_out_for_those_who_may_not_see_them(site: tuple[Repository, Path, Path],
                                                                        tmp_path: Path) -> None:
    repo, key_file, _ = site
    window = {"t_from": NOW, "t_to": NOW + 420.0}
    assert collect(repo, "station", **window).operators, "the scenario has a Remote ID drone with its operator"
    package = tmp_path / "withheld.zip"
    export(repo, collect(repo, "station", with_operators=False, **window), site_key(key_file), package,
           actor="ann", at=NOW + 2000)
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        features = json.loads(archive.read("tracks.geojson"))["features"]
        detections = archive.read("detections.jsonl")
    assert manifest["operator_positions"].startswith("withheld")
    assert not any(f["properties"]["kind"] == "operator" for f in features)
    assert b"operator_lat" not in detections
    assert verify_package(package).ok


def test_the_site_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "site.pem"
    first = site_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert public_pem(site_key(path)) == public_pem(first)
    path.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(EvidenceError, match=r"site\.pem: not an unencrypted PEM"):
        site_key(path)


def test_the_command_exports_verifies_and_names_mistakes(site: tuple[Repository, Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    repo, key_file, _ = site
    config = tmp_path / "site.toml"
    config.write_text(f'[site]\nid = "station"\n[storage]\nurl = "{repo.engine.url}"\n'
                      f'[security]\nevidence_key = "{key_file}"\n')
    package = tmp_path / "window.zip"
    assert main(["evidence", "export", "--config", str(config), "--from", "2025-11-24T16:00:00Z",
                 "--to", str(NOW + 420), "-o", str(package), "--actor", "cli:test"]) == 0
    public = tmp_path / "site.pem"
    assert main(["evidence", "public-key", "--config", str(config)]) == 0
    public.write_text(capsys.readouterr().out)
    assert main(["evidence", "verify", str(package), "--public-key", str(public)]) == 0
    assert "OK:" in capsys.readouterr().out
    changed = tmp_path / "changed.zip"
    _rewrite(package, changed, lambda member, data: data + b" " if member == "tracks.csv" else data)
    assert main(["evidence", "verify", str(changed), "--public-key", str(public)]) == 1
    assert "tracks.csv" in capsys.readouterr().err
    assert main(["evidence", "export", "--config", str(config), "--alert", "A404", "-o", str(package)]) == 2
    assert "alert 'A404': no such alert at site 'station'" in capsys.readouterr().err
    assert main(["evidence", "export", "--config", str(config), "--from", "yesterday", "--to", "1",
                 "-o", str(package)]) == 2
    assert "--from: 'yesterday' is neither ISO 8601 nor UNIX seconds" in capsys.readouterr().err
