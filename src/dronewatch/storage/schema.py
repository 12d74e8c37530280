"""The tables, as SQLAlchemy Core metadata; migrations in ``storage/migrations`` must build exactly this
(a test compares them).

Times are UNIX seconds (float), as in the scenario format. JSON columns hold what has no
fixed shape: a sensor's sigma and coverage, a zone's polygon, an alert's reasons and evidence.
Operator positions have a table of their own: they are personal data with their own
retention and their own access rule.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

sites = Table(
    "sites", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_track_number", Integer, nullable=False, server_default="1"),
    # a restarted tracker numbers on from here: stored track ids are never given again
)

sensors = Table(
    "sensors", metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("alt", Float, nullable=False),
    Column("spec", JSON, nullable=False),
)

zones = Table(
    "zones", metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("level", String(16), nullable=False),
    Column("floor_m", Float, nullable=False),
    Column("ceiling_m", Float, nullable=False),
    Column("polygon", JSON, nullable=False),
)

detections = Table(
    "detections", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("t", Float, nullable=False),
    Column("sensor_id", String(64), nullable=False),
    Column("record", JSON, nullable=False),
    Index("ix_detections_site_t", "site_id", "t"),
)

track_points = Table(
    "track_points", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("track_id", String(64), nullable=False),
    Column("t", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("alt", Float, nullable=False),
    Column("vel_e", Float, nullable=False),
    Column("vel_n", Float, nullable=False),
    Column("vel_u", Float, nullable=False),
    Column("cls", String(16)),
    Column("confidence", Float),
    Column("uas_id", String(64)),
    Column("icao", String(16)),
    Column("sensors", JSON),
    Column("sigma_m", Float),
    Column("members", JSON),
    Index("ix_track_points_site_t", "site_id", "t"),
    Index("ix_track_points_site_track_t", "site_id", "track_id", "t"),
    # partial: most tracks broadcast nothing, and the airframe register asks only for those that do
    Index("ix_track_points_uas_id", "uas_id", "site_id", sqlite_where=text("uas_id IS NOT NULL"),
          postgresql_where=text("uas_id IS NOT NULL")),
    Index("ix_track_points_icao", "icao", "site_id", sqlite_where=text("icao IS NOT NULL"),
          postgresql_where=text("icao IS NOT NULL")),
)

operator_positions = Table(
    "operator_positions", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("t", Float, nullable=False),
    Column("uas_id", String(64), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Index("ix_operator_positions_site_t", "site_id", "t"),
)

alerts = Table(
    "alerts", metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("track_id", String(64), nullable=False),
    Column("zone_id", String(64)),
    Column("kind", String(32), nullable=False),
    Column("level", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("eta_s", Float),
    Column("reasons", JSON, nullable=False),
    Column("evidence", JSON),
    Index("ix_alerts_site_state", "site_id", "state"),
)

alert_events = Table(
    "alert_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("t", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("comment", Text),
    ForeignKeyConstraint(["site_id", "alert_id"], ["alerts.site_id", "alerts.id"], ondelete="CASCADE"),
    Index("ix_alert_events_alert", "site_id", "alert_id"),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("sites", JSON, nullable=False),  # sites a partner may see (other roles: every site)
    Column("levels", JSON, nullable=False),  # alert levels a partner may see
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("expires_at", Float, nullable=False),
)

# A browser session lives here, not only in its cookie, so that logout, a password change or
# disabling the user ends it at once. Only the SHA-256 of the random session id is stored: a
# copy of the database does not hand out live cookies.
sessions = Table(
    "sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", String(32)),  # logout, password, disabled, password_reset
    Index("ix_sessions_user", "user_id"),
)

airframe_lists = Table(
    "airframe_lists", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(64), nullable=False),  # a Remote ID UAS ID or serial, or an ICAO address
    Column("list", String(8), nullable=False),  # allow, watch
    Column("sites", JSON, nullable=False),  # empty: every site
    Column("valid_from", Float, nullable=False),
    Column("valid_to", Float, nullable=False),
    Column("note", Text),
    Column("added_by", String(100), nullable=False),
    Column("added_at", Float, nullable=False),
    # an entry taken out stays, with who did it: the lists' history is evidence too
    Column("removed_by", String(100)),
    Column("removed_at", Float),
    Index("ix_airframe_lists_identity", "identity"),
)

threat_bulletins = Table(
    "threat_bulletins", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("source", String(200)),
    Column("level", String(16), nullable=False),  # normal, elevated, high
    Column("sites", JSON, nullable=False),  # empty: every site
    Column("valid_from", Float, nullable=False),
    Column("valid_to", Float, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", Float, nullable=False),
    Column("withdrawn_by", String(100)),
    Column("withdrawn_at", Float),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("source", String(100), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

bus_positions = Table(
    "bus_positions", metadata,
    Column("reader", String(128), primary_key=True),  # <site>-storage
    Column("stream_sequence", BigInteger, nullable=False),
)
"""How far in the bus's stored stream each storage reader has written, updated with its rows."""

notify_outbox = Table(
    "notify_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("destination", String(200), nullable=False),  # the [[notify]] entry's label
    Column("delivery", String(300), nullable=False),  # <site>.<alert>.<level>.<state>
    Column("site_id", String(64), nullable=False),
    Column("event", String(16), nullable=False),  # opened, escalated, resolved
    Column("alert", JSON, nullable=False),  # the alert line, as the scenario format writes it
    Column("link", Text, nullable=False),
    Column("queued_at", Float, nullable=False),
    Index("ux_notify_outbox_delivery", "destination", "delivery", unique=True),
)
"""Notices not yet delivered (or refused for good), so that a restart of the service sends them still."""
