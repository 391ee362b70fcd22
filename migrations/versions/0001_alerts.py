"""Alerts, their status history, evidence series and the webhook outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(26), primary_key=True),
        sa.Column("v", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("detector", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(256), nullable=False),
        sa.Column("model_id", sa.String(256), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("trigger_event_id", sa.String(128), nullable=False),
        sa.Column("window_start_ts", sa.Float, nullable=False),
        sa.Column("window_end_ts", sa.Float, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("evidence_event_ids", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hit_count", sa.Integer, nullable=False),
        sa.Column("last_seen_ts", sa.Float, nullable=False),
        sa.Column("suppress_until_ts", sa.Float, nullable=False),
    )
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_index("ix_alerts_severity", "alerts", ["severity"])
    op.create_index("ix_alerts_client_id", "alerts", ["client_id"])
    op.create_index("ix_alerts_created_at", "alerts", ["created_at"])
    op.create_index("ix_alerts_dedup", "alerts", ["client_id", "model_id", "detector", "status"])
    op.create_table(
        "alert_status_history",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(26), sa.ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_alert_status_history_alert_id", "alert_status_history", ["alert_id"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(26), sa.ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["state", "next_attempt_at"])
    op.create_index("ix_webhook_outbox_alert_id", "webhook_outbox", ["alert_id"])
    op.create_table(
        "alert_evidence",
        sa.Column("alert_id", sa.String(26), sa.ForeignKey("alerts.alert_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("evidence", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_evidence")
    op.drop_table("webhook_outbox")
    op.drop_table("alert_status_history")
    op.drop_table("alerts")
