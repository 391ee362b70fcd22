"""The worker's Prometheus metrics, in a registry of its own (several workers may share a process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    """Every metric ``/metrics`` serves; names are prefixed ``invdet_``."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        self.events = Counter("invdet_events_consumed", "records consumed from Kafka", registry=registry)
        self.dead_letters = Counter(
            "invdet_dead_letters", "records sent to the dead-letter topic, by reason", ["reason"], registry=registry
        )
        self.alerts = Counter(
            "invdet_alerts_created", "alerts created, by detector and severity", ["detector", "severity"], registry=registry
        )
        self.lag = Gauge(
            "invdet_consumer_lag", "records behind the partition's end (from the fetch highwater)",
            ["topic", "partition"], registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "invdet_batch_processing_seconds", "time to process one polled batch", buckets=LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.tracked_clients = Gauge("invdet_tracked_clients", "(model, client) pairs held in memory", registry=registry)
        self.evictions = Counter("invdet_client_evictions", "clients dropped by the memory bounds", registry=registry)
        self.tracked_models = Gauge("invdet_tracked_models", "model ids whose state is held in memory", registry=registry)
        self.model_evictions = Counter(
            "invdet_model_evictions", "model states dropped by max_models (checkpointed first)", registry=registry
        )
        self.checkpoint_seconds = Histogram(
            "invdet_checkpoint_seconds", "time to write one checkpoint (database transaction)", buckets=LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.retries = Counter(
            "invdet_service_retries", "database or broker operations that failed and were retried, by operation",
            ["operation"], registry=registry,
        )  # fmt: skip
        self.fingerprints_published = Counter(
            "invdet_exchange_fingerprints_published", "fingerprints sent to the fingerprint topic (fingerprint exchange)",
            registry=registry,
        )  # fmt: skip
        self.matches_taken = Counter(
            "invdet_exchange_matches_taken", "inputs of this worker's clients credited with other workers' clients' "
            "matches (fingerprint exchange)", registry=registry,
        )  # fmt: skip
        self.assigned_partitions = Gauge("invdet_assigned_partitions", "partitions this worker owns", registry=registry)
        self.webhook_deliveries = Counter(
            "invdet_webhook_deliveries", "webhook POSTs accepted by the receiver", registry=registry
        )
        self.webhook_failures = Counter(
            "invdet_webhook_failures", "webhook attempts that failed, by outcome (retry or failed)", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.webhook_queue = Gauge(
            "invdet_webhook_queue_depth", "alerts waiting for webhook delivery (pending or in flight)", registry=registry
        )
