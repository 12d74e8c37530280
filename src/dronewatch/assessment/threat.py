"""Threat rules over classified tracks and zones, feeding the alert book.

At each step (``period_s``, one second by default) every track is classified, then:

==========================  ==================================================================
``zone_entry``              inside a zone (its floor and ceiling included)
``zone_breach_predicted``   the straight path at the current velocity comes within one standard
                            deviation of a zone within ``warning_horizon_s``; ``eta_s``: when the
                            path itself enters, else when its band first touches
``loiter``                  a drone that stayed within ``loiter_radius_m`` for ``loiter_s``
``swarm``                   ``swarm_min`` or more drones inside or predicted into one zone
``no_remote_id``            a drone without Remote ID, ``no_remote_id_after_s`` after it appeared
``remote_id_spoof``         a Remote ID track that a sensor track of the same object contradicts
                            (parallel, further apart than their uncertainty allows), or that no
                            radar confirms for ``spoof_unseen_s`` where a radar should see it
``emergency_squawk``        an aircraft whose transponder says 7500, 7600 or 7700
==========================  ==================================================================

Levels: a drone takes the zone's level when inside it or predicted in within
``critical_horizon_s``, one level less for later predictions. A track of ``unknown`` class
is capped at ``warning``, birds and aircraft raise no zone alerts (aircraft: ``info`` for an
entry). Swarms take the zone's level. Loitering and spoofing are warnings; a missing Remote
ID and an aircraft's emergency squawk are information. Every alert carries its reasons and the evidence it
was raised on.

Safe under doubt (``docs/assessment.md``): near a critical zone, anything but a settled bird or
aircraft warns; a prediction takes the zone's level only when the path itself enters, not its
uncertainty band alone; a critical zone's alert whose track is lost close to the zone is held
open (``lost_hold_s``), never resolved by the loss.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dronewatch.assessment.airframes import AirframeLists
from dronewatch.assessment.alerts import AlertBook, Condition
from dronewatch.assessment.classify import Classification, Classifier, SoftmaxModel
from dronewatch.assessment.config import AssessmentConfig
from dronewatch.geo import LocalFrame, enu2aer
from dronewatch.geo.coverage import in_coverage
from dronewatch.geo.zones import ZoneSet
from dronewatch.model import EMERGENCY_SQUAWKS, LEVELS, Alert, Level, Sensor, TrackReport, Zone

FloatArray = NDArray[np.float64]


@dataclass(slots=True)
class _Lost:
    """A track gone from the reports while it had zone alerts open."""

    t: float
    alerts: list[Alert]
    """Its zone alerts as they stood when it was last seen."""
    eta: dict[str, float]
    """Predicted breach time per zone id when it was last seen (``inf``: none)."""


@dataclass(slots=True)
class _TrackState:
    first_t: float
    positions: deque[tuple[float, FloatArray]] = field(default_factory=deque)
    velocities: deque[tuple[float, FloatArray]] = field(default_factory=deque)
    radar_t: float = -math.inf
    cls: str = "unknown"
    cls_since: float = math.inf
    uas_id: str | None = None
    """The last Remote ID the track carried (identity may drop out of a report for a while)."""
    unconfirmed_since: float | None = None
    spoof_pairs: dict[str, int] = field(default_factory=dict)
    eta: dict[str, float] = field(default_factory=dict)


def _turn_rates(windows: Sequence[deque[tuple[float, FloatArray]]]) -> FloatArray:
    """Per track, the mean heading rate (rad/s, counter-clockwise) while moving; 0 for too short a history
    or a track slower than 2 m/s. All tracks at once: each window is padded at its start with copies of
    its oldest sample, which change neither its ends nor its slowest speed."""
    n, width = len(windows), max((len(w) for w in windows), default=0)
    t, v, count = np.empty((n, width)), np.empty((n, width, 2)), np.empty(n)
    for k, window in enumerate(windows):
        pad, count[k] = width - len(window), len(window)
        t[k, pad:], v[k, pad:] = [s for s, _ in window], [u[:2] for _, u in window]
        t[k, :pad], v[k, :pad] = window[0][0], window[0][1][:2]
    heading = np.unwrap(np.arctan2(v[..., 1], v[..., 0]), axis=1)
    span = t[:, -1] - t[:, 0]
    moving = (count >= 3) & (np.hypot(v[..., 0], v[..., 1]).min(axis=1) >= 2.0) & (span > 0)
    return np.where(moving, (heading[:, -1] - heading[:, 0]) / np.where(span > 0, span, 1.0), 0.0)


def _lower(level: Level) -> Level:
    return LEVELS[max(LEVELS.index(level) - 1, 0)]


def _cap(level: Level, cap: Level) -> Level:
    return level if LEVELS.index(level) <= LEVELS.index(cap) else cap


class Assessor:
    """Feed track reports with :meth:`update` (as often as they come); it assesses once a period."""

    def __init__(self, frame: LocalFrame, sensors: Sequence[Sensor], zones: Sequence[Zone],
                 config: AssessmentConfig | None = None, model: SoftmaxModel | None = None) -> None:
        self.frame = frame
        self.config = config or AssessmentConfig()
        self.zones = ZoneSet.build(zones, frame)
        self.classifier = Classifier(frame, [], model)
        self.book = AlertBook(clear_s=self.config.clear_s)
        self.classes: dict[str, Classification] = {}
        self._tracks: dict[str, _TrackState] = {}
        self._lost: dict[str, _Lost] = {}
        self.assessed_at = -math.inf
        self.airframes = AirframeLists()
        """The allow- and watch-list entries in force (``airframes.py``)."""
        self.set_sensors(sensors)

    def set_sensors(self, sensors: Sequence[Sensor]) -> None:
        """The site's sensors (a live site may declare them as it goes)."""
        self.sensors = list(sensors)
        self._kinds = {s.id: s.kind for s in sensors}
        self.classifier.set_sensors(self.sensors)
        self._cooperative = {s.id for s in sensors if s.kind in ("remoteid", "adsb")}
        self._radars = [s for s in sensors if s.kind == "radar"]

    def set_zones(self, zones: Sequence[Zone]) -> None:
        """Replace the zones (validated first: a bad zone leaves the old ones in place)."""
        self.zones = ZoneSet.build(zones, self.frame)

    def update(self, t: float, reports: Sequence[TrackReport]) -> list[Alert]:
        """Alert lines for the tracks reported at ``t`` (none between assessment periods). A report without
        its position's sigma is taken to be ``position_sigma_m`` off."""
        if t - self.assessed_at < self.config.period_s - 1e-9:
            return []
        self.assessed_at = t
        position = self.frame.positions_of(reports)
        self.classes = self.classifier.update(t, reports, position)
        conditions = self._conditions(t, list(reports), position)
        if len(self.airframes):
            by_id = {r.id: r for r in reports}
            identities = {r.id: self._identities(r) for r in reports}
            sigma = self.config.position_sigma_m
            conditions = self.airframes.apply(
                t, conditions, identities,
                lambda track: self._evidence(by_id[track], self.classes[track], by_id[track].sigma_m or sigma))
        return self.book.step(t, conditions, {r.id for r in reports})

    # ------------------------------------------------------------------ rules
    def _conditions(self, t: float, reports: list[TrackReport], position: FloatArray) -> list[Condition]:
        c = self.config
        live = {r.id for r in reports}
        for gone in [k for k in self._tracks if k not in live]:
            self._remember_lost(gone, self._tracks.pop(gone))
        held = self._held(t)
        if not reports:
            return held
        velocity = np.array([r.vel_enu for r in reports], dtype=float)
        sigma = np.array([c.position_sigma_m if r.sigma_m is None else r.sigma_m for r in reports])
        for n, report in enumerate(reports):
            state = self._tracks.setdefault(report.id, _TrackState(first_t=t))
            state.positions.append((t, position[n]))
            state.velocities.append((t, velocity[n]))
            while state.positions[0][0] < t - c.loiter_s:
                state.positions.popleft()
            while state.velocities[0][0] < t - c.turn_window_s:
                state.velocities.popleft()
            if report.uas_id:
                state.uas_id = report.uas_id
        turn_rate = _turn_rates([self._tracks[r.id].velocities for r in reports])
        inside = self.zones.inside(position)
        eta = self.zones.entry_times(position, velocity, sigma + c.zone_buffer_m, c.warning_horizon_s,
                                     velocity_sigma_mps=c.velocity_sigma_mps, turn_rate_rps=turn_rate)
        # the path itself entering, not only its uncertainty: a breach at least as likely as not, and the
        # expected time of it (the band's first touch is the earliest, by as much as the band is wide)
        central_eta = self.zones.entry_times(position, velocity, np.zeros(len(reports)), c.warning_horizon_s,
                                             velocity_sigma_mps=0.0, turn_rate_rps=turn_rate)
        # the breach time an alert states and counts down to: the path's own where it enters, else the band's
        expected = np.where(np.isfinite(central_eta), central_eta, eta)
        doubt_steps = round(c.settle_s / c.period_s) + 1  # longer than a class takes to settle
        out: list[Condition] = held
        heading_for: dict[int, list[tuple[float, int]]] = {z: [] for z in range(len(self.zones))}
        for n, report in enumerate(reports):
            state = self._tracks[report.id]
            if t - state.first_t < self.classifier.min_age_s:
                continue  # too new to tell a drone from clutter: no rule fires yet
            if position[n, 2] < -c.below_ground_m:
                continue  # well under the site's ground: a track gone astray, not an object
            cls = self.classes[report.id]
            evidence = self._evidence(report, cls, float(sigma[n]))
            who = self._who(report, cls)
            caps: dict[str, Level] = {"drone": "critical", "unknown": "warning", "aircraft": "info"}
            cap = caps.get(cls.cls)
            if cls.cls != state.cls:
                state.cls, state.cls_since = cls.cls, t
            kept = math.inf if report.uas_id is not None else (
                t - state.cls_since if cls.confidence >= c.settled_confidence else 0.0)
            settled = kept >= c.settle_s
            if any(self._kinds.get(sensor) == "radar" for sensor in report.sensors or ()):
                state.radar_t = t
            unconfirmed = (report.uas_id is None and t - state.radar_t > c.radar_confirm_s
                           and self._radar_should_see(position[n]))
            if cap is not None and (not settled or unconfirmed):
                cap = "info"  # a new or doubtful class, or no radar return where one is due: tell, do not warn
            if unconfirmed:
                who = (*who, f"no radar return for {c.radar_confirm_s:g} s where the radar should see it")
            # close to a critical zone, doubt that lasts warns: only a settled bird or aircraft is let pass
            # (a young bird or clutter track has settled or gone by then)
            doubt_warns = (not unconfirmed and not (settled and cls.cls in ("bird", "aircraft"))
                           and (cap is None or LEVELS.index(cap) < LEVELS.index("warning")))
            state.eta = {zone.id: float(expected[n, z]) for z, zone in enumerate(self.zones.zones)}
            for z, zone in enumerate(self.zones.zones):
                zone_cap, open_after = cap, 1
                close = inside[n, z] or central_eta[n, z] <= c.critical_horizon_s
                if doubt_warns and zone.level == "critical" and close:
                    zone_cap, open_after = "warning", doubt_steps
                elif zone.level != "critical" and zone_cap is not None and kept < c.outer_settle_s:
                    zone_cap = "info"
                if zone_cap is None:
                    continue
                if inside[n, z]:
                    out.append(Condition((report.id, zone.id, "zone_entry"), report.id, _cap(zone.level, zone_cap),
                                         (*who, f"inside zone {zone.id}"), None, evidence, open_after))
                    if zone_cap == "critical":
                        heading_for[z].append((0.0, n))
                elif math.isfinite(eta[n, z]) and (cls.cls != "aircraft" or zone_cap != cap):
                    # the zone's level only when the path itself enters soon; its uncertainty merely
                    # grazing the zone (a drone orbiting outside) is one level less
                    likely = central_eta[n, z] <= c.critical_horizon_s
                    level = zone.level if eta[n, z] <= c.critical_horizon_s and likely else _lower(zone.level)
                    out.append(Condition((report.id, zone.id, "zone_breach_predicted"), report.id,
                                         _cap(level, zone_cap),
                                         (*who, f"heading for zone {zone.id}, breach in {expected[n, z]:.0f} s"),
                                         float(expected[n, z]), evidence, max(open_after, 2)))
                    if zone_cap == "critical":
                        heading_for[z].append((float(expected[n, z]), n))
            if report.squawk in EMERGENCY_SQUAWKS:
                out.append(Condition((report.id, None, "emergency_squawk"), report.id, "info",
                                     (*who, f"squawks {report.squawk}: {EMERGENCY_SQUAWKS[report.squawk]}"), None,
                                     {**evidence, "callsign": report.callsign, "squawk": report.squawk}))
            if cls.cls != "drone":
                continue
            if t - state.first_t >= c.loiter_s and len(state.positions) > 1:
                points = np.array([p for _, p in state.positions])
                spread = float(np.max(np.linalg.norm(points[:, :2] - points[:, :2].mean(axis=0), axis=1)))
                if spread <= c.loiter_radius_m:
                    out.append(Condition((report.id, None, "loiter"), report.id, "warning",
                                         (*who, f"holding within {spread:.0f} m for {c.loiter_s / 60:.0f} min"),
                                         None, evidence))
            if state.uas_id is None and t - state.first_t >= c.no_remote_id_after_s:
                out.append(Condition((report.id, None, "no_remote_id"), report.id, "info",
                                     ("drone without Remote ID", *cls.reasons), None, evidence))
        out += self._swarms(reports, heading_for, position)
        out += self._spoofing(t, reports, position, velocity, sigma)
        return out

    def _remember_lost(self, track_id: str, state: _TrackState) -> None:
        """Keep what is needed to hold a lost track's zone alerts, if it was lost near their zones."""
        alerts = [a for a in self.book.open_alerts if a.track == track_id
                  and a.kind in ("zone_entry", "zone_breach_predicted") and a.level != "info"]
        if not alerts:  # most tracks end with none: no distances to compute
            return
        position = state.positions[-1][1]
        distance = {zone.id: d for zone, d in zip(self.zones.zones, self.zones.distances_m(position), strict=True)
                    if zone.level == "critical"}
        alerts = [a for a in alerts if a.zone in distance and distance[a.zone] <= self.config.lost_near_m]
        if alerts:
            self._lost[track_id] = _Lost(state.positions[-1][0], alerts, dict(state.eta))

    def _held(self, t: float) -> list[Condition]:
        """The zone alerts of tracks lost near their zones, held open (see ``lost_hold_s``)."""
        live = {a.id: a for a in self.book.open_alerts}
        zones = {z.id: z for z in self.zones.zones}
        out = []
        for track_id, lost in list(self._lost.items()):
            age = t - lost.t
            # past the hold, only what nobody has acknowledged since the loss: a strike must be seen
            alerts = [a for a in lost.alerts if a.id in live and a.zone in zones
                      and (age <= self.config.lost_hold_s or live[a.id].state != "acknowledged")]
            if not alerts:
                del self._lost[track_id]
                continue
            for alert in alerts:
                assert alert.zone is not None
                zone = zones[alert.zone]
                eta = lost.eta.get(zone.id, math.inf)
                if alert.kind == "zone_entry":
                    why, eta_now = f"track lost inside zone {zone.id}", None
                elif math.isfinite(eta):
                    why, eta_now = f"track lost {eta:.0f} s before its predicted breach of zone {zone.id}", max(
                        eta - age, 0.0)
                else:
                    why, eta_now = f"track lost near zone {zone.id}", None
                out.append(Condition(
                    (track_id, zone.id, alert.kind), track_id, alert.level,
                    (*alert.reasons, f"{why}, {age:.0f} s ago; held open until acknowledged, and for "
                                     f"{self.config.lost_hold_s:g} s at least, unless resolved by hand"),
                    eta_now, {**(alert.evidence or {}), "lost_t": lost.t}, lost=True))
        return out

    def _swarms(self, reports: list[TrackReport], heading_for: dict[int, list[tuple[float, int]]],
                position: FloatArray) -> list[Condition]:
        out = []
        for z, members in heading_for.items():
            if len(members) < self.config.swarm_min:
                continue
            zone = self.zones.zones[z]
            members.sort()
            lead = reports[members[0][1]].id
            ids = [reports[n].id for _, n in members]
            out.append(Condition(
                (f"swarm:{zone.id}", zone.id, "swarm"), lead, zone.level,
                (f"{len(members)} drones converging on zone {zone.id}: {', '.join(ids)}",
                 f"first breach in {members[0][0]:.0f} s" if members[0][0] > 0 else "already inside"),
                members[0][0], {"tracks": ids, "eta_s": [eta for eta, _ in members]}))
        return out

    def _spoofing(self, t: float, reports: list[TrackReport], position: FloatArray, velocity: FloatArray,
                  sigma: FloatArray) -> list[Condition]:
        c = self.config
        out = []
        others = np.array([n for n, r in enumerate(reports) if r.uas_id is None and r.icao is None
                           and self.classes[r.id].cls in ("drone", "unknown")], dtype=np.intp)
        for n, report in enumerate(reports):
            if report.uas_id is None:
                continue
            state = self._tracks[report.id]
            cls = self.classes[report.id]
            who = self._who(report, cls)
            evidence = self._evidence(report, cls, float(sigma[n]))
            # a sensor track flying alongside, further off than both uncertainties allow
            offset = np.linalg.norm(position[others] - position[n], axis=1)
            allowed = 3.0 * np.hypot(sigma[n], sigma[others])
            alongside = ((allowed < offset) & (offset <= c.spoof_max_offset_m)
                         & (np.linalg.norm(velocity[others] - velocity[n], axis=1) < 5.0))
            state.spoof_pairs = {reports[m].id: state.spoof_pairs.get(reports[m].id, 0) + 1
                                 for m in others[alongside]}
            pairs = state.spoof_pairs
            steady = [(k, v) for k, v in pairs.items() if v >= c.spoof_pair_steps]
            if steady:
                other = steady[0][0]
                m = next(i for i, r in enumerate(reports) if r.id == other)
                out.append(Condition(
                    (report.id, None, "remote_id_spoof"), report.id, "warning",
                    (*who, f"sensor track {other} flies alongside "
                           f"{np.linalg.norm(position[m] - position[n]):.0f} m from the reported position"),
                    None, {**evidence, "sensor_track": other}))
                continue
            # a self-report no radar confirms where a radar should see it
            supported = set(report.sensors or ()) - self._cooperative
            if supported or not self._radar_should_see(position[n]):
                state.unconfirmed_since = None
                continue
            if state.unconfirmed_since is None:
                state.unconfirmed_since = t
            if t - state.unconfirmed_since >= c.spoof_unseen_s:
                out.append(Condition(
                    (report.id, None, "remote_id_spoof"), report.id, "warning",
                    (*who, f"no radar return for {t - state.unconfirmed_since:.0f} s where it reports itself"),
                    None, evidence))
        return out

    def _radar_should_see(self, point: FloatArray) -> bool:
        for radar in self._radars:
            local = self.frame.from_geodetic(radar.lat, radar.lon, radar.alt).reshape(3)
            azimuth, elevation, slant = enu2aer(*(point - local))
            reach = 0.6 * (radar.max_range_m or 3000.0)
            if slant <= reach and bool(in_coverage(radar, azimuth, elevation, slant)):
                return True
        return False

    def _identities(self, report: TrackReport) -> list[str]:
        """What a track broadcasts as its identity: its Remote ID (the last it carried), its ICAO address."""
        state = self._tracks.get(report.id)
        return [i for i in (report.uas_id or (state.uas_id if state else None), report.icao) if i]

    @staticmethod
    def _who(report: TrackReport, cls: Classification) -> tuple[str, ...]:
        if report.uas_id:
            return (f"drone broadcasting Remote ID {report.uas_id}",)
        if report.icao:
            return (f"aircraft {report.callsign + ' ' if report.callsign else ''}{report.icao} (ADS-B)",)
        name = {"drone": "drone without Remote ID", "unknown": "unidentified track"}.get(cls.cls, cls.cls)
        because = f": {'; '.join(cls.reasons)}" if cls.reasons else ""
        return (f"{name} ({cls.confidence:.0%}{because})",)

    @staticmethod
    def _evidence(report: TrackReport, cls: Classification, sigma_m: float) -> dict[str, Any]:
        return {
            "track": {"t": report.t, "lat": report.lat, "lon": report.lon, "alt": report.alt,
                      "vel_enu": list(report.vel_enu), "sigma_m": round(sigma_m, 1)},
            "class": cls.cls, "confidence": round(cls.confidence, 3), "class_reasons": list(cls.reasons),
            "uas_id": report.uas_id, "icao": report.icao, "sensors": list(report.sensors or ()),
        }
