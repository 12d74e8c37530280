"""A stored track point keeps its uncertainty (``sigma_m``) and, for a region's track, the site tracks it
merges (``members``): the evidence of where it was, how sure, and on whose tracks.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("track_points") as table:
        table.add_column(sa.Column("sigma_m", sa.Float(), nullable=True))
        table.add_column(sa.Column("members", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("track_points") as table:
        table.drop_column("members")
        table.drop_column("sigma_m")
