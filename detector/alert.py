"""The alert contract, version 1: one shape for the database, the webhook and exports."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
Status = Literal["open", "acknowledged", "resolved", "false_positive"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved", "false_positive")
MAX_EVIDENCE_EVENTS = 50
"""Bound on ``evidence_event_ids`` per alert."""


def severity_rank(severity: str) -> int:
    """Order of severities, for "may only rise" comparisons.

    >>> severity_rank("high") > severity_rank("low")
    True
    """
    return SEVERITIES.index(severity)  # type: ignore[arg-type]


class Reason(BaseModel):
    """One fired condition (feature, value, op, threshold), or a model's contributing feature."""

    model_config = ConfigDict(frozen=True)

    feature: str
    value: float
    op: str
    threshold: float


def new_alert_id() -> str:
    """A ULID: unique and sortable by creation time."""
    return str(ULID())


def utc_now_iso() -> str:
    """Now as RFC 3339 UTC with milliseconds, e.g. ``2026-11-22T05:01:12.431Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Alert(BaseModel):
    """An alert as analysts, SOC tooling and scripts see it.

    >>> a = Alert(severity="high", detector="rule:x", client_id="c", model_id="m", score=0.9,
    ...           summary="c: ...", trigger_event_id="e", window_start_ts=1.0, window_end_ts=2.0)
    >>> sorted(a.model_dump())[:4], a.status, a.v
    (['alert_id', 'client_id', 'created_at', 'detector'], 'open', 1)
    """

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    alert_id: str = Field(default_factory=new_alert_id)
    created_at: str = Field(default_factory=utc_now_iso)
    severity: Severity
    detector: str
    client_id: str
    model_id: str
    score: float = Field(ge=0.0, le=1.0)
    summary: str
    trigger_event_id: str
    window_start_ts: float
    window_end_ts: float
    reasons: list[Reason] = Field(default_factory=list)
    features: dict[str, float] = Field(default_factory=dict)
    evidence_event_ids: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE_EVENTS)
    status: Status = "open"
