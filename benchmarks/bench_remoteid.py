"""Remote ID decoding speed on one core, and what the six real captures hold.

Corpus: every decodable Remote ID payload (message or pack) of the six real captures in
``tests/data/remoteid/``, decoded over and over, and one 25-byte message of each type.
Method: ``time.perf_counter`` around loops of :func:`dronewatch.formats.remoteid.decode`,
best of 5 runs; messages/s counts messages (a pack of 4 counts 4). Issue 4 asks for
>= 200,000 messages/s. The survey table counts, per capture, frames, Remote ID frames by
transport, messages by type, CRC/FCS failures and rejections by reason (an empty message pack among them).

Run: ``python3 dev.py bench benchmarks/bench_remoteid.py``; writes ``benchmarks/results/bench_remoteid.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dronewatch.formats.remoteid import (
    Authentication,
    BasicId,
    Location,
    MessagePack,
    OperatorId,
    SelfId,
    System,
    decode,
    encode,
)
from dronewatch.ingest.remoteid_capture import CaptureStats, remoteid_frames

HERE = Path(__file__).resolve().parent
CAPTURES = HERE.parent / "tests" / "data" / "remoteid"


def rate(payloads: list[bytes], repeat: int) -> float:
    messages = 0
    for payload in payloads:
        item = decode(payload)
        messages += len(item.messages) if isinstance(item, MessagePack) else 1
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            for payload in payloads:
                decode(payload)
        best = min(best, time.perf_counter() - start)
    return messages * repeat / best


def survey() -> list[str]:
    rows = ["| capture | frames | Remote ID frames by transport | decoded | messages by type "
            "| CRC/FCS failed | rejected |", "|---|---:|---|---:|---|---:|---|"]
    for path in sorted(CAPTURES.glob("*.pcap*")):
        stats = CaptureStats()
        for _ in remoteid_frames(path.read_bytes(), stats):
            pass
        transports = ", ".join(f"{name} {n}" for name, n in sorted(stats.by_transport.items()))
        messages = ", ".join(f"{name} {n}" for name, n in sorted(stats.by_message.items()))
        rejected = "; ".join(f"{n}: {why}" for why, n in stats.rejected.most_common()) or "0"
        rows.append(f"| {path.name} | {stats.frames} | {transports} | {stats.decoded} | {messages} | "
                    f"{stats.crc_failures} | {rejected} |")
    return rows


def main() -> int:
    payloads = [found.payload.data for path in sorted(CAPTURES.glob("*.pcap*"))
                for found in remoteid_frames(path.read_bytes())]
    rows = [f"| real captures ({len(payloads)} payloads) | {rate(payloads, 20):,.0f} |"]
    samples = {
        "Basic ID": BasicId(uas_id="1581F5FKD229400C37EF"),
        "Location": Location(status=2, direction_deg=90.0, speed_mps=10.0, lat=31.7, lon=-106.5,
                             pressure_altitude_m=1200.0, geodetic_altitude_m=1210.0, height_m=80.0, timestamp_s=100.0),
        "Authentication": Authentication(page=0, last_page_index=1, length=30, timestamp=1.7e9, data=bytes(17)),
        "Self-ID": SelfId(description="survey flight"),
        "System": System(operator_lat=31.7, operator_lon=-106.5, operator_altitude_m=1130.0, timestamp=1.7e9),
        "Operator ID": OperatorId(operator_id="FIN87astrdge12k8"),
    }
    for name, message in samples.items():
        rows.append(f"| {name} | {rate([encode(message)], 20000):,.0f} |")
    table = "\n".join(["# Remote ID decoding, messages/s on one core", "",
                       "`python3 dev.py bench benchmarks/bench_remoteid.py`", "",
                       "| corpus | messages/s |", "|---|---:|", *rows, "",
                       "## The real captures", "", *survey(), ""])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_remoteid.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
