"""The track table: every track's state and book-keeping as columns of one row per track.

The tracker works on all tracks at once, so a track is a row index, not an object. Each column
is declared once below, with its dtype, the shape of one row and the value a new row gets when
:meth:`TrackTable.append` is not given one; appending, keeping and selecting rows go through
every declared column, so no column can fall out of step with the others.

| column | one row | meaning |
|---|---|---|
| ``x``, ``p`` | ``(6,)``, ``(6, 6)`` | the moment-matched state ``[e, n, u, ve, vn, vu]`` (site ENU) and covariance |
| ``xm``, ``pm`` | ``(M, 6)``, ``(M, 6, 6)`` | each motion mode's state and covariance |
| ``mu`` | ``(M,)`` | the mode probabilities |
| ``id`` | | the track number (``T<id>``) |
| ``confirmed`` | | past M-of-N and the confirmation score |
| ``hits`` | | detections that updated the track |
| ``score`` | | log-likelihood ratio, target vs clutter |
| ``scans`` | | radar scans that expected the track while tentative (the N of M-of-N) |
| ``miss_score`` | | ``-ln(1 - Pd)`` summed over the misses since the last hit |
| ``born``, ``last_update`` | | times (epoch s) |
| ``last_noncooperative`` | | the last update by a sensor that does not report identity; ``-inf`` never |
| ``seen_at`` | ``(S,)`` | per sensor (by its index): when it last updated the track; ``-inf`` never |
| ``outside`` | | predicted outside the coverage of every sensor that ever saw it |
| ``identity`` | | ``rid:<uas_id>``, ``icao:<icao>`` or None |
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
ObjectArray = NDArray[np.object_]

STATE_DIM = 6
# Symbolic row shapes, resolved per table: the number of motion modes and of sensor slots.
_MODES, _SENSORS = "modes", "sensors"


def _column(dtype: DTypeLike, fill: object, *row_shape: int | str) -> dict[str, Any]:
    """Declare a column: its dtype, the value of a new row where none is given, one row's shape."""
    return {"dtype": dtype, "fill": fill, "row_shape": row_shape}


@dataclasses.dataclass(slots=True)
class TrackTable:
    """One row per track; every column is a NumPy array whose first axis is the track."""

    modes: int
    sensors: int = 8
    """Sensor slots of ``seen_at``; :meth:`ensure_sensor` widens it."""

    x: FloatArray = field(init=False, metadata=_column(np.float64, 0.0, STATE_DIM))
    p: FloatArray = field(init=False, metadata=_column(np.float64, 0.0, STATE_DIM, STATE_DIM))
    xm: FloatArray = field(init=False, metadata=_column(np.float64, 0.0, _MODES, STATE_DIM))
    pm: FloatArray = field(init=False, metadata=_column(np.float64, 0.0, _MODES, STATE_DIM, STATE_DIM))
    mu: FloatArray = field(init=False, metadata=_column(np.float64, 0.0, _MODES))
    id: NDArray[np.int64] = field(init=False, metadata=_column(np.int64, 0))
    confirmed: BoolArray = field(init=False, metadata=_column(np.bool_, False))
    hits: NDArray[np.int32] = field(init=False, metadata=_column(np.int32, 0))
    score: FloatArray = field(init=False, metadata=_column(np.float64, 0.0))
    scans: NDArray[np.int32] = field(init=False, metadata=_column(np.int32, 0))
    miss_score: FloatArray = field(init=False, metadata=_column(np.float64, 0.0))
    born: FloatArray = field(init=False, metadata=_column(np.float64, 0.0))
    last_update: FloatArray = field(init=False, metadata=_column(np.float64, 0.0))
    last_noncooperative: FloatArray = field(init=False, metadata=_column(np.float64, -np.inf))
    seen_at: FloatArray = field(init=False, metadata=_column(np.float64, -np.inf, _SENSORS))
    outside: BoolArray = field(init=False, metadata=_column(np.bool_, False))
    identity: ObjectArray = field(init=False, metadata=_column(np.object_, None))

    def __post_init__(self) -> None:
        for name, dtype, fill, shape in self._columns():
            setattr(self, name, np.full((0, *shape), fill, dtype=dtype))

    def _columns(self) -> list[tuple[str, DTypeLike, object, tuple[int, ...]]]:
        """Every column's name, dtype, fill and row shape (with this table's modes and sensor slots)."""
        sizes = {_MODES: self.modes, _SENSORS: self.sensors}
        return [(name, dtype, fill, tuple(sizes[d] if isinstance(d, str) else d for d in row_shape))
                for name, dtype, fill, row_shape in _COLUMN_SPECS]

    @property
    def column_names(self) -> tuple[str, ...]:
        return COLUMN_NAMES

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def append(self, n: int, **values: object) -> IntArray:
        """Append ``n`` rows; each keyword names a column and gives its ``n`` rows (or one value for
        all of them). Columns not named get their declared fill. Returns the new rows' indices."""
        start = len(self)
        columns = self._columns()
        unknown = values.keys() - {name for name, *_ in columns}
        if unknown:
            raise KeyError(f"track table: no column {sorted(unknown)}")
        for name, dtype, fill, shape in columns:
            if name in values:
                # an object column from a list of strings must stay one object per row
                new = np.empty((n, *shape), dtype=dtype)
                new[...] = values[name]
            else:
                new = np.full((n, *shape), fill, dtype=dtype)
            setattr(self, name, np.concatenate([getattr(self, name), new]))
        return np.arange(start, start + n, dtype=np.intp)

    def keep(self, rows: BoolArray | IntArray) -> None:
        """Keep only ``rows`` (a mask or indices, in that order), in every column."""
        for name in self.column_names:
            setattr(self, name, getattr(self, name)[rows])

    def select(self, rows: BoolArray | IntArray) -> TrackTable:
        """A new table of ``rows`` (copies); this one is unchanged."""
        out = TrackTable(self.modes, self.sensors)
        for name in self.column_names:
            setattr(out, name, getattr(self, name)[rows])
        return out

    def ensure_sensor(self, index: int) -> None:
        """Make room in ``seen_at`` for the sensor of ``index``, doubling its slots as needed."""
        while index >= self.sensors:
            self.seen_at = np.hstack([self.seen_at, np.full_like(self.seen_at, -np.inf)])
            self.sensors *= 2

    def set_state(self, rows: IntArray, x: FloatArray, p: FloatArray) -> None:
        """Overwrite tracks' states, every mode alike."""
        self.x[rows], self.p[rows] = x, p
        self.xm[rows] = x[:, None, :]
        self.pm[rows] = p[:, None, :, :]

    def has_identity(self) -> BoolArray:
        """Which tracks carry an identity."""
        return np.array([key is not None for key in self.identity], dtype=bool)


_COLUMN_SPECS: tuple[tuple[str, DTypeLike, object, tuple[int | str, ...]], ...] = tuple(
    (f.name, f.metadata["dtype"], f.metadata["fill"], f.metadata["row_shape"])
    for f in dataclasses.fields(TrackTable) if "dtype" in f.metadata)
COLUMN_NAMES: tuple[str, ...] = tuple(spec[0] for spec in _COLUMN_SPECS)
"""The table's columns, in declaration order."""
