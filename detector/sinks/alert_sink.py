"""Alert changes -> the alert store, in one transaction per flush.

Sinks buffer with ``add`` and write with ``flush``; the caller commits source
offsets only after ``flush`` returned, so a crash loses no alert.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, insert, update

from detector.alert import new_alert_id, utc_now_iso
from detector.db.alert_store import change_values
from detector.db.tables import alert_evidence, alert_status_history, alerts, webhook_outbox
from detector.decide import AlertChange


class AlertSink:
    """Inserts new alerts (with a status-history row and, when a webhook is set, an outbox row)
    and updates open ones. An update of an alert that an analyst closed meanwhile becomes a new
    alert instead: the detector never reopens a closed alert silently."""

    def __init__(self, engine: Engine, *, webhook_enabled: bool = False) -> None:
        self.engine = engine
        self.webhook_enabled = webhook_enabled
        self.pending: dict[str, AlertChange] = {}
        self.created = 0

    def add(self, changes: list[AlertChange]) -> None:
        for change in changes:
            earlier = self.pending.get(change.alert.alert_id)
            if earlier is not None and earlier.new:
                change.new = True  # still unwritten: insert the latest state
                change.evidence = earlier.evidence
            self.pending[change.alert.alert_id] = change

    def flush(self, connection: Connection | None = None) -> dict[str, AlertChange]:
        """Write everything added; returns {replaced alert id: the new alert's change}.

        With ``connection``, writes inside the caller's transaction (the worker's
        checkpoint); otherwise in a transaction of its own.
        """
        if not self.pending:
            return {}
        if connection is None:
            with self.engine.begin() as own:
                replaced = self._write(own)
        else:
            replaced = self._write(connection)
        self.pending.clear()
        return replaced

    def _write(self, connection: Connection) -> dict[str, AlertChange]:
        replaced: dict[str, AlertChange] = {}
        now = datetime.now(timezone.utc)
        for alert_id, change in self.pending.items():
            if not change.new:
                values = change_values(change)
                updated = connection.execute(
                    update(alerts)
                    .where(alerts.c.alert_id == alert_id, alerts.c.status == "open")
                    .values(
                        {
                            key: values[key]
                            for key in ("severity", "score", "window_end_ts", "hit_count", "last_seen_ts", "updated_at")
                        }
                    )
                )
                if updated.rowcount == 1:
                    continue
                alert = change.alert.model_copy(
                    update={"alert_id": new_alert_id(), "created_at": utc_now_iso(), "status": "open"}
                )
                change = replaced[alert_id] = AlertChange(
                    alert, 1, change.last_seen_ts, change.suppress_until_ts, new=True, evidence=change.evidence
                )
            self._insert(connection, change, now)
        return replaced

    def _insert(self, connection: Connection, change: AlertChange, now: datetime) -> None:
        connection.execute(insert(alerts).values(change_values(change)))
        connection.execute(
            insert(alert_status_history).values(
                alert_id=change.alert.alert_id, changed_at=now, from_status=None, to_status="open", note="raised"
            )
        )
        self.created += 1
        if change.evidence is not None:
            connection.execute(
                insert(alert_evidence).values(alert_id=change.alert.alert_id, evidence=change.evidence.model_dump())
            )
        if self.webhook_enabled:
            connection.execute(
                insert(webhook_outbox).values(
                    alert_id=change.alert.alert_id, created_at=now, state="pending", attempts=0, next_attempt_at=now
                )
            )
