"""The small Kafka interface the worker uses, so that the client library is a detail.

Two implementations: kafka-python (:mod:`detector.kafka.kafka_python_client`,
the default) and confluent-kafka (:mod:`detector.kafka.confluent_client`, the
``[confluent]`` extra, about thirty times less CPU per message). Both deliver
:class:`~detector.sources.base.Record` objects, call the
:class:`RebalanceListener` from inside :meth:`Consumer.poll` (on the caller's
thread, between batches), and start each newly assigned partition at the
offset the listener returns for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from detector.sources.base import Record

TopicPartition = tuple[str, int]
"""(topic, partition)."""


class KafkaClientError(Exception):
    """A commit or a produce that did not succeed; the message is one line."""


class RebalanceListener(Protocol):
    """What the consumer group tells its member, always from inside :meth:`Consumer.poll`."""

    def assigned(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        """New partitions are ours: returns where to start reading each one (partitions left out
        start at the group's committed offset, else at the earliest)."""

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions are about to be taken away: the last moment to checkpoint them."""

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions were taken away already (this member was evicted): do not checkpoint them."""


class Consumer(Protocol):
    """A consumer-group member with manual commits."""

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout_s`` when there are none."""

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offsets to read; raises :class:`KafkaClientError`."""

    def highwater(self, partition: TopicPartition) -> int | None:
        """The partition's end offset as last seen by a fetch (no network call), if known."""

    def close(self) -> None:
        """Leave the group (revoking the partitions through the listener) and disconnect."""


class Producer(Protocol):
    """Sends records; :meth:`flush` returns only when every record sent so far is acknowledged."""

    def send(
        self,
        topic: str,
        *,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record, to ``partition`` if given (else the library's partitioner picks by key)."""

    def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has (from the cluster's metadata); raises :class:`KafkaClientError`."""

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for every record sent; raises :class:`KafkaClientError` if any could not be delivered
        (they are sent again by the next flush)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class ConsumerConfig:
    """What both client libraries need to join the group."""

    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...]
    session_timeout_ms: int = 10_000
    fetch_max_wait_ms: int = 100
    client_id: str = "inversion-detector"

    @property
    def heartbeat_interval_ms(self) -> int:
        """A third of the session timeout, as Kafka recommends.

        >>> ConsumerConfig("k:9092", "g", ("t",), session_timeout_ms=6000).heartbeat_interval_ms
        2000
        """
        return max(self.session_timeout_ms // 3, 100)


MAX_PRODUCE_BYTES = 8 * 1024 * 1024
"""Largest record the producers send (dead letters quote up to 4 MiB of the raw value)."""


def kafka_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
) -> Record:
    """A consumed message as a :class:`Record` (a null value reads as empty bytes, which parse rejects;
    so does a null header value).

    >>> record = kafka_record("logs", 3, 1234, b"k", b"{}", [("ce_id", b"1"), ("empty", None)])
    >>> record.position, record.headers
    ('logs/3@1234', (('ce_id', b'1'), ('empty', b'')))
    """
    return Record(
        value=value if value is not None else b"",
        position=f"{topic}/{partition}@{offset}",
        origin=topic,
        key=key,
        partition=partition,
        offset=offset,
        headers=tuple((name, header if header is not None else b"") for name, header in headers or ()),
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce, kept until the broker acknowledged it."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None = None


class ResendingProducer(ABC):
    """A :class:`Producer` that keeps what failed and sends it again on the next :meth:`flush`,
    so that a broker outage delays records but never drops them."""

    flush_timeout_s = 30.0
    """How long a flush without an explicit timeout waits (a broker outage must not hang the worker)."""

    def __init__(self) -> None:
        self.failed: list[Outgoing] = []

    def send(
        self,
        topic: str,
        *,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        self._send(Outgoing(topic, value, key, list(headers or []), partition))

    def flush(self, timeout_s: float | None = None) -> None:
        again, self.failed = self.failed, []
        for outgoing in again:
            self._send(outgoing)
        timeout_s = self.flush_timeout_s if timeout_s is None else timeout_s
        failures, queued = self._wait(timeout_s)
        self.failed = [outgoing for outgoing, _ in failures]
        if failures:
            raise KafkaClientError(f"{len(failures)} records not acknowledged: {failures[-1][1]}")
        if queued:
            raise KafkaClientError(f"{queued} records not acknowledged within {timeout_s} s")

    @abstractmethod
    def _send(self, outgoing: Outgoing) -> None:
        """Hand one record to the library (asynchronously)."""

    @abstractmethod
    def _wait(self, timeout_s: float | None) -> tuple[list[tuple[Outgoing, str]], int]:
        """Wait for every record handed over: the ones that failed (with why), and how many are
        still on their way (they stay with the library and count at the next flush)."""
