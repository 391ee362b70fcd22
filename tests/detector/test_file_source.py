"""Replay files as users have them: a byte order mark, a .gz cut short, a line far too long."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from detector.cli import main
from detector.parse import Parser
from detector.sinks.dead_letter import MAX_RAW_BYTES
from detector.sources.file_source import BOM, FileSource


def event(i: int) -> bytes:
    return orjson.dumps({"event_id": f"e{i}", "ts": 1000.0 + i, "client_id": "c", "model_id": "m",
                         "input": [float(i), 1.0], "output": {"scores": [0.3, 0.7]}})  # fmt: skip


def records(path: Path) -> list:
    return [record for batch in FileSource([path]).batches(1000) for record in batch]


def test_a_leading_byte_order_mark_is_not_part_of_the_first_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(BOM + event(0) + b"\r\n" + event(1) + b"\n")
    parser = Parser()
    assert [type(parser.parse(record.value)).__name__ for record in records(path)] == ["InferenceEvent"] * 2


def test_a_cut_gz_gives_every_line_before_the_cut_then_one_defect_record(tmp_path: Path) -> None:
    whole = gzip.compress(b"\n".join(event(i) for i in range(5000)) + b"\n")
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    read = records(path)
    *lines, cut = read
    assert lines and all(record.defect is None for record in lines)
    assert [orjson.loads(record.value)["event_id"] for record in lines] == [f"e{i}" for i in range(len(lines))]
    assert cut.defect[0] == "truncated_file" and event(len(lines)).startswith(cut.value)
    assert cut.position == f"{path}:{len(lines) + 1}"


def test_replay_of_a_cut_gz_closes_with_its_summary_and_a_dead_letter_for_the_cut(tmp_path: Path, capsys) -> None:
    whole = gzip.compress(b"\n".join(event(i) for i in range(5000)) + b"\n")
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    assert main(["replay", str(path), "--database-url", f"sqlite:///{tmp_path / 'a.db'}", "--no-progress"]) == 0
    summary = capsys.readouterr().out
    assert "truncated_file" in summary and "1 dead letters" in summary
    (dead,) = [orjson.loads(line) for line in (tmp_path / "events.dlq.jsonl").read_bytes().splitlines()]
    assert dead["reason"] == "truncated_file" and "ends early" in dead["detail"]


def test_the_dead_letter_file_keeps_only_the_start_of_a_huge_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "events.jsonl"
    huge = b'{"event_id": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    path.write_bytes(event(0) + b"\n" + huge + b"\n")
    assert main(["replay", str(path), "--database-url", f"sqlite:///{tmp_path / 'a.db'}", "--no-progress"]) == 0
    (dead,) = [orjson.loads(line) for line in (tmp_path / "events.dlq.jsonl").read_bytes().splitlines()]
    assert dead["reason"] == "too_large" and dead["raw_truncated"] is True
    assert dead["raw_bytes"] == len(huge) and dead["raw"].encode() == huge[:MAX_RAW_BYTES]
