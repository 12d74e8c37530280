"""``dronewatch assess`` and ``dronewatch run`` on a simulated border station."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dronewatch.cli import main
from dronewatch.formats.scenario import open_scenario
from dronewatch.model import Alert, TrackReport


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("assess") / "scenario.jsonl"
    assert main(["sim", "--scenario", "border-station", "--seed", "5", "--duration", "240", "-o", str(path)]) == 0
    return path


def test_run_writes_tracks_alerts_plot_and_report(scenario: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario), "-o", str(out)]) == 0
    alerts = [r for r in open_scenario(out / "alerts.jsonl", on_error="raise") if isinstance(r, Alert)]
    tracks = [r for r in open_scenario(out / "tracks.jsonl", on_error="raise") if isinstance(r, TrackReport)]
    assert alerts and tracks
    # the observer drone (RF link, no Remote ID) comes in: flagged and heading for the zones
    assert any(a.kind == "no_remote_id" for a in alerts)
    assert any(a.kind == "zone_breach_predicted" and a.level == "warning" for a in alerts)
    for alert in alerts:  # a swarm's evidence names its tracks instead
        assert alert.evidence is not None and ((alert.kind == "swarm" and alert.evidence["tracks"])
                                               or alert.evidence["class"] in ("drone", "bird", "aircraft", "unknown"))
    report = (out / "report.md").read_text()
    assert report.startswith("# border-station (seed 5)") and "| A1 |" in report and "GOSPA" in report
    svg = ET.parse(out / "site.svg").getroot()
    shapes = [element.tag.split("}")[1] for element in svg.iter()]
    assert shapes.count("polygon") == 2 and shapes.count("polyline") == len({t.id for t in tracks})
    assert "alerts:" in capsys.readouterr().err


def test_assess_on_files_gives_parseable_alert_lines(scenario: Path, tmp_path: Path) -> None:
    tracks, alerts = tmp_path / "tracks.jsonl", tmp_path / "alerts.jsonl"
    assert main(["track", str(scenario), "-o", str(tracks), "--no-progress"]) == 0
    assert main(["assess", str(scenario), str(tracks), "-o", str(alerts)]) == 0
    lines = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert lines and all(line["type"] == "alert" and line["state"] in ("open", "acknowledged", "resolved")
                         for line in lines)
    ids = {line["id"] for line in lines}
    for alert_id in ids:  # every alert opens first, and a resolved one never comes back
        states = [line["state"] for line in lines if line["id"] == alert_id]
        assert states[0] == "open" and "resolved" not in states[:-1]


def test_a_bad_zone_stops_assess_with_its_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "bad.jsonl"
    scenario.write_text(
        '{"type":"sensor","id":"radar-1","kind":"radar","lat":31.7,"lon":-106.4,"alt":1150.0}\n'
        '{"type":"zone","id":"bowtie","level":"critical","floor_m":1100,"ceiling_m":1600,'
        '"polygon":[[-106.41,31.69],[-106.39,31.71],[-106.39,31.69],[-106.41,31.71]]}\n')
    tracks = tmp_path / "tracks.jsonl"
    tracks.write_text("")
    assert main(["assess", str(scenario), str(tracks)]) == 2
    assert "zone 'bowtie': polygon is not simple: Self-intersection" in capsys.readouterr().err


def test_run_and_track_take_their_tuning_from_a_site_configuration(scenario: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[tracking]\nconfirm_hits = 4\nconfirm_window = 6\n[assessment]\nno_remote_id_after_s = 100000\n")
    assert main(["run", str(scenario), "-o", str(tmp_path / "default")]) == 0
    assert main(["run", str(scenario), "-o", str(tmp_path / "tuned"), "--config", str(site)]) == 0
    kinds = {name: {r.kind for r in open_scenario(tmp_path / name / "alerts.jsonl", on_error="raise")
                    if isinstance(r, Alert)} for name in ("default", "tuned")}
    assert "no_remote_id" in kinds["default"] and "no_remote_id" not in kinds["tuned"]
    for name in ("default", "tuned"):
        assert main(["track", str(scenario), "-o", str(tmp_path / f"{name}.tracks.jsonl"), "--no-progress",
                     *(["--config", str(site)] if name == "tuned" else [])]) == 0
    first = {name: min(r.t for r in open_scenario(tmp_path / f"{name}.tracks.jsonl", on_error="raise")
                       if isinstance(r, TrackReport)) for name in ("default", "tuned")}
    assert first["tuned"] > first["default"]  # four plots before the first track, not two
    site.write_text("[tracking]\nconfirm_hits = 9\n")
    assert main(["track", str(scenario), "-o", str(tmp_path / "bad.jsonl"), "--config", str(site)]) != 0
    assert "tracking.confirm_hits (9) is more than confirm_window (4)" in capsys.readouterr().err
