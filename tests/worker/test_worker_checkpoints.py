"""The worker's checkpoints without a broker (a scripted consumer, SQLite): what one transaction
holds, how a new owner resumes, fencing of a worker that lost its partition, and a failed attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from detector.db.alert_store import AlertFilter, AlertStore
from detector.kafka.client import kafka_record
from detector.settings import Settings
from detector.worker.checkpoint_store import CheckpointStore
from tests.worker.harness import PROBE_DETECTOR, attacker, benign
from tests.worker.scripted import TOPIC, TP, run_batches, scripted_settings, worker


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return scripted_settings(tmp_path)


def test_a_checkpoint_stores_alerts_state_and_offsets_and_a_new_owner_resumes_there(settings) -> None:
    first, consumer = worker(settings)
    assert first.assigned([TP]) == {}
    bot, person = attacker("bot", 0), benign("person", 0)
    consumer.feed(bot.events(130, probe=True) + person.events(20, probe=False))
    run_batches(first, consumer)
    assert AlertStore(first.engine).list(AlertFilter()) == [], "nothing is stored before the checkpoint"
    first.checkpoint()
    assert CheckpointStore(first.engine, settings.kafka_group_id).offsets() == {TP: 150}
    assert consumer.committed == {TP: 150}
    assert [(r.client_id, r.detector) for r in AlertStore(first.engine).list(AlertFilter(detector=PROBE_DETECTOR))] == [
        ("bot", PROBE_DETECTOR)
    ]

    second, _ = worker(settings)
    assert second.assigned([TP]) == {TP: 150}
    restored = second.tasks[TP].pipeline.store.clients
    assert restored[("digits:1", "bot")].n_events == 130 and restored[("digits:1", "person")].n_events == 20


def test_a_worker_that_lost_its_partition_cannot_overwrite_the_new_owner(settings) -> None:
    stale, consumer = worker(settings)
    stale.assigned([TP])
    consumer.feed(attacker("bot", 0).events(130, probe=True))
    run_batches(stale, consumer)
    owner, _ = worker(settings)
    owner.assigned([TP])  # the group moved the partition while the stale worker was paused
    stale.checkpoint()
    assert TP not in stale.tasks
    assert CheckpointStore(stale.engine, settings.kafka_group_id).offsets() == {TP: None}
    assert AlertStore(stale.engine).list(AlertFilter()) == [] and consumer.committed == {}


def test_a_failed_checkpoint_keeps_its_alerts_for_the_retry(settings, monkeypatch) -> None:
    made, consumer = worker(settings)
    made.assigned([TP])
    consumer.feed(attacker("bot", 0).events(130, probe=True))
    run_batches(made, consumer)
    save = made.checkpoints.save_partition
    failures = iter([OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))])

    def flaky(*args, **kwargs):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return save(*args, **kwargs)

    monkeypatch.setattr(made.checkpoints, "save_partition", flaky)
    made.checkpoint()
    assert made.metrics.retries.labels("checkpoint")._value.get() == 1
    rows = AlertStore(made.engine).list(AlertFilter(detector=PROBE_DETECTOR))
    assert [(r.client_id, r.hit_count) for r in rows] == [("bot", 3)]
    assert CheckpointStore(made.engine, settings.kafka_group_id).offsets() == {TP: 130}


def test_a_model_evicted_by_max_models_is_checkpointed_and_comes_back_with_what_it_learned(settings) -> None:
    made, consumer = worker(settings.model_copy(update={"max_models": 2}))
    made.assigned([TP])
    people = {model: benign(f"person-{model}", 0) for model in ("m:0", "m:1", "m:2")}

    sent = 0

    def send(model: str, count: int) -> None:
        nonlocal sent
        for message in people[model].events(count, probe=False):
            value = message.value.replace(b'"digits:1"', f'"{model}"'.encode())
            consumer.queue.append(kafka_record(TOPIC, 0, sent, message.key, value))
            sent += 1
        run_batches(made, consumer)

    send("m:0", 40)
    learned = made.model_states["m:0"].observed
    send("m:1", 20)
    send("m:2", 20)  # a third model: m:0, the least recently seen, goes
    assert sorted(made.model_states) == sorted(made.anomaly_models) == ["m:1", "m:2"]
    assert made.checkpoints.model("m:0") is not None
    made.observe()
    assert made.metrics.model_evictions._value.get() == 1
    send("m:0", 8)
    assert sorted(made.model_states) == ["m:0", "m:2"]
    assert made.model_states["m:0"].observed > learned  # restored, then went on learning
    assert made.anomaly_models["m:0"].seen >= 2  # its anomaly model too
