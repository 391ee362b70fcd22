"""The source interface: batches of raw records with their positions, and commit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    """One raw record and where it came from.

    ``position`` is human-readable (``events.jsonl:12``, ``inference-logs/3@1234``);
    ``origin`` names the file or topic, which dead-letter sinks write beside.
    """

    value: bytes
    position: str
    origin: str
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None
    defect: tuple[str, str] | None = None
    """(reason, detail) when the source could not read the record whole: it is a dead letter as it is."""
    headers: tuple[tuple[str, bytes], ...] = ()
    """The Kafka record's headers, in order (CloudEvents in binary mode carry their attributes there)."""


class Source(Protocol):
    """Yields batches of records; ``commit`` is called once everything yielded so far is safely stored."""

    def batches(self, max_records: int) -> Iterator[list[Record]]: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...
