"""The Kafka interface on kafka-python (pure Python; ~53 µs of CPU per consumed message)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

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


@contextmanager
def _reaching(bootstrap_servers: str) -> Iterator[None]:
    """kafka-python connects when a client is made: say in one line which brokers it could not reach."""
    try:
        yield
    except KafkaError as exc:
        raise KafkaClientError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc


def _pairs(partitions: Sequence[KafkaTopicPartition]) -> list[TopicPartition]:
    return sorted((tp.topic, tp.partition) for tp in partitions)


class _Listener(ConsumerRebalanceListener):
    """Adapts the library's callbacks; seeks each assigned partition where the worker says."""

    def __init__(self, consumer: KafkaConsumer, listener: RebalanceListener) -> None:
        self.consumer = consumer
        self.listener = listener

    def on_partitions_assigned(self, assigned: Sequence[KafkaTopicPartition]) -> None:
        for (topic, partition), offset in self.listener.assigned(_pairs(assigned)).items():
            self.consumer.seek(KafkaTopicPartition(topic, partition), offset)

    def on_partitions_revoked(self, revoked: Sequence[KafkaTopicPartition]) -> None:
        self.listener.revoked(_pairs(revoked))

    def on_partitions_lost(self, lost: Sequence[KafkaTopicPartition]) -> None:
        self.listener.lost(_pairs(lost))


class KafkaPythonConsumer:
    """:class:`~detector.kafka.client.Consumer` on ``kafka.KafkaConsumer``."""

    def __init__(self, config: ConsumerConfig, listener: RebalanceListener) -> None:
        with _reaching(config.bootstrap_servers):
            self.consumer = KafkaConsumer(
                bootstrap_servers=config.bootstrap_servers.split(","),
                group_id=config.group_id,
                client_id=config.client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=config.session_timeout_ms,
                heartbeat_interval_ms=config.heartbeat_interval_ms,
                fetch_max_wait_ms=config.fetch_max_wait_ms,
            )
        self.consumer.subscribe(list(config.topics), listener=_Listener(self.consumer, listener))

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        polled = self.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [
            kafka_record(tp.topic, tp.partition, message.offset, message.key, message.value, message.headers)
            for tp, messages in polled.items()
            for message in messages
        ]

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        try:
            self.consumer.commit(
                {KafkaTopicPartition(t, p): OffsetAndMetadata(offset, "", -1) for (t, p), offset in offsets.items()}
            )
        except KafkaError as exc:
            raise KafkaClientError(f"commit failed: {exc}") from exc

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.consumer.highwater(KafkaTopicPartition(*partition))

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class KafkaPythonProducer(ResendingProducer):
    """:class:`~detector.kafka.client.Producer` on ``kafka.KafkaProducer`` (acks=all, idempotent)."""

    def __init__(self, bootstrap_servers: str) -> None:
        super().__init__()
        with _reaching(bootstrap_servers):
            self.producer = KafkaProducer(
                bootstrap_servers=bootstrap_servers.split(","),
                acks="all",
                linger_ms=5,
                max_request_size=MAX_PRODUCE_BYTES,
            )
        self.in_flight: list[tuple[Outgoing, object]] = []
        self.rejected: list[tuple[Outgoing, str]] = []

    def _send(self, outgoing: Outgoing) -> None:
        try:
            future = self.producer.send(
                outgoing.topic, value=outgoing.value, key=outgoing.key, headers=outgoing.headers,
                partition=outgoing.partition,
            )  # fmt: skip
        except KafkaError as exc:  # e.g. no metadata for the topic within max_block_ms
            self.rejected.append((outgoing, str(exc)))
        else:
            self.in_flight.append((outgoing, future))

    def partitions(self, topic: str) -> int:
        try:
            found = self.producer.partitions_for(topic)
        except KafkaError as exc:
            raise KafkaClientError(f"no metadata for topic {topic}: {exc}") from exc
        if not found:
            raise KafkaClientError(f"topic {topic} does not exist (or has no partitions)")
        return len(found)

    def _wait(self, timeout_s: float | None) -> tuple[list[tuple[Outgoing, str]], int]:
        try:
            self.producer.flush(timeout=timeout_s)
        except KafkaError:
            pass  # what is not done yet stays in flight
        failures, self.rejected = self.rejected, []
        failures += [(outgoing, str(future.exception)) for outgoing, future in self.in_flight if future.failed()]
        self.in_flight = [(outgoing, future) for outgoing, future in self.in_flight if not future.is_done]
        return failures, len(self.in_flight)

    def close(self) -> None:
        self.producer.close()
