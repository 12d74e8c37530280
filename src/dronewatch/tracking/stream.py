"""From a stream of scenario records to tracker batches, in time order.

A sensor's scan is known complete when its ``scan`` line comes (then all its
detections since the previous one form one batch, whatever their times), or, for
a sensor that writes no ``scan`` lines, when a line with a later time arrives
(detections with equal ``t`` form one batch). A sensor with ``period_s`` that
writes no ``scan`` lines gets empty scans when a period passes without
detections, so its misses still count (at most :data:`MAX_EMPTY_SCANS` in one
gap). Until a sensor's first ``scan`` line, or until 1.5 periods (1.5 s without
``period_s``) pass without one, its detections wait, so that the first scan of a
sensor with scan lines is whole too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from dronewatch.errors import TrackingError
from dronewatch.model import Detection, Record, Scan, Sensor
from dronewatch.tracking.tracker import Tracker, TrackSnapshot

Batch = tuple[str, float, list[Detection]]

# A scan counts as empty when no detection came for this many periods.
_EMPTY_SCAN_PERIODS = 1.5
_DEFAULT_PERIOD_S = 1.0
# The most empty scans filled into one gap between a sensor's scans. By then the tracks it saw have
# been missed enough to go, or have coasted past max_coast_s; without a cap a period of 1e-300 s, or
# a sensor silent for a day, is billions of tracker cycles from one line (the site stops).
MAX_EMPTY_SCANS = 20


@dataclass(slots=True)
class _SensorQueue:
    period_s: float | None
    uses_scan_lines: bool = False
    without_scan_lines: bool = False
    last_scan_t: float | None = None
    pending: list[Detection] = field(default_factory=list)


class ScanScheduler:
    """Turns records into complete batches ``(sensor_id, t, detections)``, oldest first."""

    def __init__(self) -> None:
        self._queues: dict[str, _SensorQueue] = {}
        self._ready: list[Batch] = []

    def feed(self, record: Record) -> list[Batch]:
        """Take one record; return the batches it completes, oldest first."""
        if isinstance(record, Sensor):
            queue = self._queues.get(record.id)
            if queue is None:
                self._queues[record.id] = _SensorQueue(record.period_s)
            else:
                queue.period_s = record.period_s
            return []
        if isinstance(record, Detection):
            self._close_before(record.t)
            self._queues[record.sensor].pending.append(record)
        elif isinstance(record, Scan):
            self._close_before(record.t)
            queue = self._queues[record.sensor]
            queue.uses_scan_lines = True
            self._ready.append((record.sensor, record.t, queue.pending))
            queue.pending = []
            queue.last_scan_t = record.t
        else:
            return []
        return self._release()

    def flush(self, sensor_id: str) -> list[Batch]:
        """Every batch of ``sensor_id`` now, closed or still open, oldest first (the sensor is declared
        again as another kind: what it sent so far was measured as the kind it was)."""
        queue = self._queues.get(sensor_id)
        if queue is None:
            return []
        out = [batch for batch in self._ready if batch[0] == sensor_id]
        self._ready = [batch for batch in self._ready if batch[0] != sensor_id]
        if queue.uses_scan_lines:
            if queue.pending:
                out.append((sensor_id, max(d.t for d in queue.pending), queue.pending))
            queue.pending = []
        else:
            out.extend(self._group(sensor_id, queue, float("inf"), fill_empty=False))
        return sorted(out, key=lambda batch: batch[1])

    def finish(self) -> list[Batch]:
        """The batches still open at the end of the stream."""
        for sensor_id, queue in self._queues.items():
            if queue.uses_scan_lines:
                if queue.pending:
                    self._ready.append((sensor_id, max(d.t for d in queue.pending), queue.pending))
            else:
                self._ready.extend(self._group(sensor_id, queue, float("inf"), fill_empty=False))
            queue.pending = []
        ready = sorted(self._ready, key=lambda batch: batch[1])
        self._ready = []
        return ready

    def waiting(self) -> bool:
        """Whether a sensor without scan lines has detections waiting for a later line to close them."""
        return any(q.pending and q.without_scan_lines for q in self._queues.values())

    def close_waiting(self) -> list[Batch]:
        """Close the batches of sensors without scan lines now, not at the next later line: a live feed that
        has gone quiet for a moment has sent the whole of those scans (see :meth:`StreamTracker.close_waiting`)."""
        for sensor_id, queue in self._queues.items():
            if queue.without_scan_lines and queue.pending:
                self._ready.extend(self._group(sensor_id, queue, float("inf"), fill_empty=False))
        return self._release()

    def _close_before(self, t: float) -> None:
        """Close the batches of sensors without scan lines that end before ``t``."""
        for sensor_id, queue in self._queues.items():
            if queue.uses_scan_lines:
                continue
            if not queue.without_scan_lines:
                if not queue.pending:
                    continue
                wait = _EMPTY_SCAN_PERIODS * (queue.period_s or _DEFAULT_PERIOD_S)
                if t <= queue.pending[0].t + wait:
                    continue  # a scan line may still come for the first scan
                queue.without_scan_lines = True
            self._ready.extend(self._group(sensor_id, queue, t))

    def _release(self) -> list[Batch]:
        """Closed batches older than any detection still waiting to learn whether scan lines come."""
        if not self._ready:
            return []
        waiting = [q.pending[0].t for q in self._queues.values()
                   if q.pending and not q.uses_scan_lines and not q.without_scan_lines]
        horizon = min(waiting, default=float("inf"))
        self._ready.sort(key=lambda batch: batch[1])
        cut = 0
        while cut < len(self._ready) and self._ready[cut][1] < horizon:
            cut += 1
        released, self._ready = self._ready[:cut], self._ready[cut:]
        return released

    @staticmethod
    def _group(sensor_id: str, queue: _SensorQueue, before_t: float, *, fill_empty: bool = True) -> list[Batch]:
        """Batches of equal-time detections older than ``before_t``, with empty scans between."""
        out: list[Batch] = []
        pending = queue.pending
        period = queue.period_s if fill_empty else None
        empty = 0
        while True:
            next_t = pending[0].t if pending else None
            if period and queue.last_scan_t is not None:
                empty_t = queue.last_scan_t + period
                limit = min(before_t, next_t) if next_t is not None else before_t
                if empty_t + (_EMPTY_SCAN_PERIODS - 1.0) * period < limit:
                    if empty >= MAX_EMPTY_SCANS:  # the rest of the gap goes unfilled
                        queue.last_scan_t = max(queue.last_scan_t, limit - _EMPTY_SCAN_PERIODS * period)
                        period = None
                        continue
                    out.append((sensor_id, empty_t, []))
                    queue.last_scan_t = empty_t
                    empty += 1
                    continue
            if next_t is None or next_t >= before_t:
                break
            k = 1
            while k < len(pending) and pending[k].t == next_t:
                k += 1
            out.append((sensor_id, next_t, pending[:k]))
            pending = pending[k:]
            queue.last_scan_t = next_t
        queue.pending = pending
        return out


class StreamTracker:
    """A tracker fed one record at a time (a live feed): :meth:`feed` returns the snapshots the
    record completes, one per update time, as :func:`track_records` yields them for a file.

    With ``immediate``, a snapshot follows the batches of each time a record completes at once (a
    live feed cannot wait for the next batch to learn that no other sensor reports the same
    time: that would add a scan period of latency); snapshots of equal time may then repeat."""

    def __init__(self, tracker: Tracker | None = None, *, immediate: bool = False) -> None:
        self.tracker = tracker if tracker is not None else Tracker()
        self.immediate = immediate
        self._scheduler = ScanScheduler()
        self._last_t: float | None = None

    def knows(self, sensor_id: str) -> bool:
        return sensor_id in self.tracker.sites

    def feed(self, record: Record) -> list[TrackSnapshot]:
        """Take one record. A detection or scan of a sensor not declared yet is a
        :class:`~dronewatch.errors.TrackingError` (declare the sensor first)."""
        if isinstance(record, Sensor):
            known = self.tracker.sites.get(record.id)
            if known is not None and known.sensor.kind != record.kind:
                # its waiting detections were checked against the old kind: the new one would read an
                # acoustic bearing as a Remote ID position without lat/lon (a track at NaN)
                flushed = self._run(self._scheduler.flush(record.id))
                self.tracker.add_sensor(record)
                return flushed + self._run(self._scheduler.feed(record))
            self.tracker.add_sensor(record)
        elif isinstance(record, Detection | Scan) and not self.knows(record.sensor):
            raise TrackingError(f"sensor {record.sensor!r} has no sensor line yet")
        return self._run(self._scheduler.feed(record))

    def waiting(self) -> bool:
        """Whether :meth:`close_waiting` has batches to close."""
        return self._scheduler.waiting()

    def close_waiting(self) -> list[TrackSnapshot]:
        """The snapshots of the waiting batches of sensors without scan lines, closed now. A live feed calls
        this when no record has come for a moment: such a sensor's scan is otherwise closed only by the next
        later line, which on a quiet site is a scan period away (and then holds up the radar scan after it)."""
        return self._run(self._scheduler.close_waiting())

    def finish(self) -> list[TrackSnapshot]:
        """The snapshots of what is still pending at the end of the stream."""
        out = self._run(self._scheduler.finish())
        if self._last_t is not None and not self.immediate:
            out.append(self.tracker.snapshot())
        return out

    def _run(self, batches: list[Batch]) -> list[TrackSnapshot]:
        out = []
        for n, (sensor_id, t, detections) in enumerate(batches):
            if not self.immediate and self._last_t is not None and t > self._last_t:
                out.append(self.tracker.snapshot())
            self.tracker.process(sensor_id, t, detections)
            self._last_t = self.tracker.time
            # several sensors' scans of one time closed together: one snapshot after the last of them
            if self.immediate and (n + 1 == len(batches) or batches[n + 1][1] != t):
                out.append(self.tracker.snapshot())
        return out


def track_records(records: Iterable[Record], tracker: Tracker) -> Iterator[TrackSnapshot]:
    """Run ``tracker`` over ``records``; yield the confirmed tracks once per update time."""
    stream = StreamTracker(tracker)
    for record in records:
        yield from stream.feed(record)
    yield from stream.finish()
