"""Each worker's share of the inputs a model's scale settles on, so that the scale settles on the union of
every worker's, once it holds enough inputs, rather than on whichever worker saw enough first.

One new table; no existing row is touched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_scale_parts",
        sa.Column("model_id", sa.String(256), primary_key=True),
        sa.Column("dim", sa.Integer, primary_key=True),
        sa.Column("worker_id", sa.String(64), primary_key=True),
        sa.Column("inputs", sa.Integer, nullable=False),
        sa.Column("mean", sa.LargeBinary, nullable=False),
        sa.Column("m2", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_scale_parts")
