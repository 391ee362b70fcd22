"""The exchange's own thread in each worker: own fingerprint buckets, match them, and hear every match.

Two consumers beside the worker's: one in the group ``<group>.fingerprints`` on the fingerprint topic
(Kafka splits its partitions between the workers, independently of the events' partitions), whose
records go through the :class:`~detector.exchange.bucket_owner.BucketOwner`, the matches it finds
broadcast on the matches topic; and one alone in a group of its own on the matches topic, from its
start, handing every match to the worker (which takes those of the clients it holds). Its position on
the fingerprint topic is committed as the resume point (the oldest record still within the TTL), so a
new owner, after a rebalance or a crash, reads the live part of the partition again and rebuilds the
buckets; the matches found again are recognised by the workers (:mod:`~detector.exchange.exchange`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from detector.exchange.bucket_owner import BucketOwner, ResumePoints
from detector.exchange.wire import Match, WireError, decode_fingerprints, decode_matches, encode_matches
from detector.kafka import Consumer, ConsumerConfig, KafkaClientError, Producer, TopicPartition, open_consumer, open_producer
from detector.settings import Settings

log = logging.getLogger(__name__)

POLL_S = 0.05
"""Longest each of the two consumers waits in one round: a match is heard within about two rounds
plus the broker's fetch wait."""
COMMIT_EVERY_S = 1.0
MATCHES_PER_RECORD = 1000
"""At most this many matches a record (about 80 kB)."""
FAILURE_PAUSE_S = 1.0


class _StartAnywhere:
    """Rebalance listener that starts every partition at the group's committed offset, else the earliest."""

    def __init__(self, on_gone: Callable[[Sequence[TopicPartition]], None] = lambda partitions: None) -> None:
        self.on_gone = on_gone

    def assigned(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        return {}

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self.on_gone(partitions)

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        self.on_gone(partitions)


class OwnerLoop(threading.Thread):
    """Runs until :meth:`stop`; ``deliver`` gets each polled lot of matches (on this thread)."""

    def __init__(self, settings: Settings, deliver: Callable[[list[Match]], None], ttl_s: float, max_keys: int) -> None:
        super().__init__(name="fingerprint-exchange", daemon=True)
        assert settings.fingerprint_topic is not None and settings.fingerprint_matches_topic is not None
        self.settings = settings
        self.deliver = deliver
        self.topic = settings.fingerprint_topic
        self.matches_topic = settings.fingerprint_matches_topic
        self.owner = BucketOwner(max_keys, ttl_s, settings.max_models)
        self.points = ResumePoints(ttl_s)
        self.stopping = threading.Event()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout_s)

    def _config(self, group_id: str, topic: str) -> ConsumerConfig:
        s = self.settings
        return ConsumerConfig(s.kafka_bootstrap_servers, group_id, (topic,), session_timeout_ms=s.kafka_session_timeout_ms,
                              fetch_max_wait_ms=s.kafka_fetch_max_wait_ms)  # fmt: skip

    def run(self) -> None:
        s = self.settings
        try:
            owned = open_consumer(s.kafka_client, self._config(f"{s.kafka_group_id}.fingerprints", self.topic),
                                  _StartAnywhere(self.points.forget))  # fmt: skip
            heard = open_consumer(s.kafka_client, self._config(f"{s.kafka_group_id}.matches.{uuid.uuid4().hex}",
                                                               self.matches_topic), _StartAnywhere())  # fmt: skip
            producer = open_producer(s.kafka_client, s.kafka_bootstrap_servers)
        except KafkaClientError as exc:
            log.error("fingerprint exchange not started: %s", exc)
            return
        committed = time.monotonic()
        try:
            while not self.stopping.is_set():
                try:
                    self._own(owned, producer)
                    self._hear(heard)
                    if time.monotonic() - committed >= COMMIT_EVERY_S:
                        committed = time.monotonic()
                        offsets = self.points.offsets()
                        if offsets:
                            owned.commit(offsets)
                except Exception as exc:  # a broker hiccup, or a client library's own error: go on after a pause
                    log.warning("fingerprint exchange: %s: %s; going on", type(exc).__name__, exc)
                    self.stopping.wait(FAILURE_PAUSE_S)
        finally:
            for closing in (owned.close, heard.close, producer.close):
                try:
                    closing()
                except Exception as exc:  # closing is best effort: the process is stopping
                    log.warning("fingerprint exchange: closing: %s", exc)

    def _own(self, consumer: Consumer, producer: Producer) -> None:
        matches = []
        for record in consumer.poll(self.settings.batch_size, POLL_S):
            try:
                prints = decode_fingerprints(record.value)
            except WireError as exc:
                log.warning("fingerprint exchange: %s at %s; skipped", exc, record.position)
                continue
            matches += self.owner.match(prints)
            if prints:
                self.points.seen(record.origin, record.partition, record.offset, max(p.ts for p in prints))
        if matches:
            for start in range(0, len(matches), MATCHES_PER_RECORD):
                producer.send(self.matches_topic, value=encode_matches(matches[start : start + MATCHES_PER_RECORD]))
            producer.flush()

    def _hear(self, consumer: Consumer) -> None:
        heard = []
        for record in consumer.poll(self.settings.batch_size, POLL_S):
            try:
                heard += decode_matches(record.value)
            except WireError as exc:
                log.warning("fingerprint exchange: %s at %s; skipped", exc, record.position)
        if heard:
            self.deliver(heard)
