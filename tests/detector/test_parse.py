"""The inference-event contract: every allowed shape is accepted, every rejection has its reason."""

from __future__ import annotations

import base64
import math

import orjson
import pytest

from detector.parse import MAX_EVENT_BYTES, DeadLetter, Parser, parse

BASE = {
    "v": 1,
    "event_id": "9b1c0a4e",
    "ts": 1795312048.125,
    "client_id": "key_7f3a",
    "model_id": "digits-classifier:3",
    "input": [0.0, 0.12, 0.98, 0.5],
    "output": {"scores": [0.01, 0.02, 0.93, 0.04]},
    "meta": {"source_ip": "203.0.113.7"},
}


def encode(**changes) -> bytes:
    event = {**BASE, **changes}
    return orjson.dumps({k: v for k, v in event.items() if v is not ...})


@pytest.mark.parametrize(
    "raw",
    [
        encode(),
        encode(v=...),
        encode(ts="2026-11-22T05:00:00Z"),
        encode(ts="2026-11-22T05:00:00.250+01:00"),
        encode(ts=1795312048),
        encode(input=...),
        encode(meta=...),
        encode(output={"label": "cat"}),
        encode(output={"label": 3, "confidence": 0.7}),
        encode(output={"confidence": 0.7}),
        encode(output={"scores": [1.0], "label": 0}),
        encode(input=[1] * 65536),
        encode(unknown_extra_field="kept out"),
    ],
)
def test_valid_shapes_are_accepted(raw: bytes) -> None:
    result = Parser().parse(raw)
    assert not isinstance(result, DeadLetter), result


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (b"not json at all", "not_json", ""),
        (b'{"event_id": "a",', "not_json", ""),
        (b"\xff\xfe{}", "not_utf8", ""),
        (b"[1, 2]", "wrong_type", "event"),
        (encode(event_id=...), "missing_field", "event_id"),
        (encode(ts=...), "missing_field", "ts"),
        (encode(client_id=...), "missing_field", "client_id"),
        (encode(model_id=...), "missing_field", "model_id"),
        (encode(output=...), "missing_field", "output"),
        (encode(client_id=7), "wrong_type", "client_id"),
        (encode(input="0,1"), "wrong_type", "input"),
        (encode(input=["0.5"]), "wrong_type", "input.0"),
        (encode(ts="yesterday"), "wrong_type", "ts"),
        (encode(ts=True), "wrong_type", "ts"),
        (encode(meta={"ip": 7}), "wrong_type", "meta.ip"),
        (encode().replace(b"0.12", b"NaN"), "not_finite", "input.1"),
        (encode().replace(b"0.12", b"Infinity"), "not_finite", "input.1"),
        (encode().replace(b"0.12", b"1e999"), "not_finite", "input.1"),
        (encode(event_id="e" * 129), "too_long", "event_id"),
        (encode(client_id="c" * 257), "too_long", "client_id"),
        (encode(input=[0.0] * 65537), "too_long", "input"),
        (encode(event_id=""), "empty", "event_id"),
        (encode(input=[]), "empty", "input"),
        (encode(v=2), "unknown_version", "v"),
        (encode(output={"scores": [1.5]}), "out_of_range", "output.scores.0"),
        (encode(output={"confidence": -0.1}), "out_of_range", "output.confidence"),
        (encode(output={}), "no_output", "output"),
        (b" " * (MAX_EVENT_BYTES + 1), "too_large", ""),
    ],
)
def test_every_rejection_has_its_reason(raw: bytes, reason: str, field: str) -> None:
    result = parse(raw)
    assert isinstance(result, DeadLetter)
    assert result.reason == reason, result.detail
    assert result.detail.startswith(field), result.detail
    assert result.raw == raw


def test_inputs_of_one_model_share_one_length_and_the_run_goes_on() -> None:
    parser = Parser()
    first = parser.parse(encode(event_id="a"))
    other_length = parser.parse(encode(event_id="b", input=[1.0, 2.0]))
    other_model = parser.parse(encode(event_id="c", model_id="other", input=[1.0, 2.0]))
    again = parser.parse(encode(event_id="d"))
    assert not isinstance(first, DeadLetter) and not isinstance(again, DeadLetter)
    assert not isinstance(other_model, DeadLetter)
    assert isinstance(other_length, DeadLetter) and other_length.reason == "input_length_mismatch"
    assert "4" in other_length.detail and "2 values" in other_length.detail
    assert parser.accepted == 3 and parser.rejected == {"input_length_mismatch": 1}


def test_counters_by_reason() -> None:
    parser = Parser()
    for raw in (b"x", b"y", encode(v=3), encode()):
        parser.parse(raw)
    assert parser.accepted == 1
    assert dict(parser.rejected) == {"not_json": 2, "unknown_version": 1}


def test_timestamps_become_epoch_seconds() -> None:
    event = parse(encode(ts="2026-11-22T05:00:00.500Z"))
    assert math.isclose(event.ts, 1795323600.5)
    naive = parse(encode(ts="2026-11-22T05:00:00"))
    assert math.isclose(naive.ts, 1795323600.0)


def test_dead_letter_record_keeps_raw_and_position() -> None:
    letter = parse(b"\xffbad")
    record = letter.to_record("events.jsonl:7")
    assert record["reason"] == "not_utf8" and record["position"] == "events.jsonl:7"
    assert base64.b64decode(record["raw_base64"]) == b"\xffbad" and "raw" not in record


def test_a_size_limited_sink_gets_the_raw_value_cut_and_flagged() -> None:
    letter = parse(b"x" * (MAX_EVENT_BYTES + 1))
    record = letter.to_record("t:0:5", max_raw_bytes=64 * 1024)
    assert record["raw_truncated"] is True and record["raw_bytes"] == MAX_EVENT_BYTES + 1
    assert len(record["raw"]) == 64 * 1024
    assert "raw_truncated" not in letter.to_record("t:0:5")


@pytest.mark.parametrize(
    "raw",
    [
        encode().replace(b'"client_id":"key_7f3a"', b'"client_id":"key_7f3a","client_id":"someone-else"'),
        encode().replace(b'"scores":', b'"label":1,"label":2,"scores":'),
        encode().replace(b'"source_ip":', b'"source_ip":"10.0.0.1","source_ip":'),
    ],
)
def test_a_key_repeated_in_one_object_is_refused(raw: bytes) -> None:
    result = parse(raw)
    assert isinstance(result, DeadLetter) and result.reason == "duplicate_key", result
    assert "duplicate key" in result.detail


def test_the_same_key_in_different_objects_is_no_repeat() -> None:
    assert not isinstance(parse(encode(meta={"label": "x", "ts": "y"})), DeadLetter)
