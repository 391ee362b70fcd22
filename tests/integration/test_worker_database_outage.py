"""PostgreSQL stops mid-stream and starts again: the worker stops checkpointing, retries with
backoff, stays alive and not ready, then resumes; nothing is lost or doubled."""

from __future__ import annotations

import signal
from collections import Counter

from tests.services import poll_until
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


def readiness(worker) -> int | None:
    response = worker.get("/readyz")
    return None if response is None else response.status_code


def test_worker_waits_out_a_database_restart(library, topic, store, workers, postgres_server, tmp_path) -> None:
    attackers = [attacker(f"attacker-{p}", p) for p in range(4)]
    people = [benign(f"person-{i}", i % 4) for i in range(8)]
    before = [m for a in attackers for m in a.events(80, probe=True)] + [m for p in people for m in p.events(10, probe=False)]
    # Checkpoints by count only: one when `before` is done, the next once `during` and `outage` are in.
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library,
                     rules=write_rules(tmp_path), checkpoint_every_events=len(before), checkpoint_every_s=3600)  # fmt: skip
    worker = workers("worker", env)
    produce(topic.bootstrap, topic.name, before)
    store.wait_checkpointed(len(before), [worker])
    poll_until(lambda: readiness(worker) == 200, timeout=10, what="ready")

    # The attackers cross the probe threshold: new alerts wait in memory for the next checkpoint.
    during = [m for a in attackers for m in a.events(50, probe=True)] + [m for p in people for m in p.events(5, probe=False)]
    produce(topic.bootstrap, topic.name, during)
    worker.wait_for_metric("invdet_events_consumed_total", len(before) + len(during))

    postgres_server.stop()
    try:
        outage = [m for p in people for m in p.events(25, probe=False)]
        produce(topic.bootstrap, topic.name, outage)
        worker.wait_for_metric("invdet_service_retries_total", 2, operation="checkpoint")
        poll_until(lambda: readiness(worker) == 503, timeout=10, what="not ready")
        assert worker.alive and store.checkpointed() == -1
    finally:
        postgres_server.start()

    poll_until(lambda: store.checkpointed() >= len(before) + len(during), timeout=30, what="the retried checkpoint")
    poll_until(lambda: readiness(worker) == 200, timeout=10, what="ready again")
    status, _ = worker.terminate()
    assert status == 0
    assert store.checkpointed() == len(before) + len(during) + len(outage)

    rows = store.alerts()
    assert [key for key, n in Counter(alert_keys(rows)).items() if n > 1] == []
    assert probe_alerted(rows) == {a.client_id for a in attackers}
    assert any(line.get("msg", "").startswith("checkpoint failed, retrying") for line in worker.log_lines())


def test_a_second_signal_cuts_a_stuck_stop_short_and_a_restart_loses_nothing(
    topic, store, workers, postgres_server, tmp_path
) -> None:
    rules = write_rules(tmp_path)
    settings = dict(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library="kafka-python",
                    rules=rules)  # fmt: skip
    stuck = workers("stuck", worker_env(**settings, checkpoint_every_s=3600, shutdown_timeout_s=60))
    attackers = [attacker(f"attacker-{p}", p) for p in range(4)]
    sent = produce(topic.bootstrap, topic.name, [m for a in attackers for m in a.events(130, probe=True)])
    stuck.wait_for_metric("invdet_events_consumed_total", sent)

    postgres_server.stop()
    try:
        stuck.process.send_signal(signal.SIGTERM)  # the final checkpoint cannot be written...
        stuck.wait_for_metric("invdet_service_retries_total", 1, operation="checkpoint")
        stuck.process.send_signal(signal.SIGTERM)  # ...and the operator will not wait for it
        assert stuck.process.wait(5) == 130
    finally:
        postgres_server.start()

    assert store.checkpointed() == 0
    restarted = workers("restarted", worker_env(**settings))
    store.wait_checkpointed(sent, [restarted])
    rows = store.alerts()
    assert [key for key, n in Counter(alert_keys(rows)).items() if n > 1] == []
    assert probe_alerted(rows) == {a.client_id for a in attackers}
