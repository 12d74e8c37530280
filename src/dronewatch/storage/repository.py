"""Reading and writing the pipeline's records, the alert lifecycle, retention and the audit log.

The audit log is append-only (database triggers refuse UPDATE and DELETE) and hash-chained:
record ``n`` stores ``hash = sha256(canonical JSON of its fields and prev_hash)`` and
``prev_hash`` = record ``n-1``'s hash (64 zeros for the first). :meth:`Repository.verify_audit`
recomputes the chain and names the first record that does not fit: an edited field, a
removed or reordered record, a forged hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    RowMapping,
    Select,
    Text,
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from dronewatch.config import RetentionConfig
from dronewatch.formats.scenario import record_to_dict
from dronewatch.model import Alert, Detection, Sensor, TrackPoint, TrackReport, Zone
from dronewatch.storage import schema

GENESIS_HASH = "0" * 64
T = TypeVar("T")
_DAY_S = 86400.0


def audit_hash(seq: int, at: float, actor: str, action: str, target: str, detail: Any, source: str,
               prev_hash: str) -> str:
    body = json.dumps({"seq": seq, "at": at, "actor": actor, "action": action, "target": target,
                       "detail": detail, "source": source, "prev_hash": prev_hash},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _sensor_list(text: str | None) -> tuple[str, ...] | None:
    """A track point's sensors from their JSON text (SQL NULL or JSON null: none): the same few lists come
    again and again."""
    parsed = None if text is None else json.loads(text)
    return None if parsed is None else tuple(parsed)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of history ended: the (t, seq) of its last row, the order the rows are read in."""

    t: float
    seq: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    next: Cursor | None
    """Where the next page starts; None on the last page."""


@dataclass(frozen=True, slots=True)
class AuditCheck:
    records: int
    first_broken: int | None = None
    """The sequence number of the first record that does not fit the chain."""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken is None


class Repository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._audit_lock = threading.Lock()

    # ------------------------------------------------------------- site set-up
    def ensure_site(self, site_id: str, name: str, now: float) -> None:
        with self.engine.begin() as db:
            if db.execute(select(schema.sites.c.id).where(schema.sites.c.id == site_id)).first() is None:
                db.execute(insert(schema.sites).values(id=site_id, name=name, created_at=now))

    def put_sensor(self, site_id: str, sensor: Sensor) -> None:
        self.store(site_id, sensors=[sensor])

    def put_zone(self, site_id: str, zone: Zone) -> None:
        self.store(site_id, zones=[zone])

    def store(self, site_id: str, *, detections: Sequence[Detection] = (), track_points: Sequence[TrackReport] = (),
              sensors: Sequence[Sensor] = (), zones: Sequence[Zone] = (), alerts: Sequence[Alert] = (),
              position: tuple[str, int] | None = None) -> None:
        """The pipeline's records in one transaction: all of them are written, or none (a batch can be tried
        again without writing anything twice). ``position``: (reader, stream sequence) the batch reaches,
        kept in the same transaction (:meth:`bus_position`)."""
        with self.engine.begin() as db:
            if position is not None:
                self._upsert(db, schema.bus_positions, {"reader": position[0]}, {"stream_sequence": position[1]})
            self._add_detections(db, site_id, detections)
            self._add_track_points(db, site_id, track_points)
            for sensor in sensors:
                spec = {k: v for k, v in record_to_dict(sensor).items()
                        if k not in ("type", "id", "kind", "lat", "lon", "alt")}
                self._upsert(db, schema.sensors, {"site_id": site_id, "id": sensor.id},
                             {"kind": sensor.kind, "lat": sensor.lat, "lon": sensor.lon, "alt": sensor.alt,
                              "spec": spec})
            for zone in zones:
                self._upsert(db, schema.zones, {"site_id": site_id, "id": zone.id},
                             {"level": zone.level, "floor_m": zone.floor_m, "ceiling_m": zone.ceiling_m,
                              "polygon": [list(p) for p in zone.polygon]})
            for alert in alerts:
                self._save_alert(db, site_id, alert, alert.by or "assessment", alert.comment)

    def delete_zone(self, site_id: str, zone_id: str) -> bool:
        with self.engine.begin() as db:
            gone = db.execute(delete(schema.zones).where(
                and_(schema.zones.c.site_id == site_id, schema.zones.c.id == zone_id)))
        return bool(gone.rowcount)

    def zones(self, site_id: str) -> list[Zone]:
        with self.engine.connect() as db:
            rows = db.execute(select(schema.zones).where(schema.zones.c.site_id == site_id)
                              .order_by(schema.zones.c.id)).mappings()
            return [Zone(r["id"], r["level"], r["floor_m"], r["ceiling_m"], tuple(tuple(p) for p in r["polygon"]))
                    for r in rows]

    def sensors(self, site_id: str) -> list[Sensor]:
        with self.engine.connect() as db:
            rows = db.execute(select(schema.sensors).where(schema.sensors.c.site_id == site_id)
                              .order_by(schema.sensors.c.id)).mappings()
            return [Sensor(id=r["id"], kind=r["kind"], lat=r["lat"], lon=r["lon"], alt=r["alt"], **r["spec"])
                    for r in rows]

    # ---------------------------------------------------------- the pipeline
    def add_detections(self, site_id: str, found: Sequence[Detection]) -> None:
        """Detections; a Remote ID operator position goes to its own table (own retention and access)."""
        self.store(site_id, detections=found)

    def add_track_points(self, site_id: str, reports: Sequence[TrackReport]) -> None:
        self.store(site_id, track_points=reports)

    @staticmethod
    def _add_detections(db: Connection, site_id: str, found: Sequence[Detection]) -> None:
        if not found:
            return
        rows, operators = [], []
        for detection in found:
            record = record_to_dict(detection)
            if detection.operator_lat is not None and detection.operator_lon is not None:
                operators.append({"site_id": site_id, "t": detection.t, "uas_id": detection.uas_id or "",
                                  "lat": detection.operator_lat, "lon": detection.operator_lon})
                record.pop("operator_lat", None)
                record.pop("operator_lon", None)
            rows.append({"site_id": site_id, "t": detection.t, "sensor_id": detection.sensor, "record": record})
        db.execute(insert(schema.detections), rows)
        if operators:
            db.execute(insert(schema.operator_positions), operators)

    def bus_position(self, reader: str) -> int:
        """The last stream sequence ``reader`` has stored (0: none): what comes again after a crash is skipped."""
        with self.engine.connect() as db:
            found = db.execute(select(schema.bus_positions.c.stream_sequence)
                               .where(schema.bus_positions.c.reader == reader)).first()
        return int(found[0]) if found is not None else 0

    def next_track_number(self, site_id: str) -> int:
        """The number after every stored track's (ids ``T<number>``), for a restarted tracker."""
        with self.engine.connect() as db:
            found = db.execute(select(schema.sites.c.next_track_number).where(schema.sites.c.id == site_id)).first()
        return int(found[0]) if found is not None else 1

    @staticmethod
    def _add_track_points(db: Connection, site_id: str, reports: Sequence[TrackReport]) -> None:
        if not reports:
            return
        numbers = [int(r.id[1:]) for r in reports if r.id[:1] == "T" and r.id[1:].isdigit() and len(r.id) < 19]
        if numbers:
            after = max(numbers) + 1
            c = schema.sites.c
            db.execute(update(schema.sites).where(and_(c.id == site_id, c.next_track_number < after))
                       .values(next_track_number=after))
        rows = [{"site_id": site_id, "track_id": r.id, "t": r.t, "lat": r.lat, "lon": r.lon, "alt": r.alt,
                 "vel_e": r.vel_enu[0], "vel_n": r.vel_enu[1], "vel_u": r.vel_enu[2], "cls": r.cls,
                 "confidence": r.confidence, "uas_id": r.uas_id, "icao": r.icao,
                 "sensors": list(r.sensors) if r.sensors is not None else None, "sigma_m": r.sigma_m,
                 "members": list(r.members) if r.members is not None else None} for r in reports]
        db.execute(insert(schema.track_points), rows)

    def track_history(self, site_id: str, t_from: float, t_to: float, track_id: str | None = None
                      ) -> list[TrackReport]:
        return self.track_history_page(site_id, t_from, t_to, track_id).rows

    def track_history_page(self, site_id: str, t_from: float, t_to: float, track_id: str | None = None, *,
                           after: Cursor | None = None, limit: int | None = None) -> Page[TrackReport]:
        """Track points in the window in (t, seq) order; at most ``limit`` of them, after ``after``."""
        c = schema.track_points.c
        query = select(schema.track_points).where(and_(c.site_id == site_id, c.t >= t_from, c.t <= t_to))
        if track_id is not None:
            query = query.where(c.track_id == track_id)
        rows, cursor = self._page(query, c.t, c.seq, after, limit)
        return Page([TrackReport(t=r["t"], id=r["track_id"], lat=r["lat"], lon=r["lon"], alt=r["alt"],
                                 vel_enu=(r["vel_e"], r["vel_n"], r["vel_u"]), cls=r["cls"],
                                 confidence=r["confidence"], uas_id=r["uas_id"], icao=r["icao"],
                                 sensors=tuple(r["sensors"]) if r["sensors"] is not None else None,
                                 sigma_m=r["sigma_m"],
                                 members=tuple(r["members"]) if r["members"] is not None else None)
                     for r in rows], cursor)

    def track_points(self, site_id: str, t_from: float, t_to: float, track_id: str | None = None
                     ) -> dict[str, list[TrackPoint]]:
        """Track points of a window by track, each in time order: :meth:`track_history` for a whole export
        (hundreds of thousands of points), read as tuples, the sensor lists parsed once each."""
        c = schema.track_points.c
        query = (select(c.track_id, c.t, c.lat, c.lon, c.alt, c.vel_e, c.vel_n, c.vel_u, c.cls, c.confidence,
                        c.uas_id, c.icao, cast(c.sensors, Text), c.sigma_m)
                 .where(and_(c.site_id == site_id, c.t >= t_from, c.t <= t_to)).order_by(c.t, c.seq))
        if track_id is not None:
            query = query.where(c.track_id == track_id)
        tracks: dict[str, list[TrackPoint]] = {}
        point = tuple.__new__  # TrackPoint's own __new__ takes the fields one by one, by name
        with self.engine.connect() as db:
            for row in db.execute(query).all():
                tracks.setdefault(row[0], []).append(point(TrackPoint, (*row[:12], _sensor_list(row[12]), row[13])))
        return tracks

    def detections(self, site_id: str, t_from: float, t_to: float) -> list[dict[str, Any]]:
        """Detection lines (as JSON-ready dicts) in the window, in time order."""
        return self.detections_page(site_id, t_from, t_to).rows

    def detections_page(self, site_id: str, t_from: float, t_to: float, *, after: Cursor | None = None,
                        limit: int | None = None) -> Page[dict[str, Any]]:
        c = schema.detections.c
        query = select(c.record).where(and_(c.site_id == site_id, c.t >= t_from, c.t <= t_to))
        rows, cursor = self._page(query, c.t, c.seq, after, limit)
        return Page([r["record"] for r in rows], cursor)

    def operator_positions(self, site_id: str, t_from: float, t_to: float) -> list[dict[str, Any]]:
        return self.operator_positions_page(site_id, t_from, t_to).rows

    def operator_positions_page(self, site_id: str, t_from: float, t_to: float, *, after: Cursor | None = None,
                                limit: int | None = None) -> Page[dict[str, Any]]:
        c = schema.operator_positions.c
        query = select(c.t, c.uas_id, c.lat, c.lon).where(
            and_(c.site_id == site_id, c.t >= t_from, c.t <= t_to))
        rows, cursor = self._page(query, c.t, c.seq, after, limit)
        return Page([{"t": r["t"], "uas_id": r["uas_id"], "lat": r["lat"], "lon": r["lon"]} for r in rows], cursor)

    def alert_events_page(self, site_id: str, t_from: float, t_to: float, *, after: Cursor | None = None,
                          limit: int | None = None) -> Page[dict[str, Any]]:
        """The site's event log: every change of every alert in the window, in time order. Each: when, the
        alert (its track, zone and kind), its state and level after the change, who made it (``assessment``
        or an operator) with their comment, and for a resolution the reason it gave."""
        e, a = schema.alert_events.c, schema.alerts.c
        query = (select(e.t, e.alert_id, a.track_id, a.zone_id, a.kind, e.state, e.level, e.actor, e.comment,
                        a.reasons)
                 .join_from(schema.alert_events, schema.alerts, and_(a.site_id == e.site_id, a.id == e.alert_id))
                 .where(and_(e.site_id == site_id, e.t >= t_from, e.t <= t_to)))
        rows, cursor = self._page(query, e.t, e.seq, after, limit)
        return Page([{"t": r["t"], "alert": r["alert_id"], "track": r["track_id"], "zone": r["zone_id"],
                      "kind": r["kind"], "state": r["state"], "level": r["level"], "by": r["actor"],
                      "comment": r["comment"],
                      # a resolution is an alert's last line: its last reason is why it resolved
                      "why": r["reasons"][-1] if r["state"] == "resolved" and r["reasons"] else None}
                     for r in rows], cursor)

    def save_alert(self, site_id: str, alert: Alert, actor: str = "assessment", comment: str | None = None) -> None:
        """One alert line: the alert's current row, and an event in its history."""
        with self.engine.begin() as db:
            self._save_alert(db, site_id, alert, actor, comment)

    @staticmethod
    def _save_alert(db: Connection, site_id: str, alert: Alert, actor: str, comment: str | None) -> None:
        c = schema.alerts.c
        existing = db.execute(select(c.opened_at).where(and_(c.site_id == site_id, c.id == alert.id))).first()
        values = {"track_id": alert.track, "zone_id": alert.zone, "kind": alert.kind, "level": alert.level,
                  "state": alert.state, "updated_at": alert.t, "eta_s": alert.eta_s,
                  "reasons": list(alert.reasons), "evidence": alert.evidence}
        if existing is None:
            db.execute(insert(schema.alerts).values(site_id=site_id, id=alert.id, opened_at=alert.t, **values))
        else:
            db.execute(update(schema.alerts).where(and_(c.site_id == site_id, c.id == alert.id)).values(**values))
        db.execute(insert(schema.alert_events).values(site_id=site_id, alert_id=alert.id, t=alert.t,
                                                      state=alert.state, level=alert.level, actor=actor,
                                                      comment=comment))

    def alerts(self, site_id: str, state: str | None = None) -> list[Alert]:
        c = schema.alerts.c
        query = select(schema.alerts).where(c.site_id == site_id)
        if state is not None:
            query = query.where(c.state == state)
        with self.engine.connect() as db:
            return [Alert(t=r["updated_at"], id=r["id"], track=r["track_id"], level=r["level"], kind=r["kind"],
                          state=r["state"], reasons=tuple(r["reasons"]), zone=r["zone_id"], eta_s=r["eta_s"],
                          evidence=r["evidence"])
                    for r in db.execute(query.order_by(c.opened_at, c.id)).mappings()]

    def alert_count(self, site_id: str) -> int:
        with self.engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(schema.alerts)
                                  .where(schema.alerts.c.site_id == site_id)).scalar_one())

    def alert_events(self, site_id: str, alert_id: str) -> list[dict[str, Any]]:
        c = schema.alert_events.c
        with self.engine.connect() as db:
            rows = db.execute(select(c.t, c.state, c.level, c.actor, c.comment).where(
                and_(c.site_id == site_id, c.alert_id == alert_id)).order_by(c.seq)).mappings()
            return [dict(r) for r in rows]

    def alert_rows(self, site_id: str, *, alert_id: str | None = None, t_from: float = -math.inf,
                   t_to: float = math.inf) -> list[dict[str, Any]]:
        """Alerts as stored (with ``opened_at`` and ``updated_at``): the one named, or those open at some
        time in the window; each with its ``events``, every change and who made it."""
        c, e = schema.alerts.c, schema.alert_events.c
        query = select(schema.alerts).where(c.site_id == site_id)
        query = (query.where(c.id == alert_id) if alert_id is not None
                 else query.where(and_(c.opened_at <= t_to, c.updated_at >= t_from)))
        with self.engine.connect() as db:
            rows = [dict(r) for r in db.execute(query.order_by(c.opened_at, c.id)).mappings()]
            events = db.execute(select(e.alert_id, e.t, e.state, e.level, e.actor, e.comment)
                                .where(and_(e.site_id == site_id, e.alert_id.in_([r["id"] for r in rows])))
                                .order_by(e.seq)).mappings()
            by_alert: dict[str, list[dict[str, Any]]] = {}
            for event in events:
                by_alert.setdefault(event["alert_id"], []).append(
                    {k: v for k, v in event.items() if k != "alert_id"})
        for row in rows:
            row.pop("site_id")
            row["events"] = by_alert.get(row["id"], [])
        return rows

    def detection_lines(self, site_id: str, t_from: float, t_to: float) -> Iterator[list[tuple[str, float, str]]]:
        """Detections in the window, in time order, streamed in batches: each as (sensor, t, the JSON text it
        is stored as)."""
        c = schema.detections.c
        query = (select(c.sensor_id, c.t, cast(c.record, Text))
                 .where(and_(c.site_id == site_id, c.t >= t_from, c.t <= t_to)).order_by(c.t, c.seq))
        with self.engine.connect() as db:
            yield from db.execution_options(yield_per=20_000).execute(query).partitions()  # type: ignore[misc]

    def operator_places(self, site_id: str, t_from: float, t_to: float, cell_deg: float) -> list[tuple[float, float]]:
        """Where Remote ID operators stood in the window: one place per operator and cell of ``cell_deg``
        (grouped in the database: weeks of reports are millions of rows)."""
        o = schema.operator_positions.c
        i, j = cast(o.lat / cell_deg, Integer), cast(o.lon / cell_deg, Integer)
        query = (select(func.avg(o.lat), func.avg(o.lon))
                 .where(and_(o.site_id == site_id, o.t >= t_from, o.t <= t_to)).group_by(o.uas_id, i, j))
        with self.engine.connect() as db:
            return [(float(lat), float(lon)) for lat, lon in db.execute(query)]

    def drone_arrivals(self, site_id: str, t_from: float, t_to: float) -> list[tuple[str, float, float, float]]:
        """Where and when each track first classified ``drone`` in the window was first seen as one:
        (track id, t, lat, lon), in time order."""
        c = schema.track_points.c
        first = (select(c.track_id, func.min(c.t).label("t0"))
                 .where(and_(c.site_id == site_id, c.t >= t_from, c.t <= t_to, c.cls == "drone"))
                 .group_by(c.track_id).subquery())
        query = (select(c.track_id, c.t, c.lat, c.lon)
                 .join_from(schema.track_points, first, and_(c.track_id == first.c.track_id, c.t == first.c.t0))
                 .where(c.site_id == site_id).order_by(c.t))
        with self.engine.connect() as db:
            seen: dict[str, tuple[str, float, float, float]] = {}
            for track_id, t, lat, lon in db.execute(query):
                seen.setdefault(track_id, (track_id, t, lat, lon))
            return list(seen.values())

    def site_name(self, site_id: str) -> str | None:
        with self.engine.connect() as db:
            return db.execute(select(schema.sites.c.name).where(schema.sites.c.id == site_id)).scalar()

    def purge(self, now: float, retention: RetentionConfig) -> dict[str, int]:
        """Delete what is older than its retention allows; the counts, by table."""
        # by the column that dates a row; a notice is kept as long as the detections behind it (one of a
        # destination since removed from the configuration would otherwise stay for ever)
        limits = [(schema.detections.c.t, retention.detections_days), (schema.track_points.c.t, retention.tracks_days),
                  (schema.operator_positions.c.t, retention.operator_locations_days),
                  (schema.notify_outbox.c.queued_at, retention.detections_days)]
        removed = {}
        with self.engine.begin() as db:
            for dated, days in limits:
                result = db.execute(delete(dated.table).where(dated < now - days * _DAY_S))
                removed[dated.table.name] = int(result.rowcount)
        return removed

    def count(self, table_name: str) -> int:
        table = schema.metadata.tables[table_name]
        with self.engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(table)).scalar_one())

    # ------------------------------------------------------- users, tokens
    def site_ids(self) -> list[str]:
        with self.engine.connect() as db:
            return [r[0] for r in db.execute(select(schema.sites.c.id).order_by(schema.sites.c.id))]

    def add_user(self, name: str, password_hash: str, role: str, *, now: float, sites: Sequence[str] = (),
                 levels: Sequence[str] = ()) -> int:
        with self.engine.begin() as db:
            result = db.execute(insert(schema.users).values(
                name=name, password_hash=password_hash, role=role, sites=list(sites), levels=list(levels),
                disabled=False, created_at=now))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def user(self, *, name: str | None = None, user_id: int | None = None) -> dict[str, Any] | None:
        c = schema.users.c
        condition = c.name == name if name is not None else c.id == user_id
        with self.engine.connect() as db:
            row = db.execute(select(schema.users).where(condition)).mappings().first()
            return dict(row) if row is not None else None

    def users(self) -> list[dict[str, Any]]:
        c = schema.users.c
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(select(c.id, c.name, c.role, c.sites, c.levels, c.disabled,
                                                       c.created_at).order_by(c.id)).mappings()]

    def set_user_disabled(self, name: str, disabled: bool, *, now: float) -> bool:
        """Disable (ending every session of the user) or enable a user; False if there is none."""
        c = schema.users.c
        with self.engine.begin() as db:
            user_id = db.execute(select(c.id).where(c.name == name)).scalar()
            if user_id is None:
                return False
            db.execute(update(schema.users).where(c.id == user_id).values(disabled=disabled))
            if disabled:
                self._end_sessions(db, user_id, now=now, reason="disabled")
            return True

    def update_user(self, name: str, *, role: str | None = None, sites: Sequence[str] | None = None,
                    levels: Sequence[str] | None = None) -> dict[str, Any] | None:
        """Change a user's role or grants (what is None stays); the user as it was before, None if none."""
        c = schema.users.c
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role
        if sites is not None:
            values["sites"] = list(sites)
        if levels is not None:
            values["levels"] = list(levels)
        with self.engine.begin() as db:
            before = db.execute(select(c.id, c.name, c.role, c.sites, c.levels).where(c.name == name)
                                ).mappings().first()
            if before is None:
                return None
            if values:
                db.execute(update(schema.users).where(c.id == before["id"]).values(**values))
            return dict(before)

    def set_password(self, user_id: int, password_hash: str, *, now: float, keep_session: str | None = None,
                     reason: str = "password") -> int:
        """A new password hash; every session of the user but ``keep_session`` (an id hash) ends.
        The number of sessions ended."""
        with self.engine.begin() as db:
            db.execute(update(schema.users).where(schema.users.c.id == user_id).values(password_hash=password_hash))
            return self._end_sessions(db, user_id, now=now, reason=reason, keep=keep_session)

    def count_users(self) -> int:
        return self.count("users")

    def add_token(self, user_id: int, name: str, token_hash: str, *, now: float, expires_at: float) -> int:
        with self.engine.begin() as db:
            result = db.execute(insert(schema.api_tokens).values(
                user_id=user_id, name=name, token_hash=token_hash, created_at=now, expires_at=expires_at,
                revoked=False))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def tokens(self, user_id: int) -> list[dict[str, Any]]:
        c = schema.api_tokens.c
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(select(c.id, c.name, c.created_at, c.expires_at, c.last_used_at,
                                                       c.revoked).where(c.user_id == user_id).order_by(c.id))
                    .mappings()]

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        c = schema.api_tokens.c
        with self.engine.begin() as db:
            return bool(db.execute(update(schema.api_tokens).where(and_(c.id == token_id, c.user_id == user_id))
                                   .values(revoked=True)).rowcount)

    def user_by_token(self, token_hash: str, *, now: float) -> dict[str, Any] | None:
        """The user of an unrevoked, unexpired token (disabled or not: the caller decides)."""
        t, u = schema.api_tokens.c, schema.users.c
        with self.engine.begin() as db:
            row = db.execute(select(schema.users).join(schema.api_tokens, t.user_id == u.id).where(
                and_(t.token_hash == token_hash, t.revoked.is_(False), t.expires_at > now))).mappings().first()
            if row is None:
                return None
            db.execute(update(schema.api_tokens).where(t.token_hash == token_hash).values(last_used_at=now))
            return dict(row)

    # --------------------------------------------------------------- sessions
    def start_session(self, user_id: int, id_hash: str, *, now: float, expires_at: float) -> None:
        with self.engine.begin() as db:
            db.execute(insert(schema.sessions).values(id_hash=id_hash, user_id=user_id, created_at=now,
                                                      expires_at=expires_at))

    def user_by_session(self, id_hash: str, *, now: float) -> dict[str, Any] | None:
        """The user of a session that has neither ended nor expired (disabled or not: the caller decides)."""
        s, u = schema.sessions.c, schema.users.c
        with self.engine.connect() as db:
            row = db.execute(select(schema.users).join(schema.sessions, s.user_id == u.id).where(
                and_(s.id_hash == id_hash, s.ended_at.is_(None), s.expires_at > now))).mappings().first()
            return dict(row) if row is not None else None

    def end_session(self, id_hash: str, *, now: float, reason: str = "logout") -> bool:
        s = schema.sessions.c
        with self.engine.begin() as db:
            return bool(db.execute(update(schema.sessions).where(and_(s.id_hash == id_hash, s.ended_at.is_(None)))
                                   .values(ended_at=now, end_reason=reason)).rowcount)

    def sessions(self, user_id: int) -> list[dict[str, Any]]:
        s = schema.sessions.c
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(select(s.created_at, s.expires_at, s.ended_at, s.end_reason)
                                                 .where(s.user_id == user_id).order_by(s.created_at)).mappings()]

    @staticmethod
    def _end_sessions(db: Connection, user_id: int, *, now: float, reason: str, keep: str | None = None) -> int:
        s = schema.sessions.c
        condition = and_(s.user_id == user_id, s.ended_at.is_(None), s.expires_at > now)
        if keep is not None:
            condition = and_(condition, s.id_hash != keep)
        return int(db.execute(update(schema.sessions).where(condition).values(ended_at=now, end_reason=reason))
                   .rowcount)

    # --------------------------------------------------------- airframes
    def add_list_entry(self, identity: str, list_name: str, *, valid_from: float, valid_to: float, added_by: str,
                       now: float, note: str = "", sites: Sequence[str] = ()) -> int:
        with self.engine.begin() as db:
            return int(db.execute(insert(schema.airframe_lists).values(
                identity=identity, list=list_name, sites=list(sites), valid_from=valid_from, valid_to=valid_to,
                note=note or None, added_by=added_by, added_at=now).returning(schema.airframe_lists.c.id)).scalar_one())

    def remove_list_entry(self, entry_id: int, *, removed_by: str, now: float) -> bool:
        return self._end(schema.airframe_lists, entry_id, "removed", removed_by, now)

    def list_entries(self, *, removed: bool = False) -> list[dict[str, Any]]:
        """The allow- and watch-list entries (with ``removed``, those taken out too), oldest first."""
        return self._in_force(schema.airframe_lists, "removed", removed)

    def add_bulletin(self, text: str, level: str, *, valid_from: float, valid_to: float, recorded_by: str,
                     now: float, source: str = "", sites: Sequence[str] = ()) -> int:
        with self.engine.begin() as db:
            return int(db.execute(insert(schema.threat_bulletins).values(
                text=text, source=source or None, level=level, sites=list(sites), valid_from=valid_from,
                valid_to=valid_to, recorded_by=recorded_by, recorded_at=now)
                .returning(schema.threat_bulletins.c.id)).scalar_one())

    def withdraw_bulletin(self, bulletin_id: int, *, withdrawn_by: str, now: float) -> bool:
        return self._end(schema.threat_bulletins, bulletin_id, "withdrawn", withdrawn_by, now)

    def bulletins(self, *, withdrawn: bool = False) -> list[dict[str, Any]]:
        """Threat bulletins not withdrawn (with ``withdrawn``: all of them), oldest first."""
        return self._in_force(schema.threat_bulletins, "withdrawn", withdrawn)

    def _end(self, table: Any, row_id: int, ended: str, by: str, now: float) -> bool:
        """Take a row out of force, keeping it with who did it and when (``<ended>_by``, ``<ended>_at``)."""
        with self.engine.begin() as db:
            return bool(db.execute(update(table).where(and_(table.c.id == row_id, table.c[f"{ended}_at"].is_(None)))
                                   .values({f"{ended}_by": by, f"{ended}_at": now})).rowcount)

    def _in_force(self, table: Any, ended: str, with_ended: bool) -> list[dict[str, Any]]:
        query = select(table).order_by(table.c.id)
        if not with_ended:
            query = query.where(table.c[f"{ended}_at"].is_(None))
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def airframe_register(self, site_ids: Sequence[str], identity: str | None = None) -> list[dict[str, Any]]:
        """Every broadcast identity the sites' tracks carried (a Remote ID or an ICAO address; ``identity``:
        that one only, in any case): when first and last seen, on how many tracks, where, the zones it
        entered, its alerts by level, and (Remote ID) where its operator was last reported. Most recently
        seen first."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        tracks: dict[tuple[str, str], tuple[str, str]] = {}  # (site, track) -> (kind, identity)
        p = schema.track_points.c
        with self.engine.connect() as db:
            for kind, column in (("remote_id", p.uas_id), ("icao", p.icao)):
                query = (select(column, p.site_id, p.track_id, func.min(p.t), func.max(p.t))
                         .where(and_(column.is_not(None), p.site_id.in_(site_ids)))
                         .group_by(column, p.site_id, p.track_id))
                if identity is not None:
                    query = query.where(func.upper(column) == identity.strip().upper())
                for name, site, track, first, last in db.execute(query):
                    entry = found.setdefault((kind, name), {
                        "identity": name, "kind": kind, "first_seen": first, "last_seen": last, "tracks": 0,
                        "sites": [], "zones_entered": [], "alerts": {}, "operator": None})
                    entry["first_seen"] = min(entry["first_seen"], first)
                    entry["last_seen"] = max(entry["last_seen"], last)
                    entry["tracks"] += 1
                    if site not in entry["sites"]:
                        entry["sites"].append(site)
                    tracks[(site, track)] = (kind, name)
            a = schema.alerts.c
            for site in {site for site, _ in tracks}:
                ids = [track for s, track in tracks if s == site]
                for track, kind, level, zone in db.execute(select(a.track_id, a.kind, a.level, a.zone_id).where(
                        and_(a.site_id == site, a.track_id.in_(ids)))):
                    entry = found[tracks[(site, track)]]
                    entry["alerts"][level] = entry["alerts"].get(level, 0) + 1
                    if kind == "zone_entry" and zone and zone not in entry["zones_entered"]:
                        entry["zones_entered"].append(zone)
            o = schema.operator_positions.c
            for (kind, name), entry in found.items():
                if kind != "remote_id":
                    continue
                count, last_t = db.execute(select(func.count(), func.max(o.t)).where(
                    and_(o.uas_id == name, o.site_id.in_(site_ids)))).one()
                if count:
                    lat, lon = db.execute(select(o.lat, o.lon).where(and_(o.uas_id == name, o.t == last_t))
                                          .limit(1)).one()
                    entry["operator"] = {"positions": count, "last": {"t": last_t, "lat": lat, "lon": lon}}
        return sorted(found.values(), key=lambda e: -e["last_seen"])

    # ------------------------------------------------------------------ notifications' outbox
    def keep_notice(self, destination: str, delivery: str, site_id: str, event: str, alert: dict[str, Any],
                    link: str, now: float) -> bool:
        """Keep a notice until it is delivered; False when the destination holds that delivery already."""
        try:
            with self.engine.begin() as db:
                db.execute(insert(schema.notify_outbox).values(
                    destination=destination, delivery=delivery, site_id=site_id, event=event, alert=alert, link=link,
                    queued_at=now))
            return True
        except IntegrityError:
            return False

    def kept_notices(self, destination: str) -> list[dict[str, Any]]:
        """The destination's notices not yet delivered, oldest first."""
        c = schema.notify_outbox.c
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(select(schema.notify_outbox).where(c.destination == destination)
                                                .order_by(c.id)).mappings()]

    def forget_notices(self, destination: str, deliveries: Sequence[str]) -> None:
        """Notices delivered, refused for good or dropped: no longer kept."""
        c = schema.notify_outbox.c
        with self.engine.begin() as db:
            db.execute(delete(schema.notify_outbox).where(and_(c.destination == destination,
                                                                c.delivery.in_(list(deliveries)))))

    # ------------------------------------------------------------------ audit
    def audit(self, actor: str, action: str, target: str, *, at: float, source: str = "local",
              detail: dict[str, Any] | None = None) -> int:
        """Append one audit record; its sequence number."""
        detail = detail or {}
        c = schema.audit_log.c
        with self._audit_lock:
            for _ in range(5):  # another process may take the same number: take the next
                try:
                    with self.engine.begin() as db:
                        last = db.execute(select(c.seq, c.hash).order_by(c.seq.desc()).limit(1)).first()
                        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
                        digest = audit_hash(seq, at, actor, action, target, detail, source, prev)
                        db.execute(insert(schema.audit_log).values(seq=seq, at=at, actor=actor, action=action,
                                                                   target=target, detail=detail, source=source,
                                                                   prev_hash=prev, hash=digest))
                        return seq
                except IntegrityError:
                    continue
        raise RuntimeError("audit log: could not append after 5 attempts")

    def audit_head(self) -> str:
        """The hash of the audit log's last record (the genesis hash when it has none)."""
        c = schema.audit_log.c
        with self.engine.connect() as db:
            return db.execute(select(c.hash).order_by(c.seq.desc()).limit(1)).scalar() or GENESIS_HASH

    def audit_record(self, seq: int) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(select(schema.audit_log).where(schema.audit_log.c.seq == seq)).mappings().first()
            return dict(row) if row is not None else None

    def audit_records(self) -> Iterable[dict[str, Any]]:
        with self.engine.connect() as db:
            yield from (dict(r) for r in db.execute(select(schema.audit_log).order_by(schema.audit_log.c.seq))
                        .mappings())

    def verify_audit(self) -> AuditCheck:
        expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
        for record in self.audit_records():
            count += 1
            seq = record["seq"]
            if seq != expected_seq:
                return AuditCheck(count, seq, f"record {seq} follows record {expected_seq - 1}: records are missing")
            if record["prev_hash"] != expected_prev:
                return AuditCheck(count, seq, f"record {seq} does not chain to record {seq - 1}")
            digest = audit_hash(seq, record["at"], record["actor"], record["action"], record["target"],
                                record["detail"], record["source"], record["prev_hash"])
            if digest != record["hash"]:
                return AuditCheck(count, seq, f"record {seq} was altered: its content does not match its hash")
            expected_prev, expected_seq = record["hash"], seq + 1
        return AuditCheck(count)

    # ---------------------------------------------------------------- helpers
    def _page(self, query: Select[Any], t: Any, seq: Any, after: Cursor | None, limit: int | None
              ) -> tuple[list[RowMapping], Cursor | None]:
        """Keyset paging on (t, seq): rows strictly after ``after``, one more than ``limit`` read to
        know whether another page follows. Unlike OFFSET, a page costs the same however deep it is,
        and rows added meanwhile (later in time) neither shift nor repeat what was already read."""
        if after is not None:
            query = query.where(or_(t > after.t, and_(t == after.t, seq > after.seq)))
        query = query.add_columns(seq.label("_page_seq"), t.label("_page_t")).order_by(t, seq)
        if limit is not None:
            query = query.limit(limit + 1)
        with self.engine.connect() as db:
            rows = list(db.execute(query).mappings())
        if limit is None or len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], Cursor(float(last["_page_t"]), int(last["_page_seq"]))

    @staticmethod
    def _upsert(db: Connection, table: Any, key: dict[str, Any], values: dict[str, Any]) -> None:
        condition = and_(*(table.c[name] == value for name, value in key.items()))
        if db.execute(select(*(table.c[name] for name in key)).where(condition)).first() is None:
            db.execute(insert(table).values(**key, **values))
        else:
            db.execute(update(table).where(condition).values(**values))
