"""Scenario JSON Lines: every record type round-trips; malformed lines are named and skipped or raised."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dronewatch.errors import FormatError
from dronewatch.formats.scenario import ScenarioReader, ScenarioWriter, parse_line, record_to_line
from dronewatch.model import Alert, Detection, Scan, Sensor, TrackReport, Truth, Zone

# The examples of the format notes (docs/scenario-format.md), verbatim.
EXAMPLES = [
    '{"type":"scenario","name":"border-station","seed":7,"duration_s":600.0}',
    '{"type":"sensor","id":"radar-1","kind":"radar","lat":31.7,"lon":-106.4,"alt":1150.0,'
    '"sigma":{"range_m":5.0,"azimuth_deg":0.5,"elevation_deg":0.5},"pd":0.9,"max_range_m":3000.0,"period_s":1.0}',
    '{"type":"detection","t":1764000000.0,"sensor":"radar-1","range_m":812.3,"azimuth_deg":45.2,"elevation_deg":3.1}',
    '{"type":"scan","t":1764000001.0,"sensor":"radar-1"}',
    '{"type":"truth","t":1764000000.0,"id":"drone-3","class":"drone","lat":31.71,"lon":-106.39,"alt":1230.0}',
    '{"type":"zone","id":"station","level":"critical","floor_m":0.0,"ceiling_m":500.0,'
    '"polygon":[[-106.41,31.69],[-106.39,31.69],[-106.39,31.71],[-106.41,31.71]]}',
    '{"type":"track","t":1764000001.0,"id":"T7","lat":31.705,"lon":-106.395,"alt":1228.4,'
    '"vel_enu":[3.1,-7.9,0.2],"class":"drone","confidence":0.93}',
    '{"type":"alert","t":1764000042.0,"id":"A3","track":"T7","zone":"station","level":"critical",'
    '"kind":"zone_breach_predicted","state":"open","eta_s":31.5,'
    '"reasons":["drone without Remote ID","heading for zone station, breach in 31 s"]}',
]


def test_format_examples_parse_and_write_back_the_same_json() -> None:
    records = list(ScenarioReader(EXAMPLES, on_error="raise"))
    assert [type(r) for r in records][1:] == [Sensor, Detection, Scan, Truth, Zone, TrackReport, Alert]
    for text, record in zip(EXAMPLES, records, strict=True):
        assert json.loads(record_to_line(record)) == json.loads(text)


def test_a_regional_track_keeps_its_members_and_site_named_sensors() -> None:
    line = ('{"type":"track","t":1764000001.0,"id":"border-1","lat":31.705,"lon":-106.395,"alt":1228.4,'
            '"vel_enu":[3.1,-7.9,0.2],"sensors":["north/radar-1","south/rf-2"],"sigma_m":4.2,'
            '"members":["north/T7","south/T12"]}')
    record = parse_line(line)
    assert isinstance(record, TrackReport) and record.members == ("north/T7", "south/T12")
    assert json.loads(record_to_line(record)) == json.loads(line)


def test_unknown_types_and_keys_are_ignored() -> None:
    assert parse_line('{"type":"weather","wind":3}') is None
    record = parse_line('{"type":"scan","t":1.0,"sensor":"r","colour":"blue"}')
    assert record == Scan(t=1.0, sensor="r")


@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "not JSON"),
    ('{"type":"scan","sensor":"r"}', "'t'"),
    ('{"type":"truth","t":1,"id":"x","class":"ufo","lat":1,"lon":2,"alt":3}', "class"),
    ('{"type":"truth","t":1,"id":"x","class":"drone","lat":95,"lon":2,"alt":3}', "lat"),
    ('{"type":"sensor","id":"s","kind":"sonar","lat":1,"lon":2,"alt":3}', "kind"),
    ('{"type":"track","t":1,"id":"T1","lat":1,"lon":2,"alt":3}', "vel_enu"),
    ('[1, 2]', "object"),
    ('{"type":"track","t":1,"id":"R1","lat":1,"lon":2,"alt":3,"vel_enu":[0,0,0],"members":"north/T1"}',
     "'members' not a list of strings"),
])
def test_malformed_lines_are_rejected_with_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_line(text, source="f.jsonl", line=12)
    message = str(caught.value)
    assert "f.jsonl:12" in message and says in message


def test_reader_skips_and_counts_bad_lines_and_keeps_the_rest() -> None:
    lines = [EXAMPLES[1], EXAMPLES[2], "garbage", EXAMPLES[3],
             '{"type":"detection","t":1764000002.0,"sensor":"radar-1","azimuth_deg":4.0}',
             '{"type":"detection","t":1764000002.0,"sensor":"ghost","azimuth_deg":4.0}', EXAMPLES[3]]
    reader = ScenarioReader(lines, source="s.jsonl")
    records = list(reader)
    assert len(records) == 4
    assert reader.stats.bad_lines == 3
    assert [e.line for e in reader.stats.errors] == [3, 5, 6]
    assert "range_m" in str(reader.stats.errors[1]) and "ghost" in str(reader.stats.errors[2])


def test_reader_can_stop_at_the_first_bad_line() -> None:
    with pytest.raises(FormatError, match=r"s\.jsonl:2"):
        list(ScenarioReader([EXAMPLES[0], "{", EXAMPLES[3]], source="s.jsonl", on_error="raise"))


def test_writer_streams_lines() -> None:
    out = io.StringIO()
    ScenarioWriter(out).write_all([Scan(1.0, "a"), Scan(2.0, "b")])
    assert out.getvalue().count("\n") == 2


@given(st.text(max_size=200))
def test_parse_line_never_fails_other_than_with_a_format_error(text: str) -> None:
    with contextlib.suppress(FormatError):
        parse_line(text)


@given(st.dictionaries(st.sampled_from(["type", "t", "sensor", "id", "lat", "lon", "alt", "class", "kind",
                                        "vel_enu", "polygon", "range_m", "azimuth_deg", "sigma"]),
                       st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=5),
                                 st.lists(st.floats(), max_size=4), st.sampled_from(["detection", "sensor",
                                                                                      "truth", "zone", "track"]))))
def test_hostile_objects_give_format_errors_only(obj: dict[str, object]) -> None:
    with contextlib.suppress(FormatError):
        parse_line(json.dumps(obj))
