"""SQLAlchemy table definitions. The schema itself is owned by the Alembic
revisions in ``migrations/``; these definitions are what the code queries with
and must match the newest revision (a test compares them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(26), primary_key=True),
    Column("v", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("detector", String(128), nullable=False),
    Column("client_id", String(256), nullable=False),
    Column("model_id", String(256), nullable=False),
    Column("score", Float, nullable=False),
    Column("summary", Text, nullable=False),
    Column("trigger_event_id", String(128), nullable=False),
    Column("window_start_ts", Float, nullable=False),
    Column("window_end_ts", Float, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("features", JSON, nullable=False),
    Column("evidence_event_ids", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("hit_count", Integer, nullable=False, default=1),
    Column("last_seen_ts", Float, nullable=False),
    Column("suppress_until_ts", Float, nullable=False),
    Column("related_clients", JSON, nullable=True),  # NULL: written before contract version 2 (no group)
    Column("group_id", String(64), nullable=True),
    Index("ix_alerts_status", "status"),
    Index("ix_alerts_severity", "severity"),
    Index("ix_alerts_client_id", "client_id"),
    Index("ix_alerts_created_at", "created_at"),
    Index("ix_alerts_dedup", "client_id", "model_id", "detector", "status"),
    Index("ix_alerts_group_id", "group_id"),
)

alert_status_history = Table(
    "alert_status_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(26), ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Index("ix_alert_status_history_alert_id", "alert_id"),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(26), ForeignKey("alerts.alert_id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhook_outbox_due", "state", "next_attempt_at"),
    Index("ix_webhook_outbox_alert_id", "alert_id"),
)

alert_evidence = Table(
    "alert_evidence",
    metadata,
    Column("alert_id", String(26), ForeignKey("alerts.alert_id", ondelete="CASCADE"), primary_key=True),
    Column("evidence", JSON, nullable=False),
)
"""What the console plots, bounded by the client's window (see ``detector.evidence``)."""

consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=True),
    Column("epoch", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""The worker's position per partition, written with the alerts and state it covers: the source of
truth on restart (Kafka's committed offset is the fallback). ``next_offset`` is NULL until the first
checkpoint; ``epoch`` grows on every assignment, so a worker that lost a partition cannot overwrite
the checkpoints of its new owner."""

state_snapshots = Table(
    "state_snapshots",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("blob", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""The per-client state of one partition at its checkpointed offset (see ``detector.worker.snapshot``)."""

model_snapshots = Table(
    "model_snapshots",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("model_id", String(256), primary_key=True),
    Column("blob", LargeBinary, nullable=False),
    Column("observed", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Per-model state (input scale, labels, featurizers' shared structures, online thresholds, River model)
as seen by the worker that has taken in the most of the model's events (``observed``): a worker whose view
saw fewer never overwrites it."""

model_scales = Table(
    "model_scales",
    metadata,
    Column("model_id", String(256), primary_key=True),
    Column("dim", Integer, primary_key=True),
    Column("weights", LargeBinary, nullable=False),
    Column("centre", LargeBinary, nullable=False),
    Column("inputs", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""Per model and input length, the settled input scale every worker computes features and fingerprints
with: coordinate weights and centre (float32), and the novel inputs it was learned from. The first worker
whose scale of the model settles writes it, every worker adopts it (``detector.db.model_scales``)."""

model_scale_parts = Table(
    "model_scale_parts",
    metadata,
    Column("model_id", String(256), primary_key=True),
    Column("dim", Integer, primary_key=True),
    Column("worker_id", String(64), primary_key=True),
    Column("inputs", Integer, nullable=False),
    Column("mean", LargeBinary, nullable=False),
    Column("m2", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Per model, input length and worker, the running statistics (count, float64 mean and sum of squared
deviations) of the inputs that worker counted towards settling the model's scale, until it is shared: the
scale settles on their union (``detector.worker.shared_scales``), as it would in one process."""

group_claims = Table(
    "group_claims",
    metadata,
    Column("model_id", String(256), primary_key=True),
    Column("detector", String(128), primary_key=True),
    Column("client_id", String(256), primary_key=True),
    Column("group_id", String(64), nullable=False),
    Column("until_ts", Float, nullable=False),
    Index("ix_group_claims_until", "model_id", "detector", "until_ts"),
)
"""The group of each client a split-attack alert raised or named, until that alert's suppression ends:
written when the alert is decided (before its checkpoint), so that workers raising the alerts of one
group at the same moment give them one group id."""
