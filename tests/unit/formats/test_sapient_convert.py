"""Edge-node messages -> dronewatch Sensor and Detection: every location and bearing form, checked against
pymap3d (an independent geodesy implementation) and against what the sender put in."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pymap3d
import pytest
from google.protobuf import json_format
from sapient_msg.bsi_flex_335_v2_0.detection_report_pb2 import DetectionReport
from sapient_msg.bsi_flex_335_v2_0.location_pb2 import Location
from sapient_msg.bsi_flex_335_v2_0.range_bearing_pb2 import RangeBearing
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage
from sapient_msg.bsi_flex_335_v2_0.status_report_pb2 import StatusReport

from dronewatch.errors import FormatError
from dronewatch.formats.sapient import build, convert, stable_ulid, stable_uuid
from dronewatch.geo.utm import convergence_deg, geodetic2utm
from dronewatch.model import Sensor
from dronewatch.sim.scenarios import station_sensors

DSTL = Path(__file__).resolve().parents[2] / "data" / "interop" / "sapient" / "dstl-test-harness-samples"
NODE = stable_uuid("radar-1")
T = 1_777_636_800.5
RADAR = Sensor(id="sapient-" + NODE, kind="radar", lat=31.7775, lon=-106.529, alt=1140.0)
NODE_POINT = convert.GeoPoint(31.7775, -106.529, 1140.0)
TARGET = (31.7801, -106.5237, 1230.0)


def parse(path: Path) -> SapientMessage:
    return json_format.Parse(path.read_text(), SapientMessage())


def report(**location: object) -> SapientMessage:
    message = build.envelope(NODE, T)
    message.detection_report.CopyFrom(DetectionReport(report_id=stable_ulid("r"), object_id=stable_ulid("o"),
                                                      **location))  # type: ignore[arg-type]
    return message


def expected_aer() -> tuple[float, float, float]:
    az, el, r = pymap3d.geodetic2aer(*TARGET, RADAR.lat, RADAR.lon, RADAR.alt)
    return float(az), float(el), float(r)


def aer_of(detection: object) -> tuple[float, float, float]:
    return (detection.azimuth_deg, detection.elevation_deg, detection.range_m)  # type: ignore[attr-defined]


@pytest.mark.parametrize("sensor", [s for s in station_sensors() if s.kind in build.NODE_TYPES], ids=lambda s: s.id)
def test_a_sensor_survives_registration_and_status(sensor: Sensor) -> None:
    node_id = stable_uuid(sensor.id)
    registration = build.sensor_registration(node_id, T, sensor)
    profile = convert.profile_of(registration)
    assert (profile.kind, profile.status_interval_s, profile.tracking_type) == (
        sensor.kind, 5.0, "TRACKING_TYPE_NONE")
    status = build.sensor_status(node_id, T, stable_ulid("s"), sensor).status_report
    point = convert.node_point(status, profile)
    assert point is not None
    placed = convert.place(profile, point, coverage=convert.field_of_view(status))
    assert placed == replace(sensor, id=f"sapient-{node_id}")


def test_dstl_registration_camera_reporting_utm_locations_is_a_3d_sensor() -> None:
    profile = convert.profile_of(parse(DSTL / "asm" / "Default.Registration.json"))
    assert (profile.kind, profile.node_types, profile.detection_zone, profile.status_zone) == (
        "radar", ("NODE_TYPE_CAMERA",), "30U", "30U")
    assert (profile.status_interval_s, profile.tracking_type, profile.classes) == (
        5.0, "TRACKING_TYPE_TRACKLET", ("Equipment",))
    assert profile.sigma == {}  # its geometric error lists a rotation speed only: the tracker's defaults apply


def test_dstl_status_and_detection_put_a_latitude_in_x_with_utm_and_are_refused() -> None:
    profile = convert.profile_of(parse(DSTL / "asm" / "Default.Registration.json"))
    with pytest.raises(FormatError, match=r"status_report.node_location: easting x=51.1739726374 m is outside UTM "
                                          r"zone 30 .* look like degrees"):
        convert.node_point(parse(DSTL / "asm" / "Default.StatusReport.json").status_report, profile)
    with pytest.raises(FormatError, match=r"detection_report.location: easting x=51.1739726374 m"):
        convert.detection_of(parse(DSTL / "asm" / "Default.DetectionReport.json"), RADAR, NODE_POINT,
                             zone=profile.detection_zone)


@pytest.mark.parametrize("form", ["deg", "rad", "utm", "utm_declared_zone"])
def test_every_location_form_gives_the_same_measurement(form: str) -> None:
    lat, lon, alt = TARGET
    if form == "deg":
        location = Location(x=lon, y=lat, z=alt, coordinate_system="LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M",
                            datum="LOCATION_DATUM_WGS84_E")
    elif form == "rad":
        location = Location(x=math.radians(lon), y=math.radians(lat), z=alt,
                            coordinate_system="LOCATION_COORDINATE_SYSTEM_LAT_LNG_RAD_M",
                            datum="LOCATION_DATUM_WGS84_E")
    else:
        easting, northing, zone, _ = geodetic2utm(lat, lon)
        location = Location(x=easting, y=northing, z=alt, coordinate_system="LOCATION_COORDINATE_SYSTEM_UTM_M",
                            datum="LOCATION_DATUM_WGS84_E")
        if form == "utm":
            location.utm_zone = f"{zone}R"
    detection = convert.detection_of(report(location=location), RADAR, NODE_POINT, zone="13R")
    assert aer_of(detection) == pytest.approx(expected_aer(), abs=1e-6)
    assert (detection.t, detection.sensor, detection.id) == (pytest.approx(T), RADAR.id, stable_ulid("r"))


@pytest.mark.parametrize(("system", "angle", "length"), [
    ("DEGREES_M", 1.0, 1.0), ("RADIANS_M", math.pi / 180.0, 1.0), ("DEGREES_KM", 1.0, 1e-3),
    ("RADIANS_KM", math.pi / 180.0, 1e-3)])
def test_every_range_bearing_unit(system: str, angle: float, length: float) -> None:
    az, el, r = expected_aer()
    bearing = RangeBearing(azimuth=az * angle, elevation=el * angle, range=r * length,
                           coordinate_system=f"RANGE_BEARING_COORDINATE_SYSTEM_{system}",
                           datum="RANGE_BEARING_DATUM_TRUE")
    assert aer_of(convert.detection_of(report(range_bearing=bearing), RADAR, NODE_POINT)) == pytest.approx(
        (az, el, r), abs=1e-9)


def test_grid_platform_and_magnetic_north() -> None:
    az, el, r = expected_aer()
    gamma = convergence_deg(RADAR.lat, RADAR.lon, 13)
    assert gamma == pytest.approx(-0.805, abs=0.001)  # El Paso is west of zone 13's central meridian

    def bearing(datum: str, azimuth: float) -> SapientMessage:
        return report(range_bearing=RangeBearing(azimuth=azimuth, elevation=el, range=r, datum=datum,
                                                 coordinate_system="RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M"))

    grid = convert.detection_of(bearing("RANGE_BEARING_DATUM_GRID", az - gamma), RADAR, NODE_POINT)
    assert grid.azimuth_deg == pytest.approx(az, abs=1e-9)
    platform = convert.detection_of(bearing("RANGE_BEARING_DATUM_PLATFORM", (az - 300.0) % 360), RADAR, NODE_POINT,
                                    heading_deg=300.0)
    assert platform.azimuth_deg == pytest.approx(az, abs=1e-9)
    with pytest.raises(FormatError, match="PLATFORM north needs the platform's heading"):
        convert.detection_of(bearing("RANGE_BEARING_DATUM_PLATFORM", az), RADAR, NODE_POINT)
    with pytest.raises(FormatError, match=r"range_bearing.datum: MAGNETIC north is not supported"):
        convert.detection_of(bearing("RANGE_BEARING_DATUM_MAGNETIC", az), RADAR, NODE_POINT)
    with pytest.raises(FormatError, match=r"range_bearing.datum: RANGE_BEARING_DATUM_UNSPECIFIED"):
        convert.detection_of(bearing("RANGE_BEARING_DATUM_UNSPECIFIED", az), RADAR, NODE_POINT)
    status = StatusReport(status=[StatusReport.Status(status_type="STATUS_TYPE_PLATFORM",
                                                      status_value="Heading: 300.5 deg")])
    assert convert.heading_of(status) == 300.5
    assert convert.heading_of(StatusReport()) is None


def test_geoid_heights() -> None:
    lat, lon, alt = TARGET
    geoid = Location(x=lon, y=lat, z=alt, coordinate_system="LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M",
                     datum="LOCATION_DATUM_WGS84_G")
    node_geoid = convert.GeoPoint(RADAR.lat, RADAR.lon, RADAR.alt, geoid=True)
    # both on the geoid, no undulation known: relative to the node, as if both were ellipsoidal
    same = convert.detection_of(report(location=geoid), RADAR, node_geoid)
    assert aer_of(same) == pytest.approx(expected_aer(), abs=1e-6)
    # mixed datums need the undulation
    with pytest.raises(FormatError, match="different height datums"):
        convert.detection_of(report(location=geoid), RADAR, NODE_POINT)
    undulation = -25.0  # near El Paso (EGM2008 N is about -25 m)
    placed = replace(RADAR, alt=RADAR.alt)  # the node's height on the ellipsoid, as given
    with_n = convert.detection_of(report(location=geoid), placed, NODE_POINT, undulation_m=undulation)
    az, el, r = pymap3d.geodetic2aer(lat, lon, alt + undulation, RADAR.lat, RADAR.lon, RADAR.alt)
    assert aer_of(with_n) == pytest.approx((az, el, r), abs=1e-6)
    profile = convert.profile_of(build.sensor_registration(NODE, T, replace(RADAR, id="radar-1")))
    assert convert.place(profile, node_geoid, undulation_m=undulation).alt == RADAR.alt + undulation
    assert convert.place(profile, node_geoid).alt == RADAR.alt


def test_what_each_sensor_kind_needs_and_keeps() -> None:
    az, _, r = expected_aer()
    no_elevation = report(range_bearing=RangeBearing(azimuth=az, range=r, datum="RANGE_BEARING_DATUM_TRUE",
                                                     coordinate_system="RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M"))
    with pytest.raises(FormatError, match=r"range_bearing.elevation: missing: node .* is a 3-D sensor"):
        convert.detection_of(no_elevation, RADAR, NODE_POINT)
    with pytest.raises(FormatError, match="a camera needs azimuth and elevation"):
        convert.detection_of(no_elevation, replace(RADAR, kind="camera"), NODE_POINT)
    rf = convert.detection_of(no_elevation, replace(RADAR, kind="rf"), NODE_POINT)
    assert (rf.azimuth_deg, rf.elevation_deg, rf.range_m) == (pytest.approx(az), None, None)
    assert convert.carries_range(no_elevation)
    no_z = report(location=Location(x=-106.52, y=31.78, coordinate_system="LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M",
                                    datum="LOCATION_DATUM_WGS84_E"))
    with pytest.raises(FormatError, match=r"detection_report.location.z: missing"):
        convert.detection_of(no_z, RADAR, NODE_POINT)
    swapped = report(location=Location(x=31.78, y=-106.52, z=1200.0, datum="LOCATION_DATUM_WGS84_E",
                                       coordinate_system="LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M"))
    with pytest.raises(FormatError, match=r"location.y: latitude -106.52° is outside -90..90"):
        convert.detection_of(swapped, RADAR, NODE_POINT)


def test_nodes_dronewatch_does_not_fuse_are_refused_with_a_reason() -> None:
    registration = build.sensor_registration(NODE, T, replace(RADAR, id="radar-1"))
    registration.registration.node_definition[0].node_type = 14  # JAMMER
    with pytest.raises(FormatError, match="NODE_TYPE_JAMMER is an effector: dronewatch connects sensors only"):
        convert.profile_of(registration)
    registration.registration.node_definition[0].node_type = 10  # CHEMICAL
    with pytest.raises(FormatError, match="dronewatch fuses RADAR, LIDAR, CAMERA"):
        convert.profile_of(registration)
    registration.registration.node_definition[0].node_type = 8  # PASSIVE_RF
    assert convert.profile_of(registration).kind == "rf"
    assert convert.three_d(convert.profile_of(registration)).kind == "radar"
