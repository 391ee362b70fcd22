"""Per-model state has one owner: the same events through ``replay``, one worker, and two workers over a
4-partition topic (one killed with ``kill -9`` midway) give the same alerted (client, detector) set.

The events are the simulator's (benign clients of several kinds and attackers, among them a JBDA
extraction through ``input-space-sweep``), sent to the partitions their client ids hash to. A worker
takes them a partition's backlog at a time, so its per-model state sees the clients' events in another
order than the replay does, and each of two workers sees only half of them: what the detector knows of
the model (its input scale above all) must not depend on that.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, select

from detector.commands.replay import replay
from detector.db.tables import alerts
from detector.settings import Settings
from detector.simulator import Scenario, write_scenario
from tests.services import poll_until
from tests.worker.harness import (  # noqa: F401 - fixtures
    Message,
    Store,
    Topic,
    produce,
    store,
    worker_env,
    workers,
    write_rules,
)

PARTITIONS = 4
SCENARIO = Scenario("model-state", duration_s=900.0, benign={"interactive": 6, "batch": 2, "retry": 2, "augment": 2},
                    attacks={"jbda": 1, "inversion": 1, "hopskipjump": 1}, budget_scale=0.3)  # fmt: skip
SEED = 5


@pytest.fixture
def topic(kafka_broker) -> Iterator[Topic]:
    name = f"test-{uuid.uuid4().hex}"
    kafka_broker.create_topic(name, partitions=PARTITIONS)
    kafka_broker.create_topic(f"{name}.dlq", partitions=1)
    yield Topic(kafka_broker.bootstrap, name)
    kafka_broker.delete_topic(name)
    kafka_broker.delete_topic(f"{name}.dlq")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> tuple[Path, list[Message], set[str]]:
    """The events file, its messages (each on its client's partition) and the attackers' client ids."""
    events, truth = write_scenario(SCENARIO, tmp_path_factory.mktemp("model-state"), seed=SEED)
    attackers = {t["client_id"] for t in map(orjson.loads, truth.read_bytes().splitlines()) if t["attack"]}
    messages = []
    for line in events.read_bytes().splitlines():
        client = orjson.loads(line)["client_id"]
        messages.append(Message(client.encode(), line, zlib.crc32(client.encode()) % PARTITIONS))
    return events, messages, attackers


def alerted(engine_url: str) -> set[tuple[str, str]]:
    engine = create_engine(engine_url)
    try:
        with engine.connect() as connection:
            return {(row.client_id, row.detector) for row in connection.execute(select(alerts.c.client_id, alerts.c.detector))}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def replayed(scenario, tmp_path_factory) -> set[tuple[str, str]]:
    """What a single-process replay of the events alerts, with the workers' settings."""
    events, _, attackers = scenario
    folder = tmp_path_factory.mktemp("replay")
    url = f"sqlite:///{folder / 'alerts.db'}"
    replay([str(events)], Settings(database_url=url, rules=[str(write_rules(folder))], model_warmup=1_000_000), progress=False)
    found = alerted(url)
    assert {client for client, _ in found} >= attackers, "the replay alerts every attacker"
    return found


def start(workers, name: str, topic: Topic, store: Store, tmp_path: Path):
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library="kafka-python",
                     rules=write_rules(tmp_path))  # fmt: skip
    return workers(name, env)


def test_one_worker_alerts_what_the_replay_alerts(scenario, replayed, topic, store, workers, tmp_path) -> None:
    _, messages, _ = scenario
    lone = start(workers, "lone", topic, store, tmp_path)
    lone.wait_for_metric("invdet_assigned_partitions", PARTITIONS)
    produce(topic.bootstrap, topic.name, messages)
    store.wait_checkpointed(len(messages), [lone], timeout=180)
    assert alerted(store.url) == replayed


def test_two_workers_one_killed_midway_alert_what_the_replay_alerts(scenario, replayed, topic, store, workers, tmp_path) -> None:
    _, messages, _ = scenario
    one = start(workers, "one", topic, store, tmp_path)
    one.wait_for_metric("invdet_assigned_partitions", PARTITIONS)
    two = start(workers, "two", topic, store, tmp_path)
    poll_until(lambda: one.metric("invdet_assigned_partitions") == two.metric("invdet_assigned_partitions") == PARTITIONS // 2,
               timeout=60, what="the partitions split over the two workers", interval=0.1)  # fmt: skip
    half = len(messages) // 2
    produce(topic.bootstrap, topic.name, messages[:half])
    store.wait_checkpointed(half, [one, two], timeout=180)
    one.kill()
    produce(topic.bootstrap, topic.name, messages[half:])
    two.wait_for_metric("invdet_assigned_partitions", PARTITIONS)
    store.wait_checkpointed(len(messages), [two], timeout=180)
    assert alerted(store.url) == replayed
