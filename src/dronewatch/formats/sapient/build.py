"""Builders for the SAPIENT messages dronewatch sends: as a fusion node (to edge nodes and upward to a
parent) and, for ``dronewatch sapient-sensor``, as an edge node. Pure: every time and identifier
is an argument, so replays and tests control them.

Mappings (docs/sapient.md has the tables):

- track class -> ``classification.type``: drone ``UAV``, bird ``Bird``, aircraft ``Manned Aircraft``,
  other ``Other``, unknown or none ``Unknown`` (the same strings our Registration declares);
- alert level -> ``alert_type`` / ``priority``: info INFORMATION/LOW, warning WARNING/MEDIUM,
  critical CRITICAL/HIGH; state open and acknowledged -> ACTIVE, resolved -> CLEAR;
- sensor kind -> node type: radar RADAR, camera CAMERA, acoustic ACOUSTIC, rf PASSIVE_RF.

Locations go out as ``LAT_LNG_DEG_M`` on ``WGS84_E`` (x longitude, y latitude, z metres above the
ellipsoid); ``x_error``, ``y_error``, ``z_error`` are one standard deviation in metres (east,
north, up). Velocities are ENU in m/s. Range-bearing detections are ``DEGREES_M`` from true north.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sapient_msg.bsi_flex_335_v2_0.alert_ack_pb2 import AlertAck
from sapient_msg.bsi_flex_335_v2_0.alert_pb2 import Alert as SapientAlert
from sapient_msg.bsi_flex_335_v2_0.associated_detection_pb2 import AssociatedDetection
from sapient_msg.bsi_flex_335_v2_0.detection_report_pb2 import DetectionReport
from sapient_msg.bsi_flex_335_v2_0.error_pb2 import Error
from sapient_msg.bsi_flex_335_v2_0.location_pb2 import Location
from sapient_msg.bsi_flex_335_v2_0.range_bearing_pb2 import LocationOrRangeBearing, RangeBearing, RangeBearingCone
from sapient_msg.bsi_flex_335_v2_0.registration_ack_pb2 import RegistrationAck
from sapient_msg.bsi_flex_335_v2_0.registration_pb2 import Registration
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage
from sapient_msg.bsi_flex_335_v2_0.status_report_pb2 import StatusReport
from sapient_msg.bsi_flex_335_v2_0.task_ack_pb2 import TaskAck
from sapient_msg.bsi_flex_335_v2_0.velocity_pb2 import ENUVelocity, ENUVelocityUnits

from dronewatch.formats.sapient.messages import ICD_VERSION, timestamp_of
from dronewatch.model import Alert, Detection, Sensor, TrackReport

CLASS_TYPES: dict[str, str] = {"drone": "UAV", "bird": "Bird", "aircraft": "Manned Aircraft", "other": "Other",
                               "unknown": "Unknown"}
ALERT_TYPES = {"info": "ALERT_TYPE_INFORMATION", "warning": "ALERT_TYPE_WARNING", "critical": "ALERT_TYPE_CRITICAL"}
PRIORITIES = {"info": "DISCRETE_PRIORITY_LOW", "warning": "DISCRETE_PRIORITY_MEDIUM",
              "critical": "DISCRETE_PRIORITY_HIGH"}
ALERT_STATUSES = {"open": "ALERT_STATUS_ACTIVE", "acknowledged": "ALERT_STATUS_ACTIVE",
                  "resolved": "ALERT_STATUS_CLEAR"}
NODE_TYPES = {"radar": "NODE_TYPE_RADAR", "camera": "NODE_TYPE_CAMERA", "acoustic": "NODE_TYPE_ACOUSTIC",
              "rf": "NODE_TYPE_PASSIVE_RF"}
SECONDS = "TIME_UNITS_SECONDS"
_LATLNG = {"location_units": "LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M", "location_datum": "LOCATION_DATUM_WGS84_E"}
_RANGE_BEARING = {"range_bearing_units": "RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M",
                  "range_bearing_datum": "RANGE_BEARING_DATUM_TRUE"}
# How dronewatch writes a sensor's noise and hints into a Registration, and reads them back
# (dronewatch's convention in free-text fields: the ICD leaves their contents open).
SIGMA_PERFORMANCE = {"range_m": ("Range", "m"), "azimuth_deg": ("Azimuth", "degrees"),
                     "elevation_deg": ("Elevation", "degrees")}
CAPABILITIES = {"period_s": ("Scan period", "s"), "min_range_m": ("Minimum range", "m"),
                "max_range_m": ("Maximum range", "m"), "pd": ("Probability of detection", "probability"),
                "clutter_per_scan": ("False alarms per scan", "count")}


@dataclass(frozen=True, slots=True)
class Contributor:
    """A sensor object behind a fused track: the node that reported it, its object id, when last seen."""

    node_id: str
    object_id: str
    t: float | None = None


def envelope(node_id: str, t_s: float, destination_id: str | None = None) -> SapientMessage:
    message = SapientMessage(timestamp=timestamp_of(t_s), node_id=node_id)
    if destination_id:
        message.destination_id = destination_id
    return message


def registration_ack(node_id: str, t_s: float, destination_id: str | None, accepted: bool,
                     reasons: Sequence[str] = ()) -> SapientMessage:
    message = envelope(node_id, t_s, destination_id)
    message.registration_ack.CopyFrom(RegistrationAck(acceptance=accepted, ack_response_reason=list(reasons)))
    return message


def error(node_id: str, t_s: float, destination_id: str | None, packet: bytes,
          reasons: Sequence[str]) -> SapientMessage:
    """An Error carrying the offending bytes and what was wrong with them."""
    message = envelope(node_id, t_s, destination_id)
    message.error.CopyFrom(Error(packet=packet, error_message=list(reasons) or ["unspecified error"]))
    return message


def task_ack(node_id: str, t_s: float, destination_id: str | None, task_id: str, status: str,
             reasons: Sequence[str] = ()) -> SapientMessage:
    """``status`` is ACCEPTED, REJECTED, COMPLETED or FAILED."""
    message = envelope(node_id, t_s, destination_id)
    message.task_ack.CopyFrom(TaskAck(task_id=task_id, task_status=f"TASK_STATUS_{status}", reason=list(reasons)))
    return message


def alert_ack(node_id: str, t_s: float, destination_id: str | None, alert_id: str, status: str = "ACCEPTED",
              reasons: Sequence[str] = ()) -> SapientMessage:
    message = envelope(node_id, t_s, destination_id)
    message.alert_ack.CopyFrom(AlertAck(alert_id=alert_id, alert_ack_status=f"ALERT_ACK_STATUS_{status}",
                                        reason=list(reasons)))
    return message


def _seconds(value: float) -> Registration.Duration:
    return Registration.Duration(units=SECONDS, value=value)


def _no_tasks(commands: Sequence[Registration.Command] = ()) -> Registration.TaskDefinition:
    return Registration.TaskDefinition(
        concurrent_tasks=0,
        region_definition=Registration.RegionDefinition(region_type=["REGION_TYPE_AREA_OF_INTEREST"],
                                                        region_area=[Registration.LocationType(**_LATLNG)]),
        command=list(commands))


def fusion_registration(node_id: str, t_s: float, *, name: str, short_name: str, dependent_nodes: Sequence[str],
                        status_interval_s: float, software_version: str) -> SapientMessage:
    """dronewatch's own Registration as a (child) fusion node: what it reports and that it takes no tasks
    but the two requests it honours (Registration, Status)."""
    classes = [Registration.ClassDefinition(type=t, units="probability") for t in dict.fromkeys(CLASS_TYPES.values())]
    detection = Registration.DetectionDefinition(
        location_type=Registration.LocationType(**_LATLNG),
        detection_class_definition=[Registration.DetectionClassDefinition(
            confidence_definition="CONFIDENCE_DEFINITION_SINGLE_CLASS", class_definition=classes)],
        velocity_type=Registration.VelocityType(
            enu_velocity_units=ENUVelocityUnits(east_north_rate_units="SPEED_UNITS_MS", up_rate_units="SPEED_UNITS_MS"),
            location_datum="LOCATION_DATUM_WGS84_E"),
        geometric_error=Registration.GeometricError(type="Standard Deviation", units="metres",
                                                    variation_type="per report: x_error, y_error, z_error"))
    mode = Registration.ModeDefinition(
        mode_name="default", mode_type="MODE_TYPE_PERMANENT",
        mode_description="multi-sensor fused tracks of drones, birds and aircraft; alerts for protected zones",
        settle_time=_seconds(0.0), scan_type="SCAN_TYPE_FIXED", tracking_type="TRACKING_TYPE_TRACK",
        detection_definition=[detection],
        task=_no_tasks([Registration.Command(units="Registration, Status", completion_time=_seconds(1.0),
                                             type="COMMAND_TYPE_REQUEST")]))
    registration = Registration(
        node_definition=[Registration.NodeDefinition(node_type="NODE_TYPE_FUSION_NODE",
                                                     node_sub_type=["counter-UAS early warning"])],
        icd_version=ICD_VERSION, name=name, short_name=short_name[:32],
        capabilities=[
            Registration.Capability(category="Fusion", type="Tracks",
                                    value="radar, camera, acoustic, passive RF, Remote ID, ADS-B"),
            Registration.Capability(category="Assessment", type="Alerts",
                                    value="zone entry, predicted breach, loiter, swarm, no Remote ID, spoofing"),
            Registration.Capability(category="Tasking", type="Accepted requests", value="Registration, Status"),
        ],
        status_definition=Registration.StatusDefinition(status_interval=_seconds(status_interval_s),
                                                         location_definition=Registration.LocationType(**_LATLNG)),
        mode_definition=[mode], dependent_nodes=list(dependent_nodes),
        config_data=[Registration.ConfigurationData(manufacturer="dronewatch project", model="dronewatch",
                                                    software_version=software_version)])
    message = envelope(node_id, t_s)
    message.registration.CopyFrom(registration)
    return message


def latlng(lat_deg: float, lon_deg: float, alt_m: float | None, sigma_m: float | None = None) -> Location:
    location = Location(x=lon_deg, y=lat_deg, coordinate_system="LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M",
                        datum="LOCATION_DATUM_WGS84_E")
    if alt_m is not None:
        location.z = alt_m
    if sigma_m is not None:
        location.x_error = location.y_error = sigma_m
        if alt_m is not None:
            location.z_error = sigma_m
    return location


def status_report(node_id: str, t_s: float, report_id: str, *, info: str = "NEW", system: str = "OK",
                  mode: str = "default", location: tuple[float, float, float] | None = None,
                  field_of_view: RangeBearingCone | None = None) -> SapientMessage:
    """A StatusReport: ``info`` NEW or UNCHANGED, ``system`` OK, WARNING, ERROR or GOODBYE;
    ``location`` is (lat, lon, alt HAE)."""
    report = StatusReport(report_id=report_id, system=f"SYSTEM_{system}", info=f"INFO_{info}", mode=mode)
    if location is not None:
        report.node_location.CopyFrom(latlng(*location))
    if field_of_view is not None:
        report.field_of_view.CopyFrom(LocationOrRangeBearing(range_bearing=field_of_view))
    message = envelope(node_id, t_s)
    message.status_report.CopyFrom(report)
    return message


def track_report(node_id: str, t_s: float, track: TrackReport, *, report_id: str, object_id: str,
                 sigma_m: float | None, contributors: Sequence[Contributor] = (),
                 state: str | None = None) -> SapientMessage:
    """A fused track as a DetectionReport, stamped ``t_s`` (the send time, not the track's own)."""
    report = DetectionReport(report_id=report_id, object_id=object_id,
                             location=latlng(track.lat, track.lon, track.alt, sigma_m))
    east, north, up = track.vel_enu
    report.enu_velocity.CopyFrom(ENUVelocity(east_rate=east, north_rate=north, up_rate=up))
    classification = report.classification.add(type=CLASS_TYPES.get(track.cls or "unknown", "Unknown"))
    if track.confidence is not None:
        classification.confidence = track.confidence
    for contributor in contributors:
        associated = AssociatedDetection(node_id=contributor.node_id, object_id=contributor.object_id,
                                         association_type="ASSOCIATION_RELATION_CHILD")
        if contributor.t is not None:
            associated.timestamp.CopyFrom(timestamp_of(contributor.t))
        report.associated_detection.append(associated)
    if track.uas_id or track.icao:
        report.id = str(track.uas_id or track.icao)
    if state:
        report.state = state
    message = envelope(node_id, t_s)
    message.detection_report.CopyFrom(report)
    return message


def alert(node_id: str, t_s: float, item: Alert, *, alert_id: str, region_id: str | None,
          track_object_id: str | None) -> SapientMessage:
    """A dronewatch alert line as a SAPIENT Alert; the track's position from the alert's evidence."""
    out = SapientAlert(alert_id=alert_id, alert_type=ALERT_TYPES[item.level], status=ALERT_STATUSES[item.state],
                       description=f"{item.kind}: " + "; ".join(item.reasons), priority=PRIORITIES[item.level])
    evidence = item.evidence or {}
    position = evidence.get("track")
    if isinstance(position, dict) and all(isinstance(position.get(k), int | float) for k in ("lat", "lon", "alt")):
        sigma = position.get("sigma_m")
        out.location.CopyFrom(latlng(float(position["lat"]), float(position["lon"]), float(position["alt"]),
                                     float(sigma) if isinstance(sigma, int | float) else None))
    if isinstance(evidence.get("confidence"), int | float):
        out.confidence = float(evidence["confidence"])
    if region_id:
        out.region_id = region_id
    if track_object_id:
        out.associated_detection.append(AssociatedDetection(node_id=node_id, object_id=track_object_id))
    extra = [f"dronewatch alert {item.id}", f"track {item.track}"]
    if item.zone:
        extra.append(f"zone {item.zone}")
    if item.eta_s is not None:
        extra.append(f"eta {item.eta_s:.0f} s")
    out.additional_information = ", ".join(extra)
    message = envelope(node_id, t_s)
    message.alert.CopyFrom(out)
    return message


# ------------------------------------------------------------------ edge node (sapient-sensor)
def sensor_field_of_view(sensor: Sensor) -> RangeBearingCone | None:
    """A sensor's coverage as a cone from true north (degrees, metres), if it declares any."""
    if sensor.azimuth_min_deg is None and sensor.max_range_m is None and sensor.max_elevation_deg is None:
        return None
    cone = RangeBearingCone(coordinate_system="RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M",
                            datum="RANGE_BEARING_DATUM_TRUE")
    if sensor.azimuth_min_deg is not None and sensor.azimuth_max_deg is not None:
        width = (sensor.azimuth_max_deg - sensor.azimuth_min_deg) % 360.0
        cone.azimuth = (sensor.azimuth_min_deg + width / 2.0) % 360.0
        cone.horizontal_extent = width
    else:
        cone.azimuth, cone.horizontal_extent = 0.0, 360.0
    if sensor.min_elevation_deg is not None and sensor.max_elevation_deg is not None:
        cone.elevation = (sensor.min_elevation_deg + sensor.max_elevation_deg) / 2.0
        cone.vertical_extent = sensor.max_elevation_deg - sensor.min_elevation_deg
    if sensor.max_range_m is not None:
        cone.range = sensor.max_range_m
    return cone


def sensor_registration(node_id: str, t_s: float, sensor: Sensor, *, status_interval_s: float = 5.0,
                        name: str | None = None) -> SapientMessage:
    """An edge node's Registration for a scenario sensor: node type by kind, range-bearing detections
    (DEGREES_M, true north) with the sensor's noise as the geometric error, tracking type NONE
    (a new object id per detection: a scenario detection carries no identity)."""
    performance = [Registration.PerformanceValue(type=SIGMA_PERFORMANCE[key][0], units=SIGMA_PERFORMANCE[key][1],
                                                 unit_value=repr(float(value)), variation_type="constant")
                   for key, value in sensor.sigma.items() if key in SIGMA_PERFORMANCE]
    capabilities = [Registration.Capability(category=sensor.kind, type=label, value=repr(float(value)), units=units)
                    for key, (label, units) in CAPABILITIES.items()
                    if (value := getattr(sensor, key)) is not None]
    detection = Registration.DetectionDefinition(
        location_type=Registration.LocationType(**_RANGE_BEARING),
        geometric_error=Registration.GeometricError(type="Standard Deviation", units="degrees and metres",
                                                    variation_type="constant", performance_value=performance))
    mode = Registration.ModeDefinition(
        mode_name="default", mode_type="MODE_TYPE_PERMANENT", settle_time=_seconds(0.0),
        scan_type="SCAN_TYPE_SCANNING" if sensor.kind == "radar" else "SCAN_TYPE_FIXED",
        tracking_type="TRACKING_TYPE_NONE", detection_definition=[detection], task=_no_tasks())
    registration = Registration(
        node_definition=[Registration.NodeDefinition(node_type=NODE_TYPES[sensor.kind])],
        icd_version=ICD_VERSION, name=name or sensor.id, short_name=sensor.id[:32],
        capabilities=capabilities or [Registration.Capability(category=sensor.kind, type="Detection")],
        status_definition=Registration.StatusDefinition(
            status_interval=_seconds(status_interval_s), location_definition=Registration.LocationType(**_LATLNG),
            field_of_view_definition=Registration.LocationType(**_RANGE_BEARING)),
        mode_definition=[mode],
        config_data=[Registration.ConfigurationData(manufacturer="dronewatch simulator", model=sensor.kind)])
    message = envelope(node_id, t_s)
    message.registration.CopyFrom(registration)
    return message


def sensor_status(node_id: str, t_s: float, report_id: str, sensor: Sensor, *, info: str = "NEW",
                  system: str = "OK") -> SapientMessage:
    return status_report(node_id, t_s, report_id, info=info, system=system,
                         location=(sensor.lat, sensor.lon, sensor.alt), field_of_view=sensor_field_of_view(sensor))


def sensor_detection(node_id: str, t_s: float, detection: Detection, sensor: Sensor, *, report_id: str,
                     object_id: str) -> SapientMessage:
    """A scenario detection as a range-bearing DetectionReport (DEGREES_M, true north), what the
    sensor kind measures: azimuth always, elevation and range when the detection has them."""
    bearing = RangeBearing(coordinate_system="RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M",
                           datum="RANGE_BEARING_DATUM_TRUE")
    if detection.azimuth_deg is not None:
        bearing.azimuth = detection.azimuth_deg
        if "azimuth_deg" in sensor.sigma:
            bearing.azimuth_error = sensor.sigma["azimuth_deg"]
    if detection.elevation_deg is not None and sensor.kind != "rf":
        bearing.elevation = detection.elevation_deg
        if "elevation_deg" in sensor.sigma:
            bearing.elevation_error = sensor.sigma["elevation_deg"]
    if detection.range_m is not None and sensor.kind == "radar":
        bearing.range = detection.range_m
        if "range_m" in sensor.sigma:
            bearing.range_error = sensor.sigma["range_m"]
    message = envelope(node_id, t_s)
    message.detection_report.CopyFrom(DetectionReport(report_id=report_id, object_id=object_id,
                                                      range_bearing=bearing))
    return message
