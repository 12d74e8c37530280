"""The ``dronewatch`` command on real files: bad lines are reported by number and the rest still tracked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dronewatch.cli import main
from dronewatch.formats.scenario import open_scenario, record_to_line
from dronewatch.model import Detection, Scan, Sensor, TrackReport

T0 = 1_764_000_000.0
RADAR = Sensor(id="radar-1", kind="radar", lat=31.7775, lon=-106.5290, alt=1130.0,
               sigma={"range_m": 5.0, "azimuth_deg": 0.5, "elevation_deg": 0.5}, pd=0.9, period_s=1.0)


def write_scenario(path: Path, bad_line_at: int | None = None) -> None:
    """One drone flying east at 10 m/s, 1.2 km north of the radar, 30 scans."""
    rng = np.random.default_rng(3)
    lines = [record_to_line(RADAR)]
    for k in range(30):
        east, north, up = -150.0 + 10.0 * k, 1200.0, 120.0
        azimuth = np.degrees(np.arctan2(east, north)) % 360.0
        elevation = np.degrees(np.arctan2(up, np.hypot(east, north)))
        lines.append(record_to_line(Detection(
            t=T0 + k, sensor="radar-1", range_m=float(np.linalg.norm([east, north, up]) + rng.normal(0, 5)),
            azimuth_deg=float(azimuth + rng.normal(0, 0.5)) % 360.0, elevation_deg=float(elevation))))
        lines.append(record_to_line(Scan(t=T0 + k, sensor="radar-1")))
    if bad_line_at is not None:
        lines.insert(bad_line_at - 1, '{"type":"detection","t":1764000004.0,"sensor":"radar-1","range_m":"far"}\n')
    path.write_text("".join(lines), encoding="utf-8")


def test_track_reports_a_malformed_line_by_number_and_tracks_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario, tracks = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_scenario(scenario, bad_line_at=9)
    assert main(["track", str(scenario), "-o", str(tracks), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "bad lines skipped: 1" in err
    assert f"{scenario}:9" in err and "range_m" in err
    assert "detections: 30" in err
    reports = [r for r in open_scenario(tracks, on_error="raise") if isinstance(r, TrackReport)]
    assert {r.id for r in reports} == {"T1"}
    assert reports[-1].t == T0 + 29
    assert abs(reports[-1].vel_enu[0] - 10.0) < 2.0


def test_track_can_stop_at_the_first_malformed_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "in.jsonl"
    write_scenario(scenario, bad_line_at=4)
    assert main(["track", str(scenario), "-o", str(tmp_path / "out.jsonl"), "--on-error", "raise"]) == 2
    assert f"{scenario}:4" in capsys.readouterr().err


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["track", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "out.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["track", "{input}", "-o", "{out}/t.jsonl"], ["run", "{input}", "-o", "{out}/r"],
                                     ["assess", "{input}", "{input}"], ["score", "{input}", "{input}"]])
@pytest.mark.parametrize("content", ["", "not json\n{\n"])
def test_every_batch_command_rejects_input_without_a_scenario_line_alike(
        command: list[str], content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "in.jsonl"
    empty.write_text(content, encoding="utf-8")
    argv = [part.format(input=empty, out=tmp_path) for part in command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"dronewatch {command[0]}: {empty}: no scenario lines" in err
    assert ("empty" if not content else "all bad, the first: " + f"{empty}:1: not JSON") in err


def test_run_reports_a_malformed_line_as_track_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "in.jsonl"
    write_scenario(scenario, bad_line_at=9)
    assert main(["run", str(scenario), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "bad lines skipped: 1" in err and f"{scenario}:9" in err


def test_a_mistyped_option_shows_the_sub_commands_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["track", str(tmp_path / "in.jsonl"), "--on-eror", "raise"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: dronewatch track ") and "unrecognized arguments: --on-eror raise" in err
