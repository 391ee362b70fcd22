"""A lone worker over four partitions: the keys of a walk split over many of them, alerted from whichever
partition holds each key, share one group id, and the group's alerts name at least 90% of the keys.
(Which keys alert, and which keys each alert names, depends on the order in which the worker takes the
partitions' events, so they are not compared with a replay's: the same alerts and members in any
interleaving is the cross-worker fingerprint exchange's job, not the alert contract's.)

The events are sent in the file's order a few at a time, each lot consumed before the next is sent, as a
live model API sends them: a backlog fetched partition by partition would put the partitions minutes of
event time apart, beyond the cross-client index's two minutes, and a lone worker would then miss matches
that a replay finds (which cross-worker exchange of fingerprints has to address, not the alert contract).
"""

from __future__ import annotations

import zlib

import orjson

from detector.simulator import Scenario, write_scenario
from tests.worker.harness import (  # noqa: F401 - fixtures
    Message,
    produce,
    store,
    topic,
    worker_env,
    workers,
    write_rules,
)

PARTITIONS = 4
SPLIT = Scenario("worker-split", duration_s=900.0, benign={"interactive": 4, "batch": 1}, careful={"split": 1},
                 budget_scale=0.3)  # fmt: skip
DETECTOR = "rule:split-probing"
LOT = 80
"""Events sent before waiting for them to be checkpointed: about a minute of this scenario's event time."""


def partition(client_id: str) -> int:
    """The partition a client's events go to (any stable hash of the key, as a producer's partitioner)."""
    return zlib.crc32(client_id.encode()) % PARTITIONS


def test_a_lone_worker_names_a_split_attack_across_its_partitions_as_one_group(topic, store, workers, tmp_path) -> None:
    events, truth_path = write_scenario(SPLIT, tmp_path, seed=12)
    keys = {t["client_id"] for t in map(orjson.loads, truth_path.read_bytes().splitlines()) if t["attack"]}
    assert len({partition(key) for key in keys}) > 1, "the split keys must land on several partitions"
    messages = []
    for line in events.read_bytes().splitlines():
        client = orjson.loads(line)["client_id"]
        messages.append(Message(client.encode(), line, partition(client)))
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library="kafka-python",
                     rules=write_rules(tmp_path))  # fmt: skip
    worker = workers("lone", env)
    worker.wait_for_metric("invdet_assigned_partitions", PARTITIONS)
    sent = 0
    for start in range(0, len(messages), LOT):
        sent += produce(topic.bootstrap, topic.name, messages[start : start + LOT])
        store.wait_checkpointed(sent, [worker])
    consumed = [row for row in store.alerts() if row.detector == DETECTOR]

    grouped = {row.client_id for row in consumed}
    assert len(grouped) >= len(keys) / 2 and grouped <= keys
    assert len({partition(c) for c in grouped}) > 1, "members alerted from more than one partition"
    assert len({row.group_id for row in consumed}) == 1, "every member's alert carries the group's one id"
    named = set().union(*(row.related_clients for row in consumed)) | grouped
    assert len(named) >= 0.9 * len(keys) and named <= keys
