"""Event-loop lag of the live service while logins arrive: does the password check (argon2) or the database hold
up the loop that carries the pipeline?

Set-up: ``dronewatch serve --config`` in its own process (SQLite in a temporary directory, the simulated
border station at 1x, the API on 127.0.0.1). The service measures its own loop: a task that sleeps
50 ms and notes how late it wakes (``/api/stats`` -> ``event_loop``, the last 60 s). Here: 60 s
quiet, read the lag; then 60 s of ``--rate`` logins per second (half of them with a wrong
password: those cost the same check), read it again.

Run: ``python3 dev.py bench benchmarks/bench_event_loop.py`` on a quiet machine; writes
``benchmarks/results/bench_event_loop.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench_latency import free_port, service

HERE = Path(__file__).resolve().parent


async def lag(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    stats = (await client.get("/api/stats", headers={"Authorization": f"Bearer {token}"})).json()
    return dict(stats["station"]["event_loop"])


async def logins(client: httpx.AsyncClient, password: str, rate: float, seconds: float) -> tuple[int, list[float]]:
    """``rate`` logins a second for ``seconds``, every other one with a wrong password; their response times."""
    took: list[float] = []
    ok = 0

    async def one(k: int) -> None:
        nonlocal ok
        start = time.perf_counter()
        response = await client.post("/api/login", json={"name": "admin",
                                                         "password": password if k % 2 else "wrong password!"})
        took.append(time.perf_counter() - start)
        ok += response.status_code == 200

    tasks = []
    start = time.perf_counter()
    for k in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(k)))
    await asyncio.gather(*tasks)
    return ok, took


async def measure(rate: float, seconds: float) -> list[tuple[str, dict[str, Any]]]:
    port = free_port(socket.SOCK_STREAM)
    with tempfile.TemporaryDirectory() as data:
        config = Path(data) / "site.toml"
        # the login limit is per client address: high enough that this one address is not refused
        config.write_text(f'[site]\nid = "station"\n[service]\nport = {port}\ndata_dir = "{data}"\n'
                          f'[security]\nlogin_attempts_per_minute = {int(rate * 60 * 2)}\n'
                          '[sources]\nsimulate = "border-station"\n', encoding="utf-8")
        with service(config) as password:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
                csrf = (await client.post("/api/login", json={"name": "admin", "password": password})).json()
                token = (await client.post("/api/tokens", json={"name": "bench"},
                                           headers={"X-CSRF-Token": csrf["csrf_token"]})).json()["token"]
                client.cookies.clear()
                await asyncio.sleep(seconds)
                quiet = await lag(client, token)
                ok, took = await logins(client, password, rate, seconds)
                busy = await lag(client, token)
    took.sort()
    return [("quiet", quiet), (f"{rate:g} logins/s ({ok} accepted, response p50 {took[len(took) // 2] * 1000:.0f} ms,"
                               f" p99 {took[int(len(took) * 0.99)] * 1000:.0f} ms)", busy)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="logins per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.rate, args.seconds))
    lines = ["# Event-loop lag while logins arrive", "",
             f"`python3 dev.py bench benchmarks/bench_event_loop.py --rate {args.rate:g}` ({args.seconds:g} s each; "
             "the simulated border station running)", "",
             "| while | lag p50 | lag p99 | lag max | samples |", "|:--|---:|---:|---:|---:|"]
    for name, r in rows:
        lines.append(f"| {name} | {r.get('lag_p50_ms', float('nan')):.2f} ms | {r.get('lag_p99_ms', float('nan')):.2f}"
                     f" ms | {r.get('lag_max_ms', float('nan')):.1f} ms | {r.get('samples', 0)} |")
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_event_loop.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
