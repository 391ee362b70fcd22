"""The emitter against the real broker, and against none: events arrive keyed by client, and while
Kafka is down the request path is not held up, drops are counted, and close() keeps its deadline."""

from __future__ import annotations

import time

import orjson
from detector.emit import Emitter
from detector.parse import Parser
from tests.emit.test_middleware import REQUEST, serve
from tests.conftest import TOPIC_PARTITIONS
from tests.services.launch import free_loopback_port
from tests.worker.harness import read_all


def test_emitted_events_reach_the_topic_keyed_by_client(kafka_broker, kafka_topic) -> None:
    emitter = Emitter(kafka_broker.bootstrap, kafka_topic)
    for i in range(40):
        assert emitter.emit(f"key_{i % 4}", "digits:1", input=[float(i), 1.0], scores=[0.2, 0.8])
    stats = emitter.close(timeout_s=20)
    assert (stats.queued, stats.sent, stats.dropped, stats.failed) == (40, 40, 0, 0)
    records = read_all(kafka_broker.bootstrap, kafka_topic, 40, partitions=TOPIC_PARTITIONS)
    parser = Parser()
    events = [parser.parse(record.value) for record in records]
    assert all(type(e).__name__ == "InferenceEvent" for e in events)
    assert all(record.key == orjson.loads(record.value)["client_id"].encode() for record in records)
    assert sorted(e.input[0] for e in events) == [float(i) for i in range(40)]


def test_with_kafka_down_the_request_path_is_not_held_up_and_drops_are_counted() -> None:
    nobody = f"127.0.0.1:{free_loopback_port()}"
    emitter = Emitter(nobody, "inference-logs", max_queue=50)
    slowest = 0.0
    for i in range(2000):
        started = time.perf_counter()
        emitter.emit("key_1", "digits:1", input=[float(i)], label=1)
        slowest = max(slowest, time.perf_counter() - started)
    statuses = serve(emitter, [("POST", "/v2/models/digits/infer", {"X-Api-Key": "k"}, orjson.dumps(REQUEST))] * 50)
    assert statuses == [200] * 50
    stats = emitter.stats()
    assert slowest < 0.05, f"one emit took {slowest:.3f} s"
    assert stats.sent == 0 and stats.dropped >= 2000 + 50 - 50 and stats.queued + stats.dropped == 2050
    started = time.monotonic()
    closed = emitter.close(timeout_s=1.0)
    assert time.monotonic() - started < 4.0
    assert closed.failed == closed.queued and closed.sent == 0
    assert not emitter.emit("key_1", "digits:1", label=1) and emitter.stats().dropped == closed.dropped + 1
