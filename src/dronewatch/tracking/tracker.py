"""The multi-sensor multi-target tracker: a small loop over components, all tracks as rows of one
:class:`.table.TrackTable` in one site ENU frame.

One call of :meth:`Tracker.process` handles one batch (a scan) of one sensor:

1. **predict** every track to the batch time: IMM mixing (:mod:`.imm`), nearly constant velocity
   per mode (:mod:`.motion`);
2. **associate** in stages, confirmed tracks first, then tentative ones (then, with an on-demand
   mode, the confirmed tracks no plot fitted, as that mode predicts them): a k-d tree pre-gate
   (3-D sensors) or azimuth windows (bearings), the EKF innovation of each candidate pair
   (:mod:`.kalman`), a chi-square gate and global nearest neighbour assignment (:mod:`.associate`);
3. **update** the assigned tracks, every mode, and reweigh the modes (:mod:`.kalman`, :mod:`.imm`);
4. **score**: each hit adds ``ln(Pd g(z) / beta)``, a radar scan that should have seen a track and
   did not adds ``ln(1 - Pd)``; tentative tracks confirm with M hits and the confirmation score
   (:mod:`.score`; ``beta`` from a radar's clutter map, :mod:`.clutter`);
5. **initiate** tentative tracks from unassigned radar plots and from bearings of two sites that
   cross (:mod:`.initiate`);
6. **delete** tracks by the rules of :mod:`.delete` (misses, coasting, M of N, lost, clutter-like
   score, out of coverage);
7. **merge** an identity track with a track without identity whose state agrees (:mod:`.identity`).

Self-reported positions (Remote ID, ADS-B) carry an identity. A known identity
updates its own track; a new one first tries the non-cooperative tracks without
identity (one fused track then carries it), else starts a confirmed track.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import chdtri

from dronewatch.errors import ConfigError, TrackingError
from dronewatch.geo import LocalFrame, ecef_vectors2enu
from dronewatch.model import Detection, Sensor, TrackReport
from dronewatch.tracking import associate, delete, identity, imm, initiate, kalman, models, score
from dronewatch.tracking.clutter import ClutterMap
from dronewatch.tracking.config import TrackerConfig
from dronewatch.tracking.motion import predict, process_noise
from dronewatch.tracking.sites import (
    COOPERATIVE_KINDS,
    DEFAULT_CLUTTER_PER_SCAN,
    DEFAULT_PD,
    DEFAULT_SIGMA,
    SensorSite,
)
from dronewatch.tracking.table import TrackTable

__all__ = ["SensorSite", "TrackSnapshot", "Tracker", "TrackerConfig", "TrackerStats"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

# A track report names the sensors that updated it this recently: what supports it now.
RECENT_SENSOR_S = 3.0


def _chi2_quantile(probability: float, dof: int) -> float:
    """The chi-square quantile (``scipy.special`` loads far faster than ``scipy.stats``)."""
    return float(chdtri(dof, 1.0 - probability))


class Broadcast(NamedTuple):
    """What an aircraft says of itself beside its position."""

    callsign: str | None = None
    squawk: str | None = None


@dataclass(slots=True)
class TrackSnapshot:
    """The confirmed tracks after one batch, in the site frame."""

    t: float
    ids: list[str]
    states: FloatArray
    covariances: FloatArray
    identities: list[str | None]
    sensor_seen_at: FloatArray
    """Per track and sensor (in ``sensor_ids`` order): when that sensor last updated it; -inf never."""
    sensor_ids: list[str]
    broadcasts: list[Broadcast | None] = field(default_factory=list)
    """Per track, what its ICAO identity last broadcast of itself (empty: nothing known for any)."""

    def __len__(self) -> int:
        return len(self.ids)

    def position_sigma_m(self) -> dict[str, float]:
        """Per track id: the RMS of its position standard deviations (east, north, up), metres."""
        spread = np.sqrt(np.trace(self.covariances[:, :3, :3], axis1=1, axis2=2) / 3.0)
        return dict(zip(self.ids, spread.tolist(), strict=True))

    def reports(self, frame: LocalFrame, recent_s: float = RECENT_SENSOR_S) -> list[TrackReport]:
        """The snapshot as ``track`` records: geodetic position, velocity in ENU at each track, and
        as ``sensors`` the sensors that updated it within ``recent_s``."""
        if not self.ids:
            return []
        lat, lon, alt = frame.to_geodetic(self.states[:, :3])
        velocity = ecef_vectors2enu(self.states[:, 3:] @ frame.rotation, lat, lon)
        sigma = self.position_sigma_m()
        out = []
        for k, track_id in enumerate(self.ids):
            identity = self.identities[k]
            said = (self.broadcasts[k] if self.broadcasts else None) or Broadcast()
            uas_id = identity[4:] if identity and identity.startswith("rid:") else None
            icao = identity[5:] if identity and identity.startswith("icao:") else None
            out.append(TrackReport(
                t=self.t, id=track_id, lat=float(lat[k]), lon=float(lon[k]), alt=float(alt[k]),
                vel_enu=(float(velocity[k, 0]), float(velocity[k, 1]), float(velocity[k, 2])),
                cls="drone" if uas_id else "aircraft" if icao else None,
                uas_id=uas_id, icao=icao, callsign=said.callsign, squawk=said.squawk,
                sensors=tuple(self.sensor_ids[i] for i in np.flatnonzero(self.t - self.sensor_seen_at[k] <= recent_s)),
                sigma_m=sigma[track_id],
            ))
        return out


@dataclass(slots=True)
class TrackerStats:
    detections: int = 0
    batches: int = 0
    tracks_started: int = 0
    tracks_confirmed: int = 0
    tracks_deleted: int = 0
    merges: int = 0


@dataclass(slots=True)
class _Batch:
    """One sensor's detections as measurement vectors for one model."""

    model: models.Model
    z: FloatArray
    noise: FloatArray
    offsets: FloatArray
    positions: FloatArray | None = None
    position_jacobians: FloatArray | None = None
    identities: list[str] = field(default_factory=list)
    offset_noise: FloatArray | None = None
    """Process noise of each detection's time before the batch time (None when none is earlier)."""


class Tracker:
    """Multi-sensor multi-target tracker. Feed it scans with :meth:`process`.

    ``site`` fixes the ENU frame of all tracks; by default the first sensor's site.
    """

    def __init__(self, config: TrackerConfig | None = None, site: LocalFrame | None = None) -> None:
        self.config = config or TrackerConfig()
        self.site = site
        self.time: float | None = None
        self.stats = TrackerStats()
        self.sites: dict[str, SensorSite] = {}
        self.broadcasts: dict[str, Broadcast] = {}
        """The callsign and squawk each ICAO identity last broadcast (they come every few seconds, apart from
        the position)."""
        self._gates = {m: _chi2_quantile(self.config.gate_probability, m) for m in range(1, 7)}
        modes = len(self.config.q_horizontal)
        if not len(self.config.q_vertical) == len(self.config.mode_stay_per_s) == len(self.config.mode_prior) == modes:
            raise ConfigError("tracker: q_horizontal, q_vertical, mode_stay_per_s and mode_prior need one value "
                              "per motion mode")
        self._stay = np.array(self.config.mode_stay_per_s, dtype=np.float64)
        self._mode_prior = np.array(self.config.mode_prior, dtype=np.float64) / sum(self.config.mode_prior)
        self._on_demand = np.isin(np.arange(modes), self.config.on_demand_modes)
        if self._on_demand.all() or np.any(self._mode_prior[self._on_demand]):
            raise ConfigError("tracker: at least one motion mode must be always on, and on-demand modes have "
                              "mode_prior 0")
        on_demand = np.flatnonzero(self._on_demand)
        self._rescue_mode = int(on_demand[0]) if on_demand.size else None
        always_on = np.flatnonzero(~self._on_demand)  # an idle agile mode must not widen every retrodiction
        self._q_max = (max(self.config.q_horizontal[j] for j in always_on),
                       max(self.config.q_vertical[j] for j in always_on))
        self._merge_gate = _chi2_quantile(self.config.merge_probability, 6)
        self._loose: list[initiate.LooseBearing] = []
        self._next_id = 1
        self._table = TrackTable(modes)

    # ----------------------------------------------------------------- sensors
    def add_sensor(self, sensor: Sensor) -> SensorSite:
        """Declare a sensor (again: its latest declaration wins)."""
        if self.site is None:
            self.site = LocalFrame(sensor.lat, sensor.lon, sensor.alt)
        frame = LocalFrame(sensor.lat, sensor.lon, sensor.alt)
        rot, offset = self.site.transform_to(frame)
        previous = self.sites.get(sensor.id)
        index = previous.index if previous else len(self.sites)
        self._table.ensure_sensor(index)
        sigma = {**DEFAULT_SIGMA[sensor.kind], **sensor.sigma}
        declared = sensor.clutter_per_scan if sensor.clutter_per_scan is not None else DEFAULT_CLUTTER_PER_SCAN
        site = SensorSite(sensor, index, (rot, offset), frame.transform_to(self.site)[1], sigma,
                          sensor.pd if sensor.pd is not None else DEFAULT_PD[sensor.kind], declared,
                          ClutterMap(sensor, declared) if sensor.kind == "radar" else None)
        self.sites[sensor.id] = site
        return site

    @property
    def next_track_number(self) -> int:
        return self._next_id

    def first_track_number(self, number: int) -> None:
        """New tracks are numbered from ``number`` on (at least): a restarted site never gives a stored id again."""
        self._next_id = max(self._next_id, number)

    # -------------------------------------------------------------- the cycle
    @property
    def size(self) -> int:
        return len(self._table)

    def process(self, sensor_id: str, t: float, detections: Sequence[Detection]) -> None:
        """Process one scan of ``sensor_id`` finished at ``t`` (``detections`` may be empty)."""
        site = self.sites.get(sensor_id)
        if site is None:
            raise TrackingError(f"detection from undeclared sensor {sensor_id!r}")
        batch_t = max([t, *(d.t for d in detections)] + ([self.time] if self.time is not None else []))
        self._predict_to(batch_t)
        self.stats.batches += 1
        self.stats.detections += len(detections)
        if site.sensor.kind in COOPERATIVE_KINDS:
            self._process_reports(site, detections, batch_t)
        else:
            self._process_plots(site, detections, batch_t)
        self._delete(batch_t)
        self._merge_identities()

    def snapshot(self) -> TrackSnapshot:
        """The confirmed tracks now, but those predicted outside every sensor's coverage."""
        rows = np.flatnonzero(self._table.confirmed & ~self._table.outside)
        return TrackSnapshot(
            t=self.time if self.time is not None else 0.0,
            ids=[f"T{i}" for i in self._table.id[rows]],
            states=self._table.x[rows].copy(),
            covariances=self._table.p[rows].copy(),
            identities=self._table.identity[rows].tolist(),
            sensor_seen_at=self._table.seen_at[rows].copy(),
            sensor_ids=[s.sensor.id for s in sorted(self.sites.values(), key=lambda s: s.index)],
            broadcasts=[self.broadcasts.get(key) for key in self._table.identity[rows]] if self.broadcasts else [],
        )

    def _predict_to(self, t: float) -> None:
        if self.time is not None and t > self.time and self.size:
            dt = t - self.time
            pi = imm.transition_matrix(self._stay, dt, self._on_demand)
            mixed, mixed_cov, self._table.mu = imm.mix(self._table.xm, self._table.pm, self._table.mu, pi)
            modes = list(enumerate(zip(self.config.q_horizontal, self.config.q_vertical, strict=True)))
            for j, (q_h, q_v) in modes:
                on = slice(None) if not self._on_demand[j] else self._table.mu[:, j] > 0.0
                self._table.xm[on, j], self._table.pm[on, j] = predict(mixed[on, j], mixed_cov[on, j], dt, q_h, q_v)
            self._table.x, self._table.p = imm.combine(self._table.xm, self._table.pm, self._table.mu)
        self.time = t if self.time is None else max(self.time, t)

    def _update(self, site: SensorSite, batch: _Batch, pairs: kalman.Innovations, switch_on: bool = False) -> None:
        """Update the modes of the tracks in ``pairs`` (the on-demand ones where they are on, or with
        ``switch_on``, switched on now); reweigh the modes by their likelihoods."""
        rows = pairs.tracks
        if rows.size == 0:
            return
        od = self._on_demand
        mu = imm.switch_on(self._table.mu[rows], od, self.config.on_demand_entry) if switch_on else self._table.mu[rows]
        log_likelihood = np.full((rows.size, od.size), -np.inf)

        def update_mode(j: int, which: IntArray) -> None:
            states, covariances = self._table.xm[:, j], self._table.pm[:, j]  # views: updated in place
            mode = kalman.innovations(batch.model, site.pose, states, covariances, batch.z, batch.noise, rows[which],
                                      pairs.detections[which], batch.offsets, batch.offset_noise)
            kalman.update(states, covariances, mode)
            log_likelihood[which, j] = -0.5 * (mode.d2 + mode.log_det_s)

        for j in range(od.size):  # an on-demand mode where it is on
            which = np.flatnonzero(mu[:, j] > 0.0) if od[j] else np.arange(rows.size)
            if which.size:
                update_mode(j, which)
        mu = imm.posterior(mu, log_likelihood)
        self._table.mu[rows] = imm.switch_off(mu, od, self.config.on_demand_floor)
        tt = self._table
        tt.x[rows], tt.p[rows] = imm.combine(tt.xm[rows], tt.pm[rows], tt.mu[rows])

    # ------------------------------------------------------ measurement batches
    def _batch(self, site: SensorSite, detections: Sequence[Detection], t: float) -> _Batch:
        kind, sigma = site.sensor.kind, site.sigma
        offsets = np.array([d.t - t for d in detections], dtype=np.float64)
        az = np.radians(sigma["azimuth_deg"]) if "azimuth_deg" in sigma else 0.0
        el = np.radians(sigma["elevation_deg"]) if "elevation_deg" in sigma else 0.0
        if kind == "radar":
            with_doppler = bool(detections) and all(d.radial_speed_mps is not None for d in detections)
            rows = [(d.azimuth_deg, d.elevation_deg, d.range_m) + ((d.radial_speed_mps,) if with_doppler else ())
                    for d in detections]
            z = np.array(rows, dtype=np.float64).reshape(len(detections), 4 if with_doppler else 3)
            z[:, :2] = np.radians(z[:, :2])
            variances = [az**2, el**2, sigma["range_m"] ** 2]
            if with_doppler:
                variances.append(sigma["radial_speed_mps"] ** 2)
            positions, jac = models.polar_to_site(z[:, 0], z[:, 1], z[:, 2], site.pose)
            return _Batch(models.RADAR_DOPPLER if with_doppler else models.RADAR, z, np.diag(variances),
                          offsets, positions, jac)
        with_elevation = kind == "camera" or (
            kind == "acoustic" and bool(detections) and all(d.elevation_deg is not None for d in detections))
        if with_elevation:
            z = np.radians(np.array([(d.azimuth_deg, d.elevation_deg) for d in detections],
                                    dtype=np.float64).reshape(-1, 2))
            return _Batch(models.AZIMUTH_ELEVATION, z, np.diag([az**2, el**2]), offsets)
        z = np.radians(np.array([d.azimuth_deg for d in detections], dtype=np.float64)).reshape(-1, 1)
        return _Batch(models.AZIMUTH, z, np.diag([az**2]), offsets)

    def _report_batch(self, site: SensorSite, detections: Sequence[Detection], t: float) -> _Batch:
        assert self.site is not None
        sigma = site.sigma
        geodetic = np.array([(d.lat, d.lon, d.alt) for d in detections], dtype=np.float64).reshape(-1, 3)
        positions = self.site.from_geodetic(geodetic[:, 0], geodetic[:, 1], geodetic[:, 2]).reshape(-1, 3)
        variances = [sigma["lon"] ** 2, sigma["lat"] ** 2, sigma["alt"] ** 2]
        with_velocity = all(d.speed_mps is not None and d.track_deg is not None for d in detections)
        model = models.POSITION
        z = positions
        if with_velocity:
            track = np.radians(np.array([d.track_deg for d in detections], dtype=np.float64))
            speed = np.array([d.speed_mps for d in detections], dtype=np.float64)
            z = np.hstack([positions, np.stack([speed * np.sin(track), speed * np.cos(track)], axis=-1)])
            variances += [sigma["speed_mps"] ** 2] * 2
            model = models.POSITION_VELOCITY
        identities = [identity.identity_key(d) for d in detections]
        return _Batch(model, z, np.diag(variances), np.array([d.t - t for d in detections]), positions,
                      identities=identities)

    def _with_offset_noise(self, batch: _Batch) -> _Batch:
        """Fill in the batch's retrodiction noise, once per batch."""
        if np.any(batch.offsets):
            batch.offset_noise = process_noise(batch.offsets, *self._q_max)
        return batch

    # ------------------------------------------------------------ association
    def _innovations(self, site: SensorSite, batch: _Batch, rows: IntArray, dets: IntArray,
                     mode: int | None = None) -> kalman.Innovations:
        """Gated innovations of the candidate pairs between tracks ``rows`` and detections ``dets``, as
        the tracks stand or, with ``mode``, as that motion mode predicts them."""
        x, p = (self._table.x, self._table.p) if mode is None else (self._table.xm[:, mode], self._table.pm[:, mode])
        if batch.positions is not None:
            radii = self._pregate_radii(site, batch, rows, p)
            local_t, local_d = associate.spatial_candidates(x[rows, :3], radii, batch.positions[dets])
        else:
            azimuth, half_width = self._azimuth_windows(site, batch, rows)
            local_t, local_d = associate.angular_candidates(azimuth, half_width, batch.z[dets, 0])
        inn = kalman.innovations(batch.model, site.pose, x, p, batch.z, batch.noise,
                                 rows[local_t], dets[local_d], batch.offsets, batch.offset_noise)
        return inn.select(inn.d2 < self._gates[batch.model.dim])

    def _pregate_radii(self, site: SensorSite, batch: _Batch, rows: IntArray, p: FloatArray) -> FloatArray:
        """A radius per track that surely contains its chi-square gate (trace bounds the largest eigenvalue)."""
        position_variance = np.trace(p[rows, :3, :3], axis1=1, axis2=2)
        if batch.model.dim >= 3 and batch.model.angles[0]:
            distance = np.linalg.norm(self._table.x[rows, :3] - site.position, axis=1)
            angle = max(batch.noise[0, 0], batch.noise[1, 1])
            measurement_variance = np.maximum(batch.noise[2, 2], distance**2 * angle)
        else:
            measurement_variance = np.full(rows.size, float(np.max(np.diag(batch.noise)[:3])))
        radius = 1.2 * np.sqrt(self._gates[3] * (position_variance + measurement_variance))
        if batch.offsets.size and np.any(batch.offsets):
            radius += np.linalg.norm(self._table.x[rows, 3:], axis=1) * float(np.max(-batch.offsets))
        return np.asarray(radius, dtype=np.float64)

    def _azimuth_windows(self, site: SensorSite, batch: _Batch, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        """Each track's azimuth from the sensor and a window that surely contains its chi-square gate."""
        rot, offset = site.pose
        rel = self._table.x[rows, :3] @ rot.T + offset
        horizontal_sq = np.maximum(rel[:, 0] ** 2 + rel[:, 1] ** 2, 1.0)
        position_variance = np.trace(self._table.p[rows, :3, :3], axis1=1, axis2=2)
        angle_variance = batch.noise[0, 0] + position_variance / horizontal_sq
        half_width = 1.2 * np.sqrt(self._gates[batch.model.dim] * angle_variance)
        if batch.offsets.size and np.any(batch.offsets):
            speed = np.linalg.norm(self._table.x[rows, 3:], axis=1)
            half_width += speed * float(np.max(-batch.offsets)) / np.sqrt(horizontal_sq)
        return np.arctan2(rel[:, 0], rel[:, 1]), half_width

    def _associate(self, site: SensorSite, batch: _Batch, rows: IntArray, dets: IntArray,
                   mode: int | None = None) -> kalman.Innovations:
        """Global nearest neighbour between tracks ``rows`` and detections ``dets``; applies the updates.
        With ``mode``, gated as that motion mode predicts the tracks, and switching it on for them."""
        inn = self._innovations(site, batch, rows, dets, mode)
        gate = self._gates[batch.model.dim]
        chosen = inn.select(associate.assign(inn.tracks, inn.detections, inn.d2 + inn.log_det_s,
                                             gate + inn.log_det_s))
        self._update(site, batch, chosen, switch_on=mode is not None)
        return chosen

    def _add_evidence(self, site: SensorSite, batch: _Batch, pairs: kalman.Innovations) -> None:
        """Track score: ``+ ln(Pd g(z) / clutter density)`` per detection (see :mod:`.score`)."""
        rows = pairs.tracks
        log_g = score.log_innovation_density(pairs.d2, pairs.log_det_s, batch.model.dim)
        self._table.score[rows] = score.after_hits(
            self._table.score[rows], self._table.confirmed[rows], site.pd, log_g,
            site.log_clutter_density(batch.model, batch.z[pairs.detections]), self.config.confirmed_score_cap)

    def _mark_updated(self, rows: IntArray, site: SensorSite, t: float) -> None:
        self._table.hits[rows] += 1
        if site.sensor.kind == "radar" or site.sensor.kind in COOPERATIVE_KINDS:
            # a bearing does not answer a radar's misses: it would keep alive a track the radar lost
            # (a manoeuvre, a ghost where two sites' bearings cross)
            self._table.miss_score[rows] = 0.0
        self._table.last_update[rows] = t
        self._table.seen_at[rows, site.index] = t
        if site.sensor.kind not in COOPERATIVE_KINDS:
            self._table.last_noncooperative[rows] = t
        tt = self._table
        self._confirm(rows[score.confirmable(tt.confirmed[rows], tt.hits[rows], tt.score[rows], self.config)])

    def _confirm(self, rows: IntArray) -> None:
        self._table.confirmed[rows] = True
        self.stats.tracks_confirmed += int(rows.size)

    def _process_plots(self, site: SensorSite, detections: Sequence[Detection], t: float) -> None:
        batch = self._with_offset_noise(self._batch(site, detections, t))
        used = np.zeros(len(detections), dtype=bool)
        updated = np.zeros(self.size, dtype=bool)
        confirmed_took = np.zeros(len(detections), dtype=bool)
        stages: list[tuple[BoolArray, int | None]] = [(self._table.confirmed, None), (~self._table.confirmed, None)]
        if self._rescue_mode is not None and batch.positions is not None:
            # then the confirmed tracks no plot fitted, as the on-demand (agile) mode predicts them:
            # a pull-up or a dive can leave the other modes' gates within a scan
            stages.append((self._table.confirmed, self._rescue_mode))
        for stage, mode in stages:
            rows = np.flatnonzero(stage & ~updated)
            if mode is not None:
                rows = self._ready_on_demand(rows, mode, site, t)
            dets = np.flatnonzero(~used)
            if rows.size == 0 or dets.size == 0:
                continue
            chosen = self._associate(site, batch, rows, dets, mode)
            self._add_evidence(site, batch, chosen)
            used[chosen.detections] = True
            updated[chosen.tracks] = True
            confirmed_took[chosen.detections] = self._table.confirmed[chosen.tracks]
        self._mark_updated(np.flatnonzero(updated), site, t)
        if site.clutter_map is not None:  # a radar
            site.clutter_map.record_scan(batch.z[~confirmed_took], ~used[~confirmed_took])
            site.clutter_per_scan = site.clutter_map.total_per_scan()
            self._count_misses(site, updated)
            self._initiate_from_plots(site, batch, np.flatnonzero(~used), t)
        else:
            self._triangulate(site, batch, np.flatnonzero(~used), t)

    def _ready_on_demand(self, rows: IntArray, mode: int, site: SensorSite, t: float) -> IntArray:
        """Of ``rows``, those ``site`` has seen; where the on-demand ``mode`` is off, its state is set to
        the track as it stands, with the mode's process noise since ``site`` last updated the track (not
        since the last bearing: a manoeuvre shows only to a 3-D sensor), one and a half scan periods at
        most (a manoeuvre begun at the last scan; a gate grown over several missed scans takes clutter)."""
        since = t - self._table.seen_at[rows, site.index]
        rows, since = rows[np.isfinite(since)], since[np.isfinite(since)]
        idle = self._table.mu[rows, mode] == 0.0
        rows_idle = rows[idle]
        self._table.xm[rows_idle, mode] = self._table.x[rows_idle]
        self._table.pm[rows_idle, mode] = self._table.p[rows_idle] + process_noise(
            np.minimum(since[idle], 1.5 * (site.sensor.period_s or 1.0)), self.config.q_horizontal[mode],
            self.config.q_vertical[mode])
        return rows

    def _count_misses(self, site: SensorSite, updated: BoolArray) -> None:
        n = updated.size
        expected = site.covers(self._table.x[:n, :3])
        missed = expected & ~updated
        miss = score.miss_log_likelihood(site.pd)
        self._table.miss_score[:n][missed] -= miss
        self._table.score[:n][missed] += miss
        self._table.scans[:n][expected & ~self._table.confirmed[:n]] += 1

    # ------------------------------------------------------------- initiation
    def _append(self, x: FloatArray, p: FloatArray, t: float, site: SensorSite, confirmed: bool,
                hits: int, identities: Sequence[str | None] | None = None, score: float = 0.0) -> IntArray:
        n = x.shape[0]
        seen = np.full((n, self._table.sensors), -np.inf)
        seen[:, site.index] = t
        rows = self._table.append(
            n, x=x, p=p, xm=x[:, None, :], pm=p[:, None, :, :], mu=self._mode_prior,
            id=np.arange(self._next_id, self._next_id + n), hits=hits, score=score,
            scans=1 if site.sensor.kind == "radar" else 0, born=t, last_update=t,
            last_noncooperative=t if site.sensor.kind not in COOPERATIVE_KINDS else -np.inf, seen_at=seen,
            **({} if identities is None else {"identity": identities}))
        self._next_id += n
        self.stats.tracks_started += n
        if confirmed:
            self._confirm(rows)
        return rows

    def _prior(self, positions: FloatArray, position_covariances: FloatArray) -> tuple[FloatArray, FloatArray]:
        return initiate.prior(positions, position_covariances, self.config.init_speed_sigma_mps,
                              self.config.init_climb_sigma_mps)

    def _initiate_from_plots(self, site: SensorSite, batch: _Batch, dets: IntArray, t: float) -> None:
        if dets.size == 0:
            return
        assert batch.positions is not None and batch.position_jacobians is not None
        x, p = self._prior(batch.positions[dets], initiate.plot_covariances(batch.position_jacobians[dets],
                                                                            batch.noise))
        self._append(x, p, t, site, confirmed=False, hits=1)

    def _triangulate(self, site: SensorSite, batch: _Batch, dets: IntArray, t: float) -> None:
        """Start tracks where a loose bearing of this sensor crosses one of another site's."""
        c = self.config
        horizon = t - c.triangulation_window_s
        bearings = [initiate.LooseBearing(t + float(batch.offsets[j]), site, float(batch.z[j, 0]),
                                          float(batch.z[j, 1]) if batch.model.dim == 2 else None) for j in dets]
        self._loose, crossings = initiate.pair_bearings(
            [b for b in self._loose if b.t >= horizon], bearings, math.sin(math.radians(c.min_crossing_angle_deg)),
            c.bearing_only_height_m, c.bearing_only_height_sigma_m)
        if not crossings:
            return
        x, p = self._prior(np.array([k.position for k in crossings]), np.array([k.covariance for k in crossings]))
        # two consistent bearings: half the evidence a confirmation needs
        rows = self._append(x, p, t, site, confirmed=False, hits=1, score=c.confirm_score / 2)
        for row, k in zip(rows, crossings, strict=True):
            self._table.seen_at[row, k.partner.site.index] = k.partner.t

    # ------------------------------------------------- self-reported positions
    def _process_reports(self, site: SensorSite, detections: Sequence[Detection], t: float) -> None:
        if not detections:
            return
        for detection in detections:
            if detection.callsign or detection.squawk:
                key = identity.identity_key(detection)
                said = self.broadcasts.get(key, Broadcast())
                self.broadcasts[key] = Broadcast(detection.callsign or said.callsign, detection.squawk or said.squawk)
        batch = self._with_offset_noise(self._report_batch(site, identity.latest_per_identity(detections), t))
        assert batch.positions is not None
        positions = batch.positions
        by_identity = identity.rows_by_identity(self._table)
        keyed = [(by_identity[key], j) for j, key in enumerate(batch.identities) if key in by_identity]
        fresh = np.array([j for j, key in enumerate(batch.identities) if key not in by_identity], dtype=np.intp)
        updated: list[int] = []
        if keyed:
            rows, dets = (np.array(v, dtype=np.intp) for v in zip(*keyed, strict=True))
            inn = kalman.innovations(batch.model, site.pose, self._table.x, self._table.p, batch.z, batch.noise,
                                     rows, dets, batch.offsets, batch.offset_noise)
            consistent = inn.d2 < self._gates[batch.model.dim]
            self._update(site, batch, inn.select(consistent))
            updated.extend(rows[consistent])
            for row, j in zip(rows[~consistent], dets[~consistent], strict=True):
                if t - self._table.last_noncooperative[row] <= self.config.max_coast_s:
                    # the report contradicts what the radar sees: the identity leaves that track
                    self._table.identity[row] = None
                    fresh = np.append(fresh, j)
                else:
                    x, p = self._prior(positions[j][None, :], np.diag(np.diag(batch.noise)[:3])[None])
                    self._table.set_state(np.array([row]), x, p)
                    updated.append(int(row))
        if fresh.size:
            free = np.flatnonzero(~self._table.has_identity())
            chosen = self._associate(site, batch, free, fresh) if free.size else None
            if chosen is not None and chosen.tracks.size:
                for row, j in zip(chosen.tracks, chosen.detections, strict=True):
                    self._table.identity[row] = batch.identities[j]
                self._confirm(chosen.tracks[~self._table.confirmed[chosen.tracks]])
                updated.extend(chosen.tracks)
                fresh = np.setdiff1d(fresh, chosen.detections)
            if fresh.size:
                x, p = self._prior(positions[fresh], np.broadcast_to(np.diag(np.diag(batch.noise)[:3]),
                                                                          (fresh.size, 3, 3)))
                if batch.model is models.POSITION_VELOCITY:
                    x[:, 3:5] = batch.z[fresh, 3:5]
                    p[:, 3, 3] = p[:, 4, 4] = batch.noise[3, 3]
                self._append(x, p, t, site, confirmed=True, hits=1,
                             identities=[batch.identities[j] for j in fresh])
        self._mark_updated(np.array(sorted(set(int(r) for r in updated)), dtype=np.intp), site, t)

    # ------------------------------------------------------ deletion, merging
    def _delete(self, t: float) -> None:
        if self.size == 0:
            return
        gone, outside = delete.deletions(self._table, t, self.sites.values(), self.config)
        self._table.outside[:] = outside
        if gone.any():
            self._keep(~gone)
            if self.broadcasts:  # what a deleted aircraft said of itself goes with it; it says it again
                live = set(self._table.identity.tolist())
                self.broadcasts = {key: said for key, said in self.broadcasts.items() if key in live}

    def _keep(self, keep: BoolArray) -> None:
        self.stats.tracks_deleted += int(keep.size - keep.sum())
        self._table.keep(keep)

    def _merge_identities(self) -> None:
        """Merge a confirmed identity track with a confirmed track without identity whose state agrees."""
        pairs = identity.merge_pairs(self._table, self._merge_gate)
        if not pairs:
            return
        for a, b in pairs:
            identity.merge_into(self._table, a, b)
        keep = np.ones(self.size, dtype=bool)
        keep[[b for _, b in pairs]] = False
        self.stats.merges += len(pairs)
        self.stats.tracks_deleted -= len(pairs)
        self._keep(keep)
