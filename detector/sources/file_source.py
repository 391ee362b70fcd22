"""JSONL replay files (plain or ``.gz``) as a source; position = file:line."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from detector.sources.base import Record


class SourceError(Exception):
    """A replay file that cannot be opened or read; the message is one line."""


def check_readable(path: Path) -> None:
    """Fail early, in one line, on a replay file that is missing or not a file."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if not path.is_file():
        raise SourceError(f"{path}: is not a regular file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: not readable")


class FileSource:
    """Reads JSONL files in order, skipping blank lines.

    ``done_bytes``/``total_bytes`` give progress on the files as stored (compressed
    size for ``.gz``).
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self.paths = [Path(p) for p in paths]
        for path in self.paths:
            check_readable(path)
        self.total_bytes = sum(p.stat().st_size for p in self.paths)
        self.done_bytes = 0

    def batches(self, max_records: int) -> Iterator[list[Record]]:
        for path in self.paths:
            finished_before = self.done_bytes
            raw_size = path.stat().st_size
            with open(path, "rb") as stored:
                stream = gzip.GzipFile(fileobj=stored, mode="rb") if path.suffix == ".gz" else stored
                batch: list[Record] = []
                origin = str(path)
                try:
                    for number, line in enumerate(stream, start=1):
                        if not line.strip():
                            continue
                        batch.append(Record(line.rstrip(b"\r\n"), f"{path}:{number}", origin))
                        if len(batch) >= max_records:
                            self.done_bytes = finished_before + min(stored.tell(), raw_size)
                            yield batch
                            batch = []
                except (OSError, EOFError) as exc:
                    raise SourceError(f"{path}: cannot read ({exc})") from exc
                if batch:
                    yield batch
            self.done_bytes = finished_before + raw_size

    def commit(self) -> None:
        """Nothing to commit: a replay starts from the top each time."""

    def close(self) -> None:
        """Files are closed as they are finished."""
