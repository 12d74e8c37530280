"""Batching a record stream into sensor scans: scan lines, equal times, and empty scans from period_s."""

from __future__ import annotations

from dronewatch.model import Detection, Record, Scan, Sensor
from dronewatch.tracking import ScanScheduler, StreamTracker


def radar(sensor_id: str = "r", period_s: float | None = None) -> Sensor:
    return Sensor(id=sensor_id, kind="radar", lat=31.7, lon=-106.5, alt=1100.0, period_s=period_s)


def plot(t: float, sensor_id: str = "r") -> Detection:
    return Detection(t=t, sensor=sensor_id, range_m=500.0, azimuth_deg=10.0, elevation_deg=2.0)


def batches(records: list[Record]) -> list[tuple[str, float, int]]:
    scheduler = ScanScheduler()
    out = [b for r in records for b in scheduler.feed(r)] + scheduler.finish()
    return [(sensor_id, t, len(detections)) for sensor_id, t, detections in out]


def test_scan_lines_close_batches_even_when_detection_times_differ() -> None:
    records: list[Record] = [radar(), plot(0.1), plot(0.6), Scan(1.0, "r"), Scan(2.0, "r"), plot(2.5), Scan(3.0, "r")]
    assert batches(records) == [("r", 1.0, 2), ("r", 2.0, 0), ("r", 3.0, 1)]


def test_without_scan_lines_equal_times_form_a_batch() -> None:
    records: list[Record] = [radar(), plot(1.0), plot(1.0), plot(2.0), plot(3.0), plot(3.0), plot(3.0)]
    assert batches(records) == [("r", 1.0, 2), ("r", 2.0, 1), ("r", 3.0, 3)]


def test_period_gives_empty_scans_when_nothing_comes() -> None:
    records: list[Record] = [radar(period_s=1.0), plot(1.0), plot(5.0)]
    assert batches(records) == [("r", 1.0, 1), ("r", 2.0, 0), ("r", 3.0, 0), ("r", 4.0, 0), ("r", 5.0, 1)]


def test_batches_of_several_sensors_come_out_in_time_order() -> None:
    records: list[Record] = [radar("a"), radar("b"), plot(1.0, "a"), plot(1.5, "b"), plot(2.0, "a"), plot(2.0, "b"),
                             plot(3.0, "a")]
    assert batches(records) == [("a", 1.0, 1), ("b", 1.5, 1), ("a", 2.0, 1), ("b", 2.0, 1), ("a", 3.0, 1)]


def test_live_stream_gives_one_snapshot_per_time_a_record_completes() -> None:
    """Live (``immediate``), two sensors' scans of one time closed by one record make one snapshot, taken
    after both: the first would be stale before it was sent."""
    stream = StreamTracker(immediate=True)
    for record in [radar("a"), radar("b"), plot(1.0, "a"), plot(1.0, "b"), plot(2.0, "a"), plot(2.0, "b")]:
        assert stream.feed(record) == []  # neither has shown yet whether it writes scan lines
    assert [s.t for s in stream.feed(plot(3.0, "a"))] == [1.0, 2.0]


def test_close_waiting_closes_the_scans_of_sensors_without_scan_lines_only() -> None:
    scheduler = ScanScheduler()
    for record in [radar("a"), radar("b"), plot(1.0, "a"), plot(2.0, "a"), plot(2.0, "b"), Scan(2.0, "b"),
                   plot(3.0, "a"), plot(3.0, "b")]:
        scheduler.feed(record)
    assert scheduler.waiting()  # a has shown it writes no scan lines, b that it does
    assert [(s, t, len(d)) for s, t, d in scheduler.close_waiting()] == [("a", 3.0, 1)]
    assert not scheduler.waiting()
