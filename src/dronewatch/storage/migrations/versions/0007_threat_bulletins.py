"""Threat bulletins: intelligence that sets a site's posture (``assessment/posture.py``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threat_bulletins",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Float(), nullable=False),
        sa.Column("valid_to", sa.Float(), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", sa.Float(), nullable=False),
        sa.Column("withdrawn_by", sa.String(100), nullable=True),
        sa.Column("withdrawn_at", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("threat_bulletins")
