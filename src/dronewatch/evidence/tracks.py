"""Tracks in the formats investigators' tools open: GeoJSON, KML (with time), GPX and CSV.

Each writer takes the tracks as ``{track id: reports in time order}`` and writes text to a stream;
altitudes are metres as dronewatch keeps them (above the WGS 84 ellipsoid), times UTC.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO
from xml.sax.saxutils import escape

from dronewatch.model import TrackReport

Tracks = Mapping[str, Sequence[TrackReport]]
CSV_COLUMNS = ("track", "t", "time_utc", "lat", "lon", "alt_m", "vel_e", "vel_n", "vel_u", "speed_mps", "class",
               "confidence", "uas_id", "icao", "sigma_m", "sensors")


def iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def track_summary(reports: Sequence[TrackReport]) -> dict[str, Any]:
    """What a track was: its most frequent class, its identities, and when it was seen."""
    classes = Counter(r.cls for r in reports if r.cls)
    return {"class": classes.most_common(1)[0][0] if classes else "unknown",
            "uas_ids": sorted({r.uas_id for r in reports if r.uas_id}),
            "icao": sorted({r.icao for r in reports if r.icao}),
            "first": reports[0].t, "last": reports[-1].t, "points": len(reports)}


def write_geojson(tracks: Tracks, operators: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """A FeatureCollection: a LineString a track (per-vertex UNIX times in ``times``), a Point an
    operator position."""
    out.write('{"type":"FeatureCollection","features":[')
    first = True
    for track_id, reports in tracks.items():
        summary = track_summary(reports)
        feature = {"type": "Feature", "id": track_id,
                   "geometry": {"type": "LineString", "coordinates": [[r.lon, r.lat, r.alt] for r in reports]},
                   "properties": {"kind": "track", "track": track_id, **summary,
                                  "first_utc": iso_time(summary["first"]), "last_utc": iso_time(summary["last"]),
                                  "times": [r.t for r in reports]}}
        out.write(("" if first else ",\n") + json.dumps(feature, separators=(",", ":")))
        first = False
    for operator in operators:
        feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [operator["lon"], operator["lat"]]},
                   "properties": {"kind": "operator", "uas_id": operator["uas_id"], "t": operator["t"],
                                  "time_utc": iso_time(operator["t"])}}
        out.write(("" if first else ",\n") + json.dumps(feature, separators=(",", ":")))
        first = False
    out.write("]}\n")


def write_kml(tracks: Tracks, operators: Sequence[Mapping[str, Any]], out: TextIO, name: str) -> None:
    """KML 2.2 with ``gx:Track`` (a time slider in Google Earth), absolute altitudes."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">\n'
              f"<Document><name>{escape(name)}</name>\n")
    for track_id, reports in tracks.items():
        summary = track_summary(reports)
        out.write(f"<Placemark><name>{escape(track_id)} ({summary['class']})</name>"
                  f"<description>{escape(_identities(summary))}</description>"
                  "<gx:Track><altitudeMode>absolute</altitudeMode>\n")
        out.write("".join(f"<when>{iso_time(r.t)}</when>" for r in reports))
        out.write("\n")
        out.write("".join(f"<gx:coord>{r.lon:.7f} {r.lat:.7f} {r.alt:.1f}</gx:coord>" for r in reports))
        out.write("\n</gx:Track></Placemark>\n")
    for operator in operators:
        out.write(f"<Placemark><name>operator of {escape(operator['uas_id'])}</name>"
                  f"<TimeStamp><when>{iso_time(operator['t'])}</when></TimeStamp>"
                  f"<Point><coordinates>{operator['lon']:.7f},{operator['lat']:.7f}</coordinates></Point>"
                  "</Placemark>\n")
    out.write("</Document></kml>\n")


def write_gpx(tracks: Tracks, operators: Sequence[Mapping[str, Any]], out: TextIO, name: str) -> None:
    """GPX 1.1: a ``trk`` a track, a waypoint an operator position."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<gpx version="1.1" creator="dronewatch" xmlns="http://www.topografix.com/GPX/1/1">\n'
              f"<metadata><name>{escape(name)}</name></metadata>\n")
    for operator in operators:
        out.write(f'<wpt lat="{operator["lat"]:.7f}" lon="{operator["lon"]:.7f}"><time>{iso_time(operator["t"])}'
                  f"</time><name>operator of {escape(operator['uas_id'])}</name></wpt>\n")
    for track_id, reports in tracks.items():
        summary = track_summary(reports)
        out.write(f"<trk><name>{escape(track_id)}</name><desc>{escape(summary['class'])}; "
                  f"{escape(_identities(summary))}</desc><trkseg>\n")
        out.write("".join(f'<trkpt lat="{r.lat:.7f}" lon="{r.lon:.7f}"><ele>{r.alt:.1f}</ele>'
                          f"<time>{iso_time(r.t)}</time></trkpt>\n" for r in reports))
        out.write("</trkseg></trk>\n")
    out.write("</gpx>\n")


def write_csv(tracks: Tracks, out: TextIO) -> None:
    """Every track point a row (``CSV_COLUMNS``)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for track_id, reports in tracks.items():
        writer.writerows(
            (track_id, f"{r.t:.3f}", iso_time(r.t), f"{r.lat:.7f}", f"{r.lon:.7f}", f"{r.alt:.1f}",
             *(f"{v:.2f}" for v in r.vel_enu), f"{math.hypot(*r.vel_enu):.2f}", r.cls or "",
             "" if r.confidence is None else f"{r.confidence:.3f}", r.uas_id or "", r.icao or "",
             "" if r.sigma_m is None else f"{r.sigma_m:.1f}", " ".join(r.sensors or ()))
            for r in reports)


def _identities(summary: Mapping[str, Any]) -> str:
    names = [*(f"Remote ID {u}" for u in summary["uas_ids"]), *(f"ICAO {i}" for i in summary["icao"])]
    return ", ".join(names) or "no broadcast identity"


