"""The alert queue's query string: filters, sort and page, validated, and back into links."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, field_validator

from detector.alert import Severity, Status
from detector.db.alert_store import AlertFilter

PAGE_SIZE = 50


class QueueQuery(BaseModel):
    """What the analyst asked the queue for; empty fields mean "any".

    ``since`` without a zone is UTC (what a ``datetime-local`` input sends).

    >>> q = QueueQuery.model_validate({"severity": "high", "client": " ", "since": "2026-11-22T05:00", "page": "2"})
    >>> q.filter().severity, q.filter().client_id, q.filter().since.isoformat(), q.offset
    ('high', None, '2026-11-22T05:00:00+00:00', 50)
    >>> q.url(page=1)
    '/?severity=high&since=2026-11-22T05%3A00%3A00'
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    status: Status | None = None
    severity: Severity | None = None
    detector: str | None = None
    model: str | None = None
    client: str | None = None
    group: str | None = None
    since: datetime | None = None
    sort: Literal["created", "severity", "score"] = "created"
    page: int = Field(1, ge=1, le=1_000_000)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_any(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    @property
    def since_text(self) -> str:
        """``since`` as a ``datetime-local`` input shows it (UTC, no zone), or empty."""
        return self.since.replace(tzinfo=None).isoformat(timespec="seconds") if self.since else ""

    def filter(self) -> AlertFilter:
        """The store's filter for one page of this query."""
        return AlertFilter(
            status=self.status,
            severity=self.severity,
            client_id=self.client,
            model_id=self.model,
            detector=self.detector,
            group_id=self.group,
            since=self.since,
            limit=PAGE_SIZE,
        )

    def url(self, **changes: object) -> str:
        """The queue's URL for this query with ``changes`` (defaults left out, so links stay short)."""
        values = self.model_copy(update=changes)
        shown = {}
        for name, field in type(self).model_fields.items():
            value = getattr(values, name)
            if value is None or value == field.default:
                continue
            shown[name] = values.since_text if name == "since" else value
        return "/?" + urlencode(shown) if shown else "/"
