"""The group of a split-attack alert as its page shows it: the members, their alerts, their queries.

An alert's evidence holds the query times of the other members whose state sat
beside the alerted client's (the same process and partition). Members seen by
another partition or worker are missing there, so their rows on the group plot
come from their own alerts of the same group: each alert keeps its client's
query times with its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.alert import Alert
from detector.db.alert_store import AlertStore
from detector.evidence import Evidence


@dataclass(frozen=True)
class Member:
    """One other client of the group, and its first alert in the group (None if it raised none)."""

    client_id: str
    alert_id: str | None


@dataclass(frozen=True)
class GroupView:
    """The members an alert names (sorted), how many alerts the group has, each member's query times
    (empty for a member whose queries no alert of the group kept)."""

    group_id: str
    members: list[Member]
    alerts: int
    times: dict[str, list[float]] = field(default_factory=dict)


def group_view(store: AlertStore, alert: Alert, evidence: Evidence | None) -> GroupView | None:
    """The group of ``alert`` (None for a one-client alert): its members with their alerts in the
    group, and every member's query times, from this alert's evidence or else the member's own alert."""
    if alert.group_id is None:
        return None
    first_alert: dict[str, str] = {}
    rows = store.group(alert.group_id)
    for row in rows:  # oldest first
        first_alert.setdefault(row.client_id, row.alert_id)
    members = [Member(other, first_alert.get(other)) for other in alert.related_clients]
    times = dict(evidence.group) if evidence is not None else {}
    missing = {m.alert_id: m.client_id for m in members if m.client_id not in times and m.alert_id is not None}
    for alert_id, kept in store.evidences(list(missing)).items():
        times[missing[alert_id]] = kept.query_times()
    for m in members:  # a member whose queries no alert kept still has its row, empty
        times.setdefault(m.client_id, [])
    return GroupView(alert.group_id, members, len(rows), times)
