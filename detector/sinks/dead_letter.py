"""Dead-letter sinks: every rejected record is kept with its reason, never dropped."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import orjson

from detector.parse import DeadLetter
from detector.sources.base import Record


def dlq_path(replay_file: str | Path) -> Path:
    """Where a replay file's dead letters go.

    >>> str(dlq_path("data/events.jsonl.gz")), str(dlq_path("events.jsonl"))
    ('data/events.dlq.jsonl', 'events.dlq.jsonl')
    """
    path = Path(replay_file)
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return path.with_name(f"{name}.dlq.jsonl")


MAX_RAW_BYTES = 64 * 1024
"""Raw bytes kept in a dead-letter record (its first ones, flagged ``raw_truncated`` when cut; the
position points at the whole value): brokers refuse messages above about 1 MB, and a dead-letter file
should stay readable whatever was sent."""


class FileDeadLetterSink:
    """Writes ``{"reason", "detail", "position", "raw"}`` lines to ``<file>.dlq.jsonl`` beside each replay
    file, raw values cut at :data:`MAX_RAW_BYTES` like the dead-letter topic's.

    Each file is started afresh the first time a run writes to it.
    """

    def __init__(self) -> None:
        self.files: dict[str, IO[bytes]] = {}
        self.paths: dict[str, Path] = {}

    def add(self, letter: DeadLetter, record: Record) -> None:
        out = self.files.get(record.origin)
        if out is None:
            path = self.paths[record.origin] = dlq_path(record.origin)
            out = self.files[record.origin] = open(path, "wb")  # noqa: SIM115 - closed in close()
        out.write(orjson.dumps(letter.to_record(record.position, MAX_RAW_BYTES)) + b"\n")

    def flush(self) -> None:
        for out in self.files.values():
            out.flush()

    def close(self) -> None:
        for out in self.files.values():
            out.close()
        self.files.clear()


class KafkaDeadLetterSink:
    """Produces each rejected record to the dead-letter topic: the reason in a ``reason``
    header and, with the detail and the raw value (its first 64 KiB, flagged when cut;
    the position header points at the whole value in the source topic), in the JSON value."""

    def __init__(self, producer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    def add(self, letter: DeadLetter, record: Record) -> None:
        self.producer.send(
            self.topic,
            key=record.key,
            value=orjson.dumps(letter.to_record(record.position, MAX_RAW_BYTES)),
            headers=[("reason", letter.reason.encode()), ("position", record.position.encode())],
        )

    def flush(self) -> None:
        self.producer.flush()
