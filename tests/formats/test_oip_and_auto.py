"""The oip input format (a request and its response in one object) and auto detection per record."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from detector.cli import main
from detector.commands.replay import replay
from detector.settings import Settings
from detector.simulator.kserve_logger import rfc3339
from tests.formats.logged import T0, line, request, response

NATIVE = {"event_id": "n1", "ts": T0, "client_id": "key_native", "model_id": "native:1", "input": [1.0],
          "output": {"scores": [0.3, 0.7]}}  # fmt: skip
OIP_REQUEST = {"id": "o1", "inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [[1.0], [2.0]]}]}
OIP_RESPONSE = {"model_name": "digits", "model_version": "1", "id": "o1",
                "outputs": [{"name": "p", "shape": [2, 2], "datatype": "FP32", "data": [0.1, 0.9, 0.6, 0.4]}]}  # fmt: skip
PAIR = {"ts": rfc3339(T0), "headers": {"X-Api-Key": "key_oip"}, "request": OIP_REQUEST, "response": OIP_RESPONSE}


def run(tmp_path: Path, documents: list[object], **values: object):
    path = tmp_path / "logged.jsonl"
    path.write_bytes(b"".join(line(d) if not isinstance(d, bytes) else d + b"\n" for d in documents))
    database = tmp_path / "alerts.db"
    summary, _ = replay([str(path)], Settings(database_url=f"sqlite:///{database}", **values), progress=False)
    letters = tmp_path / "logged.dlq.jsonl"
    return summary, [orjson.loads(text) for text in letters.read_text().splitlines()] if letters.exists() else []


def test_oip_pairs_become_events_with_the_client_from_headers_or_the_pair(tmp_path: Path) -> None:
    no_headers = {k: v for k, v in PAIR.items() if k != "headers"} | {"client_id": "key_beside", "id": "o2"}
    summary, letters = run(tmp_path, [PAIR, no_headers, {"request": OIP_REQUEST}], input_format="oip")
    assert summary.accepted == 2 and summary.dead_letters == {"no_client_id": 1, "bad_payload": 1}, letters
    summary, _ = run(tmp_path, [PAIR], input_format="oip", client_id_header="x-api-key")
    assert summary.accepted == 2


def test_auto_tells_each_record_apart_and_refuses_what_could_be_either(tmp_path: Path) -> None:
    ambiguous = {**request("a", T0, [[1.0]]), "event_id": "a"}
    documents = [NATIVE, request("k1", T0, [[1.0]]), PAIR, response("k1", T0, [[0.2, 0.8]]), ambiguous, b"[1]"]
    summary, letters = run(tmp_path, documents, input_format="auto", client_id_header="X-Api-Key")
    assert summary.accepted == 1 + 1 + 2
    assert summary.dead_letters == {"ambiguous_format": 1, "wrong_type": 1}, letters


def test_native_is_the_default_and_reads_cloudevents_as_bad_native_events(tmp_path: Path) -> None:
    summary, _ = run(tmp_path, [NATIVE, request("k1", T0, [[1.0]])])
    assert summary.accepted == 1 and summary.dead_letters == {"missing_field": 1}


def test_kserve_without_a_client_id_header_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "logged.jsonl"
    path.write_bytes(line(request("k1", T0, [[1.0]])))
    status = main(["replay", str(path), "--input-format", "kserve", "--database-url", f"sqlite:///{tmp_path / 'a.db'}"])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and "--client-id-header" in error
