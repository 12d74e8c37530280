"""The first schema: sites, sensors, zones, detections, track history, operator positions,
alerts and their events, users, API tokens, and the append-only audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The audit log is append-only in the database itself, not only in our code.
_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ],
}


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('target', sa.String(200), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(100), nullable=False),
        sa.Column('prev_hash', sa.String(64), nullable=False),
        sa.Column('hash', sa.String(64), nullable=False),
    )
    op.create_table(
        'sites',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
    )
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(100), nullable=False, unique=True),
        sa.Column('password_hash', sa.String(200), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('sites', sa.JSON(), nullable=False),
        sa.Column('levels', sa.JSON(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
    )
    op.create_table(
        'alerts',
        sa.Column('site_id', sa.String(64), primary_key=True),
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('track_id', sa.String(64), nullable=False),
        sa.Column('zone_id', sa.String(64)),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('level', sa.String(16), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('opened_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.Column('eta_s', sa.Float()),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('evidence', sa.JSON()),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_alerts_site_state', 'alerts', ['site_id', 'state'])
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('last_used_at', sa.Float()),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    )
    op.create_table(
        'detections',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('site_id', sa.String(64), nullable=False),
        sa.Column('t', sa.Float(), nullable=False),
        sa.Column('sensor_id', sa.String(64), nullable=False),
        sa.Column('record', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_detections_site_t', 'detections', ['site_id', 't'])
    op.create_table(
        'operator_positions',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('site_id', sa.String(64), nullable=False),
        sa.Column('t', sa.Float(), nullable=False),
        sa.Column('uas_id', sa.String(64), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_operator_positions_site_t', 'operator_positions', ['site_id', 't'])
    op.create_table(
        'sensors',
        sa.Column('site_id', sa.String(64), primary_key=True),
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('alt', sa.Float(), nullable=False),
        sa.Column('spec', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    )
    op.create_table(
        'track_points',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('site_id', sa.String(64), nullable=False),
        sa.Column('track_id', sa.String(64), nullable=False),
        sa.Column('t', sa.Float(), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('alt', sa.Float(), nullable=False),
        sa.Column('vel_e', sa.Float(), nullable=False),
        sa.Column('vel_n', sa.Float(), nullable=False),
        sa.Column('vel_u', sa.Float(), nullable=False),
        sa.Column('cls', sa.String(16)),
        sa.Column('confidence', sa.Float()),
        sa.Column('uas_id', sa.String(64)),
        sa.Column('icao', sa.String(16)),
        sa.Column('sensors', sa.JSON()),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_track_points_site_track_t', 'track_points', ['site_id', 'track_id', 't'])
    op.create_index('ix_track_points_site_t', 'track_points', ['site_id', 't'])
    op.create_table(
        'zones',
        sa.Column('site_id', sa.String(64), primary_key=True),
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('level', sa.String(16), nullable=False),
        sa.Column('floor_m', sa.Float(), nullable=False),
        sa.Column('ceiling_m', sa.Float(), nullable=False),
        sa.Column('polygon', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    )
    op.create_table(
        'alert_events',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('site_id', sa.String(64), nullable=False),
        sa.Column('alert_id', sa.String(64), nullable=False),
        sa.Column('t', sa.Float(), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('level', sa.String(16), nullable=False),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('comment', sa.Text()),
        sa.ForeignKeyConstraint(['site_id', 'alert_id'], ['alerts.site_id', 'alerts.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_alert_events_alert', 'alert_events', ['site_id', 'alert_id'])
    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table('alert_events')
    op.drop_table('zones')
    op.drop_table('track_points')
    op.drop_table('sensors')
    op.drop_table('operator_positions')
    op.drop_table('detections')
    op.drop_table('api_tokens')
    op.drop_table('alerts')
    op.drop_table('users')
    op.drop_table('sites')
    op.drop_table('audit_log')
