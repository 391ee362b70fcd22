"""The kserve input format on JSONL replay files: the join in both orders, timeouts, batches, client ids."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from detector.commands.replay import replay
from detector.formats import open_decoder
from detector.formats.decoder import NativeDecoder
from detector.parse import Parser
from detector.settings import Settings
from detector.sources.base import Record
from tests.formats.logged import T0, binary, line, request, response

HEADER = "X-Api-Key"


def settings(**values: object) -> Settings:
    return Settings(input_format="kserve", client_id_header=HEADER, **values)


def decode_all(lines: list[dict], **values: object) -> tuple[list[dict], list]:
    """Every record through one decoder (then drained): the contract events and the rejections."""
    decoder = open_decoder(settings(**values))
    events, rejected = [], []
    for number, document in enumerate(lines, 1):
        for item in decoder.decode(Record(orjson.dumps(document), f"f:{number}", "f")):
            (rejected if hasattr(item, "letter") else events).append(item)
    rejected += decoder.drain()
    return [orjson.loads(r.value) for r in events], rejected


def read_dlq(path: Path) -> list[dict]:
    return [orjson.loads(text) for text in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("response_first", [False, True], ids=["request-first", "response-first"])
def test_a_pair_becomes_one_contract_event_whichever_half_comes_first(response_first: bool) -> None:
    halves = [request("r1", T0, [[0.5, 1.0]]), response("r1", T0 + 0.01, [[0.2, 0.8]])]
    events, rejected = decode_all(halves[::-1] if response_first else halves)
    assert rejected == []
    (event,) = events
    assert event["event_id"] == "r1" and event["client_id"] == "key_1" and event["model_id"] == "digits:1"
    assert event["input"] == [0.5, 1.0] and event["output"] == {"scores": [0.2, 0.8]}
    assert event["ts"] == pytest.approx(T0 + 0.01, abs=1e-5)
    assert event["meta"]["namespace"] == "models" and event["meta"]["endpoint"] == "default"
    assert type(Parser().parse(orjson.dumps(event))).__name__ == "InferenceEvent"


def test_binary_mode_records_join_with_structured_ones() -> None:
    decoder = open_decoder(settings())
    headers, value = binary(request("r1", T0, [[0.5, 1.0]]))
    assert decoder.decode(Record(value, "t/0@0", "t", headers=tuple(headers))) == []
    (made,) = decoder.decode(Record(orjson.dumps(response("r1", T0, [[0.2, 0.8]])), "t/0@1", "t"))
    assert orjson.loads(made.value)["input"] == [0.5, 1.0] and made.position == "t/0@1"


def test_an_unmatched_half_is_dead_lettered_after_the_timeout_and_not_before(tmp_path: Path) -> None:
    lone = request("lonely", T0, [[0.1, 0.2]])
    later = [request(f"r{i}", T0 + 2.0 * i, [[0.5, 1.0]]) for i in range(1, 20)]
    answers = [response(f"r{i}", T0 + 2.0 * i + 0.01, [[0.2, 0.8]]) for i in range(1, 20)]
    pairs = [half for pair in zip(later, answers) for half in pair]
    events, rejected = decode_all([lone, *pairs[:8]], join_timeout_s=10.0)  # the stream reaches T0 + 8 s
    assert [r.letter.detail for r in rejected] == ["request 'lonely': the input ended before its partner came"]

    path = tmp_path / "logged.jsonl"
    path.write_bytes(b"".join(line(d) for d in [lone, *pairs]))
    summary, _ = replay([str(path)], settings(join_timeout_s=10.0, database_url=f"sqlite:///{tmp_path / 'a.db'}"),
                        progress=False)  # fmt: skip
    assert summary.accepted == 19 and summary.dead_letters == {"unmatched_half": 1}
    (letter,) = read_dlq(tmp_path / "logged.dlq.jsonl")
    assert letter["reason"] == "unmatched_half" and letter["position"].endswith(":1")
    assert letter["detail"] == "request 'lonely': no partner within 10 s" and '"lonely"' in letter["raw"]


def test_a_full_join_buffer_dead_letters_its_oldest_half() -> None:
    events, rejected = decode_all([request(f"r{i}", T0, [[1.0]]) for i in range(4)], join_max_pending=3)
    assert events == []
    assert [r.letter.reason for r in rejected] == ["join_overflow", "unmatched_half", "unmatched_half", "unmatched_half"]
    assert "'r0'" in rejected[0].letter.detail


def test_a_repeated_half_is_dead_lettered_and_the_first_still_joins() -> None:
    events, rejected = decode_all([request("r1", T0, [[1.0]]), request("r1", T0, [[2.0]]), response("r1", T0, [[0.3, 0.7]])])
    assert [e["input"] for e in events] == [[1.0]]
    assert [r.letter.reason for r in rejected] == ["duplicate_half"]


def test_a_batched_request_becomes_one_event_per_row() -> None:
    rows = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    scores = [[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]]
    events, rejected = decode_all([request("b", T0, rows), response("b", T0, scores)])
    assert rejected == []
    assert [(e["event_id"], e["input"], e["output"]["scores"]) for e in events] == [
        ("b#0", rows[0], scores[0]), ("b#1", rows[1], scores[1]), ("b#2", rows[2], scores[2])
    ]  # fmt: skip


def test_the_client_id_is_the_header_value_or_its_keyed_hash() -> None:
    halves = [request("r1", T0, [[1.0]], headers={"x-api-key": ["sk-live-123"]}), response("r1", T0, [[0.3, 0.7]])]
    (plain,), _ = decode_all(halves)
    (hashed,), _ = decode_all(halves, client_id_hash_key="k1")
    (again,), _ = decode_all(halves, client_id_hash_key="k1")
    (other_key,), _ = decode_all(halves, client_id_hash_key="k2")
    assert plain["client_id"] == "sk-live-123"
    assert hashed["client_id"].startswith("hmac:") and len(hashed["client_id"]) == 5 + 32
    assert hashed["client_id"] == again["client_id"] != other_key["client_id"]
    assert b"sk-live-123" not in orjson.dumps(hashed)


def test_a_pair_without_the_client_header_is_dead_lettered_both_halves() -> None:
    events, rejected = decode_all([request("r1", T0, [[1.0]], headers={"User-Agent": ["curl"]}), response("r1", T0, [[0.3, 0.7]])])
    assert events == [] and [r.letter.reason for r in rejected] == ["no_client_id", "no_client_id"]
    assert "no X-Api-Key header among the logged headers (User-Agent)" in rejected[0].letter.detail


def test_the_scores_tensor_is_the_configured_one_or_the_only_one_per_class() -> None:
    two = [
        {"name": "logits", "shape": [1, 2], "datatype": "FP32", "data": [-3.0, 3.0]},
        {"name": "probabilities", "shape": [1, 2], "datatype": "FP32", "data": [0.1, 0.9]},
        {"name": "label", "shape": [1], "datatype": "INT64", "data": [1]},
    ]
    halves = [request("r1", T0, [[1.0]]), response("r1", T0, [], outputs=two)]
    events, rejected = decode_all(halves)
    assert events == [] and rejected[0].letter.reason == "ambiguous_output"
    assert "INVDET_SCORES_TENSOR" in rejected[0].letter.detail
    (event,), _ = decode_all(halves, scores_tensor="probabilities")
    assert event["output"] == {"scores": [0.1, 0.9], "label": 1}


def test_top1_outputs_map_to_label_and_confidence() -> None:
    top1 = [
        {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["cat", "dog"]},
        {"name": "confidence", "shape": [2, 1], "datatype": "FP32", "data": [0.7, 0.6]},
    ]
    events, _ = decode_all([request("r1", T0, [[1.0], [2.0]]), response("r1", T0, [], outputs=top1)])
    assert [e["output"] for e in events] == [{"label": "cat", "confidence": 0.7}, {"label": "dog", "confidence": 0.6}]


def test_kserve_v1_instances_and_predictions() -> None:
    v1_request = {**request("r1", T0, [[1.0]]), "data": {"instances": [[1, 2], [3, 4]]}}
    v1_response = {**response("r1", T0, [[1.0]]), "data": {"predictions": [[0.4, 0.6], [0.9, 0.1]]}}
    events, _ = decode_all([v1_request, v1_response])
    assert [(e["model_id"], e["input"], e["output"]) for e in events] == [
        ("digits", [1, 2], {"scores": [0.4, 0.6]}), ("digits", [3, 4], {"scores": [0.9, 0.1]})
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"specversion": "1.0", "id": "x", "source": "s", "type": "com.example.other"}, "unknown_event_type"),
        ({"specversion": "1.0", "id": "x", "type": "org.kubeflow.serving.inference.request"}, "not_cloudevent"),
        ([1, 2], "not_cloudevent"),
        ({**request("r", T0, [[1.0]]), "time": "yesterday"}, "bad_time"),
    ],
)
def test_bad_records_are_dead_lettered_with_a_reason(document: object, reason: str) -> None:
    _, rejected = decode_all([document])
    assert [r.letter.reason for r in rejected] == [reason]


def test_a_pair_whose_tensors_do_not_fit_dead_letters_both_halves() -> None:
    bad = [{"name": "p", "shape": [1, 3], "datatype": "FP32", "data": [0.1, 0.9]}]
    events, rejected = decode_all([request("r1", T0, [[1.0]]), response("r1", T0, [], outputs=bad)])
    assert events == [] and [(r.letter.reason, r.record.position) for r in rejected] == [
        ("shape_mismatch", "f:1"), ("shape_mismatch", "f:2")
    ]  # fmt: skip


def test_native_decoding_passes_records_through_untouched() -> None:
    record = Record(b'{"event_id": "e"}', "f:1", "f")
    assert NativeDecoder().decode(record) == [record]
