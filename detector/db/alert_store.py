"""Reading and changing alerts: the one place the CLI, the sinks and the console use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from sqlalchemy import Engine, Row, Select, and_, case, func, insert, select, update

from detector.alert import SEVERITIES, Alert, Status
from detector.db.tables import alert_evidence, alert_status_history, alerts, webhook_outbox
from detector.decide import AlertChange
from detector.evidence import Evidence

STORED_FIELDS = tuple(name for name in Alert.model_fields if name != "schema_version")
"""The contract's fields that are columns of ``alerts``. ``schema_version`` is not one: it is the shape
this code renders an alert in, whichever version wrote the row."""
GROUP_ALERTS = 200
"""Most alerts :meth:`AlertStore.group` returns (oldest first)."""


class AlertNotFound(LookupError):
    """No alert with that id (or id prefix)."""


def parse_time(text: str) -> datetime:
    """RFC 3339 text -> aware UTC datetime.

    >>> parse_time("2026-11-22T05:01:12.431Z").isoformat()
    '2026-11-22T05:01:12.431000+00:00'
    """
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def format_time(value: datetime) -> str:
    """Aware or naive-UTC datetime -> ``2026-11-22T05:01:12.431Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_from_row(row: Row) -> Alert:
    """A stored row as the alert contract (exactly the spec's fields); a row written before
    contract version 2 (``related_clients`` NULL) has an empty group."""
    data = {name: getattr(row, name) for name in STORED_FIELDS}
    data["created_at"] = format_time(row.created_at)
    data["related_clients"] = data["related_clients"] or []
    return Alert.model_validate(data)


def change_values(change: AlertChange) -> dict:
    """Column values for inserting an alert change."""
    values = change.alert.model_dump(exclude={"schema_version"})
    values["created_at"] = parse_time(change.alert.created_at)
    values["updated_at"] = datetime.now(timezone.utc)
    values.update(
        hit_count=change.hit_count,
        last_seen_ts=change.last_seen_ts,
        suppress_until_ts=change.suppress_until_ts,
    )
    return values


@dataclass(frozen=True)
class AlertFilter:
    """What ``alerts list`` (and the console) may filter on; None means any."""

    status: str | None = None
    severity: str | None = None
    client_id: str | None = None
    model_id: str | None = None
    detector: str | None = None
    group_id: str | None = None
    since: datetime | None = None
    limit: int = 50


class AlertStore:
    """Queries over the alerts, their history and their webhook deliveries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find_open(self, client_id: str, model_id: str, detector: str, at_ts: float) -> AlertChange | None:
        """The open alert for this key whose suppression window covers ``at_ts`` (decide's lookup)."""
        query = (
            select(alerts)
            .where(
                and_(
                    alerts.c.client_id == client_id,
                    alerts.c.model_id == model_id,
                    alerts.c.detector == detector,
                    alerts.c.status == "open",
                    alerts.c.suppress_until_ts >= at_ts,
                )
            )
            .order_by(alerts.c.created_at.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return AlertChange(alert_from_row(row), row.hit_count, row.last_seen_ts, row.suppress_until_ts, new=False)

    def find_group(self, model_id: str, detector: str, client_ids: Sequence[str], at_ts: float) -> str | None:
        """The group id of the earliest-raised alert of any of ``client_ids`` whose suppression window
        covers ``at_ts`` (the group lookup of :class:`~detector.group_ids.GroupIds`)."""
        query = (
            select(alerts.c.group_id)
            .where(
                alerts.c.client_id.in_(list(client_ids)),
                alerts.c.model_id == model_id,
                alerts.c.detector == detector,
                alerts.c.group_id.is_not(None),
                alerts.c.suppress_until_ts >= at_ts,
            )
            .order_by(alerts.c.suppress_until_ts, alerts.c.group_id)
            .limit(1)
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def group(self, group_id: str) -> list[Row]:
        """The alerts of one group, oldest first, at most :data:`GROUP_ALERTS`."""
        query = (
            select(alerts)
            .where(alerts.c.group_id == group_id)
            .order_by(alerts.c.created_at, alerts.c.alert_id)
            .limit(GROUP_ALERTS)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def list(self, where: AlertFilter) -> list[Row]:
        """Newest first, with delivery state (``delivery``: pending/delivered/failed or None)."""
        return self.page(where)

    def get(self, alert_id: str) -> Row:
        """One alert by id, or by a unique prefix of at least 6 characters."""
        with self.engine.connect() as connection:
            row = connection.execute(select(alerts).where(alerts.c.alert_id == alert_id)).first()
            if row is None and len(alert_id) >= 6:
                found = list(connection.execute(select(alerts).where(alerts.c.alert_id.startswith(alert_id)).limit(2)))
                row = found[0] if len(found) == 1 else None
        if row is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        return row

    def history(self, alert_id: str) -> list[Row]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(alert_status_history)
                    .where(alert_status_history.c.alert_id == alert_id)
                    .order_by(alert_status_history.c.id)
                )
            )

    def deliveries(self, alert_id: str) -> list[Row]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(webhook_outbox).where(webhook_outbox.c.alert_id == alert_id).order_by(webhook_outbox.c.id)
                )
            )

    def evidence(self, alert_id: str) -> Evidence | None:
        """The series kept with the alert for plotting, if any."""
        with self.engine.connect() as connection:
            stored = connection.execute(
                select(alert_evidence.c.evidence).where(alert_evidence.c.alert_id == alert_id)
            ).scalar_one_or_none()
        return None if stored is None else Evidence.model_validate(stored)

    def evidences(self, alert_ids: Sequence[str]) -> dict[str, Evidence]:
        """The series kept with each of several alerts (those that have some), in one query."""
        query = select(alert_evidence).where(alert_evidence.c.alert_id.in_(list(alert_ids)))
        with self.engine.connect() as connection:
            return {row.alert_id: Evidence.model_validate(row.evidence) for row in connection.execute(query)}

    def set_status(self, alert_id: str, status: Status, note: str | None = None) -> str:
        """Change an alert's status, keeping the history; returns the full alert id."""
        full_id = self.get(alert_id).alert_id
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            previous = connection.execute(
                select(alerts.c.status).where(alerts.c.alert_id == full_id).with_for_update()
            ).scalar_one()
            connection.execute(update(alerts).where(alerts.c.alert_id == full_id).values(status=status, updated_at=now))
            connection.execute(
                insert(alert_status_history).values(
                    alert_id=full_id, changed_at=now, from_status=previous, to_status=status, note=note
                )
            )
        return full_id

    def redeliver(self, alert_id: str) -> str:
        """Queue the alert for webhook delivery again (a failed or delivered one, or one never queued)."""
        full_id = self.get(alert_id).alert_id
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            reset = connection.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.alert_id == full_id)
                .values(state="pending", attempts=0, next_attempt_at=now, last_error=None, delivered_at=None)
            )
            if reset.rowcount == 0:
                connection.execute(
                    insert(webhook_outbox).values(
                        alert_id=full_id, created_at=now, state="pending", attempts=0, next_attempt_at=now
                    )
                )
        return full_id

    def export(self) -> Iterator[Alert]:
        """Every alert as the contract's object, oldest first."""
        query = select(alerts).order_by(alerts.c.created_at, alerts.c.alert_id)
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                yield alert_from_row(row)

    QUEUE_SORTS = ("created", "severity", "score")
    """Orders :meth:`page` knows, each newest / most severe / highest first (ties: newest first)."""

    def _matching(self, where: AlertFilter, *columns) -> Select:
        """``columns`` of the alerts that pass every filter of ``where`` (its ``limit`` aside)."""
        query = select(*columns).select_from(alerts)
        for column, value in (
            (alerts.c.status, where.status),
            (alerts.c.severity, where.severity),
            (alerts.c.client_id, where.client_id),
            (alerts.c.model_id, where.model_id),
            (alerts.c.detector, where.detector),
            (alerts.c.group_id, where.group_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(alerts.c.created_at >= where.since)
        return query

    def page(self, where: AlertFilter, *, sort: str = "created", offset: int = 0) -> list[Row]:
        """Up to ``where.limit`` rows from ``offset`` in ``sort`` order, each with ``delivery``: the
        newest webhook delivery state (pending/delivered/failed, or None when never queued)."""
        if sort not in self.QUEUE_SORTS:
            raise ValueError(f"unknown sort {sort!r}: one of {', '.join(self.QUEUE_SORTS)}")
        delivery = (
            select(webhook_outbox.c.state)
            .where(webhook_outbox.c.alert_id == alerts.c.alert_id)
            .order_by(webhook_outbox.c.id.desc())
            .limit(1)
            .scalar_subquery()
            .label("delivery")
        )
        first = {
            "created": [],
            "severity": [case({name: rank for rank, name in enumerate(SEVERITIES)}, value=alerts.c.severity).desc()],
            "score": [alerts.c.score.desc()],
        }[sort]
        query = (
            self._matching(where, alerts, delivery)
            .order_by(*first, alerts.c.created_at.desc(), alerts.c.alert_id.desc())
            .offset(offset)
            .limit(where.limit)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def count(self, where: AlertFilter) -> int:
        """How many alerts pass ``where`` (its ``limit`` aside): the size of every page together."""
        with self.engine.connect() as connection:
            return connection.execute(self._matching(where, func.count())).scalar_one()

    def severity_counts(self, where: AlertFilter) -> dict[str, int]:
        """Alerts per severity (every severity, most severe first) under ``where`` without its severity filter,
        so each count says what choosing that severity would show."""
        query = self._matching(replace(where, severity=None), alerts.c.severity, func.count()).group_by(alerts.c.severity)
        with self.engine.connect() as connection:
            found = dict(connection.execute(query).all())
        return {name: found.get(name, 0) for name in reversed(SEVERITIES)}

    def detectors(self) -> list[str]:
        """Every detector that has raised an alert, sorted (for a filter list)."""
        with self.engine.connect() as connection:
            return list(connection.execute(select(alerts.c.detector).distinct().order_by(alerts.c.detector)).scalars())
