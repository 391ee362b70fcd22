"""Per-model state with one owner under scale-out: the fingerprint scale table becomes the settled input
scale of each model (features and fingerprints alike), with its centre and the inputs behind it; model
snapshots record how many events their view of the model took in, so a staler view never overwrites one
that saw more.

The rows of ``fingerprint_scales`` carry no centre: they are dropped, and each model's scale is settled
and stored again by the upgraded workers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM fingerprint_scales"))
    op.rename_table("fingerprint_scales", "model_scales")
    with op.batch_alter_table("model_scales") as batch:
        batch.add_column(sa.Column("centre", sa.LargeBinary, nullable=False))
        batch.add_column(sa.Column("inputs", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("model_snapshots") as batch:
        batch.add_column(sa.Column("observed", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("model_snapshots") as batch:
        batch.drop_column("observed")
    op.execute(sa.text("DELETE FROM model_scales"))
    with op.batch_alter_table("model_scales") as batch:
        batch.drop_column("inputs")
        batch.drop_column("centre")
    op.rename_table("model_scales", "fingerprint_scales")
