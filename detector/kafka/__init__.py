"""Kafka behind one small interface (:mod:`detector.kafka.client`); the library is chosen by a setting."""

from __future__ import annotations

from detector.kafka.client import (
    Consumer,
    ConsumerConfig,
    KafkaClientError,
    Producer,
    RebalanceListener,
    TopicPartition,
)

LIBRARIES = ("kafka-python", "confluent")

__all__ = [
    "LIBRARIES",
    "Consumer",
    "ConsumerConfig",
    "KafkaClientError",
    "Producer",
    "RebalanceListener",
    "TopicPartition",
    "open_consumer",
    "open_producer",
]


def open_consumer(library: str, config: ConsumerConfig, listener: RebalanceListener) -> Consumer:
    """A subscribed consumer-group member of ``library`` (``kafka-python`` or ``confluent``)."""
    if library == "confluent":
        from detector.kafka.confluent_client import ConfluentConsumer

        return ConfluentConsumer(config, listener)
    if library == "kafka-python":
        from detector.kafka.kafka_python_client import KafkaPythonConsumer

        return KafkaPythonConsumer(config, listener)
    raise ValueError(f"unknown Kafka client library {library!r}: use one of {', '.join(LIBRARIES)}")


def open_producer(library: str, bootstrap_servers: str) -> Producer:
    """A producer of ``library`` that waits for all in-sync replicas (``acks=all``)."""
    if library == "confluent":
        from detector.kafka.confluent_client import ConfluentProducer

        return ConfluentProducer(bootstrap_servers)
    if library == "kafka-python":
        from detector.kafka.kafka_python_client import KafkaPythonProducer

        return KafkaPythonProducer(bootstrap_servers)
    raise ValueError(f"unknown Kafka client library {library!r}: use one of {', '.join(LIBRARIES)}")
