"""Sessions kept in the database (so that logout, a password change or disabling a user ends
them), and an expiry for every API token.

Tokens made before this revision get one too: 90 days after the upgrade (the default of
``security.token_days_default``), so that no token stays valid for ever, yet no integration
stops the moment the service is upgraded. Their owners see the date in ``GET /api/tokens``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LEGACY_TOKEN_DAYS = 90.0


def upgrade() -> None:
    op.create_table(
        'sessions',
        sa.Column('id_hash', sa.String(64), primary_key=True),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('ended_at', sa.Float()),
        sa.Column('end_reason', sa.String(32)),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    )
    op.create_index('ix_sessions_user', 'sessions', ['user_id'])
    # nullable first, filled, then NOT NULL: SQLite cannot add a NOT NULL column without a default,
    # and a server default would hand every future token that forgot its expiry the same date
    op.add_column('api_tokens', sa.Column('expires_at', sa.Float()))
    tokens = sa.table('api_tokens', sa.column('expires_at', sa.Float()))
    op.execute(tokens.update().values(expires_at=time.time() + _LEGACY_TOKEN_DAYS * 86400.0))
    with op.batch_alter_table('api_tokens') as batch:  # SQLite: the table is copied with the new constraint
        batch.alter_column('expires_at', existing_type=sa.Float(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('expires_at')
    op.drop_index('ix_sessions_user', 'sessions')
    op.drop_table('sessions')
