"""SIGTERM during a busy stream: a clean exit within the bound, with a final checkpoint that a
restart resumes from; SIGHUP reloads the rules, keeping the old ones when the new are invalid."""

from __future__ import annotations

import signal

from tests.services import poll_until
from tests.worker.harness import (  # noqa: F401 - fixtures
    PROBE_RULE,
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

BOUND_S = 10.0
BATCH = 500


def test_sigterm_during_a_busy_stream_exits_within_the_bound_and_restart_resumes(
    library, topic, store, workers, tmp_path
) -> None:
    clients = [benign(f"client-{i}", i % 4) for i in range(40)]
    messages = [m for c in clients for m in c.events(250, probe=False)]
    produce(topic.bootstrap, topic.name, messages)
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library,
                     rules=write_rules(tmp_path), shutdown_timeout_s=BOUND_S, batch_size=BATCH)  # fmt: skip
    first = workers("first", env)
    first.wait_for_metric("invdet_events_consumed_total", 2 * BATCH)
    assert first.metric("invdet_consumer_lag") > 0
    status, seconds = first.terminate()
    assert status == 0 and seconds < BOUND_S
    (stopped,) = [line for line in first.log_lines() if line.get("msg") == "stopped"]
    assert 0 < stopped["events"] < len(messages), "the stream must still have been busy"
    assert store.checkpointed() == stopped["events"], "the final checkpoint covers every record processed"

    second = workers("second", env)
    store.wait_checkpointed(len(messages), [second])
    assert second.metric("invdet_events_consumed_total") <= len(messages) - stopped["events"] + BATCH


def test_sighup_reloads_rules_and_keeps_the_old_ones_when_the_new_are_invalid(topic, store, workers, tmp_path) -> None:
    rules = write_rules(tmp_path)
    worker = workers("worker", worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name,
                                          library="kafka-python", rules=rules))  # fmt: skip
    worker.wait_for_metric("invdet_assigned_partitions", 4)

    def logged(text: str) -> bool:
        return any(text in line.get("msg", "") for line in worker.log_lines())

    rules.write_text("rules:\n  - id: broken\n    description: d\n    condition: rate_60s >\n    severity: high\n")
    worker.process.send_signal(signal.SIGHUP)
    poll_until(lambda: logged("rule reload rejected") and logged("keeping the"), timeout=20, what="rejected reload")
    assert worker.alive
    first = attacker("first", 0)
    sent = produce(topic.bootstrap, topic.name, first.events(130, probe=True))
    store.wait_checkpointed(sent, [worker])
    assert probe_alerted(store.alerts()) == {"first"}, "the old rules stay in force"

    rules.write_text(PROBE_RULE.replace("events_total >= 120", "events_total >= 20").replace("min_events: 120", "min_events: 20"))
    worker.process.send_signal(signal.SIGHUP)
    poll_until(lambda: logged("rules reloaded"), timeout=20, what="reload")
    second = attacker("second", 1)
    sent += produce(topic.bootstrap, topic.name, second.events(30, probe=True))
    store.wait_checkpointed(sent, [worker])
    assert probe_alerted(store.alerts()) == {"first", "second"}


CALIBRATED_RULE = """\
rules:
  - id: test-calibrated-count
    description: more queries from one client than the calibration allows
    condition: events_total >= $enough
    thresholds: {enough: 1000}
    severity: high
    min_events: 1
    suppress_for: 1h
"""


def calibration_file(path, enough: float) -> None:
    from datetime import datetime, timezone

    from detector.calibration import Calibration, ModelSection, Provenance, write_calibration
    from tests.worker.harness import MODEL

    write_calibration(
        Calibration(
            provenance=Provenance(created_at=datetime.now(timezone.utc), code_version="test", target_fpr=0.01),
            models={MODEL: ModelSection(thresholds={"test-calibrated-count": {"enough": enough}})},
        ),
        path,
    )


def test_sighup_reloads_the_calibration_and_its_thresholds_come_into_force(topic, store, workers, tmp_path) -> None:
    rules = tmp_path / "calibrated.yaml"
    rules.write_text(CALIBRATED_RULE)
    calibration = tmp_path / "calibration.yaml"
    calibration_file(calibration, 30)
    worker = workers("worker", worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name,
                                          library="kafka-python", rules=rules, calibration_file=calibration))  # fmt: skip
    worker.wait_for_metric("invdet_assigned_partitions", 4)

    def calibrated_alerts() -> set[str]:
        return {row.client_id for row in store.alerts() if row.detector == "rule:test-calibrated-count"}

    def logged(text: str) -> bool:
        return any(text in line.get("msg", "") for line in worker.log_lines())

    sent = produce(topic.bootstrap, topic.name, attacker("first", 0).events(40, probe=True))
    store.wait_checkpointed(sent, [worker])
    assert calibrated_alerts() == {"first"}, "the file's 30 is in force, not the rule's shipped 1000"

    calibration_file(calibration, 500)
    worker.process.send_signal(signal.SIGHUP)
    poll_until(lambda: logged("rules reloaded"), timeout=20, what="reload")
    sent += produce(topic.bootstrap, topic.name, attacker("second", 1).events(40, probe=True))
    store.wait_checkpointed(sent, [worker])
    assert calibrated_alerts() == {"first"}, "the reloaded file's 500 is in force: 40 queries stay below it"
