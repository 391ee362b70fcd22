"""Kafka as a source: a kafka-python consumer-group member with manual commits.

Keys are client ids, so one client's events stay in order on one partition.
Offsets are committed only after the sinks have stored what the batch caused
(:meth:`KafkaSource.commit`), which gives at-least-once processing.
"""

from __future__ import annotations

from collections.abc import Iterator

from kafka import KafkaConsumer

from detector.sources.base import Record


class KafkaSource:
    """Consumer-group member on one or more topics."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        group_id: str,
        *,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 100,
        poll_timeout_ms: int = 500,
        **consumer_options: object,
    ) -> None:
        self.poll_timeout_ms = poll_timeout_ms
        self.consumer = KafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers.split(","),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(session_timeout_ms // 3, 100),
            fetch_max_wait_ms=fetch_max_wait_ms,
            **consumer_options,
        )
        self.running = True

    def batches(self, max_records: int) -> Iterator[list[Record]]:
        """Poll until :meth:`stop`; yields non-empty batches only."""
        while self.running:
            polled = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=max_records)
            batch = [
                Record(
                    value=message.value if message.value is not None else b"",
                    position=f"{tp.topic}/{tp.partition}@{message.offset}",
                    origin=tp.topic,
                    key=message.key,
                    partition=tp.partition,
                    offset=message.offset,
                )
                for tp, messages in polled.items()
                for message in messages
            ]
            if batch:
                yield batch

    def stop(self) -> None:
        self.running = False

    def commit(self) -> None:
        self.consumer.commit()

    def close(self) -> None:
        self.consumer.close()
