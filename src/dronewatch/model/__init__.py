"""The records that flow through the pipeline: frozen, slotted, units in names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

SensorKind = Literal["radar", "rf", "acoustic", "camera", "remoteid", "adsb"]
SENSOR_KINDS: tuple[SensorKind, ...] = ("radar", "rf", "acoustic", "camera", "remoteid", "adsb")
TruthClass = Literal["drone", "bird", "aircraft", "other"]
TRUTH_CLASSES: tuple[TruthClass, ...] = ("drone", "bird", "aircraft", "other")
Level = Literal["info", "warning", "critical"]
LEVELS: tuple[Level, ...] = ("info", "warning", "critical")
AlertState = Literal["open", "acknowledged", "resolved"]
ALERT_STATES: tuple[AlertState, ...] = ("open", "acknowledged", "resolved")


@dataclass(slots=True, frozen=True)
class ScenarioInfo:
    """Free-form metadata from a ``scenario`` line."""

    fields: dict[str, object]


@dataclass(slots=True, frozen=True)
class Sensor:
    """A fixed sensor site. ``sigma`` maps a measured quantity to one standard deviation.

    For the self-reporting kinds (``remoteid``, ``adsb``) the ``lat``, ``lon`` and
    ``alt`` sigmas are in metres (north, east, up).
    """

    id: str
    kind: SensorKind
    lat: float
    lon: float
    alt: float
    sigma: dict[str, float] = field(default_factory=dict)
    pd: float | None = None
    period_s: float | None = None
    clutter_per_scan: float | None = None
    min_range_m: float | None = None
    max_range_m: float | None = None
    min_elevation_deg: float | None = None
    max_elevation_deg: float | None = None
    azimuth_min_deg: float | None = None
    azimuth_max_deg: float | None = None


EMERGENCY_SQUAWKS = {"7500": "hijack", "7600": "radio failure", "7700": "emergency"}
"""Transponder codes a crew sets in an emergency, and what each says."""


@dataclass(slots=True, frozen=True)
class Detection:
    """One measurement of one sensor; which fields are set depends on the sensor kind."""

    t: float
    sensor: str
    range_m: float | None = None
    azimuth_deg: float | None = None
    elevation_deg: float | None = None
    radial_speed_mps: float | None = None
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    uas_id: str | None = None
    icao: str | None = None
    operator_lat: float | None = None
    operator_lon: float | None = None
    speed_mps: float | None = None
    track_deg: float | None = None
    id: str | None = None
    snr_db: float | None = None
    callsign: str | None = None
    """``adsb``: the flight's callsign, as the aircraft broadcasts it."""
    squawk: str | None = None
    """``adsb``: its transponder code (7500, 7600 and 7700 are emergencies)."""


@dataclass(slots=True, frozen=True)
class Scan:
    """A sensor finished a scan at ``t``: tracks it should have seen and did not are misses."""

    t: float
    sensor: str


@dataclass(slots=True, frozen=True)
class Truth:
    """Where a real object was (for scoring)."""

    t: float
    id: str
    cls: TruthClass
    lat: float
    lon: float
    alt: float
    vel_enu: tuple[float, float, float] | None = None


@dataclass(slots=True, frozen=True)
class Zone:
    """A protected volume: polygon of (lon, lat) vertices, heights above the ellipsoid."""

    id: str
    level: Level
    floor_m: float
    ceiling_m: float
    polygon: tuple[tuple[float, float], ...]


@dataclass(slots=True, frozen=True)
class TrackReport:
    """One estimate of one tracked object at one time (tracker output)."""

    t: float
    id: str
    lat: float
    lon: float
    alt: float
    vel_enu: tuple[float, float, float]
    cls: str | None = None
    confidence: float | None = None
    uas_id: str | None = None
    icao: str | None = None
    callsign: str | None = None
    """An aircraft's callsign, as its ADS-B broadcasts it (with ``icao``)."""
    squawk: str | None = None
    """An aircraft's transponder code (7500, 7600 and 7700 are emergencies)."""
    sensors: tuple[str, ...] | None = None
    sigma_m: float | None = None
    """The RMS of the position's standard deviations (east, north, up), metres: how far off it may be."""
    members: tuple[str, ...] | None = None
    """A regional track's site tracks, ``<site>/<track id>`` each (``tracking/regional.py``)."""


class TrackPoint(NamedTuple):
    """A stored track point read back in bulk (an evidence export): what storage keeps of a
    :class:`TrackReport`, as a tuple. Hundreds of thousands of them are made four times faster than
    TrackReports, a frozen dataclass whose fields are each set through ``object.__setattr__``."""

    id: str
    t: float
    lat: float
    lon: float
    alt: float
    vel_e: float
    vel_n: float
    vel_u: float
    cls: str | None
    confidence: float | None
    uas_id: str | None
    icao: str | None
    sensors: tuple[str, ...] | None
    sigma_m: float | None

    @property
    def vel_enu(self) -> tuple[float, float, float]:
        return self.vel_e, self.vel_n, self.vel_u


@dataclass(slots=True, frozen=True)
class Alert:
    """One state of one alert (assessment output)."""

    t: float
    id: str
    track: str
    level: Level
    kind: str
    state: AlertState
    reasons: tuple[str, ...]
    zone: str | None = None
    eta_s: float | None = None
    evidence: dict[str, Any] | None = None
    """What the alert was raised on: track state, class, identities, contributing sensors."""
    by: str | None = None
    """Who changed the alert to this line (an operator's acknowledgement or resolution); None: the assessment."""
    comment: str | None = None
    """The operator's words with that change."""


Record = ScenarioInfo | Sensor | Detection | Scan | Truth | Zone | TrackReport | Alert
