"""From SAPIENT edge-node messages to dronewatch records: Registration + StatusReport -> ``Sensor``,
DetectionReport -> ``Detection`` in that sensor's measurement space. Pure: the node's state
(its profile, where it stands, its heading) comes in as arguments.

**Which sensor kind.** By node type: RADAR and LIDAR -> ``radar``, CAMERA -> ``camera``,
ACOUSTIC -> ``acoustic``, PASSIVE_RF -> ``rf`` (a node with several takes the first of that
order). What a node reports decides too: a node whose detections carry a range (a declared
``Location`` form, or range-bearing detections with a range) is a 3-D sensor, ``radar`` in the
tracker's terms, whatever its type. Other node types (and effectors) are refused.

**Noise.** One standard deviation per measured quantity from the mode's ``geometric_error``
``performance_value`` entries whose ``type`` names Range, Azimuth (or Bearing) or Elevation,
with their ``units`` (m, km; degrees, radians, mrad) and the value in ``unit_value``; what is
not declared falls back to the tracker's defaults (docs/tracker.md). Capabilities named Scan
period, Minimum range, Maximum range, Probability of detection and False alarms per scan fill
the sensor's hints; a StatusReport ``field_of_view`` cone (true north) its sector, elevation
limits and maximum range. Those names are dronewatch's convention in the ICD's free-text fields.

**Locations.** ``LAT_LNG_DEG_M`` (x longitude, y latitude, degrees), ``LAT_LNG_RAD_M`` (radians)
and ``UTM_M`` (x easting, y northing; the zone from ``utm_zone``, else from the registration's
``zone``) -> latitude, longitude, height -> azimuth, elevation and slant range from the node.
UTM positions are checked against their zone and band (:func:`dronewatch.geo.utm.utm2geodetic_checked`).

**Heights.** ``WGS84_E`` heights are above the ellipsoid, as dronewatch keeps them. ``WGS84_G``
heights are above the geoid, and dronewatch has no geoid model: given the site's geoid
undulation N it adds it (h = H + N); without it, a geoid height is used relative to the node,
which is exact up to the change of N across the coverage (well under a metre over 10 km almost
everywhere) when the node's own location is on the geoid datum too; the node is then placed at its
geoid height as if above the ellipsoid (tracks come out N metres off in absolute height: the
caller counts and logs it). A detection on one datum from a node located on the other is refused
without N.

**Bearings.** ``DEGREES_M``, ``RADIANS_M``, ``DEGREES_KM``, ``RADIANS_KM``. North: TRUE as it is;
GRID via the UTM grid convergence at the node (``azimuth_true = azimuth_grid + γ``, in the node's
zone); PLATFORM via the heading of the platform from its status (a ``status`` entry of type
PLATFORM whose value reads ``heading=<degrees from true north>``, dronewatch's convention: the
ICD has no heading field); MAGNETIC is refused: turning it into true north needs the magnetic
declination at the node and time (a World Magnetic Model), which dronewatch does not carry.
Elevation is from the node's horizontal plane.

Errors are :class:`~dronewatch.errors.FormatError` naming the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sapient_msg.bsi_flex_335_v2_0.location_pb2 import Location, LocationCoordinateSystem, LocationDatum
from sapient_msg.bsi_flex_335_v2_0.range_bearing_pb2 import (
    RangeBearing,
    RangeBearingCoordinateSystem,
    RangeBearingDatum,
)
from sapient_msg.bsi_flex_335_v2_0.registration_pb2 import Registration
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage
from sapient_msg.bsi_flex_335_v2_0.status_report_pb2 import StatusReport

from dronewatch.errors import FormatError
from dronewatch.formats.sapient.build import CAPABILITIES
from dronewatch.formats.sapient.messages import seconds_of
from dronewatch.geo.frames import enu2aer, geodetic2enu
from dronewatch.geo.utm import convergence_deg, parse_zone, utm2geodetic_checked, zone_of
from dronewatch.model import Detection, Sensor, SensorKind

KIND_BY_NODE_TYPE: dict[str, SensorKind] = {
    "NODE_TYPE_RADAR": "radar", "NODE_TYPE_LIDAR": "radar", "NODE_TYPE_CAMERA": "camera",
    "NODE_TYPE_ACOUSTIC": "acoustic", "NODE_TYPE_PASSIVE_RF": "rf"}
EFFECTOR_TYPES = ("NODE_TYPE_KINETIC", "NODE_TYPE_JAMMER", "NODE_TYPE_CYBER", "NODE_TYPE_LDEW", "NODE_TYPE_RFDEW")
_TIME_UNITS_S = {"TIME_UNITS_NANOSECONDS": 1e-9, "TIME_UNITS_MICROSECONDS": 1e-6, "TIME_UNITS_MILLISECONDS": 1e-3,
                 "TIME_UNITS_SECONDS": 1.0, "TIME_UNITS_MINUTES": 60.0, "TIME_UNITS_HOURS": 3600.0,
                 "TIME_UNITS_DAYS": 86400.0}
_LENGTH_M = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "km": 1000.0, "kilometres": 1000.0,
             "kilometers": 1000.0}
_ANGLE_DEG = {"deg": 1.0, "degree": 1.0, "degrees": 1.0, "rad": math.degrees(1.0), "radian": math.degrees(1.0),
              "radians": math.degrees(1.0), "mrad": math.degrees(1e-3), "milliradians": math.degrees(1e-3)}
_HEADING = re.compile(r"heading\s*[=:]?\s*(-?\d+(?:\.\d*)?)", re.IGNORECASE)
_RANGE_BEARING_UNITS = {  # (degrees per unit of angle, metres per unit of range)
    "RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M": (1.0, 1.0),
    "RANGE_BEARING_COORDINATE_SYSTEM_RADIANS_M": (math.degrees(1.0), 1.0),
    "RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_KM": (1.0, 1000.0),
    "RANGE_BEARING_COORDINATE_SYSTEM_RADIANS_KM": (math.degrees(1.0), 1000.0),
}


@dataclass(frozen=True, slots=True)
class NodeProfile:
    """What an edge node's Registration declares, as dronewatch uses it."""

    node_id: str
    name: str
    node_types: tuple[str, ...]
    kind: SensorKind
    icd_version: str
    status_interval_s: float
    tracking_type: str = "TRACKING_TYPE_UNSPECIFIED"
    detection_zone: str | None = None
    """The UTM zone the registration declares for detection locations (``LocationType.zone``)."""
    status_zone: str | None = None
    sigma: dict[str, float] = field(default_factory=dict)
    hints: dict[str, float] = field(default_factory=dict)
    """``period_s``, ``pd``, ``clutter_per_scan``, ``min_range_m``, ``max_range_m`` the capabilities give."""
    classes: tuple[str, ...] = ()

    @property
    def sensor_id(self) -> str:
        return sensor_id_of(self.node_id)


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A received position: degrees, metres; ``geoid`` when the height is above the geoid (WGS84_G)."""

    lat_deg: float
    lon_deg: float
    height_m: float | None
    geoid: bool = False


def sensor_id_of(node_id: str) -> str:
    """The dronewatch sensor id of a SAPIENT node."""
    return f"sapient-{node_id}"


def _enum_name(enum: object, value: int, where: str) -> str:
    try:
        return str(enum.Name(value))  # type: ignore[attr-defined]
    except ValueError:
        raise FormatError(f"{where}: unknown enum value {value}") from None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def duration_s(duration: Registration.Duration, where: str) -> float:
    units = _enum_name(Registration.TimeUnits, duration.units, f"{where}.units")
    if units not in _TIME_UNITS_S:
        raise FormatError(f"{where}.units: {units} is not a time unit")
    return float(duration.value) * _TIME_UNITS_S[units]


def _sigma_of(definitions: list[Registration.DetectionDefinition]) -> dict[str, float]:
    sigma: dict[str, float] = {}
    for definition in definitions:
        if not definition.HasField("geometric_error"):
            continue
        error = definition.geometric_error
        for value in error.performance_value:
            name = value.type.lower()
            number = _number(value.unit_value)
            units = (value.units or error.units).strip().lower()
            if number is None or number <= 0:
                continue
            if "range" in name and units in _LENGTH_M:
                sigma.setdefault("range_m", number * _LENGTH_M[units])
            elif ("azimuth" in name or "bearing" in name) and units in _ANGLE_DEG:
                sigma.setdefault("azimuth_deg", number * _ANGLE_DEG[units])
            elif "elevation" in name and units in _ANGLE_DEG:
                sigma.setdefault("elevation_deg", number * _ANGLE_DEG[units])
    return sigma


def _hints_of(capabilities: list[Registration.Capability]) -> dict[str, float]:
    hints: dict[str, float] = {}
    labels = {label.lower(): (key, units) for key, (label, units) in CAPABILITIES.items()}
    for capability in capabilities:
        match = labels.get(capability.type.strip().lower())
        number = _number(capability.value)
        if match is None or number is None or number < 0:
            continue
        key, _ = match
        units = capability.units.strip().lower()
        if key.endswith("_m") and units in _LENGTH_M:
            number *= _LENGTH_M[units]
        elif key == "period_s" and units in ("ms", "milliseconds"):
            number /= 1000.0
        hints.setdefault(key, number)
    return hints


def profile_of(message: SapientMessage) -> NodeProfile:
    """A node's Registration as a :class:`NodeProfile`; FormatError if dronewatch cannot fuse what it is."""
    registration = message.registration
    where = "registration"
    types = tuple(_enum_name(Registration.NodeType, d.node_type, f"{where}.node_definition.node_type")
                  for d in registration.node_definition)
    definitions = [d for mode in registration.mode_definition for d in mode.detection_definition]
    reports_location = any(d.location_type.WhichOneof("coordinates_oneof") == "location_units" for d in definitions)
    kind: SensorKind | None = next((KIND_BY_NODE_TYPE[t] for t in KIND_BY_NODE_TYPE if t in types), None)
    if reports_location:
        kind = "radar"
    if kind is None:
        effectors = [t for t in types if t in EFFECTOR_TYPES]
        why = (f"{', '.join(effectors)} is an effector: dronewatch connects sensors only and never tasks effectors"
               if effectors and len(effectors) == len(types) else
               "dronewatch fuses RADAR, LIDAR, CAMERA, ACOUSTIC and PASSIVE_RF nodes, and nodes whose detections "
               "carry a location")
        raise FormatError(f"{where}.node_definition: node type {', '.join(types) or 'none'}: {why}")
    definition = registration.status_definition
    interval = duration_s(definition.status_interval, f"{where}.status_definition.status_interval")
    if not interval > 0:
        raise FormatError(f"{where}.status_definition.status_interval: must be positive, got {interval!r} s")
    zones = [d.location_type.zone for d in definitions if d.location_type.zone]
    tracking = [_enum_name(Registration.TrackingType, m.tracking_type, f"{where}.mode_definition.tracking_type")
                for m in registration.mode_definition if m.HasField("tracking_type")]
    classes = tuple(c.type for d in definitions for cd in d.detection_class_definition for c in cd.class_definition)
    return NodeProfile(
        node_id=message.node_id, name=registration.name or registration.short_name or message.node_id,
        node_types=types, kind=kind, icd_version=registration.icd_version, status_interval_s=interval,
        tracking_type=tracking[0] if tracking else "TRACKING_TYPE_UNSPECIFIED",
        detection_zone=zones[0] if zones else None,
        status_zone=definition.location_definition.zone or None if definition.HasField("location_definition") else None,
        sigma=_sigma_of(definitions), hints=_hints_of(list(registration.capabilities)), classes=classes)


def three_d(profile: NodeProfile) -> NodeProfile:
    """The profile of a node found to report ranges: a 3-D sensor (``radar`` kind), its noise kept."""
    if profile.kind == "radar":
        return profile
    return NodeProfile(profile.node_id, profile.name, profile.node_types, "radar", profile.icd_version,
                       profile.status_interval_s, profile.tracking_type, profile.detection_zone, profile.status_zone,
                       profile.sigma, profile.hints, profile.classes)


# ------------------------------------------------------------------ locations
def location_point(location: Location, where: str, zone: str | None = None) -> GeoPoint:
    """A Location (any coordinate system and datum) as latitude, longitude and height."""
    system = _enum_name(LocationCoordinateSystem, location.coordinate_system, f"{where}.coordinate_system")
    datum = _enum_name(LocationDatum, location.datum, f"{where}.datum")
    if datum not in ("LOCATION_DATUM_WGS84_E", "LOCATION_DATUM_WGS84_G"):
        raise FormatError(f"{where}.datum: {datum}: expected LOCATION_DATUM_WGS84_E or LOCATION_DATUM_WGS84_G")
    x, y = float(location.x), float(location.y)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise FormatError(f"{where}: x and y must be finite numbers, got {x!r}, {y!r}")
    if system in ("LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M", "LOCATION_COORDINATE_SYSTEM_LAT_LNG_RAD_M"):
        if system.endswith("RAD_M"):
            x, y = math.degrees(x), math.degrees(y)
        if not -90.0 <= y <= 90.0:
            raise FormatError(f"{where}.y: latitude {y!r}° is outside -90..90 (x is the longitude, y the latitude)")
        if not -180.0 <= x <= 360.0:
            raise FormatError(f"{where}.x: longitude {x!r}° is outside -180..180")
        lat, lon = y, (x + 180.0) % 360.0 - 180.0
    elif system == "LOCATION_COORDINATE_SYSTEM_UTM_M":
        text = location.utm_zone or zone
        if not text:
            raise FormatError(f"{where}.utm_zone: a UTM_M location needs its zone (utm_zone, or the zone its "
                              "registration declares)")
        try:
            utm_zone = parse_zone(text)
        except FormatError as error:
            raise FormatError(f"{where}.utm_zone: {error.reason}") from None
        lat, lon = utm2geodetic_checked(x, y, utm_zone, where)
    else:
        raise FormatError(f"{where}.coordinate_system: {system}: expected LAT_LNG_DEG_M, LAT_LNG_RAD_M or UTM_M")
    height = float(location.z) if location.HasField("z") else None
    if height is not None and not math.isfinite(height):
        raise FormatError(f"{where}.z: must be a finite number")
    return GeoPoint(lat, lon, height, geoid=datum == "LOCATION_DATUM_WGS84_G")


def _height(point: GeoPoint, where: str, undulation_m: float | None) -> float:
    if point.height_m is None:
        raise FormatError(f"{where}.z: missing: dronewatch needs the height of a location")
    return point.height_m + (undulation_m if point.geoid and undulation_m is not None else 0.0)


def node_point(status: StatusReport, profile: NodeProfile) -> GeoPoint | None:
    """Where a StatusReport puts its node (None when it gives no node_location)."""
    if not status.HasField("node_location"):
        return None
    return location_point(status.node_location, "status_report.node_location", profile.status_zone)


def heading_of(status: StatusReport) -> float | None:
    """The platform heading (degrees from true north) a status gives: a PLATFORM entry ``heading=<deg>``."""
    for entry in status.status:
        if entry.status_type == StatusReport.STATUS_TYPE_PLATFORM:
            match = _HEADING.search(entry.status_value)
            if match:
                return float(match.group(1)) % 360.0
    return None


def field_of_view(status: StatusReport) -> dict[str, float]:
    """Coverage hints from a status's field-of-view cone from true north: sector, elevation limits, range."""
    if not status.HasField("field_of_view") or status.field_of_view.WhichOneof("fov_oneof") != "range_bearing":
        return {}
    cone = status.field_of_view.range_bearing
    system = RangeBearingCoordinateSystem.Name(cone.coordinate_system) if cone.coordinate_system in (
        RangeBearingCoordinateSystem.values()) else ""
    if cone.datum != RangeBearingDatum.RANGE_BEARING_DATUM_TRUE or system not in _RANGE_BEARING_UNITS:
        return {}
    angle, length = _RANGE_BEARING_UNITS[system]
    out: dict[str, float] = {}
    if cone.HasField("azimuth") and cone.HasField("horizontal_extent") and 0 < cone.horizontal_extent < 360 / angle:
        centre, width = cone.azimuth * angle, cone.horizontal_extent * angle
        out["azimuth_min_deg"] = (centre - width / 2.0) % 360.0
        out["azimuth_max_deg"] = (centre + width / 2.0) % 360.0
    if cone.HasField("elevation") and cone.HasField("vertical_extent"):
        out["min_elevation_deg"] = (cone.elevation - cone.vertical_extent / 2.0) * angle
        out["max_elevation_deg"] = (cone.elevation + cone.vertical_extent / 2.0) * angle
    if cone.HasField("range") and cone.range > 0:
        out["max_range_m"] = cone.range * length
    return {k: round(v, 9) for k, v in out.items() if math.isfinite(v)}


def place(profile: NodeProfile, point: GeoPoint, *, undulation_m: float | None = None,
          coverage: dict[str, float] | None = None) -> Sensor:
    """The node as a dronewatch sensor at ``point`` (its height on the ellipsoid, see above)."""
    if point.height_m is None:
        raise FormatError("status_report.node_location.z: missing: dronewatch needs the node's height")
    hints = {**profile.hints, **(coverage or {})}
    return Sensor(id=profile.sensor_id, kind=profile.kind, lat=point.lat_deg, lon=point.lon_deg,
                  alt=_height(point, "status_report.node_location", undulation_m), sigma=dict(profile.sigma),
                  pd=hints.get("pd"), period_s=hints.get("period_s"), clutter_per_scan=hints.get("clutter_per_scan"),
                  min_range_m=hints.get("min_range_m"), max_range_m=hints.get("max_range_m"),
                  min_elevation_deg=hints.get("min_elevation_deg"), max_elevation_deg=hints.get("max_elevation_deg"),
                  azimuth_min_deg=hints.get("azimuth_min_deg"), azimuth_max_deg=hints.get("azimuth_max_deg"))


# ------------------------------------------------------------------ detections
def carries_range(message: SapientMessage) -> bool:
    """Whether a DetectionReport gives a range: a Location, or a range-bearing with a range."""
    report = message.detection_report
    which = report.WhichOneof("location_oneof")
    return which == "location" or (which == "range_bearing" and bool(report.range_bearing.HasField("range")))


def _true_azimuth(bearing: RangeBearing, azimuth_deg: float, node: GeoPoint, zone: str | None,
                  heading_deg: float | None) -> float:
    where = "detection_report.range_bearing.datum"
    datum = _enum_name(RangeBearingDatum, bearing.datum, where)
    if datum == "RANGE_BEARING_DATUM_TRUE":
        return azimuth_deg
    if datum == "RANGE_BEARING_DATUM_GRID":
        number = parse_zone(zone).number if zone else zone_of(node.lat_deg, node.lon_deg)
        return azimuth_deg + convergence_deg(node.lat_deg, node.lon_deg, number)
    if datum == "RANGE_BEARING_DATUM_PLATFORM":
        if heading_deg is None:
            raise FormatError(f"{where}: PLATFORM north needs the platform's heading and the node's status gives "
                              "none (a status entry of type PLATFORM with value heading=<degrees>)")
        return azimuth_deg + heading_deg
    if datum == "RANGE_BEARING_DATUM_MAGNETIC":
        raise FormatError(f"{where}: MAGNETIC north is not supported: dronewatch carries no magnetic model to "
                          "turn it into true north; send TRUE (or GRID) north")
    raise FormatError(f"{where}: {datum}: expected TRUE, GRID, PLATFORM (or MAGNETIC) north")


def detection_of(message: SapientMessage, sensor: Sensor, node: GeoPoint, *, zone: str | None = None,
                 heading_deg: float | None = None, undulation_m: float | None = None) -> Detection:
    """A DetectionReport as a dronewatch Detection of ``sensor`` (the node placed at ``node``), at the
    message's timestamp; ``zone`` is the UTM zone the registration declares for detections."""
    report = message.detection_report
    t = seconds_of(message.timestamp)
    which = report.WhichOneof("location_oneof")
    azimuth: float | None
    elevation: float | None
    range_m: float | None
    if which == "location":
        point = location_point(report.location, "detection_report.location", zone)
        if point.geoid != node.geoid and undulation_m is None:
            raise FormatError("detection_report.location.datum: the node's location and this detection are on "
                              "different height datums (WGS84_E and WGS84_G) and the geoid undulation is not known")
        height = _height(point, "detection_report.location", undulation_m)
        east, north, up = geodetic2enu(point.lat_deg, point.lon_deg, height, sensor.lat, sensor.lon, sensor.alt)
        aer = enu2aer(east, north, up)
        azimuth, elevation, range_m = float(aer[0]), float(aer[1]), float(aer[2])
    elif which == "range_bearing":
        bearing = report.range_bearing
        where = "detection_report.range_bearing"
        system = _enum_name(RangeBearingCoordinateSystem, bearing.coordinate_system, f"{where}.coordinate_system")
        if system not in _RANGE_BEARING_UNITS:
            raise FormatError(f"{where}.coordinate_system: {system}: expected DEGREES_M, RADIANS_M, DEGREES_KM or "
                              "RADIANS_KM")
        angle, length = _RANGE_BEARING_UNITS[system]
        if not bearing.HasField("azimuth"):
            raise FormatError(f"{where}.azimuth: missing: every sensor kind needs the azimuth")
        azimuth = _true_azimuth(bearing, bearing.azimuth * angle, node, zone, heading_deg)
        elevation = bearing.elevation * angle if bearing.HasField("elevation") else None
        range_m = bearing.range * length if bearing.HasField("range") else None
    else:
        raise FormatError("detection_report: no location and no range_bearing")
    if not math.isfinite(azimuth):
        raise FormatError("detection_report: azimuth is not a finite number")
    if elevation is not None and not (math.isfinite(elevation) and -90.0 <= elevation <= 90.0):
        raise FormatError(f"detection_report: elevation {elevation!r}° is outside -90..90")
    if range_m is not None and not (math.isfinite(range_m) and range_m >= 0.0):
        raise FormatError(f"detection_report: range {range_m!r} m must be a non-negative number")
    kind = sensor.kind
    if kind == "radar" and (range_m is None or elevation is None):
        missing = "range" if range_m is None else "elevation"
        raise FormatError(f"detection_report.range_bearing.{missing}: missing: node {message.node_id} is a 3-D "
                          f"sensor and needs range, azimuth and elevation")
    if kind == "camera" and elevation is None:
        raise FormatError("detection_report.range_bearing.elevation: missing: a camera needs azimuth and elevation")
    return Detection(t=t, sensor=sensor.id, azimuth_deg=azimuth % 360.0,
                     elevation_deg=elevation if kind in ("radar", "camera", "acoustic") else None,
                     range_m=range_m if kind == "radar" else None,
                     id=report.report_id or None)
