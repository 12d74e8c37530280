"""The one pattern of every long-running part (source, stage, output): counted, supervised, quiet on bad input.

- :class:`StageCounters`: what a part did, and the bad input it met counted by category
  (bounded: made-up reasons cannot grow them), logged at most once per 10 s;
- :func:`supervise`: run a part until it returns; when it fails, log, count and start it again
  after :func:`backoff_s`;
- :func:`records_of`: a bus message's records, bad lines counted and skipped;
- :class:`LoopLag`: how late the event loop runs what is due on it (a blocking call shows here).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dronewatch.bus import Message
from dronewatch.errors import FormatError
from dronewatch.formats.scenario import parse_line
from dronewatch.model import Record

log = logging.getLogger(__name__)
BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
_LOG_EVERY_S = 10.0
INTERNAL_ERROR = "internal error"


def backoff_s(attempt: int) -> float:
    """How long to wait before the ``attempt``-th retry (0 first): growing to 10 s, then staying."""
    return BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]


async def supervise(name: str, work: Callable[[], Awaitable[None]], counters: StageCounters) -> None:
    """Run ``work`` until it returns; when it fails, log, count (``restarts``) and start it again with back-off."""
    attempt = 0
    while True:
        try:
            await work()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            counters.counts["restarts"] += 1
            log.exception("%s failed; restarting", name)
            await asyncio.sleep(backoff_s(attempt))
            attempt += 1


MAX_CATEGORIES = 100


def bounded_category(counted: Counter[str], reason: str) -> str:
    """The category a reason is counted under: its text up to the first colon; past ``MAX_CATEGORIES``
    different ones, ``other``, so that a stream of made-up reasons cannot grow the counters without end."""
    category = reason.split(":", maxsplit=1)[0][:80]
    return category if category in counted or len(counted) < MAX_CATEGORIES else "other"


@dataclass(slots=True)
class StageCounters:
    counts: Counter[str] = field(default_factory=Counter)
    bad_input: Counter[str] = field(default_factory=Counter)
    _last_log: float = 0.0
    _unlogged: int = 0

    def bad(self, stage: str, where: str, reason: str) -> None:
        """Count a bad input by its category (the reason up to its first colon); log it, at most once
        per 10 s (with how many came since)."""
        self.bad_input[bounded_category(self.bad_input, reason)] += 1
        if self._may_log():
            log.warning("%s: bad input at %s: %s%s", stage, where, reason, self._since())

    def failed(self, stage: str, where: str, error: BaseException) -> None:
        """Count a record that made the stage fail (a bug, not bad input): contained to that record,
        logged with its traceback at the same limited rate."""
        self.bad_input[INTERNAL_ERROR] += 1
        if self._may_log():
            log.error("%s: %s at %s contained to that record%s", stage, type(error).__name__, where,
                      self._since(), exc_info=error)

    def _may_log(self) -> bool:
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            return True
        self._unlogged += 1
        return False

    def _since(self) -> str:
        more, self._unlogged = self._unlogged, 0
        return f" (+{more} more since the last report)" if more else ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "bad_input": dict(self.bad_input)}


def records_of(message: Message, counters: StageCounters, stage: str) -> Sequence[Record]:
    """A message's records: as published in process, or parsed from its bytes (bad lines counted)."""
    if message.records is not None:
        return message.records
    return parse_payload(message.data, message.subject, counters, stage)


def parse_payload(data: bytes, source: str, counters: StageCounters, stage: str) -> list[Record]:
    """The records of a JSON Lines payload; bad lines counted and skipped."""
    out: list[Record] = []
    # split at newlines only: str.splitlines() also splits at U+2028 and others, which JSON strings may hold
    for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), start=1):
        try:
            record = parse_line(line, source=source, line=number)
        except FormatError as error:
            counters.bad(stage, f"{source}:{number}", error.reason)
            continue
        if record is not None:
            out.append(record)
    return out


class LoopLag:
    """Wakes every ``period_s`` and keeps how late each wake-up came (the last ``window`` of them)."""

    def __init__(self, period_s: float = 0.05, window: int = 1200) -> None:
        self.period_s = period_s
        self.lags_s: deque[float] = deque(maxlen=window)

    async def run(self) -> None:
        while True:
            due = time.perf_counter() + self.period_s
            await asyncio.sleep(self.period_s)
            self.lags_s.append(max(0.0, time.perf_counter() - due))

    def as_dict(self) -> dict[str, float]:
        """p50, p99 and the largest lag (ms) over the last minute or so."""
        if not self.lags_s:
            return {}
        lags = np.fromiter(self.lags_s, float) * 1000.0
        return {"lag_p50_ms": round(float(np.percentile(lags, 50)), 2),
                "lag_p99_ms": round(float(np.percentile(lags, 99)), 2), "lag_max_ms": round(float(lags.max()), 2),
                "samples": len(lags)}
