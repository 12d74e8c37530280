"""The site's edge: each rule of parse_line and EdgeGate refuses its line under its own counted category,
and nothing hostile that gets through makes the tracker or the assessment fail or go non-finite.

Lines are written out byte for byte: what a hostile source sends, not what a serialiser makes.
Regressions found by ``tests/fuzz/fuzz_ingest.py`` are named after the bug.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.assessment import Assessor
from dronewatch.config import IngestConfig
from dronewatch.errors import DronewatchError, FormatError
from dronewatch.formats.scenario import BOUNDS, parse_line
from dronewatch.geo import LocalFrame
from dronewatch.geo.zones import check_zone
from dronewatch.ingest.gate import EdgeGate, Origin
from dronewatch.model import SENSOR_KINDS, Detection, Record, Scan, Sensor, Zone
from dronewatch.service.worker import StageCounters
from dronewatch.tracking import StreamTracker
from dronewatch.tracking.stream import MAX_EMPTY_SCANS

NOW = 1_764_000_100.0
LIVE = Origin("udp", live=True)
REPLAY = Origin("replay", live=False)
RADAR = '{"type":"sensor","id":"radar-1","kind":"radar","lat":31.7775,"lon":-106.529,"alt":1140.0}'
ZONE = ('{"type":"zone","id":"compound","level":"critical","floor_m":1130.0,"ceiling_m":1630.0,'
        '"polygon":[[-106.5305833,31.7761475],[-106.5274167,31.7761475],[-106.5274167,31.7788525],'
        '[-106.5305833,31.7788525]]}')


def gate(**config: Any) -> EdgeGate:
    """A gate at a fixed clock that knows ``radar-1``."""
    edge = EdgeGate(IngestConfig(**config), lambda: NOW)
    edge.check(parse(RADAR), LIVE)
    return edge


def parse(line: str) -> Record:
    record = parse_line(line)
    assert record is not None
    return record


def counted(line: str, edge: EdgeGate | None = None, origin: Origin = LIVE) -> dict[str, int]:
    """What the pipeline's counters count for ``line`` when the parser or the gate refuses it (as
    ``Pipeline.admit`` and the sources count it); empty when the line is taken."""
    counters = StageCounters()
    try:
        (edge or gate()).check(parse(line), origin)
    except FormatError as error:
        counters.bad(origin.name, "test", error.reason)
    return dict(counters.bad_input)


# ------------------------------------------------------------- each rule
def test_detection_of_an_undeclared_sensor_is_refused() -> None:
    line = ('{"type":"detection","t":1764000099.0,"sensor":"ghost","range_m":500.0,"azimuth_deg":10.0,'
            '"elevation_deg":5.0}')
    assert counted(line) == {"detection from an undeclared sensor": 1}


def test_scan_of_an_undeclared_sensor_is_refused() -> None:
    assert counted('{"type":"scan","t":1764000099.0,"sensor":"ghost"}') == {"scan of an undeclared sensor": 1}


def test_radar_detection_without_range_is_refused() -> None:
    line = '{"type":"detection","t":1764000099.0,"sensor":"radar-1","azimuth_deg":10.0,"elevation_deg":5.0}'
    assert counted(line) == {"radar detection without 'range_m'": 1}


def test_radar_detection_without_elevation_is_refused() -> None:
    line = '{"type":"detection","t":1764000099.0,"sensor":"radar-1","range_m":500.0,"azimuth_deg":10.0}'
    assert counted(line) == {"radar detection without 'elevation_deg'": 1}


@pytest.mark.parametrize(("line", "category"), [
    ('{"type":"detection","t":1764000099.0,"sensor":"radar-1","range_m":1e308,"azimuth_deg":10.0,'
     '"elevation_deg":5.0}', "detection 'range_m' out of range"),
    ('{"type":"detection","t":1e300,"sensor":"radar-1","range_m":500.0,"azimuth_deg":10.0,"elevation_deg":5.0}',
     "detection 't' out of range"),
    ('{"type":"scan","t":1e300,"sensor":"radar-1"}', "scan 't' out of range"),
    ('{"type":"sensor","id":"r2","kind":"radar","lat":31.7775,"lon":-106.529,"alt":1140.0,'
     '"sigma":{"range_m":1e308}}', "sensor 'sigma' out of range"),
    ('{"type":"scan","t":' + "1" * 400 + ',"sensor":"radar-1"}', "integer too long"),
    ('{"type":"scan","t":' + "1" * 5000 + ',"sensor":"radar-1"}', "integer too long"),
    ("[" * 5000 + "]" * 5000, "nested too deep"),
    ('{"type":"scan","t":NaN,"sensor":"radar-1"}', "not JSON"),
])
def test_parse_line_refuses_values_out_of_their_range(line: str, category: str) -> None:
    counters = StageCounters()
    with pytest.raises(FormatError) as caught:
        parse_line(line)
    counters.bad("udp", "test", caught.value.reason)
    assert dict(counters.bad_input) == {category: 1}


@pytest.mark.parametrize(("t", "category"), [(NOW + 5.5, "time in the future"), (NOW - 300.5, "time too old")])
def test_live_time_far_from_the_clock_is_refused_and_a_replay_takes_it(t: float, category: str) -> None:
    for line in (f'{{"type":"scan","t":{t!r},"sensor":"radar-1"}}',
                 f'{{"type":"detection","t":{t!r},"sensor":"radar-1","range_m":500.0,"azimuth_deg":10.0,'
                 '"elevation_deg":5.0}'):
        assert counted(line) == {category: 1}
        edge = gate()
        assert counted(line, edge, REPLAY) == {}
        assert edge.check(parse(line), REPLAY)


def test_live_time_within_the_window_is_taken() -> None:
    assert counted(f'{{"type":"scan","t":{NOW + 5.0!r},"sensor":"radar-1"}}') == {}
    assert counted(f'{{"type":"scan","t":{NOW - 300.0!r},"sensor":"radar-1"}}') == {}


def test_too_many_sensors_are_refused_but_a_known_one_is_declared_again() -> None:
    edge = gate(max_sensors=2)
    second = '{"type":"sensor","id":"rf-1","kind":"rf","lat":31.7775,"lon":-106.529,"alt":1140.0}'
    assert counted(second, edge) == {}
    third = '{"type":"sensor","id":"rf-2","kind":"rf","lat":31.7775,"lon":-106.529,"alt":1140.0}'
    assert counted(third, edge) == {"too many sensors": 1}
    assert counted(RADAR.replace("1140.0", "1141.0"), edge) == {}
    assert set(edge.sensors) == {"radar-1", "rf-1"}


def test_zone_from_an_untrusted_origin_is_refused_and_from_a_trusted_one_taken() -> None:
    edge = gate(zone_sources=("replay",))
    assert counted(ZONE, edge, LIVE) == {"zone from an untrusted source": 1}
    assert counted(ZONE, edge, REPLAY) == {}
    assert edge.check(parse(ZONE), REPLAY)


def test_a_zone_that_is_not_a_simple_polygon_is_refused() -> None:
    bowtie = ('{"type":"zone","id":"z","level":"info","floor_m":0.0,"ceiling_m":10.0,'
              '"polygon":[[0.0,0.0],[1.0,1.0],[1.0,0.0],[0.0,1.0]]}')
    assert counted(bowtie, gate(zone_sources=("udp",))) == {"zone unusable": 1}


def test_records_that_are_not_sensor_input_are_passed_over() -> None:
    truth = '{"type":"truth","t":1764000099.0,"id":"x","class":"drone","lat":31.7,"lon":-106.5,"alt":1200.0}'
    assert gate().check(parse(truth), LIVE) is False


# ------------------------------------------- regressions found by fuzz_ingest
def test_sensor_declared_again_as_another_kind_gives_no_nan_track() -> None:
    """fuzz_ingest: an acoustic sensor's bearing still waiting for its scan, then the same id declared as a
    Remote ID receiver (a SAPIENT node may re-register as another kind): the tracker read the bearing as a
    position without lat/lon, a track at NaN under the identity ``icao:None``. The stream now processes a
    sensor's waiting detections as the kind they were measured by before it takes the new declaration."""
    edge, stream = EdgeGate(IngestConfig(), lambda: NOW), StreamTracker(immediate=True)
    lines = ['{"type":"sensor","id":"s2","kind":"acoustic","lat":31.7775,"lon":-106.529,"alt":1140.0}',
             '{"type":"detection","t":1764000090.0,"sensor":"s2","azimuth_deg":90.0,"elevation_deg":20.0}',
             '{"type":"sensor","id":"s2","kind":"remoteid","lat":31.7775,"lon":-106.529,"alt":1140.0}',
             '{"type":"detection","t":1764000095.0,"sensor":"s2","lat":31.78,"lon":-106.53,"alt":1200.0,'
             '"uas_id":"U1"}',
             '{"type":"detection","t":1764000097.0,"sensor":"s2","lat":31.78,"lon":-106.53,"alt":1200.0,'
             '"uas_id":"U1"}',
             '{"type":"detection","t":1764000098.0,"sensor":"s2","lat":31.78,"lon":-106.53,"alt":1200.0,'
             '"uas_id":"U1"}']
    reports = []
    for line in lines:
        assert edge.check(parse(line), LIVE)
        for snapshot in stream.feed(parse(line)):
            assert stream.tracker.site is not None
            reports += snapshot.reports(stream.tracker.site)
    assert stream.tracker.stats.detections == 3
    assert reports and all(math.isfinite(r.lat) and math.isfinite(r.lon) for r in reports)
    assert {r.uas_id for r in reports} == {"U1"} and {r.icao for r in reports} == {None}


def test_remoteid_detection_with_an_empty_uas_id_is_refused() -> None:
    """fuzz_ingest: ``"uas_id":""`` passed as present; the tracker filed it under the identity ``icao:None``."""
    edge = gate()
    edge.check(parse('{"type":"sensor","id":"rid-1","kind":"remoteid","lat":31.7775,"lon":-106.529,"alt":1140.0}'),
               LIVE)
    line = '{"type":"detection","t":1764000099.0,"sensor":"rid-1","lat":31.78,"lon":-106.53,"alt":1200.0,"uas_id":""}'
    assert counted(line, edge) == {"remoteid detection without 'uas_id'": 1}


def test_a_tiny_scan_period_costs_a_bounded_number_of_empty_scans() -> None:
    """fuzz_ingest: ``period_s`` 5e-324 (above 0, so allowed) made the scheduler fill every period of the
    gap to the next detection with an empty scan: billions of tracker cycles from one line, the site hung
    and ran out of memory. A sensor silent for a day at 1 s did the same on a smaller scale. At most
    MAX_EMPTY_SCANS empty scans now fill one gap."""
    stream = StreamTracker(immediate=True)
    lines = ['{"type":"sensor","id":"rf-1","kind":"rf","lat":31.7775,"lon":-106.529,"alt":1140.0,"period_s":5e-324}',
             '{"type":"detection","t":1764000000.0,"sensor":"rf-1","azimuth_deg":90.0}',
             '{"type":"detection","t":1764000002.0,"sensor":"rf-1","azimuth_deg":90.0}',
             '{"type":"detection","t":1764000100.0,"sensor":"rf-1","azimuth_deg":90.0}']
    batches = []
    for line in lines:
        before = stream.tracker.stats.batches
        stream.feed(parse(line))
        batches.append(stream.tracker.stats.batches - before)
    assert batches == [0, 0, MAX_EMPTY_SCANS + 1, MAX_EMPTY_SCANS + 1]


@pytest.mark.parametrize("escaped", ["\\ud800", "\\udfff", "\\u0000", "\\u001b[31m", "\\u0085"])
def test_identifiers_with_a_lone_surrogate_or_a_control_character_are_refused(escaped: str) -> None:
    """fuzz_ingest: ``"id":"a\\ud800"`` was admitted; SQLite (and the audit hash, and a NATS bus) could not
    encode it as UTF-8, so storage failed on the record; NUL is refused by PostgreSQL text, C0 controls by
    XML (CoT)."""
    line = f'{{"type":"sensor","id":"a{escaped}","kind":"rf","lat":31.7775,"lon":-106.529,"alt":1140.0}}'
    counters = StageCounters()
    with pytest.raises(FormatError) as caught:
        parse_line(line)
    counters.bad("udp", "test", caught.value.reason)
    assert dict(counters.bad_input) == {"sensor 'id' bad character": 1}
    assert parse(line.replace(f"a{escaped}", "a\\u00e9\\u6f22")).id == "a\u00e9\u6f22"  # not ASCII, but text


@pytest.mark.parametrize("sigma", ["5e-324", "1e-300", "0.0009"])
def test_a_sigma_so_small_its_square_is_zero_is_refused(sigma: str) -> None:
    """test_hostile_parseable_streams (hypothesis): ``"sigma":{"range_m":1e-300}`` was positive, so taken;
    squared it is 0, and the first update of a track raised LinAlgError (singular innovation covariance)
    in the tracker stage. A sigma is now at least 0.001 of its unit."""
    line = ('{"type":"sensor","id":"r2","kind":"radar","lat":31.7775,"lon":-106.529,"alt":1140.0,'
            f'"sigma":{{"range_m":{sigma},"azimuth_deg":{sigma},"elevation_deg":{sigma}}}}}')
    counters = StageCounters()
    with pytest.raises(FormatError) as caught:
        parse_line(line)
    counters.bad("udp", "test", caught.value.reason)
    assert dict(counters.bad_input) == {"sensor 'sigma' out of range": 1}
    assert parse(line.replace(sigma, "0.001"))


# ---------------------------------------------------------------- properties
KEYS = ("type", "t", "sensor", "id", "kind", "lat", "lon", "alt", "range_m", "azimuth_deg", "elevation_deg",
        "uas_id", "icao", "sigma", "polygon", "floor_m", "ceiling_m", "level", "speed_mps", "track_deg")
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=80),
    st.sampled_from(["sensor", "detection", "scan", "zone", "radar", "remoteid", "radar-1"]),
    st.lists(st.floats(), max_size=4), st.dictionaries(st.text(max_size=8), st.floats(), max_size=3),
)


@given(st.text(max_size=300))
def test_parse_line_of_any_text_raises_only_format_error(text: str) -> None:
    with contextlib.suppress(FormatError):
        parse_line(text)


@given(st.dictionaries(st.sampled_from(KEYS), HOSTILE, max_size=12), st.sampled_from(["", "[", "{\"a\":"]))
def test_parse_line_of_hostile_objects_raises_only_format_error(obj: dict[str, Any], wrap: str) -> None:
    text = json.dumps(obj)
    with contextlib.suppress(FormatError):
        parse_line(wrap * 20 + text if wrap else text)


def _value(key: str) -> st.SearchStrategy[float]:
    """A number for ``key`` anywhere in its allowed range, its ends and their neighbours included."""
    low, high = BOUNDS.get(key) or {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0)}[key]
    edges = [low, high, math.nextafter(low, -math.inf), math.nextafter(high, math.inf), 0.0, -0.0, 5e-324]
    return st.one_of(st.floats(low, high), st.floats(low, high), st.floats(low, high), st.sampled_from(edges))


SENSOR_IDS = st.sampled_from(["s0", "s1", "s2"])
LAT = st.one_of(st.floats(31.77, 31.79), st.floats(31.77, 31.79), st.floats(-90.0, 90.0))
LON = st.one_of(st.floats(-106.54, -106.52), st.floats(-106.54, -106.52), st.floats(-180.0, 180.0))


@st.composite
def _sensor(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "sensor", "id": draw(SENSOR_IDS), "kind": draw(st.sampled_from(SENSOR_KINDS)), "lat": draw(LAT),
        "lon": draw(LON), "alt": draw(st.one_of(st.floats(1100.0, 1200.0), _value("alt"))),
        "sigma": draw(st.dictionaries(st.sampled_from(["range_m", "azimuth_deg", "elevation_deg", "lat", "lon",
                                                       "alt", "speed_mps", "radial_speed_mps"]),
                                      st.one_of(st.floats(1e-300, 180.0), st.sampled_from([5e-324, 2000.0, 1e5])),
                                      max_size=4))}
    for key in ("pd", "period_s", "clutter_per_scan", "min_range_m", "max_range_m", "min_elevation_deg",
                "max_elevation_deg", "azimuth_min_deg", "azimuth_max_deg"):
        if draw(st.booleans()):
            obj[key] = draw(_value(key))
    return obj


@st.composite
def _streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few sensors, then detections of them, scans, zones and sensors declared again, in time order
    mostly and of one object mostly (so that scans close and tracks form), hostile numbers throughout."""
    out = draw(st.lists(_sensor(), min_size=1, max_size=3))
    ids = st.sampled_from(sorted({obj["id"] for obj in out}))
    steady = {"range_m": 800.0, "azimuth_deg": 45.0, "elevation_deg": 10.0, "radial_speed_mps": 5.0,
              "speed_mps": 10.0, "track_deg": 90.0, "lat": 31.78, "lon": -106.525, "alt": 1250.0}
    t = NOW - draw(st.floats(0.0, 300.0))
    for _ in range(draw(st.integers(1, 25))):
        t = min(t + draw(st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.0, 2.0])), NOW + 4.0)
        when = draw(st.one_of(st.just(t), st.just(t), st.just(t), _value("t")))
        kind = draw(st.sampled_from(["detection"] * 6 + ["scan", "scan", "zone", "sensor"]))
        obj: dict[str, Any]
        if kind == "sensor":
            obj = draw(_sensor())
        elif kind == "scan":
            obj = {"type": "scan", "t": when, "sensor": draw(ids)}
        elif kind == "detection":
            obj = {"type": "detection", "t": when, "sensor": draw(ids),
                   "uas_id": draw(st.sampled_from(["U1", "U1", "U2", ""])), "icao": draw(st.sampled_from(["A1", ""]))}
            for key, value in steady.items():
                pick = draw(st.integers(0, 7))
                if pick:  # now and then missing; mostly the same object, now and then anything allowed
                    steady[key] = value if pick < 6 else draw(_value(key))
                    obj[key] = steady[key]
        else:
            lon0, lat0 = draw(LON), draw(LAT)
            ring = draw(st.lists(st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)), min_size=3, max_size=6))
            obj = {"type": "zone", "id": draw(st.sampled_from(["z0", "z1"])), "level": "critical",
                   "floor_m": draw(_value("floor_m")), "ceiling_m": draw(_value("ceiling_m")),
                   "polygon": [[min(max(lon0 + a, -180.0), 180.0), min(max(lat0 + b, -90.0), 90.0)] for a, b in ring]}
        out.append(obj)
    return out


@dataclass(slots=True)
class _Site:
    """The tracker and assessment stages of one site, fed as the pipeline feeds them."""

    gate: EdgeGate = field(default_factory=lambda: EdgeGate(IngestConfig(zone_sources=("udp",)), lambda: NOW))
    stream: StreamTracker = field(default_factory=lambda: StreamTracker(immediate=True))
    assessor: Assessor | None = None
    sensors: list[Sensor] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)

    def take(self, record: Record) -> None:
        try:
            if not self.gate.check(record, LIVE):
                return
        except FormatError:
            return
        snapshots = self.stream.feed(record)  # no DronewatchError either: the gate refused what would raise
        if isinstance(record, Sensor):
            self.sensors = [s for s in self.sensors if s.id != record.id] + [record]
            if self.assessor is None:
                self.assessor = Assessor(LocalFrame(record.lat, record.lon, record.alt), self.sensors, self.zones)
            self.assessor.set_sensors(self.sensors)
        elif isinstance(record, Zone):
            check_zone(record)
            self.zones = [z for z in self.zones if z.id != record.id] + [record]
            if self.assessor is not None:
                self.assessor.set_zones(self.zones)
        tracker = self.stream.tracker
        assert tracker.time is None or tracker.time <= NOW + self.gate.config.max_future_s
        for snapshot in snapshots:
            assert tracker.site is not None
            reports = snapshot.reports(tracker.site)
            for report in reports:
                assert all(math.isfinite(v) for v in (report.t, report.lat, report.lon, report.alt, *report.vel_enu))
                assert report.uas_id != "" and report.icao not in ("", "None")
            if reports and self.assessor is not None:
                for alert in self.assessor.update(reports[0].t, reports):
                    assert alert.eta_s is None or math.isfinite(alert.eta_s)


def _feed(lines: Sequence[str]) -> None:
    site = _Site()
    for line in lines:
        try:
            record = parse_line(line)
        except FormatError:
            continue
        if isinstance(record, Sensor | Detection | Scan | Zone):
            site.take(record)


@settings(max_examples=200)
@given(_streams())
def test_hostile_parseable_streams_never_break_the_tracker_or_the_assessment(objects: list[dict[str, Any]]) -> None:
    try:
        _feed([json.dumps(obj) for obj in objects])
    except DronewatchError as error:  # pragma: no cover - the message names what got through
        pytest.fail(f"a stage refused what the gate admitted: {error}")
