"""Drive real workers for the fault tests: crafted traffic, worker subprocesses, the database, a webhook receiver.

Workers run as ``python -m detector run`` with ``INVDET_*`` settings, exactly
as users start them, so a ``kill -9`` is a real crash. Every wait polls with a
deadline (``tests.services.poll_until``); nothing sleeps to synchronise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, func, select

from detector.alert import Alert
from detector.db.tables import alerts, consumer_offsets, webhook_outbox
from detector.decide import AlertChange
from detector.kafka.client import MAX_PRODUCE_BYTES
from detector.sinks.alert_sink import AlertSink
from tests.services import poll_until
from tests.services.launch import free_loopback_port

MODEL = "digits:1"
DIM = 8
T0 = 1_790_000_000.0
"""Event time of the first event: in the past, as a worker admits no event dated past its host's clock."""
PROBE_RULE_ID = "test-probe-count"
PROBE_DETECTOR = f"rule:{PROBE_RULE_ID}"
PROBE_THRESHOLD = 120
PROBE_RULE = f"""\
rules:
  - id: {PROBE_RULE_ID}
    description: at least {PROBE_THRESHOLD} queries from one client (the test's ground truth)
    condition: events_total >= {PROBE_THRESHOLD}
    severity: high
    tags: [test]
    min_events: {PROBE_THRESHOLD}
    suppress_for: 1h
"""
"""A rule that fires exactly when a client's state holds ``PROBE_THRESHOLD`` events: an attack that
straddles a crash is detected only if the state from before the crash was restored."""

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes
    partition: int
    headers: tuple[tuple[str, bytes], ...] = ()


def event(client: str, number: int, ts: float, x: Iterable[float]) -> bytes:
    return orjson.dumps(
        {"event_id": f"{client}-{number}", "ts": ts, "client_id": client, "model_id": MODEL,
         "input": [float(v) for v in x], "output": {"scores": [0.3, 0.7]}}
    )  # fmt: skip


@dataclass
class Client:
    """A client with its own partition and event numbering, so traffic can be sent in phases."""

    client_id: str
    partition: int
    step_s: float
    sent: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def events(self, count: int, *, probe: bool) -> list[Message]:
        """``count`` more events: tiny perturbations of one point (a probe) or unrelated inputs."""
        messages = []
        centre = np.linspace(0.0, 1.0, DIM)
        for _ in range(count):
            x = centre + self.rng.normal(0, 1e-3, DIM) if probe else self.rng.uniform(0, 1, DIM)
            value = event(self.client_id, self.sent, T0 + self.sent * self.step_s, x)
            messages.append(Message(self.client_id.encode(), value, self.partition))
            self.sent += 1
        return messages


def attacker(name: str, partition: int) -> Client:
    return Client(name, partition, step_s=0.05, rng=np.random.default_rng(abs(hash(name)) % 2**32))


def benign(name: str, partition: int) -> Client:
    return Client(name, partition, step_s=7.0, rng=np.random.default_rng(abs(hash(name)) % 2**32))


def produce(bootstrap: str, topic: str, messages: Iterable[Message]) -> int:
    """Send to the given partitions and wait for the broker's acknowledgement; how many were sent."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=MAX_PRODUCE_BYTES)
    count = 0
    try:
        for message in messages:
            producer.send(topic, value=message.value, key=message.key, partition=message.partition,
                          headers=list(message.headers))  # fmt: skip
            count += 1
        producer.flush(30)
    finally:
        producer.close()
    return count


def read_all(bootstrap: str, topic: str, count: int, partitions: int = 1) -> list:
    """At least ``count`` records of ``topic`` (its first ``partitions`` partitions), from the beginning."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100)  # fmt: skip
    consumer.assign([TopicPartition(topic, partition) for partition in range(partitions)])
    consumer.seek_to_beginning()
    got: list = []
    try:
        poll_until(lambda: got.extend(r for rs in consumer.poll(200).values() for r in rs) or len(got) >= count,
                   timeout=30, what=f"{count} records on {topic}")  # fmt: skip
    finally:
        consumer.close()
    return got


def write_rules(folder: Path) -> Path:
    path = folder / "probe.yaml"
    path.write_text(PROBE_RULE)
    return path


class Worker:
    """One ``inversion-detector run`` process with its log and its metrics port."""

    def __init__(self, folder: Path, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_loopback_port()
        self.env = {**env, "INVDET_METRICS_PORT": str(self.port)}
        self.log_path = folder / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "detector", "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                cwd=ROOT,
            )  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """``kill -9``: no checkpoint, no goodbye to the group."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM; the exit status and how long the exit took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout)
        return status, time.monotonic() - started

    def stop(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                lines.append(orjson.loads(line))
        return lines

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2.0)
        except httpx.HTTPError:
            return None

    def metric(self, name: str, **labels: str) -> float | None:
        """The current value of a sample (None while the port is not up)."""
        response = self.get("/metrics")
        if response is None:
            return None
        total = None
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total = (total or 0.0) + sample.value
        return total

    def wait_for_metric(self, name: str, at_least: float, timeout: float = 60.0, **labels: str) -> float:
        def reached() -> float | None:
            if not self.alive:
                raise AssertionError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            value = self.metric(name, **labels)
            return value if value is not None and value >= at_least else None

        return poll_until(reached, timeout=timeout, what=f"{self.name}: {name} >= {at_least}", interval=0.05)


def worker_env(
    *,
    database_url: str,
    bootstrap: str,
    topic: str,
    library: str,
    rules: Path,
    **settings: object,
) -> dict[str, str]:
    """Environment of a worker: test-friendly Kafka timings, JSON logs, the probe rule, and ``settings``.

    The consumer group is named after the topic, so no test waits for the members another left behind.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "INVDET_DATABASE_URL": database_url,
        "INVDET_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "INVDET_KAFKA_TOPIC": topic,
        "INVDET_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
        "INVDET_KAFKA_GROUP_ID": f"{topic}-detectors",
        "INVDET_KAFKA_CLIENT": library,
        "INVDET_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "INVDET_KAFKA_FETCH_MAX_WAIT_MS": "100",
        "INVDET_KAFKA_POLL_TIMEOUT_MS": "200",
        "INVDET_RULES": str(rules),
        "INVDET_MODEL_WARMUP": "1000000",
        "INVDET_LOG_FORMAT": "json",
        "INVDET_CHECKPOINT_EVERY_S": "0.5",
        "INVDET_SHUTDOWN_TIMEOUT_S": "15",
        "INVDET_DB_RETRY_MAX_S": "1",
    }
    env.update({f"INVDET_{name.upper()}": str(value) for name, value in settings.items()})
    return env


class Store:
    """What the workers wrote, read straight from the database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def checkpointed(self) -> int:
        """Records covered by the checkpoints (the database and the topic are the test's own: offsets start at 0)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(select(func.coalesce(func.sum(consumer_offsets.c.next_offset), 0))).scalar_one()
        except Exception:  # the schema may not exist yet, or the database is down
            return -1

    def wait_checkpointed(self, count: int, workers: Iterable[Worker] = (), timeout: float = 60.0) -> None:
        workers = list(workers)

        def done() -> bool:
            for worker in workers:
                if not worker.alive:
                    raise AssertionError(f"worker {worker.name} exited:\n{worker.log()[-4000:]}")
            return self.checkpointed() == count

        poll_until(done, timeout=timeout, what=f"{count} records checkpointed", interval=0.05)

    def alerts(self) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(select(alerts)))

    def outbox(self) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(select(webhook_outbox)))


def queue_alerts(engine: Engine, count: int = 1) -> list[str]:
    """``count`` new alerts (clients ``key_0``, ``key_1``, ...) each with a pending webhook delivery; their ids."""
    changes = [
        AlertChange(
            Alert(severity="high", detector="rule:x", client_id=f"key_{i}", model_id="m", score=0.8, summary="s",
                  trigger_event_id=f"e{i}", window_start_ts=0.0, window_end_ts=1.0),
            1, 1.0, 3600.0,
        )
        for i in range(count)
    ]  # fmt: skip
    sink = AlertSink(engine, webhook_enabled=True)
    sink.add(changes)
    sink.flush()
    return [change.alert.alert_id for change in changes]


def alert_keys(rows: Iterable) -> list[tuple[str, str, str]]:
    return sorted((row.client_id, row.model_id, row.detector) for row in rows)


def probe_alerted(rows: Iterable) -> set[str]:
    return {row.client_id for row in rows if row.detector == PROBE_DETECTOR}


@dataclass
class Received:
    alert_id: str
    body: bytes
    signature: str | None
    status: int
    received_at: float = field(default_factory=time.time)
    """Wall-clock time the request arrived (the latency benchmark's end point)."""
    headers: dict[str, str] = field(default_factory=dict)


class WebhookReceiver:
    """A real HTTP receiver on loopback that answers as scripted and records every request.

    ``listening`` False means connections are refused (nothing listens on the port).
    """

    def __init__(self) -> None:
        self.port = free_loopback_port()
        self.status = 200
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T0123/secret-token"

    def listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.status
                    alert_id = orjson.loads(body).get("alert_id", "")
                    receiver.requests.append(Received(alert_id, body, self.headers.get("X-Signature-256"), status,
                                                      headers=dict(self.headers)))  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def answered(self, status: int) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.status == status)


# -- fixtures (imported by the integration tests that use them) ------------------------------

CLIENT_LIBRARIES = ("kafka-python", "confluent")


@dataclass(frozen=True)
class Topic:
    bootstrap: str
    name: str

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


@pytest.fixture(params=CLIENT_LIBRARIES)
def library(request: pytest.FixtureRequest) -> str:
    """Every fault test runs once per Kafka client library."""
    return request.param


@pytest.fixture
def topic(kafka_broker, kafka_topic: str) -> Iterator[Topic]:
    """The test's fresh 4-partition topic and its dead-letter topic."""
    dlq = kafka_broker.create_topic(f"{kafka_topic}.dlq", partitions=1)
    yield Topic(kafka_broker.bootstrap, kafka_topic)
    kafka_broker.delete_topic(dlq)


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store(postgres_url)
    yield opened
    opened.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers by name with a settings environment; any still running at the end are killed."""
    started: list[Worker] = []

    def start(name: str, env: dict[str, str]) -> Worker:
        worker = Worker(tmp_path, name, env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
