"""Cross-worker fingerprint exchange: the per-model scale every worker fingerprints with, and the
group each alerted client of a split attack was put in.

Two new tables; no existing row is touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprint_scales",
        sa.Column("model_id", sa.String(256), primary_key=True),
        sa.Column("dim", sa.Integer, primary_key=True),
        sa.Column("weights", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "group_claims",
        sa.Column("model_id", sa.String(256), primary_key=True),
        sa.Column("detector", sa.String(128), primary_key=True),
        sa.Column("client_id", sa.String(256), primary_key=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("until_ts", sa.Float, nullable=False),
    )
    op.create_index("ix_group_claims_until", "group_claims", ["model_id", "detector", "until_ts"])


def downgrade() -> None:
    op.drop_index("ix_group_claims_until", table_name="group_claims")
    op.drop_table("group_claims")
    op.drop_table("fingerprint_scales")
