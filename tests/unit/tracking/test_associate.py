"""Pre-gates return every pair a brute-force search finds; assignment picks the least-cost one-to-one set."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.tracking.associate import angular_candidates, assign, spatial_candidates

angles = st.lists(st.floats(-np.pi, 2 * np.pi), min_size=0, max_size=12)


@settings(max_examples=300)
@given(angles, angles, st.floats(0.0, 4.0))
def test_angular_pregate_equals_brute_force_across_north(tracks: list[float], detections: list[float],
                                                         width: float) -> None:
    t, d = np.array(tracks), np.array(detections)
    got = set(zip(*angular_candidates(t, np.full(t.size, width), d), strict=True))
    expected = {(i, j) for i in range(t.size) for j in range(d.size)
                if abs((d[j] - t[i] + np.pi) % (2 * np.pi) - np.pi) <= min(width, np.pi * (1 - 1e-9)) - 1e-12}
    assert expected <= got
    assert all(abs((d[j] - t[i] + np.pi) % (2 * np.pi) - np.pi) <= width + 1e-9 for i, j in got)
    assert len(got) == len(list(zip(*angular_candidates(t, np.full(t.size, width), d), strict=True)))


def test_spatial_pregate_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    tracks, detections = rng.uniform(-500, 500, (40, 3)), rng.uniform(-500, 500, (60, 3))
    radii = rng.uniform(10, 150, 40)
    got = set(zip(*spatial_candidates(tracks, radii, detections), strict=True))
    distance = np.linalg.norm(tracks[:, None] - detections[None], axis=2)
    assert got == {(int(i), int(j)) for i, j in zip(*np.nonzero(distance <= radii[:, None]), strict=True)}


def test_assignment_is_the_least_cost_one_to_one_choice() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        pairs = [(i, j) for i in range(4) for j in range(4) if rng.random() < 0.6]
        if not pairs:
            continue
        tracks = np.array([p[0] for p in pairs], dtype=np.intp)
        dets = np.array([p[1] for p in pairs], dtype=np.intp)
        cost = rng.uniform(0, 10, len(pairs))
        miss = np.full(len(pairs), 12.0)
        chosen = assign(tracks, dets, cost, miss)
        total = cost[chosen].sum() + 12.0 * (len(set(tracks)) - len(chosen))
        best = np.inf
        for k in range(len(pairs) + 1):
            for subset in itertools.combinations(range(len(pairs)), k):
                ts, ds = [tracks[s] for s in subset], [dets[s] for s in subset]
                if len(set(ts)) == k and len(set(ds)) == k:
                    best = min(best, cost[list(subset)].sum() + 12.0 * (len(set(tracks)) - k))
        assert np.isclose(total, best)
