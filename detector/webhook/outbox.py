"""The webhook outbox as a work queue: claim due deliveries, then record what became of each.

Alerts and their outbox rows are written in the worker's checkpoint
transaction; dispatchers read them from here. A claim marks a row ``sending``
with a lease (``next_attempt_at`` moves to the end of the lease) and counts the
attempt. On PostgreSQL several dispatchers claim with ``FOR UPDATE SKIP
LOCKED``, so they never take the same row; on every database each claim and
each outcome is also guarded by the row's attempt count, so a dispatcher whose
lease ran out (it hung, or died) can no longer change a row that was claimed
again. A dispatcher that dies mid-send leaves its row to be claimed again
when the lease ends: delivery is at least once, and receivers can drop repeats
by ``alert_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson
from sqlalchemy import Engine, func, select, update

from detector.db.alert_store import alert_from_row
from detector.db.tables import alerts, webhook_outbox

WAITING = ("pending", "sending")
"""States of rows not yet delivered nor failed (``sending`` rows are due again when their lease ends)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed row: which attempt this is, and the alert contract object to POST."""

    outbox_id: int
    alert_id: str
    attempt: int
    body: bytes


class Outbox:
    """Claims and outcomes over ``webhook_outbox``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, limit: int, lease_s: float) -> list[Delivery]:
        """Up to ``limit`` due rows, oldest due first, now ours for ``lease_s`` seconds."""
        now = datetime.now(timezone.utc)
        query = (
            select(webhook_outbox.c.id.label("outbox_id"), webhook_outbox.c.attempts.label("outbox_attempts"), alerts)
            .join(alerts, alerts.c.alert_id == webhook_outbox.c.alert_id)
            .where(webhook_outbox.c.state.in_(WAITING), webhook_outbox.c.next_attempt_at <= now)
            .order_by(webhook_outbox.c.next_attempt_at, webhook_outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=webhook_outbox)
        )
        claimed = []
        with self.engine.begin() as connection:
            for row in connection.execute(query).all():
                taken = connection.execute(
                    update(webhook_outbox)
                    .where(webhook_outbox.c.id == row.outbox_id, webhook_outbox.c.attempts == row.outbox_attempts)
                    .values(state="sending", attempts=row.outbox_attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
                )
                if taken.rowcount == 1:
                    body = orjson.dumps(alert_from_row(row).model_dump())
                    claimed.append(Delivery(row.outbox_id, row.alert_id, row.outbox_attempts + 1, body))
        return claimed

    def _finish(self, delivery: Delivery, **values: object) -> bool:
        with self.engine.begin() as connection:
            done = connection.execute(
                update(webhook_outbox)
                .where(
                    webhook_outbox.c.id == delivery.outbox_id,
                    webhook_outbox.c.state == "sending",
                    webhook_outbox.c.attempts == delivery.attempt,
                )
                .values(**values)
            )
        return done.rowcount == 1

    def delivered(self, delivery: Delivery) -> bool:
        """Record the receiver's acceptance; False if the row was claimed again meanwhile."""
        now = datetime.now(timezone.utc)
        return self._finish(delivery, state="delivered", delivered_at=now, last_error=None)

    def retry_later(self, delivery: Delivery, delay_s: float, error: str) -> bool:
        due = datetime.now(timezone.utc) + timedelta(seconds=delay_s)
        return self._finish(delivery, state="pending", next_attempt_at=due, last_error=error)

    def failed(self, delivery: Delivery, error: str) -> bool:
        """No more attempts (``alerts redeliver`` queues it again)."""
        return self._finish(delivery, state="failed", last_error=error)

    def depth(self) -> int:
        """Rows waiting for delivery."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(webhook_outbox).where(webhook_outbox.c.state.in_(WAITING))
            ).scalar_one()

    def requeue_failed(self) -> list[str]:
        """Queue every failed delivery again, from its first attempt; the alert ids."""
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    update(webhook_outbox)
                    .where(webhook_outbox.c.state == "failed")
                    .values(state="pending", attempts=0, next_attempt_at=now, last_error=None)
                    .returning(webhook_outbox.c.alert_id)
                ).scalars()
            )
        return ids
