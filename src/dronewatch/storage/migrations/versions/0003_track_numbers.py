"""Track numbers go on across restarts: each site keeps the next number its tracker may give.

A restarted tracker starting again at T1 would give new tracks the ids of stored ones (their
history and alerts would mix).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as table:
        table.add_column(sa.Column("next_track_number", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("sites") as table:
        table.drop_column("next_track_number")
