"""The track table keeps its columns in step: append, keep and select touch every column alike."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.tracking.table import COLUMN_NAMES, TrackTable


def table_of_three() -> TrackTable:
    """Three tracks whose every column says which track it is (row k holds k + 1 where it can)."""
    table = TrackTable(modes=2, sensors=2)
    x = np.arange(3.0)[:, None] + np.zeros((3, 6)) + 1.0
    p = (np.arange(3.0) + 1.0)[:, None, None] * np.eye(6)
    table.append(3, x=x, p=p, xm=x[:, None, :], pm=p[:, None, :, :], mu=np.array([0.5, 0.5]),
                 id=[1, 2, 3], hits=[1, 2, 3], score=[1.0, 2.0, 3.0], born=[1.0, 2.0, 3.0],
                 last_update=[1.0, 2.0, 3.0], seen_at=[[1.0, -np.inf], [2.0, -np.inf], [3.0, -np.inf]],
                 identity=["rid:A", None, "icao:C"])
    return table


def test_an_empty_table_has_every_column_with_zero_rows_and_its_row_shape() -> None:
    table = TrackTable(modes=3, sensors=4)
    assert len(table) == 0
    shapes = {name: getattr(table, name).shape for name in COLUMN_NAMES}
    assert shapes == {"x": (0, 6), "p": (0, 6, 6), "xm": (0, 3, 6), "pm": (0, 3, 6, 6), "mu": (0, 3), "id": (0,),
                      "confirmed": (0,), "hits": (0,), "score": (0,), "scans": (0,), "miss_score": (0,),
                      "born": (0,), "last_update": (0,), "last_noncooperative": (0,), "seen_at": (0, 4),
                      "outside": (0,), "identity": (0,)}
    assert table.hits.dtype == np.int32 and table.id.dtype == np.int64 and table.identity.dtype == object


def test_append_fills_the_columns_not_given_and_returns_the_new_rows() -> None:
    table = table_of_three()
    rows = table.append(2, x=np.full((2, 6), 9.0), id=[7, 8], identity=["rid:X", "rid:Y"])
    assert rows.tolist() == [3, 4]
    assert all(getattr(table, name).shape[0] == 5 for name in COLUMN_NAMES)
    assert table.confirmed[3:].tolist() == [False, False]
    assert table.last_noncooperative[3:].tolist() == [-np.inf, -np.inf]
    assert table.seen_at[3:].tolist() == [[-np.inf, -np.inf]] * 2
    assert table.identity.tolist() == ["rid:A", None, "icao:C", "rid:X", "rid:Y"]
    assert type(table.identity[3]) is str  # a plain str, as the tracker compares and slices it


def test_append_refuses_a_column_that_does_not_exist() -> None:
    with pytest.raises(KeyError, match="velocity"):
        TrackTable(modes=1).append(1, velocity=0.0)


def test_keep_drops_the_same_rows_from_every_column() -> None:
    table = table_of_three()
    table.keep(np.array([True, False, True]))
    assert len(table) == 2
    assert table.id.tolist() == [1, 3]
    assert table.x[:, 0].tolist() == [1.0, 3.0]
    assert table.p[:, 5, 5].tolist() == [1.0, 3.0]
    assert table.pm[:, 1, 0, 0].tolist() == [1.0, 3.0]
    assert table.hits.tolist() == [1, 3]
    assert table.seen_at[:, 0].tolist() == [1.0, 3.0]
    assert table.identity.tolist() == ["rid:A", "icao:C"]


def test_select_copies_rows_in_the_order_given_and_leaves_the_table_alone() -> None:
    table = table_of_three()
    picked = table.select(np.array([2, 0]))
    picked.x[:] = -1.0
    assert picked.id.tolist() == [3, 1] and picked.identity.tolist() == ["icao:C", "rid:A"]
    assert picked.score.tolist() == [3.0, 1.0]
    assert len(table) == 3 and table.x[0, 0] == 1.0


def test_ensure_sensor_doubles_the_sensor_slots_and_keeps_what_was_seen() -> None:
    table = table_of_three()
    table.ensure_sensor(1)
    assert table.sensors == 2
    table.ensure_sensor(2)
    assert table.sensors == 4 and table.seen_at.shape == (3, 4)
    assert table.seen_at[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert np.isneginf(table.seen_at[:, 1:]).all()


def test_set_state_overwrites_every_mode_alike() -> None:
    table = table_of_three()
    table.set_state(np.array([1]), np.full((1, 6), 5.0), 7.0 * np.eye(6)[None])
    assert table.xm[1].tolist() == [[5.0] * 6] * 2
    assert table.pm[1, 0, 2, 2] == table.pm[1, 1, 2, 2] == table.p[1, 2, 2] == 7.0
    assert table.x[0, 0] == 1.0 and table.x[2, 0] == 3.0


def test_has_identity() -> None:
    assert table_of_three().has_identity().tolist() == [True, False, True]
