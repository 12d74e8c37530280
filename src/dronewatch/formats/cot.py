"""Cursor-on-Target (CoT) events for TAK clients and servers: pure builders and framing.

No I/O and no clock: every time is an argument. Each builder returns one event as XML
bytes with the XML declaration (pytak drops a UDP datagram that lacks it);
:func:`to_tak_protocol` turns it into TAK Protocol v1 (mesh or stream framing, through
``takproto``). What dronewatch sends, and why (``docs/tak.md`` has the longer story):

- our presence (SA), sent first: ``a-f-G-E-S`` (friendly ground sensor), uid ``<origin>``;
- a track: ``a-<affiliation>-A…`` by class and threat, ``how`` by :func:`track_how`, uid
  ``<origin>.track.<run>.<id>`` for its whole life, stale from its update rate;
- a zone: a ``u-d-f`` free-form shape with ``<__geofence monitor="Hostile">``, uid ``<origin>.zone.<id>``;
- an alert: a ``b-t-f`` GeoChat message to All Chat Rooms with its reasons; a change of the threat
  posture too;
- a critical alert, where the partner agreed: a ``b-a-o-tbl`` "911 Alert" beacon at the track, uid
  ``<origin>.alert.<id>-9-1-1``, re-sent while open; ``b-a-o-can`` with the same uid when it resolves;
- a track that ended: ``t-x-d-d`` with ``<__forcedelete/>`` and a link to the track's uid.

Affiliations: an open critical alert makes a track hostile (``h``), a warning suspect
(``s``); otherwise drones and unclassified tracks are unknown (``u``), aircraft and birds
neutral (``n``). Partner devices raise their own breach alarm when a hostile track enters
a zone we published with ``monitor="Hostile"`` (ATAK evaluates geofences on the device).

``point`` heights are metres above the WGS-84 ellipsoid (``hae``), as dronewatch keeps them;
``ce``/``le`` are the track's 1-sigma position error (``9999999.0`` when unknown, as ATAK
writes it). ``<track>`` has course (degrees true) and 3-D speed (m/s); no ``slope``, because
TAK Protocol v1 has no field for it and the two encodings would then differ.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from takproto import TAKProtoVer, xml2proto

from dronewatch.errors import DecodeError
from dronewatch.model import Alert, Level, TrackReport, Zone

UNKNOWN_ERROR_M = 9999999.0
ALL_CHAT_ROOMS = "All Chat Rooms"
SA_TYPE = "a-f-G-E-S"
TakProtocol = Literal["xml", "mesh", "stream"]
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_LEVEL_AFFILIATION = {"critical": "h", "warning": "s"}
_CLASS_TYPE = {"drone": "A-M-H-Q", "aircraft": "A-C", "bird": "A"}
_ZONE_COLOUR_ARGB = {"critical": -65536, "warning": -23296, "info": -16711681}  # red, orange, cyan


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sends: the dronewatch site as a TAK contact. ``uid`` has no dots (GeoChat uids are split on them)."""

    uid: str
    callsign: str
    lat: float
    lon: float
    hae: float
    opex: str | None = None
    """``s`` for a simulation, ``e`` for an exercise: receivers show it."""


def origin_for_site(site_id: str, lat: float, lon: float, hae: float, *, simulated: bool = False) -> Origin:
    return Origin(f"dronewatch-{site_id}", f"DRONEWATCH-{site_id}".upper(), lat, lon, hae, "s" if simulated else None)


def cot_time(t_s: float) -> str:
    """UTC with milliseconds and a ``Z``, as TAK writes it."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def track_uid(origin: Origin, run: str, track_id: str) -> str:
    """One uid for a track's whole life; ``run`` tells apart the track ids of two runs of the service."""
    return f"{origin.uid}.track.{run}.{track_id}"


def track_type(cls: str | None, level: Level | None) -> str:
    """The 2525-style air type: ``a-h-A-M-H-Q`` is a hostile rotary-wing drone, ``a-u-A`` an unknown air track."""
    affiliation = _LEVEL_AFFILIATION.get(level or "") or ("n" if cls in ("aircraft", "bird") else "u")
    return f"a-{affiliation}-{_CLASS_TYPE.get(cls or '', 'A')}"


def track_how(sensor_kinds: Iterable[str]) -> str:
    """How the position came about: fused from several kinds of sensor (``m-f``), the drone's own Remote ID
    fix (``m-g``), one kind of sensor (``m-r``, relayed), or no sensor lately: a coasting prediction (``m-p``)."""
    kinds = set(sensor_kinds)
    if not kinds:
        return "m-p"
    if len(kinds) > 1:
        return "m-f"
    return "m-g" if kinds == {"remoteid"} else "m-r"


def _event(uid: str, event_type: str, how: str, origin: Origin, now_s: float, stale_s: float,
           lat: float, lon: float, hae: float, ce: float = UNKNOWN_ERROR_M, le: float = UNKNOWN_ERROR_M,
           start_s: float | None = None) -> tuple[ET.Element, ET.Element]:
    event = ET.Element("event", {"version": "2.0", "uid": uid, "type": event_type, "how": how,
                                 "time": cot_time(now_s), "start": cot_time(now_s if start_s is None else start_s),
                                 "stale": cot_time(now_s + stale_s)})
    if origin.opex:
        event.set("opex", origin.opex)
    ET.SubElement(event, "point", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}", "hae": f"{hae:.1f}",
                                   "ce": f"{ce:.1f}", "le": f"{le:.1f}"})
    return event, ET.SubElement(event, "detail")


def _bytes(event: ET.Element) -> bytes:
    return _DECLARATION + bytes(ET.tostring(event, encoding="utf-8", short_empty_elements=True))


def _link_to_origin(detail: ET.Element, origin: Origin) -> None:
    ET.SubElement(detail, "link", {"uid": origin.uid, "type": SA_TYPE, "relation": "p-p"})


def _remarks(detail: ET.Element, text: str, **attributes: str) -> None:
    # a source attribute keeps FreeTAKServer from folding the remarks into an attribute of <detail>
    ET.SubElement(detail, "remarks", {"source": "dronewatch", **attributes}).text = text


def course_speed(vel_enu: Sequence[float]) -> tuple[float, float]:
    """Course over ground (degrees true, [0, 360)) and 3-D speed (m/s) of an east-north-up velocity."""
    east, north, up = vel_enu
    course = math.degrees(math.atan2(east, north)) % 360.0
    return (0.0 if course >= 359.95 else course), math.sqrt(east * east + north * north + up * up)


def track_label(report: TrackReport) -> str:
    """The callsign shown on the map: an aircraft's own callsign, the Remote ID or ICAO identity when there is
    one, else class and id."""
    identity = report.callsign or report.uas_id or report.icao
    return f"{identity} ({report.id})" if identity else f"{(report.cls or 'unknown').upper()} {report.id}"


def track_event(report: TrackReport, origin: Origin, *, uid: str, now_s: float, stale_s: float, how: str,
                level: Level | None = None, sigma_m: float | None = None, remarks: str = "") -> bytes:
    """One track update. ``level`` is the highest open alert on the track, which sets its affiliation."""
    error = UNKNOWN_ERROR_M if sigma_m is None or not math.isfinite(sigma_m) else sigma_m
    event, detail = _event(uid, track_type(report.cls, level), how, origin, now_s, stale_s,
                           report.lat, report.lon, report.alt, error, error)
    course, speed = course_speed(report.vel_enu)
    ET.SubElement(detail, "track", {"course": f"{course:.1f}", "speed": f"{speed:.2f}"})
    ET.SubElement(detail, "contact", {"callsign": track_label(report)})
    _link_to_origin(detail, origin)
    _remarks(detail, remarks or describe_track(report, level))
    return _bytes(event)


def describe_track(report: TrackReport, level: Level | None = None) -> str:
    """Plain words for a track's remarks: class and confidence, identities, climb, sensors, threat."""
    parts = [f"{report.cls or 'unclassified'}"
             + (f" (confidence {report.confidence:.2f})" if report.confidence is not None else "")]
    if report.uas_id:
        parts.append(f"Remote ID {report.uas_id}")
    elif report.cls == "drone":
        parts.append("no Remote ID")
    if report.icao:
        parts.append(f"ICAO {report.icao}" + (f" callsign {report.callsign}" if report.callsign else ""))
    parts.append(f"climb {report.vel_enu[2]:+.1f} m/s")
    if report.sensors:
        parts.append("seen by " + ", ".join(report.sensors))
    if level in ("warning", "critical"):
        parts.append(f"{level} alert open")
    return "; ".join(parts)


def zone_event(zone: Zone, origin: Origin, *, now_s: float, stale_s: float = 86_400.0,
               name: str | None = None) -> bytes:
    """A protected zone as a free-form shape with a geofence that partners' devices watch for hostile tracks."""
    ring = list(zone.polygon)
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    event, detail = _event(f"{origin.uid}.zone.{zone.id}", "u-d-f", "h-e", origin, now_s, stale_s,
                           lat, lon, UNKNOWN_ERROR_M)
    for zone_lon, zone_lat in ring:
        ET.SubElement(detail, "link", {"point": f"{zone_lat:.7f},{zone_lon:.7f}"})
    colour = _ZONE_COLOUR_ARGB[zone.level]
    ET.SubElement(detail, "strokeColor", {"value": str(colour)})
    ET.SubElement(detail, "strokeWeight", {"value": "3.0"})
    ET.SubElement(detail, "fillColor", {"value": str((colour & 0x00FFFFFF) | 0x40000000)})  # a quarter opaque
    ET.SubElement(detail, "contact", {"callsign": name or f"zone {zone.id}"})
    ET.SubElement(detail, "__geofence", {"trigger": "Entry", "monitor": "Hostile", "tracking": "true",
                                         "elevationMonitored": "true", "minElevation": f"{zone.floor_m:.1f}",
                                         "maxElevation": f"{zone.ceiling_m:.1f}", "boundingSphere": "75000.0"})
    ET.SubElement(detail, "labels_on", {"value": "true"})
    _remarks(detail, f"dronewatch {zone.level} zone {zone.id}, {zone.floor_m:.0f}-{zone.ceiling_m:.0f} m HAE")
    return _bytes(event)


def alert_text(alert: Alert, track_name: str | None = None) -> str:
    """One line a person on a TAK device reads: level, what, which track, why."""
    what = alert.kind.replace("_", " ")
    where = f" zone {alert.zone}" if alert.zone else ""
    eta = f" in {alert.eta_s:.0f} s" if alert.eta_s is not None else ""
    head = {"open": alert.level.upper(), "acknowledged": "ACKNOWLEDGED", "resolved": "RESOLVED"}[alert.state]
    reasons = "; ".join(alert.reasons)
    return f"{head} {what}{where}{eta}: track {track_name or alert.track}" + (f" ({reasons})" if reasons else "")


def posture_text(line: Mapping[str, Any]) -> str:
    """A ``posture`` line (``assessment/posture.py``) as a chat message."""
    level = str(line["level"]).upper()
    told = [f"{b['text']} ({b['source']}; until {datetime.fromtimestamp(b['valid_to'], UTC):%Y-%m-%d %H:%M} UTC)"
            if b.get("source") else b["text"] for b in line["bulletins"]]
    return f"dronewatch {line['site']}: threat posture {level}" + (": " + " | ".join(told) if told else "")


def chat_event(text: str, origin: Origin, *, message_id: str, now_s: float, stale_s: float = 3600.0) -> bytes:
    """A GeoChat message from the site to All Chat Rooms (every TAK user on the server sees it)."""
    uid = f"GeoChat.{origin.uid}.{ALL_CHAT_ROOMS}.{message_id}"
    event, detail = _event(uid, "b-t-f", "h-e", origin, now_s, stale_s, origin.lat, origin.lon, origin.hae)
    chat = ET.SubElement(detail, "__chat", {"parent": "RootContactGroup", "groupOwner": "false",
                                            "messageId": message_id, "chatroom": ALL_CHAT_ROOMS,
                                            "id": ALL_CHAT_ROOMS, "senderCallsign": origin.callsign})
    ET.SubElement(chat, "chatgrp", {"uid0": origin.uid, "uid1": ALL_CHAT_ROOMS, "id": ALL_CHAT_ROOMS})
    _link_to_origin(detail, origin)
    ET.SubElement(detail, "remarks", {"source": f"BAO.F.ATAK.{origin.uid}", "to": ALL_CHAT_ROOMS,
                                      "time": cot_time(now_s)}).text = text
    return _bytes(event)


def emergency_uid(origin: Origin, alert_id: str) -> str:
    return f"{origin.uid}.alert.{alert_id}-9-1-1"


def emergency_event(alert: Alert, origin: Origin, *, now_s: float, stale_s: float, lat: float, lon: float,
                    hae: float, text: str) -> bytes:
    """The loud one: a "911 Alert" beacon at the track, for critical alerts where the partner agreed to them."""
    event, detail = _event(emergency_uid(origin, alert.id), "b-a-o-tbl", "m-f", origin, now_s, stale_s,
                           lat, lon, hae)
    _link_to_origin(detail, origin)
    ET.SubElement(detail, "contact", {"callsign": f"{origin.callsign}-Alert"})
    ET.SubElement(detail, "emergency", {"type": "911 Alert"}).text = origin.callsign
    _remarks(detail, text)
    return _bytes(event)


def emergency_cancel_event(alert: Alert, origin: Origin, *, now_s: float, stale_s: float, lat: float, lon: float,
                           hae: float) -> bytes:
    event, detail = _event(emergency_uid(origin, alert.id), "b-a-o-can", "m-f", origin, now_s, stale_s,
                           lat, lon, hae)
    _link_to_origin(detail, origin)
    ET.SubElement(detail, "emergency", {"cancel": "true"}).text = origin.callsign
    return _bytes(event)


def delete_event(uid: str, deleted_type: str, origin: Origin, *, now_s: float, stale_s: float) -> bytes:
    """Remove ``uid`` from receivers' maps now instead of at its stale time."""
    event, detail = _event(f"{uid}.delete", "t-x-d-d", "h-e", origin, now_s, stale_s,
                           origin.lat, origin.lon, origin.hae)
    ET.SubElement(detail, "link", {"uid": uid, "type": deleted_type, "relation": "none"})
    ET.SubElement(detail, "__forcedelete")
    return _bytes(event)


def sa_event(origin: Origin, *, now_s: float, stale_s: float) -> bytes:
    """The site's own presence: a TAK server takes a client's first event as who it is."""
    event, detail = _event(origin.uid, SA_TYPE, "h-e", origin, now_s, stale_s, origin.lat, origin.lon, origin.hae)
    ET.SubElement(detail, "contact", {"callsign": origin.callsign})
    ET.SubElement(detail, "__group", {"name": "Cyan", "role": "HQ"})
    ET.SubElement(detail, "takv", {"platform": "dronewatch", "device": "server", "os": "linux", "version": "0.1"})
    return _bytes(event)


def protocol_request_event(origin: Origin, *, now_s: float, version: int = 1) -> bytes:
    """``t-x-takp-q``: ask a server that offered TAK Protocol ``version`` to switch to it."""
    event, detail = _event(origin.uid, "t-x-takp-q", "m-g", origin, now_s, 60.0, 0.0, 0.0, 0.0)
    control = ET.SubElement(detail, "TakControl")
    ET.SubElement(control, "TakRequest", {"version": str(version)})
    return _bytes(event)


def to_tak_protocol(xml: bytes, protocol: TakProtocol) -> bytes:
    """The event as sent: XML as is, or TAK Protocol v1 ``mesh`` (``bf 01 bf`` + TakMessage, for UDP) or
    ``stream`` (``bf`` + varint length + TakMessage, for TCP after negotiation)."""
    if protocol == "xml":
        return xml
    return bytes(xml2proto(xml, TAKProtoVer.MESH if protocol == "mesh" else TAKProtoVer.STREAM))


def split_events(buffer: bytes, max_bytes: int = 1 << 20) -> tuple[list[ET.Element], bytes]:
    """Whole ``<event>`` elements at the start of a TCP byte stream, and the rest (an unfinished event).

    Servers send XML events back to back, each with or without a declaration. A piece that is not
    well-formed raises :class:`DecodeError` with its offset; so does an unfinished event over ``max_bytes``.
    """
    events: list[ET.Element] = []
    offset = 0
    while (end := buffer.find(b"</event>", offset)) >= 0:
        end += len(b"</event>")
        piece = buffer[offset:end].strip()
        if piece.startswith(b"<?xml"):
            piece = piece[piece.find(b"?>") + 2:]
        try:
            events.append(ET.fromstring(piece))
        except ET.ParseError as error:
            raise DecodeError(f"CoT event is not well-formed XML: {error}", offset=offset) from None
        offset = end
    rest = buffer[offset:]
    if len(rest) > max_bytes:
        raise DecodeError(f"CoT event longer than {max_bytes} bytes", offset=offset)
    return events, rest
