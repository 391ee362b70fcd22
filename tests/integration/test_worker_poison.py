"""Poison records (not JSON, binary, 5 MB, NaN, dated in the year 3000, a repeated key) all reach the dead-letter topic with their reason,
and the worker keeps going."""

from __future__ import annotations

import base64

import orjson
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

NAN_EVENT = b'{"event_id":"nan-1","ts":1800000000,"client_id":"nan","model_id":"digits:1","input":[NaN],"output":{"label":1}}'
FUTURE_EVENT = b'{"event_id":"future-1","ts":32503680000,"client_id":"clock","model_id":"digits:1","input":[0,0,0,0,0,0,0,0],"output":{"label":1}}'
"""Valid but dated in the year 3000: were it believed, every client (the bot too) would look idle."""
REPEATED_KEY_EVENT = b'{"event_id":"dup-1","ts":1790000000,"client_id":"a","client_id":"b","model_id":"digits:1","output":{"label":1}}'
POISON = {
    b"not json at all": "not_json",
    b"\x00\xff\xfe binary": "not_utf8",
    b"x" * (5 * 1024 * 1024): "too_large",
    NAN_EVENT: "not_finite",
    FUTURE_EVENT: "ts_out_of_range",
    REPEATED_KEY_EVENT: "duplicate_key",
}


def test_poison_records_are_dead_lettered_with_reasons_and_the_worker_keeps_going(
    library, topic, store, workers, tmp_path
) -> None:
    worker = workers("worker", worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name,
                                          library=library, rules=write_rules(tmp_path)))  # fmt: skip
    bot = attacker("bot", 0)
    messages = bot.events(60, probe=True)
    messages += [Message(b"poison", value, 0) for value in POISON]
    messages += bot.events(70, probe=True)
    produce(topic.bootstrap, topic.name, messages)
    store.wait_checkpointed(len(messages), [worker])

    letters = read_all(topic.bootstrap, topic.dlq, len(POISON))
    assert len(letters) == len(POISON)
    expected = sorted(POISON.values())
    assert sorted(dict(letter.headers)["reason"].decode() for letter in letters) == expected
    values = [orjson.loads(letter.value) for letter in letters]
    assert sorted(value["reason"] for value in values) == expected
    assert all(value["detail"] and value["position"].startswith(f"{topic.name}/0@") for value in values)
    assert all(letter.key == b"poison" for letter in letters)
    by_reason = {value["reason"]: value for value in values}
    assert base64.b64decode(by_reason["not_utf8"]["raw_base64"]) == b"\x00\xff\xfe binary"
    assert by_reason["too_large"]["raw_truncated"] and by_reason["too_large"]["raw_bytes"] == 5 * 1024 * 1024
    assert by_reason["not_finite"]["raw"] == NAN_EVENT.decode()
    for reason in expected:
        assert worker.metric("invdet_dead_letters_total", reason=reason) == 1
    assert worker.alive and probe_alerted(store.alerts()) == {"bot"}
