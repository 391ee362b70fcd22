"""Worker checkpoints: consumed offsets, per-partition client state and per-model state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _partition_key() -> list[sa.Column]:
    return [
        sa.Column("group_id", sa.String(255), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "consumer_offsets",
        *_partition_key(),
        sa.Column("next_offset", sa.BigInteger, nullable=True),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "state_snapshots",
        *_partition_key(),
        sa.Column("blob", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_snapshots",
        sa.Column("group_id", sa.String(255), primary_key=True),
        sa.Column("model_id", sa.String(256), primary_key=True),
        sa.Column("blob", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_snapshots")
    op.drop_table("state_snapshots")
    op.drop_table("consumer_offsets")
