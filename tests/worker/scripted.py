"""A worker without a broker: a scripted consumer the test feeds and assigns, no producer, SQLite."""

from __future__ import annotations

from pathlib import Path

from detector.assembly import load_ruleset
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.kafka.client import kafka_record
from detector.settings import Settings
from detector.worker.metrics import WorkerMetrics
from detector.worker.shutdown import Shutdown
from detector.worker.worker import Worker
from tests.worker.harness import write_rules

TOPIC = "logs"
TP = (TOPIC, 0)


class ScriptedConsumer:
    """Hands out queued records and records commits; assignment is driven by the test."""

    def __init__(self, listener: Worker) -> None:
        self.listener = listener
        self.queue: list = []
        self.committed: dict = {}
        self.fed = 0

    def feed(self, messages) -> None:
        """Queue messages at the offsets after those fed before (whether consumed yet or not)."""
        for message in messages:
            self.queue.append(kafka_record(TOPIC, 0, self.fed, message.key, message.value))
            self.fed += 1

    def poll(self, max_records: int, timeout_s: float) -> list:
        batch, self.queue = self.queue[:max_records], self.queue[max_records:]
        return batch

    def commit(self, offsets) -> None:
        self.committed.update(offsets)

    def highwater(self, partition) -> int | None:
        return None

    def close(self) -> None:
        self.listener.revoked([TP])


class NoProducer:
    def send(self, topic, *, value, key=None, headers=None) -> None:
        raise AssertionError("no dead letters expected")

    def flush(self, timeout_s=None) -> None:
        pass

    def close(self) -> None:
        pass


def scripted_settings(tmp_path: Path) -> Settings:
    """Settings over a fresh SQLite database under ``tmp_path`` and the harness's probe rule there
    (``probe.yaml``), with an anomaly model that never warms up."""
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    ensure_schema(make_engine(url))
    return Settings(database_url=url, kafka_topic=TOPIC, rules=[str(write_rules(tmp_path))], model_warmup=10**6)


def worker(settings: Settings) -> tuple[Worker, ScriptedConsumer]:
    engine = make_engine(settings.database_url)
    made = Worker(settings, load_ruleset(settings), engine, NoProducer(), metrics=WorkerMetrics(), shutdown=Shutdown(5.0))
    made.consumer = ScriptedConsumer(made)
    return made, made.consumer


def run_batches(made: Worker, consumer: ScriptedConsumer) -> None:
    while consumer.queue:
        made.process(consumer.poll(100, 0.0))
