"""ADS-B / Mode S decoding speed on one core: the real Beast recording, framed and decoded as ``dronewatch adsb``
does (issue 19: report messages/s; at least 50,000/s if the library allows).

Corpus: ``tests/data/feeds/adsb/ulss7_beast_2018-04-03.bin`` (13,954 frames in 61 s from a receiver near St
Petersburg: 5,026 Mode A/C, 8,928 Mode S), read ``--repeat`` times over with a fresh decoder each time, in
one process (one core). Timed separately: framing alone (:func:`beast_frames`), decoding alone (the framed
replies through :class:`ModeSDecoder`, rs1090 behind it, CPR and per-aircraft state included), and both
(``feed_messages``, what the command runs). Rates count Mode S replies (messages a decoder is given; Mode A/C
frames carry no address and are only counted). Best of ``--repeat`` runs.

Run on a quiet machine: ``python3 dev.py bench benchmarks/bench_adsb.py [--repeat N]``; writes
``benchmarks/results/bench_adsb.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from dronewatch.formats.adsb import beast_frames
from dronewatch.ingest.adsb import ModeSDecoder, feed_messages

HERE = Path(__file__).resolve().parent
BEAST = HERE.parent / "tests" / "data" / "feeds" / "adsb" / "ulss7_beast_2018-04-03.bin"
START = 1522782148.136310917


def best(runs: int, work: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", default=str(HERE / "results" / "bench_adsb.md"))
    args = parser.parse_args()
    data = BEAST.read_bytes()
    frames, _, _ = beast_frames(data)
    mode_s = sum(len(f.data) != 2 for f in frames)
    framing = best(args.repeat, lambda: beast_frames(data))
    decoding = best(args.repeat, lambda: ModeSDecoder((59.8, 30.26), start=START).decode(frames))
    both = best(args.repeat, lambda: list(feed_messages(data, "beast", ModeSDecoder((59.8, 30.26), start=START))))
    rows = [("framing (Beast bytes to frames)", framing), ("decoding (rs1090, CPR, state)", decoding),
            ("both: `dronewatch adsb decode`'s path", both)]
    lines = [
        "# ADS-B / Mode S decoding speed, one core", "",
        f"`python3 dev.py bench benchmarks/bench_adsb.py --repeat {args.repeat}`; {platform.machine()}, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end.", "",
        f"Corpus: the real Beast recording, {len(frames):,} frames ({mode_s:,} Mode S), {len(data):,} bytes; "
        f"best of {args.repeat} runs.", "",
        "| stage | time per file | Mode S messages/s | frames/s |", "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {seconds * 1e3:.1f} ms | {mode_s / seconds:,.0f} | {len(frames) / seconds:,.0f} |"
              for name, seconds in rows]
    lines += ["", f"Goal (issue 19): >= 50,000 messages/s if the library allows: "
                  f"{'PASS' if mode_s / both >= 50_000 else 'MISS'} ({mode_s / both:,.0f}/s end to end)."]
    text = "\n".join(lines) + "\n"
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
