"""``dronewatch score --json`` on a simulated border station: the C-UAS keys are there and sane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dronewatch.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("score")
    scenario = out / "scenario.jsonl"
    assert main(["sim", "--scenario", "border-station", "--seed", "5", "--duration", "120", "-o", str(scenario)]) == 0
    assert main(["run", str(scenario), "-o", str(out / "run")]) == 0
    return out


def score_json(run_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["score", str(run_dir / "scenario.jsonl"), str(run_dir / "run" / "tracks.jsonl"), "--json",
                 *extra]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_score_json_has_the_siap_and_range_figures(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = score_json(run_dir, capsys)
    for key in ("gospa", "coverage", "id_switches", "objects"):  # the keys benchmarks read stay
        assert key in report
    for key in ("completeness", "spuriousness", "longest_segment", "longest_segment_share_mean",
                "longest_segment_share_min", "detection_to_track_mean_s"):
        value = report[key]
        assert isinstance(value, float) and 0.0 <= value <= (1.0 if key != "detection_to_track_mean_s" else 60.0)
    assert isinstance(report["ambiguity"], float) and report["ambiguity"] >= 1.0
    assert isinstance(report["track_number_changes"], int) and report["track_number_changes"] >= 0
    bins = report["track_pd_by_range"]
    assert isinstance(bins, list) and [b["from_m"] for b in bins] == [0, 250, 500, 1000, 1500, 2000, 3000]
    assert all(b["pd"] is None or 0.0 <= b["pd"] <= 1.0 for b in bins)
    assert sum(b["truth_times"] for b in bins) == sum(o["samples"] for o in report["objects"].values())  # type: ignore[attr-defined]
    plot_pd = report["plot_pd_by_range"]
    assert isinstance(plot_pd, dict) and list(plot_pd) == ["radar-1"]
    assert any(b["pd"] is not None and b["pd"] > 0.5 for b in plot_pd["radar-1"])
    # no alert file: nothing made up
    assert report["confusion_matrix"] is None and report["detection_to_alert_mean_s"] is None
    assert any("--alerts" in note for note in report["notes"])  # type: ignore[attr-defined]


def test_score_with_alerts_gives_the_confusion_matrix(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = score_json(run_dir, capsys, "--alerts", str(run_dir / "run" / "alerts.jsonl"), "--range-bins", "0,1000")
    matrix = report["confusion_matrix"]
    assert isinstance(matrix, dict) and set(matrix) >= {"drone", "bird", "aircraft", "other"}
    assert sum(sum(row.values()) for row in matrix.values()) == report["truth_objects"]
    accuracy = report["classification_accuracy"]
    assert accuracy is None or 0.0 <= accuracy <= 1.0  # type: ignore[operator]
    assert isinstance(report["detection_to_alert_mean_s"], float)
    assert [b["from_m"] for b in report["track_pd_by_range"]] == [0, 1000]  # type: ignore[attr-defined]


def test_bad_range_bins_are_a_clear_error(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(run_dir / "scenario.jsonl"), str(run_dir / "run" / "tracks.jsonl"),
                 "--range-bins", "500,250"]) == 2
    assert "--range-bins" in capsys.readouterr().err


def test_the_table_says_what_an_id_switch_is_and_counts_it_per_object(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["score", str(run_dir / "scenario.jsonl"), str(run_dir / "run" / "tracks.jsonl")]) == 0
    table = capsys.readouterr().out
    figures = json.loads(json.dumps(score_json(run_dir, capsys)))
    row = next(line for line in table.splitlines() if line.startswith("ID switches / fragmentations (all objects)"))
    per_object = figures["id_switches"] / figures["truth_objects"]  # type: ignore[operator]
    assert f"{figures['id_switches']} / {figures['fragmentations']}, {per_object:.1f} / " in row
    assert "ID switch: the track nearest an object (within c) changed id" in table
