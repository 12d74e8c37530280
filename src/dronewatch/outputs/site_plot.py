"""A plan view of a site as SVG: zones, tracks coloured by class, where alerts fired.

No plotting library: the picture is a few polygons, polylines and markers in the site's
east-north plane (metres), north up, with a scale bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dronewatch.geo import LocalFrame
from dronewatch.model import Alert, TrackPoint, TrackReport, Zone

FloatArray = NDArray[np.float64]
CLASS_COLOURS = {"drone": "#d62728", "bird": "#2ca02c", "aircraft": "#1f77b4", "unknown": "#7f7f7f"}
OPERATOR_COLOUR = "#9467bd"
LEVEL_COLOURS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
_SIZE = 800.0
_MARGIN = 40.0


def site_svg(frame: LocalFrame, zones: Sequence[Zone], tracks: Mapping[str, Sequence[TrackReport | TrackPoint]],
             classes: Mapping[str, str], alerts: Sequence[Alert], title: str = "",
             operators: Sequence[Mapping[str, Any]] = ()) -> str:
    """The SVG text. ``tracks`` maps a track id to its reports in time order; ``classes`` gives
    each track's class (missing: unknown); ``alerts`` are the alert lines (each alert is marked
    where its track was when it first reached its highest level); ``operators``: positions (``lat``,
    ``lon``, ``uas_id``) where a drone's operator stood, drawn as squares."""
    zone_points = [frame.from_geodetic(np.array(z.polygon)[:, 1], np.array(z.polygon)[:, 0],
                                       np.full(len(z.polygon), frame.alt0_m)).reshape(-1, 3)[:, :2] for z in zones]
    track_points = {tid: frame.positions_of(reps)[:, :2] for tid, reps in tracks.items() if reps}
    operator_points = frame.from_geodetic(np.array([o["lat"] for o in operators]),
                                          np.array([o["lon"] for o in operators]),
                                          np.full(len(operators), frame.alt0_m)).reshape(-1, 3)[:, :2]
    everything = np.vstack([np.zeros((1, 2)), *zone_points, *track_points.values(), operator_points])
    low, high = everything.min(axis=0), everything.max(axis=0)
    half = max(float(np.max(high - low)) / 2.0, 100.0) * 1.05
    centre = (low + high) / 2.0
    scale = (_SIZE - 2 * _MARGIN) / (2 * half)

    def xy(points: FloatArray) -> str:
        x = _MARGIN + (points[:, 0] - centre[0] + half) * scale
        y = _MARGIN + (centre[1] + half - points[:, 1]) * scale
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_SIZE:.0f}" height="{_SIZE:.0f}" '
             f'viewBox="0 0 {_SIZE:.0f} {_SIZE:.0f}" font-family="sans-serif" font-size="12">',
             f'<rect width="{_SIZE:.0f}" height="{_SIZE:.0f}" fill="white"/>',
             f'<text x="{_MARGIN}" y="24" font-size="16">{escape(title)}</text>']
    for zone, points in zip(zones, zone_points, strict=True):
        colour = LEVEL_COLOURS[zone.level]
        parts.append(f'<polygon points="{xy(points)}" fill="{colour}" fill-opacity="0.08" stroke="{colour}">'
                     f'<title>zone {escape(zone.id)} ({zone.level})</title></polygon>')
    for tid, points in track_points.items():
        cls = classes.get(tid, "unknown")
        parts.append(f'<polyline points="{xy(points)}" fill="none" stroke="{CLASS_COLOURS.get(cls, "#7f7f7f")}" '
                     f'stroke-width="1.5" stroke-opacity="0.8"><title>{escape(tid)}: {cls}</title></polyline>')
    for operator, point in zip(operators, operator_points, strict=True):
        left, top = (float(v) - 4.0 for v in xy(point.reshape(1, 2)).split(","))
        parts.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="8" height="8" fill="{OPERATOR_COLOUR}" '
                     f'stroke="black" stroke-width="0.5"><title>operator of {escape(operator["uas_id"])}'
                     "</title></rect>")
    origin = xy(np.zeros((1, 2))).split(",")
    parts.append(f'<circle cx="{origin[0]}" cy="{origin[1]}" r="4" fill="black"><title>site</title></circle>')
    for alert in _marked(alerts):
        reps = tracks.get(alert.track, ())
        at = min(reps, key=lambda r: abs(r.t - alert.t), default=None)
        if at is None:
            continue
        x, y = xy(frame.from_geodetic(at.lat, at.lon, at.alt).reshape(1, 3)[:, :2]).split(",")
        colour = LEVEL_COLOURS[alert.level]
        parts.append(f'<path d="M {x} {float(y) - 8:.1f} l 7 13 l -14 0 z" fill="{colour}" stroke="black" '
                     f'stroke-width="0.5"><title>{escape(alert.id)} {alert.level} {alert.kind} '
                     f'{escape(alert.zone or "")}: {escape("; ".join(alert.reasons[-1:]))}</title></path>')
    bar_m = _nice(half / 2)
    y0 = _SIZE - 15
    parts.append(f'<line x1="{_MARGIN}" y1="{y0}" x2="{_MARGIN + bar_m * scale:.1f}" y2="{y0}" stroke="black" '
                 f'stroke-width="2"/><text x="{_MARGIN}" y="{y0 - 5}">{bar_m:g} m</text>')
    legend = [*(f'<tspan fill="{c}">{name}</tspan>' for name, c in CLASS_COLOURS.items()),
              *(f'<tspan fill="{c}">&#9650; {name} alert</tspan>' for name, c in LEVEL_COLOURS.items()
                if name != "info"),
              *([f'<tspan fill="{OPERATOR_COLOUR}">&#9632; operator</tspan>'] if operators else [])]
    parts.append(f'<text x="{_SIZE - _MARGIN}" y="{y0}" text-anchor="end">{"  ".join(legend)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _marked(alerts: Sequence[Alert]) -> list[Alert]:
    """Per alert id, the line where it first reached its highest level (warning or critical)."""
    order = ("info", "warning", "critical")
    best: dict[str, Alert] = {}
    for alert in alerts:
        if alert.state == "resolved" or alert.level == "info":
            continue
        held = best.get(alert.id)
        if held is None or order.index(alert.level) > order.index(held.level):
            best[alert.id] = alert
    return list(best.values())


def _nice(metres: float) -> float:
    """A round length near ``metres`` for the scale bar: 1, 2 or 5 times a power of ten."""
    power = 10.0 ** np.floor(np.log10(metres))
    return float(max(m * power for m in (1.0, 2.0, 5.0) if m * power <= metres))
