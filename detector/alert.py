"""The alert contract: one shape for the database, the webhook and exports.

Version 2 adds fields to version 1, and only that (``schema_version``,
``related_clients``, ``group_id``), so a version-1 consumer reads a version-2
object unchanged. ``docs/alert-contract.md`` is the reference.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from ulid import ULID

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
Status = Literal["open", "acknowledged", "resolved", "false_positive"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved", "false_positive")
MAX_EVIDENCE_EVENTS = 50
"""Bound on ``evidence_event_ids`` per alert."""
SCHEMA_VERSION = 2
"""The contract revision this code writes: 2 names a split attack's group."""
MAX_RELATED_CLIENTS = 100
"""Bound on ``related_clients`` per alert (the cross-client featurizer names at most 50)."""


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

    ``v`` stays 1: every version-1 field keeps its name, type and meaning, so a
    consumer that checks ``v == 1`` keeps working. ``schema_version`` says which
    additions the object carries (2: the group). An alert from before version 2,
    read back from the database, has an empty group.

    >>> a = Alert(severity="high", detector="rule:x", client_id="c", model_id="m", score=0.9,
    ...           summary="c: ...", trigger_event_id="e", window_start_ts=1.0, window_end_ts=2.0)
    >>> sorted(a.model_dump())[:4], a.status, a.v, a.schema_version, a.related_clients, a.group_id
    (['alert_id', 'client_id', 'created_at', 'detector'], 'open', 1, 2, [], None)
    >>> Alert.model_validate({**a.model_dump(), "related_clients": ["k3", "k2"], "group_id": "g"}).related_clients
    ['k2', 'k3']
    """

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    schema_version: Literal[2] = SCHEMA_VERSION
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
    related_clients: list[str] = Field(default_factory=list, max_length=MAX_RELATED_CLIENTS)
    """The other clients of the group (never ``client_id`` itself), sorted; empty for a one-client alert."""
    group_id: str | None = None
    """Shared by the alerts of every member of one group (see ``detector.group_ids``); None without a group."""

    @field_validator("related_clients")
    @classmethod
    def _sorted(cls, clients: list[str]) -> list[str]:
        return sorted(set(clients))

    @model_validator(mode="after")
    def _group_is_whole(self) -> Alert:
        if self.client_id in self.related_clients:
            raise ValueError("related_clients names the other clients of the group, not client_id")
        if (self.group_id is None) != (not self.related_clients):
            raise ValueError("group_id and related_clients go together: both set, or neither")
        return self
