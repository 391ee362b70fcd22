"""Where checkpoints live: consumed offsets, partition state and model state, in the alert database.

A checkpoint is one transaction with the alerts it covers, so the database
alone says how far the worker got. Each assignment of a partition bumps its
``epoch``; a checkpoint writes a partition only while the epoch is still the
one its writer claimed, so a worker that was evicted (a long pause, a lost
session) can never overwrite what the partition's new owner wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from detector.db.tables import consumer_offsets, model_snapshots, state_snapshots
from detector.kafka import TopicPartition


@dataclass(frozen=True, slots=True)
class Claim:
    """A partition as its new owner finds it: the epoch it now holds, where to resume, and the state blob."""

    epoch: int
    next_offset: int | None
    clients_blob: bytes | None


def upsert(
    connection: Connection, table: Table, values: Mapping[str, object], only_if: ColumnElement[bool] | None = None
) -> None:
    """Insert a row or update it in place on a primary-key conflict (PostgreSQL and SQLite); with
    ``only_if``, a stored row is updated only where that holds of it."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(connection.dialect.name)
    if dialect is None:
        raise NotImplementedError(f"checkpoints support PostgreSQL and SQLite, not {connection.dialect.name}")
    keys = [column.name for column in table.primary_key.columns]
    statement = dialect.insert(table).values(dict(values))
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in values if name not in keys},
            where=only_if,
        )
    )


class CheckpointStore:
    """Checkpoint rows of one consumer group."""

    def __init__(self, engine: Engine, group_id: str) -> None:
        self.engine = engine
        self.group_id = group_id

    def _key(self, table: Table, tp: TopicPartition):
        topic, partition = tp
        return and_(table.c.group_id == self.group_id, table.c.topic == topic, table.c.partition == partition)

    def claim(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, Claim]:
        """Take ownership of newly assigned partitions (one transaction): bump each epoch and read
        the checkpointed offset and client state."""
        now = datetime.now(timezone.utc)
        claims = {}
        with self.engine.begin() as connection:
            for tp in partitions:
                row = connection.execute(
                    select(consumer_offsets.c.epoch, consumer_offsets.c.next_offset)
                    .where(self._key(consumer_offsets, tp))
                    .with_for_update()
                ).first()
                epoch, next_offset = (1, None) if row is None else (row.epoch + 1, row.next_offset)
                upsert(
                    connection,
                    consumer_offsets,
                    {"group_id": self.group_id, "topic": tp[0], "partition": tp[1], "next_offset": next_offset,
                     "epoch": epoch, "updated_at": now},
                )  # fmt: skip
                blob = connection.execute(
                    select(state_snapshots.c.blob).where(self._key(state_snapshots, tp))
                ).scalar_one_or_none()
                claims[tp] = Claim(epoch, next_offset, blob)
        return claims

    def still_owned(self, connection: Connection, epochs: Mapping[TopicPartition, int]) -> set[TopicPartition]:
        """The partitions whose epoch is still ours, their offset rows locked until the transaction ends."""
        owned = set()
        for tp, epoch in epochs.items():
            current = connection.execute(
                select(consumer_offsets.c.epoch).where(self._key(consumer_offsets, tp)).with_for_update()
            ).scalar_one_or_none()
            if current == epoch:
                owned.add(tp)
        return owned

    def save_partition(self, connection: Connection, tp: TopicPartition, next_offset: int, clients_blob: bytes) -> None:
        """The partition's position and its client state at that position."""
        now = datetime.now(timezone.utc)
        connection.execute(
            update(consumer_offsets).where(self._key(consumer_offsets, tp)).values(next_offset=next_offset, updated_at=now)
        )
        upsert(
            connection,
            state_snapshots,
            {"group_id": self.group_id, "topic": tp[0], "partition": tp[1], "blob": clients_blob, "updated_at": now},
        )

    def save_model(self, connection: Connection, model_id: str, blob: bytes, observed: int) -> None:
        """One model's state, unless the stored one took in more of the model's events (``observed``).

        Several workers each hold a view of a model, learned from their own partitions; the row keeps the
        most informed one, which the next worker to see the model starts from, instead of whichever
        checkpoint came last."""
        upsert(
            connection,
            model_snapshots,
            {"group_id": self.group_id, "model_id": model_id, "blob": blob, "observed": observed,
             "updated_at": datetime.now(timezone.utc)},
            only_if=model_snapshots.c.observed <= observed,
        )  # fmt: skip

    def model(self, model_id: str) -> bytes | None:
        """The group's snapshot of one model, if it has one (read when the model is first seen)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(model_snapshots.c.blob).where(
                    model_snapshots.c.group_id == self.group_id, model_snapshots.c.model_id == model_id
                )
            ).scalar_one_or_none()

    def offsets(self) -> dict[TopicPartition, int | None]:
        """Every checkpointed position of the group (for operators and tests)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(consumer_offsets.c.topic, consumer_offsets.c.partition, consumer_offsets.c.next_offset).where(
                    consumer_offsets.c.group_id == self.group_id
                )
            )
            return {(row.topic, row.partition): row.next_offset for row in rows}
