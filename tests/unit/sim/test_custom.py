"""Custom TOML scenarios: the documented example runs; ranges follow the seed; mistakes name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dronewatch.errors import ConfigError
from dronewatch.model import Detection, Truth
from dronewatch.sim import engine
from dronewatch.sim.custom import load_scenario

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "checkpoint.toml"


def test_the_documented_example_runs_with_its_own_sensors_zone_and_objects() -> None:
    scenario = load_scenario(EXAMPLE, seed=2, duration_s=120.0)
    assert [s.id for s in scenario.sensors] == ["radar-cp", "rid-cp"]
    assert [z.id for z in scenario.zones] == ["gate"]
    assert {o.id for o in scenario.objects} == {"attack-drone-1", "survey", "soaring-bird-3-1", "soaring-bird-3-2"}
    records = list(engine.generate(scenario))
    assert any(isinstance(r, Detection) and r.uas_id == "1581F5FKD229400C37EF" for r in records)
    assert any(isinstance(r, Truth) and r.id == "survey" for r in records)


def test_ranges_are_drawn_with_the_seed() -> None:
    starts = {seed: load_scenario(EXAMPLE, seed).objects[0].trajectory.t0_s for seed in (1, 1, 2)}
    assert len(starts) == 2 and all(20.0 <= s <= 60.0 for s in starts.values())


@pytest.mark.parametrize(("text", "says"), [
    ("[scenario\n", "not valid TOML"),
    ("[[object]]\ntype = 'ufo'\n", "object[0].type: 'ufo' is not one of"),
    ("[[object]]\ntype = 'waypoints'\nstart = [0, 0, 0]\nwaypoints = [[1, 2]]\n", "object[0].waypoints[0]"),
    ("[[sensor]]\nid = 'x'\nkind = 'radar'\npd = 'high'\n", "sensor[0].pd: expected a number"),
    ("[[zone]]\nid = 'z'\nlevel = 'critical'\npolygon_enu = [[0, 0], [1, 1]]\n", "zone[0].polygon_enu"),
    ("[scenario]\nduration_s = [10, 5]\n", "scenario.duration_s: range"),
    ("[[sensor]]\nid = 'x'\nkind = 'rf'\nperiod_s = 0.3\n", "sensor[0].period_s: must be a positive multiple"),
])
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path, seed=1)
    assert str(path) in str(caught.value) and says in str(caught.value)
