"""The Kafka interface on confluent-kafka (librdkafka; the ``[confluent]`` extra).

librdkafka fetches in its own threads and calls the rebalance callbacks from
inside ``consume()``, on the caller's thread, like kafka-python does in ``poll``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

try:
    from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka import TopicPartition as KafkaTopicPartition
except ImportError as exc:  # depends on the installed extras
    raise ImportError(
        "kafka_client = 'confluent' needs confluent-kafka: pip install 'inversion-detector[confluent]'"
    ) from exc

from detector.kafka.client import (
    MAX_PRODUCE_BYTES,
    ConsumerConfig,
    KafkaClientError,
    Outgoing,
    RebalanceListener,
    ResendingProducer,
    TopicPartition,
    kafka_record,
)
from detector.sources.base import Record

log = logging.getLogger(__name__)


def _pairs(partitions: Sequence[KafkaTopicPartition]) -> list[TopicPartition]:
    return sorted((tp.topic, tp.partition) for tp in partitions)


class ConfluentConsumer:
    """:class:`~detector.kafka.client.Consumer` on ``confluent_kafka.Consumer``."""

    def __init__(self, config: ConsumerConfig, listener: RebalanceListener) -> None:
        self.listener = listener
        self.consumer = Consumer(
            {
                "bootstrap.servers": config.bootstrap_servers,
                "group.id": config.group_id,
                "client.id": config.client_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": config.session_timeout_ms,
                "heartbeat.interval.ms": config.heartbeat_interval_ms,
                "fetch.wait.max.ms": config.fetch_max_wait_ms,
                "logger": log,
            }
        )
        self.consumer.subscribe(
            list(config.topics), on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        start = self.listener.assigned(_pairs(partitions))
        for tp in partitions:
            offset = start.get((tp.topic, tp.partition))
            if offset is not None:
                tp.offset = offset
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        self.listener.revoked(_pairs(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        self.listener.lost(_pairs(partitions))

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        records = []
        for message in self.consumer.consume(num_messages=max_records, timeout=timeout_s):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", error)
                continue
            records.append(
                kafka_record(
                    message.topic(), message.partition(), message.offset(), message.key(), message.value(),
                    message.headers(),
                )  # fmt: skip
            )
        return records

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        try:
            self.consumer.commit(
                offsets=[KafkaTopicPartition(t, p, offset) for (t, p), offset in offsets.items()], asynchronous=False
            )
        except KafkaException as exc:
            raise KafkaClientError(f"commit failed: {exc}") from exc

    def highwater(self, partition: TopicPartition) -> int | None:
        _, high = self.consumer.get_watermark_offsets(KafkaTopicPartition(*partition), cached=True)
        return None if high in (OFFSET_INVALID, -1) else high

    def close(self) -> None:
        self.consumer.close()


class ConfluentProducer(ResendingProducer):
    """:class:`~detector.kafka.client.Producer` on ``confluent_kafka.Producer`` (acks=all, idempotent)."""

    def __init__(self, bootstrap_servers: str) -> None:
        super().__init__()
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.max.bytes": MAX_PRODUCE_BYTES + 64 * 1024,
                "logger": log,
            }
        )
        self.failures: list[tuple[Outgoing, str]] = []

    def _send(self, outgoing: Outgoing) -> None:
        def delivered(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                self.failures.append((outgoing, str(error)))

        while True:
            try:
                self.producer.produce(
                    outgoing.topic,
                    value=outgoing.value,
                    key=outgoing.key,
                    headers=outgoing.headers,
                    on_delivery=delivered,
                    **({} if outgoing.partition is None else {"partition": outgoing.partition}),
                )
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.1)
            except KafkaException as exc:
                self.failures.append((outgoing, str(exc)))
                return

    def partitions(self, topic: str) -> int:
        try:
            metadata = self.producer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise KafkaClientError(f"no metadata for topic {topic}: {exc}") from exc
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise KafkaClientError(f"topic {topic} does not exist (or has no partitions)")
        return len(metadata.partitions)

    def _wait(self, timeout_s: float | None) -> tuple[list[tuple[Outgoing, str]], int]:
        queued = self.producer.flush(-1 if timeout_s is None else timeout_s)
        failures, self.failures = self.failures, []
        return failures, queued

    def close(self) -> None:
        self.producer.flush(10)
