"""The tracker's tuning: one frozen record, read by the tracker and by the components it calls."""

from __future__ import annotations

from dataclasses import dataclass, fields

from dronewatch.errors import ConfigError

_PER_MODE = ("q_horizontal", "q_vertical", "mode_stay_per_s", "mode_prior")
_PROBABILITIES = ("mode_stay_per_s", "mode_prior", "on_demand_entry", "on_demand_floor", "gate_probability",
                  "merge_probability")
_MAY_BE_ZERO = ("mode_prior", "on_demand_modes", "bearing_only_height_m")


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tuning of the tracker; the defaults suit drones, birds and light aircraft at 1 Hz."""

    q_horizontal: tuple[float, ...] = (0.02, 15.0, 150.0)
    """Process-noise spectral density east and north (m^2/s^3), one per motion mode: quiet (straight
    legs, ~0.1 m/s^2), manoeuvring (turns and speed changes of small drones, ~4 m/s^2), agile
    (pull-ups, dives and racing turns of fixed-wing and FPV drones, ~12 m/s^2)."""
    q_vertical: tuple[float, ...] = (0.01, 0.3, 150.0)
    """Process-noise spectral density up (m^2/s^3), per mode: a multirotor's climbs change gently,
    an aerobatic pull-up does not."""
    mode_stay_per_s: tuple[float, ...] = (0.98, 0.9, 0.9)
    """Probability of staying in each mode over one second: straight legs last ~50 s, turns ~10 s,
    vertical figures a few seconds."""
    mode_prior: tuple[float, ...] = (0.5, 0.5, 0.0)
    on_demand_modes: tuple[int, ...] = (2,)
    """Modes that are off (probability 0) until a confirmed track's plot falls outside its gate but
    inside the gate the first of these modes predicts (a manoeuvre beyond the others), and off
    again when their probability falls under ``on_demand_floor``. Always on, an agile mode would
    follow every track's measurement noise a little, above all in height, where elevation noise is
    metres per kilometre of range."""
    on_demand_entry: float = 0.5
    """The probability an on-demand mode is given before the update that switched it on."""
    on_demand_floor: float = 0.001
    gate_probability: float = 0.9995
    confirm_hits: int = 2
    confirm_window: int = 4
    """A tentative track that is not confirmed within this many scans expecting it is dropped (M of N)."""
    confirm_score: float = 6.9
    """Log-likelihood ratio (target vs clutter) a tentative track needs as well: ln 1000."""
    confirmed_score_cap: float = 13.8
    """A confirmed track's score stops rising here (ln 10^6), so that it falls below
    ``delete_score`` within a few scans once its plots look like clutter (a cumulative-sum test):
    a track started on a hot spot before the clutter map had learnt it."""
    delete_score: float = 3.45
    max_coast_s: float = 8.0
    outside_coverage_s: float = 4.0
    """A confirmed track predicted outside every sensor's coverage is kept this long, unreported, so
    that a target that dips out of the beam (overhead, past the elevation limit, behind the
    horizon) keeps its track when it comes back."""
    tentative_timeout_s: float = 3.0
    max_position_sigma_m: float = 300.0
    init_speed_sigma_mps: float = 15.0
    init_climb_sigma_mps: float = 4.0
    bearing_only_height_m: float = 100.0
    """Assumed height above the site of a track triangulated from azimuths alone."""
    bearing_only_height_sigma_m: float = 100.0
    triangulation_window_s: float = 1.5
    min_crossing_angle_deg: float = 10.0
    merge_probability: float = 0.999

    def check(self, where: str = "tracking") -> None:
        """Raise :class:`ConfigError` naming the first value no site could mean."""
        modes = len(self.q_horizontal)
        for name in _PER_MODE:
            if len(getattr(self, name)) != modes:
                raise ConfigError(f"{where}.{name}: one value per motion mode ({modes}, as q_horizontal), "
                                  f"got {len(getattr(self, name))}")
        for field in fields(self):
            values = getattr(self, field.name)
            for value in values if isinstance(values, tuple) else (values,):
                if value < 0 or (value == 0 and field.name not in _MAY_BE_ZERO):
                    raise ConfigError(f"{where}.{field.name}: must be above 0, got {value!r}")
                if field.name in _PROBABILITIES and value > 1:
                    raise ConfigError(f"{where}.{field.name}: a probability, at most 1, got {value!r}")
        if abs(sum(self.mode_prior) - 1.0) > 1e-6:
            raise ConfigError(f"{where}.mode_prior: must add up to 1, got {sum(self.mode_prior):g}")
        if any(not 0 <= m < modes for m in self.on_demand_modes):
            raise ConfigError(f"{where}.on_demand_modes: mode numbers 0-{modes - 1}, got {self.on_demand_modes}")
        if self.confirm_hits > self.confirm_window:
            raise ConfigError(f"{where}.confirm_hits ({self.confirm_hits}) is more than confirm_window "
                              f"({self.confirm_window})")
