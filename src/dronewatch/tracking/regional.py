"""A region's picture: the live tracks of neighbouring sites merged into regional tracks.

Each site's tracker keeps its own tracks. Where coverage overlaps, one drone is a track at each site;
the region makes it one track carrying both identities (``members``: ``<site>/<track id>``), so that
its assessment raises one alert per zone, not one per site.

A step takes every site's latest picture, predicts each track to the step's time, and groups tracks
of different sites that are the same object. Two tracks are the same object when their distance,
measured in their combined uncertainty, is within the gate, and their velocities agree; a pair that
was together before is held with a wider gate, on positions alone (two trackers' estimates of one
object wander apart for a moment, their velocities most of all while it manoeuvres, and a regional
track that splits and joins again would flicker its identity). Sites are
taken in turn, each one's tracks matched to the groups so far by optimal assignment: a site never
puts two of its tracks into one group (its tracker already judged them two objects). Tracks that
share a Remote ID or ICAO identity are one object whatever the distance.

A regional track keeps its id while any of its members goes on; when a pair parts, the surer side
keeps it; new site tracks where a regional track was lost in the last ``stale_s`` take its id (a
hand-over with a gap, a site tracker that lost the object and found it again); a new object gets the
next number. Its estimate is the members' positions and velocities weighted by the inverse of their variance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor, TrackReport, Zone

_UNKNOWN_SIGMA_M = 50.0
"""A track without ``sigma_m`` (a replayed file's, say) is taken as this far off."""
_LEAST_SIGMA_M = 1.0
_CHI2_3DOF_99 = 11.34
_NEW_TRACK_SPEED_SLACK = 2.0
_SETTLE_S = 5.0
"""A site's track younger than this has yet to settle its velocity: its speed may differ twice as much."""
_DRIFT_MPS = 3.0
"""How fast a lost regional track's place grows uncertain (a drone's turn away from its last heading)."""


@dataclass(frozen=True, slots=True)
class RegionalConfig:
    bias_m: float = 15.0
    """Per-axis standard deviation added to every pair: the sites' survey and clock disagreement."""
    gate: float = _CHI2_3DOF_99
    """Squared normalised distance within which two sites' tracks are one object."""
    hold_gate: float = 4 * _CHI2_3DOF_99
    """The same, for a pair that was one object at the step before."""
    max_distance_m: float = 300.0
    """Never one object farther apart than this, however uncertain (an angle-only track's sigma is large)."""
    max_speed_difference_mps: float = 15.0
    stale_s: float = 5.0
    """A site's picture older than this (its tracker stopped) leaves the region's picture."""


class RegionalFusion:
    """The regional tracks of ``sites`` (their order decides which site's tracks are matched first)."""

    def __init__(self, region_id: str, sites: Sequence[str], config: RegionalConfig | None = None,
                 *, first_number: int = 1) -> None:
        self.region_id = region_id
        self.sites = tuple(sites)
        self.config = config or RegionalConfig()
        self.frame: LocalFrame | None = None
        self.next_number = first_number
        self._pictures: dict[str, list[TrackReport]] = {}
        self._regional_of: dict[str, str] = {}
        """A member (``<site>/<track>``) and the regional track it was part of at the last step."""
        self._first_seen: dict[str, float] = {}
        """When the region first had each member: for a track younger than ``_SETTLE_S`` the speeds may differ more."""
        self._last: dict[str, _Estimate] = {}
        self._lost: dict[str, _Estimate] = {}
        """Regional tracks that ended in the last ``stale_s``: a new group where one would be now takes its id."""

    def place(self, sensor: Sensor) -> None:
        """The first sensor heard of places the region's frame (any fixed point near the sites would do)."""
        if self.frame is None:
            self.frame = LocalFrame(sensor.lat, sensor.lon, sensor.alt)

    def set_picture(self, site: str, reports: Sequence[TrackReport]) -> None:
        """A site's latest picture: all of its live tracks (a site's earlier picture is forgotten)."""
        self._pictures[site] = list(reports)

    def restore(self, reports: Iterable[TrackReport]) -> None:
        """Go on from the region's last published tracks: their members keep their regional ids."""
        for report in reports:
            for member in report.members or ():
                self._regional_of[member] = report.id

    def step(self, t: float) -> list[TrackReport]:
        """The regional tracks at ``t`` from every site's picture no older than ``stale_s``."""
        members, reports = self._fresh(t)
        if not reports or self.frame is None:
            groups, estimates = [], []
        else:
            dt = np.array([t - r.t for r in reports])[:, None]
            velocity = np.array([r.vel_enu for r in reports], dtype=np.float64)
            position = self.frame.positions_of(reports) + velocity * dt
            sigma = np.array([r.sigma_m if r.sigma_m is not None else _UNKNOWN_SIGMA_M for r in reports])
            # a sigma that is no number, or next to none, must not outweigh every other site's track
            variance = np.maximum(np.where(np.isfinite(sigma), sigma, _UNKNOWN_SIGMA_M), _LEAST_SIGMA_M) ** 2
            groups = self._group(t, members, reports, position, velocity, variance)
            estimates = [_fused(t, position[g], velocity[g], variance[g]) for g in groups]
        ids = self._name(t, groups, members, estimates)
        self._regional_of = {members[i]: ids[g] for g, group in enumerate(groups) for i in group}
        self._first_seen = {m: self._first_seen.get(m, t) for m in members}
        now = dict(zip(ids, estimates, strict=True))
        self._lost = {key: e for key, e in {**self._lost, **self._last}.items()
                      if key not in now and t - e.t <= self.config.stale_s}
        self._last = now
        if not groups or self.frame is None:
            return []
        lat, lon, alt = self.frame.to_geodetic(np.array([e.position for e in estimates]))
        return [_merged(ids[g], estimates[g], (float(lat[g]), float(lon[g]), float(alt[g])),
                        [reports[i] for i in group], [members[i] for i in group]) for g, group in enumerate(groups)]

    def _fresh(self, t: float) -> tuple[list[str], list[TrackReport]]:
        members: list[str] = []
        reports: list[TrackReport] = []
        for site in [*self.sites, *sorted(set(self._pictures) - set(self.sites))]:
            for report in self._pictures.get(site, ()):
                if t - report.t <= self.config.stale_s:
                    members.append(f"{site}/{report.id}")
                    reports.append(report)
        return members, reports

    def _settled(self, member: str, t: float) -> bool:
        return t - self._first_seen.get(member, t) >= _SETTLE_S

    def _group(self, t: float, members: list[str], reports: list[TrackReport], position: np.ndarray,
               velocity: np.ndarray, variance: np.ndarray) -> list[list[int]]:
        """Indices of ``reports`` that are one object each, sites matched in turn to the groups so far."""
        config = self.config
        site_of = [m.split("/", 1)[0] for m in members]
        identities = [{f"uas {r.uas_id}"} if r.uas_id else set() for r in reports]
        for found, report in zip(identities, reports, strict=True):
            if report.icao:
                found.add(f"icao {report.icao}")
        groups: list[list[int]] = []
        for site in dict.fromkeys(site_of):
            mine = [i for i, s in enumerate(site_of) if s == site]
            open_groups = [g for g, group in enumerate(groups) if all(site_of[i] != site for i in group)]
            matched: set[int] = set()
            if open_groups:
                # the groups holding a Remote ID or ICAO identity that one of this site's tracks carries too
                owner = {name: column for column, g in enumerate(open_groups) for j in groups[g]
                         for name in identities[j]}
                shared: dict[int, set[int]] = {}
                for row, i in enumerate(mine):
                    for name in identities[i] & owner.keys():
                        shared.setdefault(owner[name], set()).add(row)
                cost = np.full((len(mine), len(open_groups)), np.inf)
                centres, centre_variance, mean_velocity, before, settled = self._describe(
                    t, [groups[g] for g in open_groups], members, position, velocity, variance)
                # only the tracks near enough can join a group (or one with an identity they share)
                near = cKDTree(centres).query_ball_point(position[mine], r=config.max_distance_m)
                rows = np.array([row for row, columns in enumerate(near) for _ in columns], dtype=np.intp)
                columns = np.array([column for found in near for column in found], dtype=np.intp)
                index = np.asarray(mine, dtype=np.intp)[rows]
                distance = np.linalg.norm(position[index] - centres[columns], axis=1)
                normalised = distance ** 2 / (variance[index] + centre_variance[columns] + config.bias_m ** 2)
                held = np.array([self._regional_of.get(members[i]) in before[c]
                                 for i, c in zip(index, columns, strict=True)], dtype=bool)
                both_settled = np.array([settled[c] and self._settled(members[i], t)
                                         for i, c in zip(index, columns, strict=True)], dtype=bool)
                # a pair held from before stays on its positions: two trackers' velocities disagree for a
                # second or two whenever the object manoeuvres (a loop, a pull-up, a stop)
                slack = np.where(held, np.inf, np.where(both_settled, 1.0, _NEW_TRACK_SPEED_SLACK))
                agree = (np.linalg.norm(velocity[index] - mean_velocity[columns], axis=1)
                         <= config.max_speed_difference_mps * slack)
                fits = (normalised <= np.where(held, config.hold_gate, config.gate)) & agree
                # a pair held from before is preferred to a new one at the same distance
                cost[rows[fits], columns[fits]] = normalised[fits] * np.where(held[fits], 0.5, 1.0)
                for column, sharing in shared.items():
                    cost[list(sharing), column] = 0.0
                finite = np.where(np.isfinite(cost), cost, 1e12)
                for row, column in zip(*linear_sum_assignment(finite), strict=True):
                    if np.isfinite(cost[row, column]):
                        groups[open_groups[column]].append(mine[row])
                        matched.add(mine[row])
            groups += [[i] for i in mine if i not in matched]
        return groups

    def _describe(self, t: float, groups: list[list[int]], members: list[str], position: np.ndarray,
                  velocity: np.ndarray, variance: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[set[str]], list[bool]]:
        """Per group: its centre and the centre's variance (inverse-variance weighted), its mean velocity, the
        regional ids its members had, and whether all of them are settled."""
        weights = [1.0 / variance[group] for group in groups]
        centres = np.array([(position[group] * w[:, None]).sum(0) / w.sum() for group, w in zip(groups, weights,
                                                                                                   strict=True)])
        centre_variance = np.array([1.0 / w.sum() for w in weights])
        mean_velocity = np.array([velocity[group].mean(0) for group in groups])
        before = [{r for i in group if (r := self._regional_of.get(members[i])) is not None} for group in groups]
        settled = [all(self._settled(members[i], t) for i in group) for group in groups]
        return centres, centre_variance, mean_velocity, before, settled

    def _name(self, t: float, groups: list[list[int]], members: list[str], estimates: list[_Estimate]) -> list[str]:
        """Each group's regional id: the one most of its members had (ties: the oldest); for a group of new
        members only, a regional track lost in the last ``stale_s`` where it would be now (a site's tracker
        that lost the object and found it again, a hand-over with a gap); else the next number."""
        ids: list[str | None] = [None] * len(groups)
        taken: set[str] = set()

        def claim(g: int) -> tuple[int, float, float]:
            # bigger groups first, then the surer one (a track leaving its site's cover coasts, growing
            # uncertain, while the one that goes on is updated), then the one with the oldest member
            return (-len(groups[g]), round(estimates[g].variance, 1),
                    min(self._first_seen.get(members[i], t) for i in groups[g]))

        for g in sorted(range(len(groups)), key=claim):
            before = Counter(r for i in groups[g] if (r := self._regional_of.get(members[i])) is not None)
            for candidate, _ in sorted(before.items(), key=lambda item: (-item[1], _number(item[0]))):
                if candidate not in taken:
                    ids[g] = candidate
                    taken.add(candidate)
                    break
        config = self.config
        pairs = []
        for g in (g for g, name in enumerate(ids) if name is None):
            for lost_id, lost in self._lost.items():
                elapsed = t - lost.t
                where = lost.position + lost.velocity * elapsed
                distance = float(np.linalg.norm(estimates[g].position - where))
                spread = lost.variance + estimates[g].variance + config.bias_m ** 2 + (_DRIFT_MPS * elapsed) ** 2
                if (lost_id not in taken and distance ** 2 / spread <= config.hold_gate
                        and distance <= config.max_distance_m + _DRIFT_MPS * elapsed
                        and np.linalg.norm(estimates[g].velocity - lost.velocity)
                        <= _NEW_TRACK_SPEED_SLACK * config.max_speed_difference_mps):
                    pairs.append((distance ** 2 / spread, g, lost_id))
        for _, g, lost_id in sorted(pairs):
            if ids[g] is None and lost_id not in taken:
                ids[g] = lost_id
                taken.add(lost_id)
        for g, name in enumerate(ids):
            if name is None:
                ids[g] = f"{self.region_id}-{self.next_number}"
                self.next_number += 1
        return [i for i in ids if i is not None]



@dataclass(frozen=True, slots=True)
class _Estimate:
    t: float
    position: np.ndarray
    velocity: np.ndarray
    variance: float
    """Per axis, m²."""


def _merged(regional_id: str, estimate: _Estimate, where: tuple[float, float, float], reports: list[TrackReport],
            members: list[str]) -> TrackReport:
    """The regional track of a group: its estimate at ``where`` (latitude, longitude, altitude), the surest
    class of its members, their identities, and their sensors and tracks named by site."""
    best = max(reports, key=lambda r: r.confidence or 0.0)
    sensors = [f"{m.split('/', 1)[0]}/{s}" for r, m in zip(reports, members, strict=True) for s in r.sensors or ()]
    velocity = estimate.velocity
    return TrackReport(
        t=estimate.t, id=regional_id, lat=where[0], lon=where[1], alt=where[2],
        vel_enu=(round(float(velocity[0]), 3), round(float(velocity[1]), 3), round(float(velocity[2]), 3)),
        cls=best.cls, confidence=best.confidence,
        uas_id=next((r.uas_id for r in reports if r.uas_id), None),
        icao=next((r.icao for r in reports if r.icao), None),
        sensors=tuple(dict.fromkeys(sensors)), sigma_m=round(float(np.sqrt(estimate.variance)), 2),
        members=tuple(sorted(members)))


def _fused(t: float, position: np.ndarray, velocity: np.ndarray, variance: np.ndarray) -> _Estimate:
    """The members' estimates weighted by the inverse of their variance."""
    weights = 1.0 / variance
    total = float(weights.sum())
    return _Estimate(t, (position * weights[:, None]).sum(0) / total, (velocity * weights[:, None]).sum(0) / total,
                     1.0 / total)


def _number(regional_id: str) -> int:
    tail = regional_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def site_identities(site: str, records: Sequence[Sensor | Zone]) -> list[Sensor | Zone]:
    """A site's sensors and zones as the region knows them: ``<site>/<id>`` (two sites may both have a
    ``radar-1``, or a zone called ``station``)."""
    return [replace(r, id=f"{site}/{r.id}") for r in records]
