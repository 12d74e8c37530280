"""``dronewatch sim`` on the command line: stdout, a recorded flight, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dronewatch.cli import main
from dronewatch.formats.scenario import open_scenario
from dronewatch.model import Detection, Sensor, Truth, Zone
from dronewatch.sim.scenarios import SITE

FLIGHT = Path(__file__).resolve().parents[2] / "data" / "flights" / "dji_p4rtk_srt_01.csv"


def test_sim_writes_a_valid_scenario_to_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["sim", "--scenario", "swarm", "--seed", "3", "--duration", "30", "-o", "-"]) == 0
    captured = capsys.readouterr()
    path = tmp_path / "s.jsonl"
    path.write_text(captured.out)
    reader = open_scenario(path, on_error="raise")
    records = list(reader)
    assert sum(isinstance(r, Sensor) for r in records) == 7 and sum(isinstance(r, Zone) for r in records) == 2
    assert "swarm (seed 3, 30 s)" in captured.err


def test_a_recorded_flight_drives_the_sensors(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    assert main(["sim", "--scenario", "border-station", "--duration", "60", "--trajectory", str(FLIGHT),
                 "--trajectory-origin", "300,700", "--trajectory-altitude", "ground", "-o", str(out)]) == 0
    truths = [r for r in open_scenario(out) if isinstance(r, Truth) and r.id == "recorded-1"]
    assert len(truths) >= 100  # 54 s at two truth times a second, while inside coverage
    first = SITE.from_geodetic(truths[0].lat, truths[0].lon, truths[0].alt)
    assert np.allclose(first, [300.0, 700.0, 85.5], atol=1.0)
    speeds = [np.hypot(*t.vel_enu[:2]) for t in truths if t.vel_enu is not None]
    assert 12.0 < max(speeds) < 16.0


def test_unknown_scenario_and_bad_trajectory_are_clear_errors(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--scenario", "moon-base", "-o", str(tmp_path / "x.jsonl")]) == 2
    assert "moon-base" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("t,lat,lon,alt\n0,31.0,-106.0,10\n1,north,-106.0,10\n")
    assert main(["sim", "--duration", "5", "--trajectory", str(bad), "-o", str(tmp_path / "y.jsonl")]) == 2
    assert f"{bad}:3" in capsys.readouterr().err


def test_remoteid_broadcasts_as_a_capture_give_the_detections_back(tmp_path: Path) -> None:
    scenario, capture, decoded = tmp_path / "s.jsonl", tmp_path / "rid.pcapng", tmp_path / "rid.jsonl"
    assert main(["sim", "--seed", "7", "--duration", "90", "-o", str(scenario), "--remoteid-pcap", str(capture)]) == 0
    records = list(open_scenario(scenario, on_error="raise"))
    receiver = next(r for r in records if isinstance(r, Sensor) and r.kind == "remoteid")
    sent = [r for r in records if isinstance(r, Detection) and r.sensor == receiver.id]
    assert len(sent) > 50
    assert main(["remoteid", "detections", str(capture), "--receiver", f"{receiver.lat},{receiver.lon},{receiver.alt}",
                 "--sensor-id", receiver.id, "-o", str(decoded)]) == 0
    heard = [r for r in open_scenario(decoded, on_error="raise") if isinstance(r, Detection)]
    assert len(heard) == len(sent)
    for got, expected in zip(heard, sent, strict=True):
        assert got.uas_id == expected.uas_id and got.t == pytest.approx(expected.t, abs=0.05)
        assert (got.lat, got.lon) == pytest.approx((expected.lat, expected.lon), abs=1e-7)
        assert got.alt == pytest.approx(expected.alt, abs=0.5)
        assert got.speed_mps == pytest.approx(expected.speed_mps, abs=0.4)
        assert got.operator_lat == pytest.approx(expected.operator_lat, abs=1e-7)


def _rf_plots(out: Path) -> int:
    return sum(isinstance(r, Detection) and r.sensor == "rf-1" for r in open_scenario(out))


@pytest.mark.parametrize(("options", "cls", "heard"), [
    ([], "drone", True),
    (["--trajectory-class", "bird"], "bird", False),
    (["--trajectory-class", "aircraft"], "aircraft", False),
    (["--trajectory-class", "bird", "--trajectory-rf-link"], "bird", True),
    (["--trajectory-class", "drone", "--no-trajectory-rf-link"], "drone", False),
])
def test_a_recorded_flight_has_the_class_and_rf_link_asked_for(tmp_path: Path, options: list[str], cls: str,
                                                                heard: bool) -> None:
    # a direction finder that never makes false plots (every RF plot is the recorded flight's link), and a
    # radar, which sees anything, for the truth
    site = tmp_path / "rf.toml"
    site.write_text('[[sensor]]\nid = "rf-1"\nkind = "rf"\nsigma = {azimuth_deg = 2.0}\npd = 1.0\n'
                    'clutter_per_scan = 0.0\nmax_range_m = 4000.0\n'
                    '[[sensor]]\nid = "radar-1"\nkind = "radar"\nsigma = {range_m = 5.0, azimuth_deg = 0.5, '
                    'elevation_deg = 0.5}\nclutter_per_scan = 0.0\nmax_range_m = 4000.0\n')
    out = tmp_path / "s.jsonl"
    assert main(["sim", "--scenario", str(site), "--duration", "20", "--trajectory", str(FLIGHT), *options,
                 "-o", str(out)]) == 0
    truths = [r for r in open_scenario(out) if isinstance(r, Truth)]
    assert truths and {t.cls for t in truths} == {cls}
    assert (_rf_plots(out) > 10) is heard


def test_a_bad_trajectory_class_or_one_without_a_trajectory_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sim", "--trajectory", str(FLIGHT), "--trajectory-class", "plane", "-o", str(tmp_path / "x.jsonl")])
    assert exit_.value.code == 2
    assert "invalid choice: 'plane'" in capsys.readouterr().err
    assert main(["sim", "--duration", "5", "--trajectory-class", "bird", "-o", str(tmp_path / "y.jsonl")]) == 2
    assert "give them with --trajectory" in capsys.readouterr().err
