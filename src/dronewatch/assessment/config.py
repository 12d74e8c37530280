"""The assessment's tuning: one frozen record (the ``[assessment]`` section of the site configuration)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from dronewatch.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AssessmentConfig:
    period_s: float = 1.0
    critical_horizon_s: float = 60.0
    warning_horizon_s: float = 120.0
    position_sigma_m: float = 15.0
    """Used when the tracker gives no covariance (tracks read from a file)."""
    velocity_sigma_mps: float = 1.5
    below_ground_m: float = 30.0
    radar_confirm_s: float = 10.0
    """A track without Remote ID that no radar has supported for this long, where a radar should
    see it (well inside its coverage), raises no more than info: bearings crossing at the wrong
    place make such ghosts."""
    settle_s: float = 10.0
    settled_confidence: float = 0.85
    """A track without Remote ID raises no more than info until it has kept its class this long
    and has this confidence in it: young tracks of birds and clutter are often not yet told
    apart, and a bird crossing a drone's RF bearing can look like a drone for a few seconds.
    (The classifier's confidence counts overlapping windows once: 0.85 is a firm call.)"""
    outer_settle_s: float = 30.0
    """How long a track without Remote ID must keep its class (at ``settled_confidence``) before a zone
    below critical (an approach ring) hears of it above info: ``settle_s`` and one whole memory of the
    classifier (20 s), so that the evidence the class rests on has turned over once. The outer ring is
    wide and birds cross it all day, and a bird's first seconds are often called drone; waiting costs
    little there, since the critical zone's own alerts do not wait for it."""
    turn_window_s: float = 10.0
    """Turn rate for path prediction: mean over this much of the track's recent history."""
    loiter_s: float = 120.0
    loiter_radius_m: float = 150.0
    swarm_min: int = 3
    no_remote_id_after_s: float = 10.0
    spoof_unseen_s: float = 30.0
    spoof_pair_steps: int = 5
    spoof_max_offset_m: float = 500.0
    clear_s: float = 15.0
    lost_near_m: float = 500.0
    zone_buffer_m: float = 0.0
    """Added to a track's position uncertainty when predicting zone entries: the band that warns one level
    below the zone's grows by this much (a threat posture widens it, ``posture.py``)."""
    lost_hold_s: float = 600.0
    """A critical zone's alert whose track is lost within ``lost_near_m`` of the zone stays open until a
    person acknowledges it, and for ``lost_hold_s`` at least, unless a person resolves it: losing a track
    close in (it dived under the radar's beam, it landed, it struck) is no sign the threat has gone."""

    def check(self, where: str = "assessment") -> None:
        """Raise :class:`ConfigError` naming the first value no site could mean."""
        for field in fields(self):
            value = getattr(self, field.name)
            if value < 0 or (value == 0 and field.name != "zone_buffer_m"):
                raise ConfigError(f"{where}.{field.name}: must be above 0, got {value!r}")
        if self.settled_confidence > 1.0:
            raise ConfigError(f"{where}.settled_confidence: a probability, at most 1, got {self.settled_confidence!r}")
        if self.critical_horizon_s > self.warning_horizon_s:
            raise ConfigError(f"{where}.critical_horizon_s ({self.critical_horizon_s:g}) is beyond "
                              f"warning_horizon_s ({self.warning_horizon_s:g})")
