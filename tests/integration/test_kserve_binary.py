"""KServe logger CloudEvents in binary mode (``ce_*`` headers) through the real broker into a worker:
both halves of each prediction joined whichever comes first, and a half whose partner never comes
dead-lettered once the join timeout has passed."""

from __future__ import annotations

import orjson

from detector.simulator.kserve_logger import cloudevents
from tests.formats.logged import binary
from tests.worker.harness import (  # noqa: F401 - fixtures
    Message,
    attacker,
    library,
    probe_alerted,
    produce,
    read_all,
    store,
    topic,
    worker_env,
    workers,
    write_rules,
)


def as_cloudevents(message: Message, response_first: bool) -> list[Message]:
    """The two binary-mode records a KServe logger behind a Knative Kafka broker writes for one event
    (no key: the logger does not key by client)."""
    request, response = cloudevents(orjson.loads(message.value), latency_s=0.005)
    halves = [response, request] if response_first else [request, response]
    return [Message(None, value, message.partition, tuple(headers)) for headers, value in map(binary, halves)]


def test_binary_cloudevents_are_joined_in_either_order_and_a_lone_half_times_out(
    library, topic, store, workers, tmp_path
) -> None:
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library,
                     rules=write_rules(tmp_path), input_format="kserve", client_id_header="X-Api-Key",
                     join_timeout_s=1.0)  # fmt: skip
    worker = workers("worker", env)
    bot = attacker("bot", 0)
    messages = [half for number, m in enumerate(bot.events(130, probe=True)) for half in as_cloudevents(m, number % 2 == 1)]
    lone_request = as_cloudevents(bot.events(1, probe=True)[0], response_first=False)[0]
    messages.append(lone_request)
    produce(topic.bootstrap, topic.name, messages)
    store.wait_checkpointed(len(messages), [worker])

    assert probe_alerted(store.alerts()) == {"bot"}, "130 joined events of client bot (its X-Api-Key)"
    (letter,) = read_all(topic.bootstrap, topic.dlq, 1)
    assert dict(letter.headers)["reason"] == b"unmatched_half"
    value = orjson.loads(letter.value)
    assert value["detail"].endswith("no partner within 1 s") and value["raw"] == lone_request.value.decode()
    assert worker.wait_for_metric("invdet_dead_letters_total", 1, reason="unmatched_half") == 1
    assert worker.metric("invdet_events_consumed_total") == len(messages)
