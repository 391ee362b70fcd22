"""Alert contract version 2: the group of a split attack (``related_clients``, ``group_id``).

Both columns are nullable, so the upgrade rewrites no row and takes no long lock:
alerts written before it read back with an empty group. Plain ``ADD``/``DROP COLUMN``
(SQLite has both since 3.35), not a batch table copy: with SQLite's foreign keys on,
copying ``alerts`` would cascade-delete the status history, evidence and outbox rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("related_clients", sa.JSON, nullable=True))
    op.add_column("alerts", sa.Column("group_id", sa.String(64), nullable=True))
    op.create_index("ix_alerts_group_id", "alerts", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_group_id", table_name="alerts")
    op.drop_column("alerts", "group_id")
    op.drop_column("alerts", "related_clients")
