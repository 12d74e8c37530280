"""Playing timed records back at a pace: a file or a simulation as a live feed."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """How long to wait before a record of time ``t_s`` is due, when records are played at ``speed`` times their
    own pace: time ``origin_s`` (by default the first time asked about) is due at the first question, on ``clock``.
    ``speed`` 0 never waits (as fast as the consumer takes them)."""

    def __init__(self, speed: float = 1.0, *, origin_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self.origin_s = origin_s
        self.clock = clock
        self._started: float | None = None

    def delay_s(self, t_s: float) -> float:
        """Seconds until ``t_s`` is due; zero or less: due now."""
        if self.speed <= 0:
            return 0.0
        if self._started is None:
            self._started = self.clock()
        if self.origin_s is None:
            self.origin_s = t_s
        return (t_s - self.origin_s) / self.speed - (self.clock() - self._started)
