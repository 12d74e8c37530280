"""Where storage has written up to in the bus's stream, kept with the rows: a message the bus delivers
again after a crash is not stored twice.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_positions",
        sa.Column("reader", sa.String(128), primary_key=True),
        sa.Column("stream_sequence", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bus_positions")
