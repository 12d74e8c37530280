"""Cursor-on-Target builders: every kind of event we emit validates against the MITRE schemas (lxml) and
decodes with takproto (third-party) to the same fields."""

from __future__ import annotations

import contextlib
import math
import re
from datetime import datetime
from pathlib import Path

import pytest
import takproto
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from dronewatch.errors import DecodeError
from dronewatch.formats import cot
from dronewatch.model import Alert, TrackReport, Zone

COT = Path(__file__).resolve().parents[2] / "data" / "interop" / "cot"
SCHEMA = etree.XMLSchema(etree.parse(str(COT / "cot-event-with-track.xsd")))
NOW = 1_780_000_000.25
ORIGIN = cot.origin_for_site("station-7", 31.7775, -106.529, 1140.0)
REPORT = TrackReport(t=NOW - 0.2, id="T12", lat=31.7801, lon=-106.5212, alt=1210.4, vel_enu=(-8.0, -6.0, 0.7),
                     cls="drone", confidence=0.931, sensors=("radar-1", "rf-1"))
ALERT = Alert(t=NOW, id="A7", track="T12", level="critical", kind="zone_breach_predicted", state="open",
              reasons=("drone without Remote ID", "heading for compound"), zone="compound", eta_s=31.4)
ZONE = Zone(id="compound", level="critical", floor_m=1100.0, ceiling_m=1300.0,
            polygon=((-106.5300, 31.7770), (-106.5280, 31.7770), (-106.5280, 31.7785), (-106.5300, 31.7785)))


def every_event() -> dict[str, bytes]:
    uid = cot.track_uid(ORIGIN, "run1", "T12")
    return {
        "sa": cot.sa_event(ORIGIN, now_s=NOW, stale_s=90.0),
        "track": cot.track_event(REPORT, ORIGIN, uid=uid, now_s=NOW, stale_s=6.0, how="m-f", level="critical",
                                 sigma_m=14.2),
        "track-unknown-coasting": cot.track_event(TrackReport(t=NOW, id="T3", lat=31.0, lon=-106.0, alt=1500.0,
                                                              vel_enu=(0.0, 0.0, 0.0)), ORIGIN, uid=uid + "x",
                                                  now_s=NOW, stale_s=6.0, how="m-p"),
        "zone": cot.zone_event(ZONE, ORIGIN, now_s=NOW),
        "chat": cot.chat_event(cot.alert_text(ALERT, "DRONE T12"), ORIGIN, message_id="run1.A7.open.1", now_s=NOW),
        "emergency": cot.emergency_event(ALERT, ORIGIN, now_s=NOW, stale_s=30.0, lat=REPORT.lat, lon=REPORT.lon,
                                         hae=REPORT.alt, text=cot.alert_text(ALERT)),
        "cancel": cot.emergency_cancel_event(ALERT, ORIGIN, now_s=NOW + 60, stale_s=30.0, lat=REPORT.lat,
                                             lon=REPORT.lon, hae=REPORT.alt),
        "delete": cot.delete_event(uid, "a-h-A-M-H-Q", ORIGIN, now_s=NOW, stale_s=30.0),
        "protocol-request": cot.protocol_request_event(ORIGIN, now_s=NOW),
    }


@pytest.mark.parametrize("kind", list(every_event()))
def test_every_event_we_emit_is_valid_cot_with_the_xml_declaration(kind: str) -> None:
    xml = every_event()[kind]
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<event ')  # pytak drops UDP XML without it
    event = etree.fromstring(xml)
    SCHEMA.assertValid(event)
    assert event.get("how") in {"h-e", "m-f", "m-g", "m-r", "m-p"}
    assert _time(event.get("stale")) > _time(event.get("time"))


def test_the_schema_catches_what_it_should() -> None:
    # the four rules the invalid sample breaks: type pattern, lat > 90, course >= 360, speed < 0
    SCHEMA.validate(etree.parse(str(COT / "samples" / "INVALID_track.xml")))
    assert len(SCHEMA.error_log) == 4


@pytest.mark.parametrize("kind", list(every_event()))
@pytest.mark.parametrize("framing", ["mesh", "stream"])
def test_takproto_decodes_our_frames_to_the_same_fields(kind: str, framing: cot.TakProtocol) -> None:
    xml = every_event()[kind]
    event = etree.fromstring(xml)
    frame = cot.to_tak_protocol(xml, framing)
    assert frame[:3] == b"\xbf\x01\xbf" if framing == "mesh" else frame[0] == 0xBF
    message = takproto.parse_proto(bytearray(frame))
    assert message is not None
    decoded = message.cotEvent
    assert (decoded.type, decoded.uid, decoded.how) == (event.get("type"), event.get("uid"), event.get("how"))
    for attribute, field in (("time", "sendTime"), ("start", "startTime"), ("stale", "staleTime")):
        assert getattr(decoded, field) == round(_time(event.get(attribute)) * 1000)
    point = event.find("point")
    for name in ("lat", "lon", "hae", "ce", "le"):
        assert getattr(decoded, name) == pytest.approx(float(point.get(name)), abs=1e-9)
    detail = event.find("detail")
    typed = {"contact", "track", "__group", "takv"}
    if (track := detail.find("track")) is not None:
        assert (decoded.detail.track.course, decoded.detail.track.speed) == (
            float(track.get("course")), float(track.get("speed")))
    if (contact := detail.find("contact")) is not None:
        assert decoded.detail.contact.callsign == contact.get("callsign")
    rest = etree.fromstring(f"<detail>{decoded.detail.xmlDetail}</detail>")
    assert [c.tag for c in rest] == [c.tag for c in detail if c.tag not in typed]
    for ours, theirs in zip((c for c in detail if c.tag not in typed), rest, strict=True):
        assert (dict(ours.attrib), ours.text) == (dict(theirs.attrib), theirs.text)


def test_our_framing_matches_the_committed_takproto_vectors() -> None:
    xml = (COT / "samples" / "track_hostile_rotary_uav.xml").read_bytes()
    for framing in ("mesh", "stream"):
        assert cot.to_tak_protocol(xml, framing) == (
            COT / "samples" / f"track_hostile_rotary_uav.takproto-{framing}.bin").read_bytes()


def test_a_track_says_what_partners_need() -> None:
    event = etree.fromstring(every_event()["track"])
    assert event.get("uid") == "dronewatch-station-7.track.run1.T12"
    assert event.get("type") == "a-h-A-M-H-Q"  # hostile rotary-wing drone: a critical alert is open on it
    track = event.find("detail/track")
    assert float(track.get("course")) == pytest.approx(math.degrees(math.atan2(-8.0, -6.0)) % 360, abs=0.05)
    assert float(track.get("speed")) == pytest.approx(math.sqrt(64 + 36 + 0.49), abs=0.005)
    assert event.find("point").get("ce") == "14.2"
    remarks = event.find("detail/remarks").text
    assert "drone (confidence 0.93)" in remarks and "no Remote ID" in remarks and "radar-1, rf-1" in remarks
    assert event.find("detail/link").get("uid") == ORIGIN.uid


def test_an_aircraft_goes_to_partners_under_its_own_callsign() -> None:
    report = TrackReport(t=1_764_000_000.0, id="T4", lat=31.8, lon=-106.5, alt=1_500.0, vel_enu=(60.0, 0.0, 0.0),
                         cls="aircraft", icao="A1B2C3", callsign="CBP117")
    event = etree.fromstring(cot.track_event(report, ORIGIN, uid="u", now_s=report.t, stale_s=10.0, how="m-f"))
    assert event.find("detail/contact").get("callsign") == "CBP117 (T4)"
    assert "ICAO A1B2C3 callsign CBP117" in event.find("detail/remarks").text


@pytest.mark.parametrize(("cls", "level", "expected"), [
    ("drone", None, "a-u-A-M-H-Q"), ("drone", "warning", "a-s-A-M-H-Q"), ("drone", "critical", "a-h-A-M-H-Q"),
    ("aircraft", None, "a-n-A-C"), ("bird", None, "a-n-A"), (None, None, "a-u-A"), ("unknown", "critical", "a-h-A"),
])
def test_type_by_class_and_threat(cls: str | None, level: str | None, expected: str) -> None:
    assert cot.track_type(cls, level) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("kinds", "how"), [
    (["radar", "rf"], "m-f"), (["radar", "radar"], "m-r"), (["remoteid"], "m-g"), ([], "m-p")])
def test_how_says_how_the_position_came_about(kinds: list[str], how: str) -> None:
    assert cot.track_how(kinds) == how


def test_a_zone_is_a_closed_shape_with_a_geofence_for_hostile_tracks() -> None:
    event = etree.fromstring(every_event()["zone"])
    points = [link.get("point") for link in event.findall("detail/link")]
    assert len(points) == 5 and points[0] == points[-1] == "31.7770000,-106.5300000"
    fence = event.find("detail/__geofence")
    assert (fence.get("monitor"), fence.get("trigger"), fence.get("minElevation"), fence.get("maxElevation")) == (
        "Hostile", "Entry", "1100.0", "1300.0")


def test_alerts_read_as_plain_words_and_the_emergency_is_cancelled_under_the_same_uid() -> None:
    events = every_event()
    chat = etree.fromstring(events["chat"])
    assert chat.get("uid") == "GeoChat.dronewatch-station-7.All Chat Rooms.run1.A7.open.1"
    assert chat.find("detail/remarks").text == (
        "CRITICAL zone breach predicted zone compound in 31 s: track DRONE T12 "
        "(drone without Remote ID; heading for compound)")
    emergency, cancel = etree.fromstring(events["emergency"]), etree.fromstring(events["cancel"])
    assert emergency.get("uid") == cancel.get("uid") == "dronewatch-station-7.alert.A7-9-1-1"
    assert (emergency.get("type"), emergency.find("detail/emergency").get("type")) == ("b-a-o-tbl", "911 Alert")
    assert (cancel.get("type"), cancel.find("detail/emergency").get("cancel")) == ("b-a-o-can", "true")


def test_server_streams_are_split_into_events_with_or_without_declarations() -> None:
    sa, chat = every_event()["sa"], every_event()["chat"]
    stream = sa + b"\n" + chat[len(b'<?xml version="1.0" encoding="UTF-8"?>\n'):] + sa[:50]
    events, rest = cot.split_events(stream)
    assert [e.get("type") for e in events] == ["a-f-G-E-S", "b-t-f"] and rest == sa[:50]
    with pytest.raises(DecodeError, match="not well-formed"):
        cot.split_events(b"<event><oops></event>")
    with pytest.raises(DecodeError, match="longer than 100 bytes"):
        cot.split_events(b"<event>" + b"x" * 200, max_bytes=100)


@given(st.binary(max_size=300))
def test_any_bytes_from_a_server_split_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        cot.split_events(data + b"</event>")


def _time(text: str | None) -> float:
    assert text is not None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    return datetime.strptime(text + "+0000", "%Y-%m-%dT%H:%M:%S.%fZ%z").timestamp()
