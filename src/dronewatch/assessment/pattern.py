"""Pattern of life: where drones first appear and where their operators stand, and when drones come.

Reconnaissance flights come before attacks. Over a window (weeks, typically), per site:

- a **heat grid** of where each drone track was first seen as a drone, and one of where Remote ID
  drones' operators were reported (each operator counted once per cell), on cells of about
  ``CELL_M`` metres;
- a **weekday x hour** count of drone arrivals (UTC).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

CELL_M = 100.0
_METRES_PER_DEGREE = 111_320.0
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heat_cells(points: Iterable[tuple[float, float]], ref_lat: float) -> list[list[float]]:
    """``[lat, lon, count]`` of each cell holding points, its centre, most first."""
    step_lat = CELL_M / _METRES_PER_DEGREE
    step_lon = step_lat / max(math.cos(math.radians(ref_lat)), 0.01)
    counts = Counter((math.floor(lat / step_lat), math.floor(lon / step_lon)) for lat, lon in points)
    return [[round((i + 0.5) * step_lat, 6), round((j + 0.5) * step_lon, 6), n]
            for (i, j), n in counts.most_common()]


def weekly_activity(times: Iterable[float]) -> list[list[int]]:
    """7 x 24 counts (Monday first, hours UTC)."""
    grid = [[0] * 24 for _ in WEEKDAYS]
    for t in times:
        moment = datetime.fromtimestamp(t, UTC)
        grid[moment.weekday()][moment.hour] += 1
    return grid


OPERATOR_CELL_DEG = CELL_M / _METRES_PER_DEGREE
"""The cell in which an operator counts once (``Repository.operator_places``)."""


def pattern_of_life(arrivals: Sequence[tuple[str, float, float, float]],
                    operator_places: Sequence[tuple[float, float]] | None, t_from: float, t_to: float
                    ) -> dict[str, Any]:
    """The pattern over the window: ``arrivals`` as ``Repository.drone_arrivals`` gives them, ``operator_places``
    as ``Repository.operator_places`` with :data:`OPERATOR_CELL_DEG` (None: withheld from the one asking)."""
    reference = arrivals[0][2] if arrivals else (operator_places[0][0] if operator_places else 0.0)
    result: dict[str, Any] = {
        "from": t_from, "to": t_to, "cell_m": CELL_M, "drones": len(arrivals),
        "arrivals": heat_cells(((lat, lon) for _, _, lat, lon in arrivals), reference),
        "weekly": weekly_activity(t for _, t, _, _ in arrivals)}
    if operator_places is not None:
        # one place per operator and cell: a pilot standing an hour in one place is one place, not 3,600
        result["operators"] = heat_cells(operator_places, reference)
    return result
