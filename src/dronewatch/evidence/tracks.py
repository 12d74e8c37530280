"""Tracks in the formats investigators' tools open: GeoJSON, KML (with time), GPX and CSV.

Each writer takes the tracks as ``{track id: Spelt}`` (:func:`spell`: the reports in time order, with
their positions and times spelt once for all four formats) and, but for CSV, each track's
:func:`track_summary`, and writes text to a stream; altitudes are metres as dronewatch keeps them
(above the WGS 84 ellipsoid), times UTC.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from xml.sax.saxutils import escape

import numpy as np

from dronewatch.model import TrackPoint

Summaries = Mapping[str, Mapping[str, Any]]
_NEEDS_QUOTES = re.compile(r'[",\r\n]')
CSV_COLUMNS = ("track", "t", "time_utc", "lat", "lon", "alt_m", "vel_e", "vel_n", "vel_u", "speed_mps", "class",
               "confidence", "uas_id", "icao", "sigma_m", "sensors")


def iso_time(t: float) -> str:
    return _iso(np.array([t]))[0]


def iso_times(reports: Sequence[TrackPoint]) -> list[str]:
    """Each report's time as :func:`iso_time` writes it, for a whole track at once."""
    return _iso(np.array([r.t for r in reports]))


def _operator_times(operators: Sequence[Mapping[str, Any]]) -> list[str]:
    return _iso(np.array([o["t"] for o in operators], dtype=float))


def _iso(t: np.ndarray) -> list[str]:
    """UNIX times as ISO 8601 UTC to the millisecond (truncated), ``Z`` for the zone. Each second is
    spelt once: a track's points are a second or less apart."""
    seconds, millis = np.divmod(np.floor(t * 1000.0).astype("int64"), 1000)
    distinct, which = np.unique(seconds, return_inverse=True)
    spelt = np.datetime_as_string(distinct.astype("datetime64[s]"), unit="s").tolist()
    return [f"{spelt[k]}.{ms:03d}Z" for k, ms in zip(which.tolist(), millis.tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class Spelt:
    """A track's reports, and per report its time (UNIX, to the millisecond; ISO 8601 UTC), latitude and
    longitude (7 decimals: 1 cm) and altitude (0.1 m) as text: an hour's export writes hundreds of thousands
    of points in four formats, and spelling each number once instead of four times saves seconds."""

    reports: Sequence[TrackPoint]
    t: list[str]
    when: list[str]
    lat: list[str]
    lon: list[str]
    alt: list[str]


def spell(tracks: Mapping[str, Sequence[TrackPoint]]) -> dict[str, Spelt]:
    return {track_id: Spelt(reports, [f"{r.t:.3f}" for r in reports], iso_times(reports),
                            [f"{r.lat:.7f}" for r in reports], [f"{r.lon:.7f}" for r in reports],
                            [f"{r.alt:.1f}" for r in reports]) for track_id, reports in tracks.items()}


Tracks = Mapping[str, Spelt]


def track_summary(reports: Sequence[TrackPoint]) -> dict[str, Any]:
    """What a track was: its most frequent class, its identities, and when it was seen."""
    classes = Counter(r.cls for r in reports if r.cls)
    return {"class": classes.most_common(1)[0][0] if classes else "unknown",
            "uas_ids": sorted({r.uas_id for r in reports if r.uas_id}),
            "icao": sorted({r.icao for r in reports if r.icao}),
            "first": reports[0].t, "last": reports[-1].t, "points": len(reports)}


def write_geojson(tracks: Tracks, summaries: Summaries, operators: Sequence[Mapping[str, Any]], out: TextIO
                  ) -> None:
    """A FeatureCollection: a LineString a track (per-vertex UNIX times in ``times``), a Point an
    operator position."""
    out.write('{"type":"FeatureCollection","features":[')
    first = True
    for track_id, points in tracks.items():
        summary = summaries[track_id]
        # the long arrays written as text directly: json.dumps would spell every float's 17 digits
        coordinates = ",".join(f"[{lon},{lat},{alt}]" for lon, lat, alt in zip(points.lon, points.lat, points.alt,
                                                                               strict=True))
        times = ",".join(points.t)
        feature = {"type": "Feature", "id": track_id, "geometry": {"type": "LineString", "coordinates": None},
                   "properties": {"kind": "track", "track": track_id, **summary,
                                  "first_utc": iso_time(summary["first"]), "last_utc": iso_time(summary["last"]),
                                  "times": None}}
        text = json.dumps(feature, separators=(",", ":"))
        text = text.replace('"coordinates":null', f'"coordinates":[{coordinates}]', 1)
        text = text.replace('"times":null', f'"times":[{times}]', 1)
        out.write(("" if first else ",\n") + text)
        first = False
    uas_ids: dict[str, str] = {}  # as JSON strings: the same few thousand operators, tens of thousands of reports
    for operator, when in zip(operators, _operator_times(operators), strict=True):
        uas_id = operator["uas_id"]
        if uas_id not in uas_ids:
            uas_ids[uas_id] = json.dumps(uas_id)
        # json.dumps(feature, separators=(",", ":")) as one f-string: json spells a float as repr() does
        out.write(("" if first else ",\n") + '{"type":"Feature","geometry":{"type":"Point","coordinates":'
                  f'[{float(operator["lon"])!r},{float(operator["lat"])!r}]}},"properties":{{"kind":"operator",'
                  f'"uas_id":{uas_ids[uas_id]},"t":{float(operator["t"])!r},"time_utc":"{when}"}}}}')
        first = False
    out.write("]}\n")


def write_kml(tracks: Tracks, summaries: Summaries, operators: Sequence[Mapping[str, Any]], out: TextIO,
              name: str) -> None:
    """KML 2.2 with ``gx:Track`` (a time slider in Google Earth), absolute altitudes."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">\n'
              f"<Document><name>{escape(name)}</name>\n")
    for track_id, points in tracks.items():
        summary = summaries[track_id]
        out.write(f"<Placemark><name>{escape(track_id)} ({summary['class']})</name>"
                  f"<description>{escape(_identities(summary))}</description>"
                  "<gx:Track><altitudeMode>absolute</altitudeMode>\n")
        out.write("".join(f"<when>{when}</when>" for when in points.when))
        out.write("\n")
        out.write("".join(f"<gx:coord>{lon} {lat} {alt}</gx:coord>"
                          for lon, lat, alt in zip(points.lon, points.lat, points.alt, strict=True)))
        out.write("\n</gx:Track></Placemark>\n")
    for operator, when in zip(operators, _operator_times(operators), strict=True):
        out.write(f"<Placemark><name>operator of {escape(operator['uas_id'])}</name>"
                  f"<TimeStamp><when>{when}</when></TimeStamp>"
                  f"<Point><coordinates>{operator['lon']:.7f},{operator['lat']:.7f}</coordinates></Point>"
                  "</Placemark>\n")
    out.write("</Document></kml>\n")


def write_gpx(tracks: Tracks, summaries: Summaries, operators: Sequence[Mapping[str, Any]], out: TextIO,
              name: str) -> None:
    """GPX 1.1: a ``trk`` a track, a waypoint an operator position."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<gpx version="1.1" creator="dronewatch" xmlns="http://www.topografix.com/GPX/1/1">\n'
              f"<metadata><name>{escape(name)}</name></metadata>\n")
    for operator, when in zip(operators, _operator_times(operators), strict=True):
        out.write(f'<wpt lat="{operator["lat"]:.7f}" lon="{operator["lon"]:.7f}"><time>{when}'
                  f"</time><name>operator of {escape(operator['uas_id'])}</name></wpt>\n")
    for track_id, points in tracks.items():
        summary = summaries[track_id]
        out.write(f"<trk><name>{escape(track_id)}</name><desc>{escape(summary['class'])}; "
                  f"{escape(_identities(summary))}</desc><trkseg>\n")
        out.write("".join(f'<trkpt lat="{lat}" lon="{lon}"><ele>{alt}</ele><time>{when}</time></trkpt>\n'
                          for lat, lon, alt, when in zip(points.lat, points.lon, points.alt, points.when,
                                                         strict=True)))
        out.write("</trkseg></trk>\n")
    out.write("</gpx>\n")


def write_csv(tracks: Tracks, out: TextIO) -> None:
    """Every track point a row (``CSV_COLUMNS``), quoted as ``csv.writer`` quotes; a row is one
    f-string, a quarter faster than ``csv.writer`` on hundreds of thousands of rows."""
    quoted: dict[str, str] = {}

    def text(value: str | None) -> str:
        if not value:
            return ""
        if value not in quoted:
            quoted[value] = '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value
        return quoted[value]

    out.write(",".join(CSV_COLUMNS) + "\n")
    for track_id, points in tracks.items():
        track = text(track_id)
        out.write("".join(
            f"{track},{t},{when},{lat},{lon},{alt},{r.vel_e:.2f},{r.vel_n:.2f},"
            f"{r.vel_u:.2f},{math.hypot(r.vel_e, r.vel_n, r.vel_u):.2f},{text(r.cls)},"
            f"{'' if r.confidence is None else f'{r.confidence:.3f}'},{text(r.uas_id)},{text(r.icao)},"
            f"{'' if r.sigma_m is None else f'{r.sigma_m:.1f}'},{text(' '.join(r.sensors or ()))}\n"
            for r, t, when, lat, lon, alt in zip(points.reports, points.t, points.when, points.lat, points.lon,
                                                 points.alt, strict=True)))


def _identities(summary: Mapping[str, Any]) -> str:
    names = [*(f"Remote ID {u}" for u in summary["uas_ids"]), *(f"ICAO {i}" for i in summary["icao"])]
    return ", ".join(names) or "no broadcast identity"


