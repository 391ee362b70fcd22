"""Three workers exchange fingerprints through Kafka: a walk split over 12 keys on 8 partitions, whose
keys no one worker holds all of, gives one group alert (one group id over the members' alerts) naming
at least 90% of the keys, and no alert twice; also when one worker is killed with ``kill -9`` midway.
A lone worker with the exchange on publishes, and takes no match: its own index matched its clients;
it stops on SIGTERM as without the exchange.

As in ``test_worker_groups``, the events go out a lot at a time, each lot checkpointed before the next,
as a live model API sends them.
"""

from __future__ import annotations

import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from detector.simulator import Scenario, write_scenario
from tests.services import poll_until
from detector.exchange.wire import decode_matches
from tests.worker.harness import (  # noqa: F401 - fixtures
    Message,
    Store,
    library,
    produce,
    read_all,
    store,
    worker_env,
    workers,
    write_rules,
)

PARTITIONS = 8
WORKERS = 3
SPLIT = Scenario("exchange-split", duration_s=900.0, benign={"interactive": 4, "batch": 1}, careful={"split": 1},
                 budget_scale=0.3)  # fmt: skip
SEED = 70
"""A seed whose split attack goes over 12 keys (on 6 of the 8 partitions); a replay alerts all 12."""
DETECTOR = "rule:split-probing"
LOT = 80


@dataclass(frozen=True)
class Topics:
    bootstrap: str
    events: str
    fingerprints: str


@pytest.fixture
def topics(kafka_broker) -> Iterator[Topics]:
    """An 8-partition event topic, its dead-letter topic, and the exchange's two topics."""
    name = f"test-{uuid.uuid4().hex}"
    created = [
        kafka_broker.create_topic(name, partitions=PARTITIONS),
        kafka_broker.create_topic(f"{name}.dlq", partitions=1),
        kafka_broker.create_topic(f"{name}.fingerprints", partitions=PARTITIONS),
        kafka_broker.create_topic(f"{name}.fingerprints.matches", partitions=2),
    ]
    yield Topics(kafka_broker.bootstrap, name, f"{name}.fingerprints")
    for topic in created:
        kafka_broker.delete_topic(topic)


def partition(client_id: str) -> int:
    return zlib.crc32(client_id.encode()) % PARTITIONS


def scenario(tmp_path) -> tuple[list[Message], set[str]]:
    events, truth_path = write_scenario(SPLIT, tmp_path, seed=SEED)
    keys = {t["client_id"] for t in map(orjson.loads, truth_path.read_bytes().splitlines()) if t["attack"]}
    assert len(keys) == 12
    messages = []
    for line in events.read_bytes().splitlines():
        client = orjson.loads(line)["client_id"]
        messages.append(Message(client.encode(), line, partition(client)))
    return messages, keys


def start_workers(workers, topics: Topics, store: Store, tmp_path, count: int = WORKERS, library: str = "kafka-python") -> list:
    env = worker_env(database_url=store.url, bootstrap=topics.bootstrap, topic=topics.events, library=library,
                     rules=write_rules(tmp_path), fingerprint_topic=topics.fingerprints)  # fmt: skip
    started = [workers(f"worker-{i}", env) for i in range(count)]
    poll_until(lambda: sum(w.metric("invdet_assigned_partitions") or 0 for w in started) == PARTITIONS,
               timeout=60, what=f"the 8 partitions assigned over {count} workers", interval=0.1)  # fmt: skip
    assert all(w.metric("invdet_assigned_partitions") for w in started), "every worker owns partitions"
    return started


def send_in_lots(messages: list[Message], topics: Topics, store: Store, running: list, kill_midway: bool = False) -> None:
    """Send a lot, wait until it is checkpointed, and so on; with ``kill_midway``, kill -9 the first worker
    once half of the events are sent."""
    sent = 0
    for start in range(0, len(messages), LOT):
        if kill_midway and start >= len(messages) // 2:
            running[0].kill()
            running, kill_midway = running[1:], False
        sent += produce(topics.bootstrap, topics.events, messages[start : start + LOT])
        store.wait_checkpointed(sent, running)


def group_named(store: Store, keys: set[str]) -> set[str] | None:
    """The keys the group alerts name, once they name at least 90% of the keys."""
    rows = [row for row in store.alerts() if row.detector == DETECTOR]
    named = {row.client_id for row in rows}.union(*(row.related_clients or () for row in rows))
    return named if len(named & keys) >= 0.9 * len(keys) else None


def check_one_group(store: Store, keys: set[str]) -> None:
    rows = store.alerts()
    doubled = [key for key, n in Counter((r.client_id, r.model_id, r.detector) for r in rows).items() if n > 1]
    assert doubled == [], "one alert per (client, model, detector)"
    grouped = [row for row in rows if row.detector == DETECTOR]
    assert {row.client_id for row in grouped} <= keys, "only the attack's keys are alerted as a group"
    assert len({row.group_id for row in grouped}) == 1, "one group: every member's alert carries its one id"
    named = {row.client_id for row in grouped}.union(*(row.related_clients for row in grouped))
    assert named <= keys and len(named) >= 0.9 * len(keys)


def test_three_workers_name_a_split_attack_as_one_group(library, topics, store, workers, tmp_path) -> None:
    messages, keys = scenario(tmp_path)
    send_in_lots(messages, topics, store, start_workers(workers, topics, store, tmp_path, library=library))
    poll_until(lambda: group_named(store, keys), timeout=60, what="a group alert naming 90% of the keys", interval=0.2)
    check_one_group(store, keys)


def test_the_group_alert_comes_once_when_a_worker_is_killed_midway(topics, store, workers, tmp_path) -> None:
    messages, keys = scenario(tmp_path)
    send_in_lots(messages, topics, store, start_workers(workers, topics, store, tmp_path), kill_midway=True)
    poll_until(lambda: group_named(store, keys), timeout=60, what="a group alert naming 90% of the keys", interval=0.2)
    check_one_group(store, keys)


def test_a_lone_worker_takes_no_match_of_its_own_clients(topics, store, workers, tmp_path) -> None:
    messages, keys = scenario(tmp_path)
    (lone,) = start_workers(workers, topics, store, tmp_path, count=1)
    send_in_lots(messages, topics, store, [lone])
    assert lone.metric("invdet_exchange_fingerprints_published_total") >= 4 * len(messages) / 2
    poll_until(lambda: group_named(store, keys), timeout=60, what="the lone worker's group alert", interval=0.2)
    broadcast = read_all(topics.bootstrap, f"{topics.fingerprints}.matches", 1, partitions=2)
    assert {m.client_id for r in broadcast for m in decode_matches(r.value)} & keys, "the owner matched the keys"
    assert lone.metric("invdet_exchange_matches_taken_total") == 0, "every partner is its own client"
    status, seconds = lone.terminate()
    assert status == 0 and seconds < 15, "SIGTERM stops the exchange's thread too, within the shutdown timeout"
