"""Two workers in one group split the partitions; when one is killed the other takes its
partitions over with their checkpointed state, and no alert is lost or doubled."""

from __future__ import annotations

from collections import Counter

from tests.worker.harness import (  # noqa: F401 - fixtures
    alert_keys,
    attacker,
    benign,
    library,
    probe_alerted,
    produce,
    store,
    topic,
    worker_env,
    workers,
    write_rules,
)

PARTITIONS = 4


def test_second_worker_takes_over_a_killed_workers_partitions_with_their_state(
    library, topic, store, workers, tmp_path
) -> None:
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library,
                     rules=write_rules(tmp_path))  # fmt: skip
    one = workers("one", env)
    one.wait_for_metric("invdet_assigned_partitions", PARTITIONS)
    two = workers("two", env)
    two.wait_for_metric("invdet_assigned_partitions", PARTITIONS // 2)
    one.wait_for_metric("invdet_assigned_partitions", PARTITIONS // 2)
    assert one.metric("invdet_assigned_partitions") == two.metric("invdet_assigned_partitions") == PARTITIONS // 2

    # One attacker per partition, each sending its queries across the takeover: none reaches the
    # probe threshold (120) without the state checkpointed before it.
    attackers = [attacker(f"attacker-{p}", p) for p in range(PARTITIONS)]
    people = [benign(f"person-{i}", i % PARTITIONS) for i in range(8)]
    before = [m for a in attackers for m in a.events(70, probe=True)] + [m for p in people for m in p.events(10, probe=False)]
    produce(topic.bootstrap, topic.name, before)
    store.wait_checkpointed(len(before), [one, two])
    assert one.metric("invdet_events_consumed_total") > 0 and two.metric("invdet_events_consumed_total") > 0

    one.kill()
    after = [m for a in attackers for m in a.events(60, probe=True)] + [m for p in people for m in p.events(5, probe=False)]
    produce(topic.bootstrap, topic.name, after)
    two.wait_for_metric("invdet_assigned_partitions", PARTITIONS)
    store.wait_checkpointed(len(before) + len(after), [two])

    rows = store.alerts()
    assert [key for key, n in Counter(alert_keys(rows)).items() if n > 1] == []
    assert probe_alerted(rows) == {a.client_id for a in attackers}
