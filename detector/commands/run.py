"""``inversion-detector run``: the long-lived worker on a Kafka topic."""

from __future__ import annotations

import logging
import signal
import sys
from typing import TextIO

from kafka import KafkaProducer

from detector.assembly import assemble
from detector.commands.replay import print_summary
from detector.parse import Parser
from detector.runner import run_stream
from detector.settings import Settings
from detector.sinks.dead_letter import KafkaDeadLetterSink
from detector.sources.kafka_source import KafkaSource

log = logging.getLogger("detector.run")


def run_worker(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Consume until SIGTERM/SIGINT, then finish the batch, commit and leave the group."""
    parts = assemble(settings)
    source = KafkaSource(settings.kafka_bootstrap_servers, [settings.kafka_topic], settings.kafka_group_id)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks="all")

    def stop(signum, _frame) -> None:
        log.info("signal %s: finishing the batch, then stopping", signum)
        source.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("consuming %s as group %s", settings.kafka_topic, settings.kafka_group_id)
    try:
        summary = run_stream(
            source, Parser(), parts.pipeline, parts.alert_sink, KafkaDeadLetterSink(producer, settings.kafka_dlq_topic)
        )
    finally:
        source.close()
        producer.close()
        parts.engine.dispose()
    print_summary(summary, [f"topic {settings.kafka_dlq_topic}"], out)
    return 0
