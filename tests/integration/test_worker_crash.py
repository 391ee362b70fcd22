"""A worker killed with ``kill -9`` mid-stream and started again: nothing lost, nothing doubled,
and an attack that straddles the crash is detected from the restored state."""

from __future__ import annotations

from collections import Counter

from tests.worker.harness import (  # noqa: F401 - fixtures
    PROBE_DETECTOR,
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


def test_kill_and_restart_alerts_every_attacker_exactly_once(library, topic, store, workers, tmp_path) -> None:
    straddler, early, crashed, late = (attacker(name, p) for p, name in enumerate(("straddler", "early", "crashed", "late")))
    people = [benign(f"person-{i}", i % 4) for i in range(8)]
    rules = write_rules(tmp_path)

    phase1 = straddler.events(50, probe=True) + early.events(130, probe=True)
    phase1 += [m for p in people for m in p.events(10, probe=False)]
    # Checkpoint exactly once, when all of phase 1 is processed; nothing after it until the crash.
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library, rules=rules,
                     checkpoint_every_events=len(phase1), checkpoint_every_s=3600)  # fmt: skip
    first = workers("first", env)
    produce(topic.bootstrap, topic.name, phase1)
    store.wait_checkpointed(len(phase1), [first])

    phase2 = straddler.events(50, probe=True) + crashed.events(130, probe=True)
    phase2 += [m for p in people for m in p.events(5, probe=False)]
    produce(topic.bootstrap, topic.name, phase2)
    first.wait_for_metric("invdet_events_consumed_total", len(phase1) + len(phase2))
    first.kill()
    assert store.checkpointed() == len(phase1), "phase 2 must have been processed but not checkpointed"
    assert not store.alerts() or "crashed" not in probe_alerted(store.alerts())

    phase3 = straddler.events(40, probe=True) + early.events(10, probe=True) + late.events(130, probe=True)
    phase3 += [m for p in people for m in p.events(5, probe=False)]
    produce(topic.bootstrap, topic.name, phase3)
    second = workers("second", worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name,
                                          library=library, rules=rules))  # fmt: skip
    store.wait_checkpointed(len(phase1) + len(phase2) + len(phase3), [second])

    rows = store.alerts()
    keys = alert_keys(rows)
    assert [key for key, n in Counter(keys).items() if n > 1] == [], "one alert per (client, model, detector)"
    assert probe_alerted(rows) == {"straddler", "early", "crashed", "late"}
    probe = {row.client_id: row for row in rows if row.detector == PROBE_DETECTOR}
    # The straddler reached 120 queries only with the 50 from before the crash: its state was restored.
    assert probe["straddler"].trigger_event_id == "straddler-119"
    # "early" was alerted before the crash and hit again after it: updated, not raised again, and its
    # query count continued from the checkpoint (hits at 120, 124, 128, then 132, 136, 140).
    assert probe["early"].hit_count == 6
    assert second.metric("invdet_consumer_lag") == 0
    resumed = [line for line in second.log_lines() if line.get("msg") == "partitions assigned"]
    assert resumed and sum(offset for offset in resumed[0]["partitions"].values()) == len(phase1)
