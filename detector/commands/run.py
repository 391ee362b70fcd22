"""``inversion-detector run``: the long-lived worker on a Kafka topic.

Wires the worker (:mod:`detector.worker.worker`), its health and metrics port,
the webhook dispatcher thread and the signal handling, from the settings.
"""

from __future__ import annotations

import logging

from detector.assembly import load_rules_and_calibration, open_store
from detector.kafka import KafkaClientError, open_producer
from detector.settings import ConfigError, Settings
from detector.worker.health import start_health_server
from detector.worker.json_logs import configure_logging
from detector.worker.metrics import WorkerMetrics
from detector.worker.shutdown import Shutdown
from detector.worker.worker import Worker

log = logging.getLogger("detector.run")


def run_worker(settings: Settings) -> int:
    """Consume until SIGTERM/SIGINT, then finish the batch, checkpoint and leave the group."""
    configure_logging(settings.log_format, settings.log_level)
    ruleset, calibration = load_rules_and_calibration(settings)
    engine, _ = open_store(settings)
    metrics = WorkerMetrics()
    shutdown = Shutdown(settings.shutdown_timeout_s)
    shutdown.install()
    try:
        producer = open_producer(settings.kafka_client, settings.kafka_bootstrap_servers)
    except ImportError as exc:  # the confluent extra is not installed
        raise ConfigError([f"setting kafka_client: {exc}"]) from None
    except KafkaClientError as exc:
        raise ConfigError([f"setting kafka_bootstrap_servers: {exc}"]) from None
    if settings.fingerprint_topic is not None:
        try:
            for topic in (settings.fingerprint_topic, settings.fingerprint_matches_topic):
                producer.partitions(topic)
        except KafkaClientError as exc:
            raise ConfigError([f"setting fingerprint_topic: {exc}; create {settings.fingerprint_topic} and "
                               f"{settings.fingerprint_matches_topic} first"]) from None  # fmt: skip
    worker = Worker(settings, ruleset, engine, producer, metrics=metrics, shutdown=shutdown, calibration=calibration)
    health = start_health_server(settings.metrics_port, metrics.registry, worker.readiness)
    dispatcher = None
    if settings.webhook_url is not None and settings.webhook_in_worker:
        from detector.webhook.dispatcher import DispatcherThread

        dispatcher = DispatcherThread.start(settings, metrics)
    log.info("worker starting", extra={"settings": settings.masked()})
    try:
        return worker.run()
    finally:
        if dispatcher is not None:
            dispatcher.stop(timeout_s=min(max(shutdown.remaining() - 1.0, 1.0), settings.webhook_timeout_s + 2.0))
        if health is not None:
            health.close()
        engine.dispose()
        shutdown.cancel_watchdog()
