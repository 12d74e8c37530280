"""Where the worker path's latency goes: one site as worker processes on NATS, timed hop by hop.

The set-up and load are ``bench_scale.py``'s (``--targets`` at 1 Hz: radar, RF and Remote ID, as UDP
datagrams; ``api sources outputs``, ``tracker``, ``assessment`` and ``storage`` as four processes).
Beside them this process reads every message on ``dw.<site>.>`` straight from the NATS server (a
plain subscription) and notes when the first message of each scan time arrives on each subject:

- ``ingest``: the scan's first detection on the bus (the sources worker has parsed and published it);
- ``tracks``: the tracker's first snapshot at that time;
- ``picture``: the assessment's picture at that time;
- ``websocket``: the first track line of that time at a WebSocket client (as ``bench_scale.py``);
- ``alerts``: for the scans at which an alert line is written, its first arrival on the bus and at the WebSocket.

Each is measured from the moment the scan's first datagram was sent; the first 10 s are not counted.

Run: ``python3 dev.py bench benchmarks/bench_hops.py [--targets N] [--seconds S]`` on a quiet machine;
writes ``benchmarks/results/bench_hops.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import nats
import numpy as np
from nats.aio.msg import Msg

import bench_scale as scale

HERE = Path(__file__).resolve().parent
HOPS = ("ingest", "tracks", "picture")
_FIRST_TIME = re.compile(rb'"type":"(\w+)","t":([0-9.]+)')


def listen(url: str, site_id: str, arrived: dict[tuple[str, float], float], stop: threading.Event) -> None:
    """Note the first arrival of each (subject, scan time) until ``stop``."""
    async def run() -> None:
        client = await nats.connect(url)

        async def noted(message: Msg) -> None:
            now = time.perf_counter()
            stream = message.subject.rsplit(".", 1)[-1]
            for found in _FIRST_TIME.finditer(message.data[:4000]):
                if stream == "ingest" and found.group(1) != b"detection":
                    continue
                arrived.setdefault((stream, round(float(found.group(2)), 3)), now)
                break

        await client.subscribe(f"dw.{site_id}.>", cb=noted)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await client.close()

    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=40)
    args = parser.parse_args()
    arrived: dict[tuple[str, float], float] = {}
    with tempfile.TemporaryDirectory() as data, contextlib.ExitStack() as stack:
        root = Path(data)
        url = stack.enter_context(scale.nats_server(root / "nats"))
        site = scale.Site("site1", scale.free_port(socket.SOCK_STREAM), scale.free_port(socket.SOCK_DGRAM))
        stack.enter_context(scale.site_processes(root, site, url))
        stop = threading.Event()
        listener = threading.Thread(target=listen, args=(url, site.site_id, arrived, stop))
        listener.start()
        try:
            asyncio.run(scale.run_sites([site], args.targets, args.seconds))
        finally:
            stop.set()
            listener.join()
    rows = []
    for t in sorted(site.sent)[scale.WARM_S:]:
        times = [arrived.get((hop, round(t, 3))) for hop in HOPS] + [site.picture_at.get(t)]
        if all(at is not None for at in times):
            rows.append([1000.0 * (at - site.sent[t]) for at in times if at is not None])
    table = np.array(rows)
    lines = [f"# Where the worker path's latency goes ({args.targets} targets at 1 Hz)", "",
             f"`python3 dev.py bench benchmarks/bench_hops.py --targets {args.targets} --seconds {args.seconds}` "
             f"({len(rows)} scans measured; each hop from the scan's first datagram sent)", "",
             "| arrived | p50 | p90 | max |", "|:--|---:|---:|---:|"]
    for k, hop in enumerate((*HOPS, "websocket")):
        column = table[:, k] if rows else np.array([np.nan])
        lines.append(f"| {hop} | {np.median(column):.0f} ms | {np.percentile(column, 90):.0f} ms | "
                     f"{column.max():.0f} ms |")
    # alerts open at some scans only: their own rows, over the scans that have one
    for name, at_of in (("alerts (bus)", lambda t: arrived.get(("alerts", round(t, 3)))),
                        ("alerts (websocket)", site.alert_at.get)):
        column = np.array([1000.0 * (at - site.sent[t]) for t in sorted(site.sent)[scale.WARM_S:]
                           if (at := at_of(t)) is not None])
        if column.size:
            lines.append(f"| {name}, {column.size} scans | {np.median(column):.0f} ms | "
                         f"{np.percentile(column, 90):.0f} ms | {column.max():.0f} ms |")
    text = "\n".join([*lines, ""])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_hops.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
