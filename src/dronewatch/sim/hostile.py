"""Hostile lines for probing a site's edge (tests and benchmarks): what an outside probe of the live
service sent (issue 15), each with the category the edge must count it under, and broken copies of
valid lines made at random. None of them may change what the pipeline makes of the valid lines.
"""

from __future__ import annotations

import json
import random

from dronewatch.sim.scenarios import station_sensors, station_zones


def designed_bad_lines(now: float) -> list[tuple[str, str]]:
    """(line, the category it must be counted under): what the probe of issue 15 sent, and more."""
    radar = station_sensors()[0].id
    detection = {"type": "detection", "t": now - 30.0, "sensor": radar, "range_m": 900.0, "azimuth_deg": 10.0,
                 "elevation_deg": 3.0}

    def changed(**values: object) -> str:
        return json.dumps({k: v for k, v in {**detection, **values}.items() if v is not None})

    zone = station_zones()[0]
    return [
        ('{"type":"detection","t":1,"sensor":"r","range_m":1' + "0" * 400 + "}", "integer too long"),
        ('{"type":"detection","t":1,"sensor":"r","range_m":' + "9" * 5000 + "}", "integer too long"),
        ("[" * 5000, "nested too deep"),
        ('{"type":"detection","evidence":' + "{\"a\":" * 40 + "1" + "}" * 40 + "}", "nested too deep"),
        (changed(range_m=None), "radar detection without 'range_m'"),
        (changed(elevation_deg=None), "radar detection without 'elevation_deg'"),
        (changed(range_m=1e308), "detection 'range_m' out of range"),
        (changed(t=1e300), "detection 't' out of range"),
        (json.dumps({"type": "scan", "t": 1e300, "sensor": radar}), "scan 't' out of range"),
        (json.dumps({"type": "sensor", "id": radar, "kind": "radar", "lat": 31.7, "lon": -106.4, "alt": 1150.0,
                     "sigma": {"range_m": 1e308}}), "sensor 'sigma' out of range"),
        (json.dumps({"type": "zone", "id": zone.id, "level": "info", "floor_m": 0.0, "ceiling_m": 10.0,
                     "polygon": [[-106.0, 31.0], [-106.0, 31.001], [-105.999, 31.0]]}),
         "zone from an untrusted source"),
        ("{not json", "not JSON"),
        ("\x00\xff\xfe garbage", "not JSON"),
        (changed(range_m="NaN").replace('"NaN"', "NaN"), "not JSON"),
        (changed(range_m="Infinity").replace('"Infinity"', "Infinity"), "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"t": 1, "sensor": "radar-1"}', "'type' missing"),
        (changed(t="soon"), "detection 't' not a number"),
        (changed(range_m=True), "detection 'range_m' not a number"),
        (changed(sensor="ghost-radar"), "detection from an undeclared sensor"),
        (changed(t=now + 3600.0), "time in the future"),
        (changed(t=now - 86400.0), "time too old"),
        (json.dumps({"type": "sensor", "id": "x" * 100, "kind": "rf", "lat": 31.7, "lon": -106.4, "alt": 0}),
         "sensor 'id' too long"),
        (changed(elevation_deg=91.0), "detection 'elevation_deg' out of range"),
        (json.dumps({"type": "sensor", "id": "rf-9", "kind": "sonar", "lat": 31.7, "lon": -106.4, "alt": 0}),
         "sensor 'kind' not allowed"),
        (json.dumps({"type": "sensor", "id": "rf-9", "kind": "rf", "lat": 95.0, "lon": -106.4, "alt": 0}),
         "sensor 'lat' out of range"),
        ('{"type":"detection","t":' + str(now) + ',"sensor":"radar-1","range_m":' + "[" * 12 + "]" * 12 + "}",
         "detection 'range_m' not a number"),
    ]


def generated_bad_lines(valid: list[str], count: int, seed: int) -> list[str]:
    """Valid detection lines broken at random: cut short, a value swapped for a hostile one, a key dropped."""
    rng = random.Random(seed)
    detections = [line for line in valid if '"type":"detection"' in line]
    hostile: list[object] = [1e308, -1e308, "x", None, True, [], {}, 10 ** 30, -1.0e6 - 1]
    out = []
    for _ in range(count):
        line = rng.choice(detections).strip()
        way = rng.randrange(3)
        if way == 0:
            out.append(line[: rng.randrange(1, len(line) - 1)])
            continue
        obj = json.loads(line)
        key = rng.choice(["t", "range_m", "elevation_deg", "sensor"] if "range_m" in obj else ["t", "sensor"])
        if way == 1:
            del obj[key]
        else:
            obj[key] = rng.choice([v for v in hostile if v is not None])
            if key == "sensor" and isinstance(obj[key], str):
                obj[key] = "x" * 65
        out.append(json.dumps(obj))
    return out


def interleave(valid: list[str], bad: list[str], seed: int) -> list[str]:
    """The valid lines in their order, the bad ones dropped in between at random places."""
    rng = random.Random(seed)
    places = sorted(rng.randrange(len(valid)) for _ in bad)
    out, k = [], 0
    for index, line in enumerate(valid):
        while k < len(places) and places[k] == index:
            out.append(bad[k] + "\n")
            k += 1
        out.append(line)
    return out
