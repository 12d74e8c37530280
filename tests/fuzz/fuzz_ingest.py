"""atheris harness: the site's edge and what it admits. Nothing the gate lets in may break a stage.

Run (installs nothing at test time; atheris is in the ``fuzz`` extra):
    .venv/bin/python tests/fuzz/fuzz_ingest.py -atheris_runs=1000000
    mkdir -p /tmp/ingest-corpus && .venv/bin/python -m dronewatch.cli sim --scenario border-station \
        --seed 7 --duration 60 -o /tmp/bs.jsonl && split -l 1 /tmp/bs.jsonl /tmp/ingest-corpus/line- && \
        .venv/bin/python tests/fuzz/fuzz_ingest.py -atheris_runs=1000000 /tmp/ingest-corpus
(libFuzzer writes new inputs into the first corpus directory: never point it at tests/data.)
The first byte picks the entry point:

- 0-63: the rest is a datagram (UTF-8, bad bytes replaced, as the sources decode), one line
  after another through ``parse_line`` (only ``FormatError`` may escape) and, for what parses,
  through the live site below;
- 64-191: hostile records built with ``FuzzedDataProvider`` (sensor, detection of each sensor
  kind, scan, zone, and the non-input types): huge, tiny, negative and boundary numbers, long
  integers, NaN, deep nesting, long and odd strings, wrong types, missing keys; each line
  through ``parse_line`` -> ``EdgeGate.check`` (a fixed clock, a live origin trusted for zones)
  -> a ``StreamTracker(immediate=True)`` fed one record at a time, as the tracker stage does ->
  every snapshot's reports to an ``Assessor``, as the assessment stage does;
- 192-255: the same records from a replay origin (not live: any time 1970-2100 is taken), on a
  site of its own.

A site's state lasts :data:`_STATE_INPUTS` inputs (sequences matter: a sensor then its
detections), then starts afresh. Every :data:`_STORE_EVERY` inputs what the site admitted and
produced (detections, sensors, zones and their audit record, the picture, alerts) goes through
``Repository.store`` into an in-memory SQLite database.

Checked: only ``FormatError`` from the parser and the gate; from the tracker nothing but a
``DronewatchError`` (the tracker stage counts it as bad input; tallied and printed every
:data:`_REPORT_EVERY` inputs, with a finding for any at all); nothing from the assessment or
storage; every track report, and the tracker's whole state, finite; a live site's tracker
clock never ahead of the service's clock by more than ``ingest.max_future_s``.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import atheris
import numpy as np

with atheris.instrument_imports(include=["dronewatch"]):
    from dronewatch.assessment import AlertBook, Assessor
    from dronewatch.config import IngestConfig
    from dronewatch.errors import DronewatchError, FormatError
    from dronewatch.formats.scenario import BOUNDS, parse_line, record_to_dict
    from dronewatch.geo import LocalFrame
    from dronewatch.geo.zones import check_zone
    from dronewatch.ingest.gate import EdgeGate, Origin
    from dronewatch.model import SENSOR_KINDS, Alert, Detection, Record, Sensor, TrackReport, Zone
    from dronewatch.storage import Repository, open_database
    from dronewatch.tracking import StreamTracker

NOW = 1_764_000_100.0
"""The service's clock (fixed): the simulator's border-station lines (t0 1,764,000,000) are all recent."""
SITE = (31.7775, -106.529, 1140.0)
SITE_ID = "fuzz"
CONFIG = IngestConfig(zone_sources=("udp",), max_sensors=8)
LIVE = Origin("udp", live=True)
REPLAY = Origin("replay", live=False)
_STATE_INPUTS = 300
_STORE_EVERY = 50
_NEW_DATABASE_EVERY = 20_000
_REPORT_EVERY = 100_000

SENSOR_IDS = ("s0", "s1", "s2", "s3", "radar-1", "rid-1")
UAS_IDS = ("1581F78988FCCB95F73D", "UAS-2", "")
KIND_KEYS = {
    "radar": ("range_m", "azimuth_deg", "elevation_deg", "radial_speed_mps", "snr_db"),
    "rf": ("azimuth_deg", "snr_db"),
    "acoustic": ("azimuth_deg", "elevation_deg"),
    "camera": ("azimuth_deg", "elevation_deg"),
    "remoteid": ("lat", "lon", "alt", "uas_id", "operator_lat", "operator_lon", "speed_mps", "track_deg"),
    "adsb": ("lat", "lon", "alt", "icao", "speed_mps", "track_deg"),
}
TYPICAL = {
    "range_m": (0.0, 5_000.0), "azimuth_deg": (0.0, 360.0), "elevation_deg": (-5.0, 60.0),
    "radial_speed_mps": (-60.0, 60.0), "snr_db": (-10.0, 40.0), "speed_mps": (0.0, 60.0),
    "track_deg": (0.0, 360.0), "alt": (1_000.0, 2_000.0), "lat": (31.70, 31.85), "lon": (-106.60, -106.45),
    "operator_lat": (31.70, 31.85), "operator_lon": (-106.60, -106.45), "pd": (0.01, 1.0),
    "period_s": (0.1, 5.0), "clutter_per_scan": (0.0, 20.0), "min_range_m": (0.0, 100.0),
    "max_range_m": (100.0, 30_000.0), "min_elevation_deg": (-10.0, 10.0), "max_elevation_deg": (10.0, 90.0),
    "azimuth_min_deg": (0.0, 360.0), "azimuth_max_deg": (0.0, 360.0), "floor_m": (0.0, 1_500.0),
    "ceiling_m": (1_000.0, 3_000.0), "sigma": (0.01, 50.0),
}
SIGMA_KEYS = ("range_m", "azimuth_deg", "elevation_deg", "radial_speed_mps", "lat", "lon", "alt", "speed_mps")
SENSOR_FLOATS = ("pd", "period_s", "clutter_per_scan", "min_range_m", "max_range_m", "min_elevation_deg",
                 "max_elevation_deg", "azimuth_min_deg", "azimuth_max_deg")
ODD_TEXT = ("", " ", "x" * 64, "x" * 65, "\u00e9\u6f22\U0001f681", "a\u0000b", "\u202eevil", "\n", "T1",
            "rid:", "icao:", "\u0301", "\ufeff", "a\u0085b", "x" * 5_000)
RAW_TEXT = ('"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"\\u001b[31m"')
RAW_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1" * 20, "1" * 21, "9" * 400, "9" * 5000,
               "-0", "0e0", "1E-400", "4.9e-324", "1.7976931348623157e308", "123456789012345678901")


class Raw(str):
    """JSON text put into a line as it is (a token json.dumps would not write)."""


@dataclass(slots=True)
class Site:
    """What one site keeps between records, as the pipeline keeps it."""

    origin: Origin
    gate: EdgeGate = field(default_factory=lambda: EdgeGate(CONFIG, lambda: NOW))
    stream: StreamTracker = field(default_factory=lambda: StreamTracker(immediate=True))
    assessor: Assessor | None = None
    sensors: list[Sensor] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    inputs: int = 0
    admitted: list[Record] = field(default_factory=list)
    picture: list[TrackReport] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    """The lines admitted since the site started (refused ones change nothing): a finding's replay."""


tally: Counter[str] = Counter()
sites: dict[bool, Site] = {}
database: dict[str, Repository] = {}
inputs = Counter[str]()


# ------------------------------------------------------------------- lines
def _encode(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value)


def _hostile(fdp: atheris.FuzzedDataProvider, key: str) -> Any:
    """A value no honest sensor sends for ``key``."""
    low, high = BOUNDS.get(key, (-1e6, 1e6))
    pick = fdp.ConsumeIntInRange(0, 17)
    if pick == 0:
        return Raw(fdp.PickValueInList(list(RAW_NUMBERS)))
    if pick == 1:
        return fdp.PickValueInList([low, high, math.nextafter(low, -math.inf), math.nextafter(high, math.inf)])
    if pick == 2:
        return fdp.ConsumeRegularFloat()
    if pick == 3:
        return fdp.PickValueInList([0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e308, -1e308, 1e15, -1e15])
    if pick == 4:
        return fdp.ConsumeInt(8)
    if pick == 5:
        return fdp.PickValueInList(list(ODD_TEXT))
    if pick == 6:
        return Raw(fdp.PickValueInList(list(RAW_TEXT)))
    if pick == 7:
        return fdp.PickValueInList([True, False, None])
    if pick == 8:
        return [fdp.ConsumeRegularFloat() for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if pick == 9:
        depth = fdp.ConsumeIntInRange(1, 40)
        return Raw("[" * depth + "1" + "]" * depth)
    if pick == 10:
        return {"v": fdp.ConsumeRegularFloat()}
    if pick == 11:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 80))
    if pick == 12:
        return fdp.ConsumeFloat()  # may be inf or nan: json.dumps writes Infinity, NaN
    if pick == 13:
        return fdp.ConsumeFloatInRange(low, high) if math.isfinite(high - low) else fdp.ConsumeRegularFloat()
    if pick == 14:  # just inside the allowed range: what the gate admits and the stages must cope with
        return fdp.PickValueInList([math.nextafter(low, math.inf), math.nextafter(high, -math.inf)])
    if pick == 15:
        return Raw(str(fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 80))))
    return fdp.ConsumeIntInRange(-1_000_000, 1_000_000)


def _number(fdp: atheris.FuzzedDataProvider, key: str, low: float | None = None, high: float | None = None) -> Any:
    if fdp.ConsumeIntInRange(0, 9) < 7:
        lo, hi = TYPICAL.get(key, (0.0, 1.0)) if low is None or high is None else (low, high)
        return fdp.ConsumeFloatInRange(lo, hi)
    return _hostile(fdp, key)


def _text(fdp: atheris.FuzzedDataProvider, pool: tuple[str, ...]) -> Any:
    if fdp.ConsumeIntInRange(0, 9) < 8:
        return fdp.PickValueInList(list(pool))
    return _hostile(fdp, "id") if fdp.ConsumeBool() else fdp.PickValueInList(list(ODD_TEXT))


def _time(fdp: atheris.FuzzedDataProvider) -> Any:
    if fdp.ConsumeIntInRange(0, 9) < 8:
        return NOW + fdp.ConsumeFloatInRange(-320.0, 8.0)
    return _hostile(fdp, "t")


def _keys(fdp: atheris.FuzzedDataProvider, obj: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` into ``obj``, each left out now and then (a missing key)."""
    for key, value in values.items():
        if fdp.ConsumeIntInRange(0, 15) != 0:
            obj[key] = value
    return obj


def _sensor(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    sigma: Any = {key: _number(fdp, "sigma") for key in SIGMA_KEYS if fdp.ConsumeBool()}
    if fdp.ConsumeIntInRange(0, 15) == 0:
        sigma = _hostile(fdp, "sigma")
    lat, lon, alt = SITE
    values = {
        "id": _text(fdp, SENSOR_IDS),
        "kind": fdp.PickValueInList(list(SENSOR_KINDS)) if fdp.ConsumeIntInRange(0, 15) else _hostile(fdp, "kind"),
        "lat": _number(fdp, "lat", lat - 0.01, lat + 0.01), "lon": _number(fdp, "lon", lon - 0.01, lon + 0.01),
        "alt": _number(fdp, "alt", alt - 20.0, alt + 20.0), "sigma": sigma,
    }
    obj = _keys(fdp, {"type": "sensor"}, values)
    for key in SENSOR_FLOATS:
        if fdp.ConsumeIntInRange(0, 3) == 0:
            obj[key] = _number(fdp, key)
    return obj


def _detection(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    kind = fdp.PickValueInList(list(SENSOR_KINDS))
    values: dict[str, Any] = {"t": _time(fdp), "sensor": _text(fdp, SENSOR_IDS)}
    for key in KIND_KEYS[kind]:
        if key == "uas_id":
            values[key] = _text(fdp, UAS_IDS)
        elif key == "icao":
            values[key] = _text(fdp, ("A1B2C3", "ABCDEF"))
        else:
            values[key] = _number(fdp, key)
    if fdp.ConsumeIntInRange(0, 7) == 0:  # keys of another kind too
        other = fdp.PickValueInList(list(SENSOR_KINDS))
        values.update({key: _number(fdp, key) for key in KIND_KEYS[other] if key not in ("uas_id", "icao")})
    if fdp.ConsumeBool():
        values["id"] = _text(fdp, ("d1", "d2"))
    return _keys(fdp, {"type": "detection"}, values)


def _zone(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    lat, lon, _ = SITE
    pick = fdp.ConsumeIntInRange(0, 9)
    polygon: Any
    if pick < 6:
        polygon = [[_number(fdp, "polygon", lon - 0.02, lon + 0.02), _number(fdp, "polygon", lat - 0.02, lat + 0.02)]
                   for _ in range(fdp.ConsumeIntInRange(0, 8))]
    elif pick < 8:  # a regular polygon of many vertices, possibly tiny or huge
        sides, radius = fdp.ConsumeIntInRange(3, 1_100), fdp.PickValueInList([1e-9, 1e-6, 0.001, 0.05, 10.0])
        polygon = [[lon + radius * math.cos(2 * math.pi * k / sides), lat + radius * math.sin(2 * math.pi * k / sides)]
                   for k in range(sides)]
    else:
        polygon = _hostile(fdp, "polygon")
    values = {"id": _text(fdp, ("z0", "z1", "compound")), "level": _text(fdp, ("info", "warning", "critical")),
              "floor_m": _number(fdp, "floor_m"), "ceiling_m": _number(fdp, "ceiling_m"), "polygon": polygon}
    return _keys(fdp, {"type": "zone"}, values)


def _other(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    kind = fdp.PickValueInList(["truth", "track", "alert", "scenario", "weather", None, 7])
    return {"type": kind, "t": _time(fdp), "id": _text(fdp, ("T1",)), "lat": _number(fdp, "lat"),
            "lon": _number(fdp, "lon"), "alt": _number(fdp, "alt"), "class": "drone",
            "vel_enu": [_number(fdp, "vel_enu", -50, 50) for _ in range(3)], "track": "T1", "level": "info",
            "kind": "loiter", "state": "open", "reasons": ["x"]}


def _line(fdp: atheris.FuzzedDataProvider) -> str:
    pick = fdp.ConsumeIntInRange(0, 15)
    if pick < 3:
        obj = _sensor(fdp)
    elif pick < 10:
        obj = _detection(fdp)
    elif pick < 13:
        obj = _keys(fdp, {"type": "scan"}, {"t": _time(fdp), "sensor": _text(fdp, SENSOR_IDS)})
    elif pick < 15:
        obj = _zone(fdp)
    else:
        obj = _other(fdp)
    if fdp.ConsumeIntInRange(0, 31) == 0:  # an extra key, perhaps a large or deep one
        obj[fdp.ConsumeUnicode(8)] = _hostile(fdp, "extra")
    return _encode(obj)


# ------------------------------------------------------------------- the site
def _site(live: bool) -> Site:
    site = sites.get(live)
    if site is None or site.inputs >= _STATE_INPUTS:
        site = sites[live] = Site(LIVE if live else REPLAY)
    return site


def _repository() -> Repository:
    if "repo" not in database or inputs["all"] % _NEW_DATABASE_EVERY == 0:
        database.clear()
        repository = Repository(open_database("sqlite://"))
        repository.ensure_site(SITE_ID, "fuzz", NOW)
        database["repo"] = repository
    return database["repo"]


def _set_sensor(site: Site, sensor: Sensor) -> None:
    """As Pipeline._set_sensor: the first sensor places the site."""
    site.sensors = [s for s in site.sensors if s.id != sensor.id] + [sensor]
    if site.assessor is None:
        site.assessor = Assessor(LocalFrame(sensor.lat, sensor.lon, sensor.alt), site.sensors, site.zones)
        site.assessor.book = AlertBook(site.assessor.config.clear_s)
    site.assessor.set_sensors(site.sensors)


def _set_zone(site: Site, zone: Zone) -> None:
    """As Pipeline._set_zone: a zone the assessment cannot use is counted, the zones stay as they were."""
    zones = [z for z in site.zones if z.id != zone.id] + [zone]
    try:
        check_zone(zone)
        if site.assessor is not None:
            site.assessor.set_zones(zones)
    except DronewatchError as error:  # the assessment stage counts it as bad input (tallied: a gap in the gate)
        tally[f"assessment bad input: {type(error).__name__}: {str(error)[:60]}"] += 1
        return
    site.zones = zones


def _finite(report: TrackReport) -> None:
    values = (report.t, report.lat, report.lon, report.alt, *report.vel_enu)
    if not all(math.isfinite(v) for v in values):
        raise AssertionError(f"a track report that is not finite: {report!r}")
    if report.uas_id == "" or report.icao in ("", "None"):
        raise AssertionError(f"a track report with a made-up identity: {report!r}")


def _check_tracker(site: Site) -> None:
    tracker = site.stream.tracker
    if tracker.time is not None:
        if not math.isfinite(tracker.time):
            raise AssertionError(f"tracker clock not finite: {tracker.time}")
        if site.origin.live and tracker.time > NOW + CONFIG.max_future_s:
            raise AssertionError(f"a live site's tracker clock moved ahead: {tracker.time - NOW:.1f} s")
    for name in ("_x", "_p", "_xm", "_pm", "_mu"):
        values = getattr(tracker, name)
        if values.size and not bool(np.isfinite(values).all()):
            raise AssertionError(f"the tracker's {name} holds a value that is not finite")


def _admit(site: Site, text: str) -> None:
    try:
        record = parse_line(text, source="fuzz", line=1)
        if record is None or not site.gate.check(record, site.origin):
            return
    except FormatError as error:
        tally["refused: " + error.reason.split(":", maxsplit=1)[0][:40]] += 1
        return
    tally[f"admitted {type(record).__name__}"] += 1
    site.history.append(text)
    site.admitted.append(record)
    try:
        snapshots = site.stream.feed(record)
    except DronewatchError as error:  # the tracker stage counts it as bad input (tallied: a gap in the gate)
        tally[f"tracker bad input: {type(error).__name__}: {str(error)[:60]}"] += 1
        return
    if isinstance(record, Sensor):
        _set_sensor(site, record)
    elif isinstance(record, Zone):
        _set_zone(site, record)
    _check_tracker(site)
    frame = site.stream.tracker.site
    for snapshot in snapshots:
        assert frame is not None
        reports = snapshot.reports(frame)
        for report in reports:
            _finite(report)
        if not reports or site.assessor is None:
            continue
        assessor = site.assessor
        classes = assessor.classes
        picture = [replace(r, cls=classes[r.id].cls, confidence=round(classes[r.id].confidence, 3))
                   if r.id in classes else r for r in reports]
        site.picture.extend(picture)
        if reports[0].t - assessor.assessed_at < assessor.config.period_s - 1e-9:
            continue
        alerts = assessor.update(reports[0].t, reports)
        for alert in alerts:
            if alert.eta_s is not None and not math.isfinite(alert.eta_s):
                raise AssertionError(f"an alert with an eta that is not finite: {alert!r}")
        site.alerts.extend(alerts)


def _store(site: Site) -> None:
    """What the storage stage writes (and the audit record of an admitted zone), as the pipeline does."""
    repository = _repository()
    records = site.admitted
    zones = [r for r in records if isinstance(r, Zone)]
    for zone in zones:
        repository.audit(f"source {site.origin.name}", "zone.put", f"site/{SITE_ID}/zone/{zone.id}", at=NOW,
                         source="fuzz", detail=record_to_dict(zone))
    repository.store(SITE_ID, detections=[r for r in records if isinstance(r, Detection)],
                     track_points=site.picture, sensors=[r for r in records if isinstance(r, Sensor)],
                     zones=zones, alerts=site.alerts)
    site.admitted, site.picture, site.alerts = [], [], []


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    inputs["all"] += 1
    count = inputs["all"]
    if count % _REPORT_EVERY == 0:
        print(f"#{count} tally: {dict(tally.most_common())}", file=sys.stderr, flush=True)
    selector, rest = raw[0], raw[1:]
    live = selector < 192
    site = _site(live)
    site.inputs += 1
    try:
        if selector < 64:
            for text in rest.decode("utf-8", errors="replace").splitlines()[:8]:
                _admit(site, text)
        else:
            fdp = atheris.FuzzedDataProvider(rest)
            for _ in range(fdp.ConsumeIntInRange(1, 6)):
                _admit(site, _line(fdp))
        if site.inputs % _STORE_EVERY == 0 or site.inputs >= _STATE_INPUTS:
            _store(site)
    except BaseException:
        # the input alone may not reproduce it (the site's state does): keep the lines that built it
        path = f"/tmp/fuzz-ingest-finding-{count}.jsonl"
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as out:
            out.write(f"# origin {site.origin}\n" + "\n".join(site.history) + "\n")
        print(f"the site's admitted lines, in order: {path}", file=sys.stderr)
        raise


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
