"""The notifications' outbox: notices not yet delivered survive a restart (``outputs/notify.py``).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("delivery", sa.String(300), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=False),
    )
    op.create_index("ux_notify_outbox_delivery", "notify_outbox", ["destination", "delivery"], unique=True)


def downgrade() -> None:
    op.drop_table("notify_outbox")
