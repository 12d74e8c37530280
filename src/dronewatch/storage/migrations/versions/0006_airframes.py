"""The airframe register: allow- and watch-list entries, and indexes over the identities track points carry.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "airframe_lists",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("list", sa.String(8), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Float(), nullable=False),
        sa.Column("valid_to", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.Column("removed_by", sa.String(100), nullable=True),
        sa.Column("removed_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_airframe_lists_identity", "airframe_lists", ["identity"])
    for column in ("uas_id", "icao"):
        op.create_index(f"ix_track_points_{column}", "track_points", [column, "site_id"],
                        sqlite_where=sa.text(f"{column} IS NOT NULL"),
                        postgresql_where=sa.text(f"{column} IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_track_points_icao", "track_points")
    op.drop_index("ix_track_points_uas_id", "track_points")
    op.drop_index("ix_airframe_lists_identity", "airframe_lists")
    op.drop_table("airframe_lists")
