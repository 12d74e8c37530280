"""The package's PDF report: map, timeline, altitude and speed, identities, alert events, sensors, and
how to verify the package. Drawn with fpdf2; figures are SVG (the map is ``outputs.site_plot``'s).

Tables stop at ``MAX_ROWS`` rows, naming the file of the package that has them all; figures draw at
most ``MAX_POINTS`` points a track.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, cast

import numpy as np
from fpdf import FPDF

from dronewatch.assessment.pattern import WEEKDAYS
from dronewatch.evidence.incident import MANIFEST, PUBLIC_KEY, SIGNATURE, Incident
from dronewatch.geo import LocalFrame
from dronewatch.model import Alert, TrackPoint
from dronewatch.outputs.site_plot import CLASS_COLOURS, LEVEL_COLOURS, OPERATOR_COLOUR, site_svg

MAX_ROWS = 200
MAX_POINTS = 400
MAP_POINTS = 30_000
"""The map draws at most this many points in all (a busy hour has hundreds of tracks)."""
_CHART_TRACKS = 8
_LINE_MM = 3.5
_WIDTH_MM = 180.0


def write_report(incident: Incident, summaries: Mapping[str, Mapping[str, Any]], *, package_id: str,
                 key_fingerprint: str, at: float, actor: str) -> bytes:
    """The PDF, as bytes (``summaries``: each track's :func:`track_summary`)."""
    pdf = _Report(incident.name)
    pdf.add_page()
    pdf.heading(f"Incident report: {incident.name}", size=16)
    pdf.pairs([("Site", f"{incident.site_name} ({incident.site_id})"),
               ("Scope", f"alert {incident.alert_id}" if incident.alert_id else "every track and alert in the window"),
               ("Window", f"{_utc(incident.t_from)} to {_utc(incident.t_to)} UTC"),
               ("Exported", f"{_utc(at)} UTC by {actor}"),
               ("Package", package_id),
               ("Signing key", f"Ed25519, SHA-256 of the public key {key_fingerprint}")])
    tracks = {tid: reports for tid, reports in incident.tracks.items() if reports}
    levels = [a["level"] for a in incident.alerts]
    pdf.paragraph(f"{len(tracks)} track(s), {len(incident.alerts)} alert(s)"
                  + (f", the highest {max(levels, key=('info', 'warning', 'critical').index)}" if levels else "")
                  + f"; {len(incident.sensors)} sensor(s). "
                  + ("Operator positions: withheld (the one exporting may not see them)."
                     if incident.operators is None else f"{len(incident.operators)} operator position report(s)."))
    pdf.heading("Map")
    pdf.figure(_map_svg(incident, tracks, summaries), height_mm=_WIDTH_MM)

    pdf.add_page()
    chosen = sorted(tracks, key=lambda tid: -len(tracks[tid]))[:_CHART_TRACKS]
    pdf.heading("Altitude and speed" + (f" of the {_CHART_TRACKS} longest tracks" if len(tracks) > len(chosen) else ""))
    t0 = incident.t_from
    pdf.figure(_chart_svg({tid: _thin(tracks[tid]) for tid in chosen}, lambda r: r.alt, "altitude (m)", t0,
                          summaries), height_mm=70)
    pdf.figure(_chart_svg({tid: _thin(tracks[tid]) for tid in chosen}, lambda r: math.hypot(*r.vel_enu),
                          "speed (m/s)", t0, summaries), height_mm=70)
    pdf.paragraph(f"Time axis: seconds after {_utc(t0)} UTC.")

    pdf.heading("Timeline")
    events = sorted(((e["t"], a, e) for a in incident.alerts for e in a["events"]), key=lambda item: item[0])
    pdf.rows(("time (UTC)", "alert", "track", "zone", "level", "state", "by", "comment"),
              [(_utc(t), a["id"], a["track_id"], a["zone_id"] or "", e["level"], e["state"], e["actor"],
                e["comment"] or "") for t, a, e in events],
              (28, 24, 18, 20, 16, 20, 22, 32), more="alerts.json")
    pdf.heading("Alerts and their reasons")
    pdf.rows(("alert", "kind", "level", "state", "opened (UTC)", "reasons"),
              [(a["id"], a["kind"], a["level"], a["state"], _utc(a["opened_at"]), "; ".join(a["reasons"][-3:]))
               for a in incident.alerts], (18, 34, 16, 18, 28, 66), more="alerts.json")

    pdf.heading("Identities")
    last_at = _last_operator_positions(incident.operators or [])
    alerted = {a["track_id"] for a in incident.alerts}
    # the tracks that tell who flew: a broadcast identity, or an alert (a drone without Remote ID)
    told = {tid: s for tid, s in summaries.items() if s["uas_ids"] or s["icao"] or tid in alerted}
    pdf.rows(("track", "class", "first seen", "last seen", "Remote ID", "ICAO", "operator last at"),
              [(tid, s["class"], _utc(s["first"]), _utc(s["last"]), " ".join(s["uas_ids"]) or "-",
                " ".join(s["icao"]) or "-", _last_of(last_at, s["uas_ids"])) for tid, s in told.items()],
              (18, 16, 28, 28, 36, 18, 36), more="tracks.csv")
    if len(told) < len(summaries):
        pdf.paragraph(f"{len(summaries) - len(told)} other track(s) broadcast no identity and raised no alert: "
                      "tracks.csv has every track.")
    pdf.heading("Sensors")
    pdf.rows(("sensor", "kind", "position", "detections", "first", "last", "longest silence"),
              [(s.id, s.kind, f"{s.lat:.5f}, {s.lon:.5f}, {s.alt:.0f} m",
                *_health(incident.sensor_health.get(s.id))) for s in incident.sensors],
              (24, 18, 44, 20, 26, 26, 22), more="sensors.json")

    if incident.pattern is not None:
        pdf.add_page()
        days = (incident.pattern["to"] - incident.pattern["from"]) / 86400.0
        pdf.heading(f"Pattern of life: the {days:.0f} days to {_utc(incident.pattern['to'])} UTC")
        pdf.paragraph(f"{incident.pattern['drones']} drone track(s) in that time. Squares: cells of about "
                      f"{incident.pattern['cell_m']:.0f} m where drones were first seen as drones (red) and where "
                      "Remote ID operators stood (purple), darker for more. Reconnaissance flights come before "
                      "attacks.")
        pdf.figure(_pattern_svg(incident, _frame(incident, tracks)), height_mm=130, width_mm=130)
        pdf.figure(_weekly_svg(incident.pattern["weekly"]), height_mm=55)

    pdf.heading("How to verify this package")
    pdf.paragraph(
        f"{MANIFEST} lists every file of the package with its SHA-256, the hash of the site's audit log at the "
        f"moment of export, and the audit record of the export itself. {SIGNATURE} is the Ed25519 signature of "
        f"{MANIFEST} by the site's key; {PUBLIC_KEY} is that key's public half, for convenience only: obtain the "
        "site's public key from the site itself (dronewatch evidence public-key) and check that its SHA-256 is the "
        f"one printed above. Then run: dronewatch evidence verify PACKAGE.zip --public-key SITE.pem. It names the "
        "first file that does not match, or a signature that does not. Without dronewatch: openssl pkeyutl -verify "
        f"-pubin -inkey SITE.pem -rawin -in {MANIFEST} -sigfile {SIGNATURE}, then sha256sum each file and compare. "
        "The site can show the export record in its audit log (dronewatch audit verify checks the chain).")
    return bytes(pdf.output())


class _Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.set_title(_latin(title))
        self.set_creator("dronewatch")
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.cell(0, 5, f"dronewatch evidence report - page {self.page_no()}", align="C")

    def heading(self, text: str, size: float = 12) -> None:
        self.set_font("Helvetica", "B", size)
        self.ln(2)
        self.multi_cell(0, size * 0.5, _latin(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", size=9)
        self.multi_cell(0, 4.5, _latin(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.ln(1)

    def pairs(self, rows: Sequence[tuple[str, str]]) -> None:
        for name, value in rows:
            self.set_font("Helvetica", "B", 9)
            self.cell(30, 5, name)
            self.set_font("Helvetica", size=9)
            self.multi_cell(0, 5, _latin(value), new_x="LMARGIN", new_y="NEXT", align="L")
        self.ln(1)

    def figure(self, svg: str, height_mm: float, width_mm: float = _WIDTH_MM) -> None:
        """An SVG figure; its drawing's aspect is ``width_mm`` to ``height_mm``."""
        if self.get_y() + height_mm > self.h - 15:
            self.add_page()
        self.image(io.BytesIO(svg.encode()), x=self.l_margin + (_WIDTH_MM - width_mm) / 2, y=self.get_y(), w=width_mm,
                   h=height_mm)
        self.set_y(self.get_y() + height_mm + 2)

    def rows(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float], more: str) -> None:
        """A table: the header in bold, again at the top of each page it runs onto; each cell's text wrapped to
        its column, each row as tall as its tallest cell. Drawn cell by cell: fpdf2's table() lays out every
        cell as a paragraph, a second for a few hundred rows, where most cells are one short line."""
        if not rows:
            self.paragraph("None.")
            return
        titles = [_latin(h) for h in header]
        self._table_row(titles, widths, bold=True)
        for row in rows[:MAX_ROWS]:
            self._table_row([_latin(str(value)) for value in row], widths, header=titles)
        if len(rows) > MAX_ROWS:
            self.paragraph(f"... and {len(rows) - MAX_ROWS} more rows: all of them are in {more}.")
        self.ln(2)

    def _table_row(self, cells: Sequence[str], widths: Sequence[float], *, bold: bool = False,
                   header: Sequence[str] | None = None) -> None:
        """One row at the cursor (on the next page, below ``header``, when it does not fit on this one)."""
        self.set_font("Helvetica", "B" if bold else "", 7)
        room = [width - 2 * self.c_margin for width in widths]
        lines = [[text] if self.get_string_width(text) <= space else
                 cast(list[str], self.multi_cell(width, _LINE_MM, text, dry_run=True, output="LINES"))
                 for text, width, space in zip(cells, widths, room, strict=True)]
        # a row is at most half a page: a 2,000-character comment is cut here (the JSON files have it whole)
        most = int((self.page_break_trigger - self.t_margin) / _LINE_MM / 2)
        lines = [cell if len(cell) <= most else [*cell[:most - 1], "[...]"] for cell in lines]
        height = _LINE_MM * max(len(cell) for cell in lines)
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()
            if header is not None:
                self._table_row(header, widths, bold=True)
                self.set_font("Helvetica", "B" if bold else "", 7)
        x, y = self.l_margin, self.get_y()
        for cell, width in zip(lines, widths, strict=True):
            self.rect(x, y, width, height)
            top = y + (height - _LINE_MM * len(cell)) / 2  # centred in the row, as a table cell is
            for k, text in enumerate(cell):
                self.set_xy(x, top + k * _LINE_MM)
                self.cell(width, _LINE_MM, text)
            x += width
        self.set_xy(self.l_margin, y + height)


def _frame(incident: Incident, tracks: Mapping[str, Sequence[TrackPoint]]) -> LocalFrame:
    """The figures' plane: centred on the sensors (on the first track without any)."""
    if incident.sensors:
        return LocalFrame(float(np.mean([s.lat for s in incident.sensors])),
                          float(np.mean([s.lon for s in incident.sensors])),
                          float(np.mean([s.alt for s in incident.sensors])))
    if tracks:
        first = next(iter(tracks.values()))[0]
        return LocalFrame(first.lat, first.lon, first.alt)
    return LocalFrame(0.0, 0.0, 0.0)


def _pattern_svg(incident: Incident, frame: LocalFrame) -> str:
    """The pattern's cells as shaded squares around the site, with its zones."""
    assert incident.pattern is not None
    size, margin = 800.0, 40.0
    layers = [(incident.pattern["arrivals"], "#d62728"), (incident.pattern.get("operators") or [], OPERATOR_COLOUR)]
    cells = {colour: np.array(found, dtype=float).reshape(-1, 3) for found, colour in layers}
    points = {colour: frame.from_geodetic(c[:, 0], c[:, 1], np.full(len(c), frame.alt0_m)).reshape(-1, 3)[:, :2]
              for colour, c in cells.items()}
    zone_points = [frame.from_geodetic(np.array(z.polygon)[:, 1], np.array(z.polygon)[:, 0],
                                       np.full(len(z.polygon), frame.alt0_m)).reshape(-1, 3)[:, :2]
                   for z in incident.zones]
    everything = np.vstack([np.zeros((1, 2)), *zone_points, *points.values()])
    half = max(float(np.max(np.abs(everything))), 200.0) * 1.05
    scale = (size - 2 * margin) / (2 * half)
    cell = max(incident.pattern["cell_m"] * scale, 2.0)

    def xy(p: np.ndarray) -> tuple[float, float]:
        return margin + (p[0] + half) * scale, margin + (half - p[1]) * scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size:.0f}" height="{size:.0f}" '
             f'viewBox="0 0 {size:.0f} {size:.0f}" font-family="sans-serif" font-size="12">',
             f'<rect width="{size:.0f}" height="{size:.0f}" fill="white"/>']
    for zone, zp in zip(incident.zones, zone_points, strict=True):
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, zp))
        parts.append(f'<polygon points="{path}" fill="none" stroke="{LEVEL_COLOURS[zone.level]}"/>')
    for colour, c in cells.items():
        top = float(c[:, 2].max()) if len(c) else 1.0
        for point, count in zip(points[colour], c[:, 2], strict=True):
            x, y = xy(point)
            parts.append(f'<rect x="{x - cell / 2:.1f}" y="{y - cell / 2:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                         f'fill="{colour}" fill-opacity="{0.25 + 0.75 * count / top:.2f}"/>')
    ox, oy = xy(np.zeros(2))
    parts.append(f'<circle cx="{ox:.1f}" cy="{oy:.1f}" r="4" fill="black"/>')
    bar = 10 ** math.floor(math.log10(half))
    parts.append(f'<line x1="{margin}" y1="{size - 15}" x2="{margin + bar * scale:.1f}" y2="{size - 15}" '
                 f'stroke="black" stroke-width="2"/><text x="{margin}" y="{size - 20}">{bar:g} m</text></svg>')
    return "\n".join(parts) + "\n"


def _weekly_svg(weekly: Sequence[Sequence[int]]) -> str:
    """Drone arrivals by weekday (rows) and hour UTC (columns), shaded by count."""
    width, height, left, top = 900.0, 275.0, 50.0, 20.0
    cell_w, cell_h = (width - left - 10.0) / 24, (height - top - 30.0) / 7
    highest = max((n for row in weekly for n in row), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    for day, row in enumerate(weekly):
        y = top + day * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + cell_h * 0.65:.1f}" text-anchor="end">{WEEKDAYS[day]}</text>')
        for hour, count in enumerate(row):
            x = left + hour * cell_w
            shade = f'fill="#d62728" fill-opacity="{0.15 + 0.85 * count / highest:.2f}"' if count else 'fill="#eeeeef"'
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w - 1:.1f}" height="{cell_h - 1:.1f}" {shade}/>')
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + (hour + 0.5) * cell_w:.1f}" y="{height - 8}" text-anchor="middle">'
                     f"{hour:02d}h</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _map_svg(incident: Incident, tracks: Mapping[str, Sequence[TrackPoint]],
             summaries: Mapping[str, Mapping[str, Any]]) -> str:
    frame = _frame(incident, tracks)
    lines = [Alert(t=e["t"], id=a["id"], track=a["track_id"], level=e["level"], kind=a["kind"], state=e["state"],
                   reasons=tuple(a["reasons"]), zone=a["zone_id"]) for a in incident.alerts for e in a["events"]]
    per_track = max(20, min(MAX_POINTS, MAP_POINTS // max(len(tracks), 1)))
    svg = site_svg(frame, incident.zones, {tid: _thin(reports, per_track) for tid, reports in tracks.items()},
                   {tid: s["class"] for tid, s in summaries.items()}, lines, title=_latin(incident.name),
                   operators=_thin_operators(incident.operators or []))
    # the core PDF fonts have no triangle or square glyph: the legend keeps its words and colours;
    # fpdf2 2.8 takes a grey (r = g = b) text fill for DeviceGray, which its text renderer refuses
    grey = CLASS_COLOURS["unknown"]
    return (svg.replace("&#9650; ", "").replace("&#9632; ", "")
            .replace(f'<tspan fill="{grey}">', f'<tspan fill="{grey[:-1]}{"e" if grey[-1] == "f" else "f"}">'))


def _chart_svg(tracks: Mapping[str, Sequence[TrackPoint]], value: Any, label: str, t0: float,
               summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """A line a track of ``value(report)`` against time, with axes and a legend."""
    width, height, left, bottom, top = 900.0, 350.0, 60.0, 30.0, 15.0
    series = {tid: (np.array([r.t - t0 for r in reports]), np.array([value(r) for r in reports]))
              for tid, reports in tracks.items()}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    if not series:
        parts.append(f'<text x="{left}" y="{height / 2}">no track in the window</text></svg>')
        return "\n".join(parts)
    t_all = np.concatenate([t for t, _ in series.values()])
    y_all = np.concatenate([y for _, y in series.values()])
    t_low, t_high = float(t_all.min()), max(float(t_all.max()), float(t_all.min()) + 1.0)
    y_low, y_high = float(y_all.min()), float(y_all.max())
    pad = max((y_high - y_low) * 0.05, 1.0)
    y_low, y_high = y_low - pad, y_high + pad
    plot_w, plot_h = width - left - 20.0, height - top - bottom

    def xy(t: np.ndarray, y: np.ndarray) -> str:
        xs = left + (t - t_low) / (t_high - t_low) * plot_w
        ys = top + (y_high - y) / (y_high - y_low) * plot_h
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))

    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w:.1f}" height="{plot_h:.1f}" fill="none" stroke="black"/>')
    for tick in np.linspace(y_low, y_high, 5):
        y = top + (y_high - tick) / (y_high - y_low) * plot_h
        parts.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{tick:.0f}</text>')
    for tick in np.linspace(t_low, t_high, 6):
        x = left + (tick - t_low) / (t_high - t_low) * plot_w
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{tick:.0f} s</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" transform="rotate(-90 12 {top + plot_h / 2:.1f})" '
                 f'text-anchor="middle">{escape(label)}</text>')
    palette = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    for index, (tid, (t, y)) in enumerate(series.items()):
        colour = palette[index % len(palette)]
        parts.append(f'<polyline points="{xy(t, y)}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{left + 8}" y="{top + 16 + 14 * index}" fill="{colour}">{escape(tid)} '
                     f'({escape(summaries[tid]["class"])})</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _thin(reports: Sequence[TrackPoint], most: int = MAX_POINTS) -> Sequence[TrackPoint]:
    if len(reports) <= most:
        return reports
    keep = np.unique(np.linspace(0, len(reports) - 1, most).round().astype(int))
    return [reports[i] for i in keep]


def _thin_operators(operators: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One position per operator and 10 m: a pilot standing still is one square, not thousands."""
    seen: set[tuple[str, int, int]] = set()
    kept = []
    for operator in operators:
        cell = (operator["uas_id"], round(operator["lat"] * 1e4), round(operator["lon"] * 1e4))
        if cell not in seen:
            seen.add(cell)
            kept.append(operator)
    return kept


def _last_operator_positions(operators: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each Remote ID's last reported operator position."""
    last: dict[str, Mapping[str, Any]] = {}
    for operator in operators:
        held = last.get(operator["uas_id"])
        if held is None or operator["t"] >= held["t"]:
            last[operator["uas_id"]] = operator
    return last


def _last_of(last_at: Mapping[str, Mapping[str, Any]], uas_ids: Sequence[str]) -> str:
    found = [last_at[u] for u in uas_ids if u in last_at]
    if not found:
        return "-"
    last = max(found, key=lambda o: o["t"])
    return f"{last['lat']:.5f}, {last['lon']:.5f}"


def _health(health: Mapping[str, Any] | None) -> tuple[str, str, str, str]:
    if not health:
        return "0", "-", "-", "the whole window"
    return (str(health["detections"]), _utc(health["first"]), _utc(health["last"]),
            f"{health['longest_silence_s']:.1f} s")


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _latin(text: str) -> str:
    """The core PDF fonts have Latin-1 only; the package's JSON files keep the exact text."""
    return text.encode("latin-1", "replace").decode("latin-1")


