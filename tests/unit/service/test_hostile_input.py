"""Hostile input at the live edge: every kind of bad line an outside probe sent (and a generated corpus of
broken lines), over UDP and over TCP, interleaved with a real scenario. Every valid detection is stored,
every bad line is counted by its reason, the tracks are exactly those of the clean run, and no stage fails."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from dronewatch.model import Zone
from dronewatch.service.pipeline import Pipeline
from dronewatch.service.sources import JsonLinesListener
from dronewatch.sim.scenarios import station_zones
from dronewatch.storage import Repository, open_database

SECONDS = 60.0
RADAR = "radar-1"


def designed_bad_lines(now: float) -> list[tuple[str, str]]:
    """(line, the category it must be counted under): what the probe of issue 15 sent, and more."""
    detection = {"type": "detection", "t": now - 30.0, "sensor": RADAR, "range_m": 900.0, "azimuth_deg": 10.0,
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
        (json.dumps({"type": "scan", "t": 1e300, "sensor": RADAR}), "scan 't' out of range"),
        (json.dumps({"type": "sensor", "id": RADAR, "kind": "radar", "lat": 31.7, "lon": -106.4, "alt": 1150.0,
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


async def send_udp(address: tuple[str, int], lines: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for k in range(0, len(lines), 20):
            sender.sendto("".join(lines[k:k + 20]).encode("utf-8", errors="surrogateescape"), address)
            await asyncio.sleep(0.001)


async def send_tcp(address: tuple[str, int], lines: list[str]) -> None:
    _, writer = await asyncio.open_connection(*address)
    writer.write(b"x" * 100_000 + b"\n")  # a line over the limit: refused whole, the next one still read
    for k in range(0, len(lines), 50):
        writer.write("".join(lines[k:k + 50]).encode("utf-8", errors="surrogateescape"))
        await writer.drain()
        await asyncio.sleep(0.001)
    writer.close()
    await writer.wait_closed()


def run_feed(path: Path, protocol: str, lines: list[str], zones: list[Zone]) -> tuple[Repository, Pipeline]:
    repo = Repository(open_database(f"sqlite:///{path}"))
    repo.ensure_site("station", "Border station", time.time())
    for zone in zones:  # set through the API before: restored at start
        repo.put_zone("station", zone)

    async def scenario() -> Pipeline:
        pipeline = Pipeline("station", repo, live=True)
        listener = JsonLinesListener(protocol, "127.0.0.1", 0)
        listener.bound = asyncio.get_running_loop().create_future()
        pipeline.add_source(protocol, listener)
        task = asyncio.create_task(pipeline.run())
        address = await listener.bound
        await (send_udp if protocol == "udp" else send_tcp)(address, lines)
        await asyncio.sleep(0.3)
        await pipeline.drain(180.0)
        pipeline.stop()
        await task
        return pipeline

    return repo, asyncio.run(scenario())


def track_points(repo: Repository) -> list[tuple[object, ...]]:
    return [(r.id, r.t, round(r.lat, 9), round(r.lon, 9), round(r.alt, 4), r.cls)
            for r in repo.track_history("station", 0.0, 4e9)]


@pytest.fixture(scope="module")
def feeds(scenario_lines: Callable[..., list[str]]) -> dict[str, object]:
    lines = [line for line in scenario_lines(SECONDS, live=True) if '"type":"zone"' not in line]
    now = time.time()
    designed = designed_bad_lines(now)
    generated = generated_bad_lines(lines, 300, seed=15)
    return {"valid": lines, "designed": designed, "generated": generated,
            "hostile": interleave(lines, [line for line, _ in designed] + generated, seed=15)}


@pytest.fixture(scope="module")
def clean(feeds: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> list[tuple[object, ...]]:
    repo, _ = run_feed(tmp_path_factory.mktemp("clean") / "dw.db", "udp", feeds["valid"],  # type: ignore[arg-type]
                       station_zones())
    points = track_points(repo)
    assert len(points) > 500 and repo.count("alerts") > 0
    return points


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_hostile_lines_among_a_real_scenario_change_nothing_but_counters(
        protocol: str, feeds: dict[str, object], clean: list[tuple[object, ...]], tmp_path: Path) -> None:
    valid: list[str] = feeds["valid"]  # type: ignore[assignment]
    designed: list[tuple[str, str]] = feeds["designed"]  # type: ignore[assignment]
    generated: list[str] = feeds["generated"]  # type: ignore[assignment]
    repo, pipeline = run_feed(tmp_path / "dw.db", protocol, feeds["hostile"], station_zones())  # type: ignore[arg-type]

    assert repo.count("detections") == sum('"type":"detection"' in line for line in valid)
    assert track_points(repo) == clean  # the tracks of the clean run, point for point
    assert {z.id for z in repo.zones("station")} == {z.id for z in station_zones()}  # no zone changed from outside
    stats = pipeline.stats()
    bad = Counter(stats[f"{protocol}-0"]["bad_input"])
    expected = Counter(category for _, category in designed) + Counter({"line too long": protocol == "tcp"})
    for category, count in expected.items():
        assert bad[category] >= count, (category, bad)
    assert bad.total() == len(designed) + len(generated) + (protocol == "tcp"), bad
    for stage in ("tracker", "assessment", "storage", f"{protocol}-0"):
        assert "restarts" not in stats.get(stage, {}), (stage, stats[stage])
        assert "internal error" not in stats.get(stage, {}).get("bad_input", {}), (stage, stats[stage])
