"""JSONL replay files (plain or ``.gz``) as a source; position = file:line."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

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


BOM = b"\xef\xbb\xbf"
"""A UTF-8 byte order mark, which some editors write at the start of a file: not part of the first line."""

CHUNK_BYTES = 1 << 20


class Damaged(Exception):
    """A file that cannot be read to its end: ``tail`` is what was read of its last line, ``reason``
    and ``detail`` say what cut it short."""

    def __init__(self, reason: str, detail: str, tail: bytes) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.tail = tail


def read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of a stream without their line ends, read in chunks so that a compressed file cut
    short still gives every line before the cut; raises :class:`Damaged` at a cut or corrupt data.

    >>> import io
    >>> list(read_lines(io.BytesIO(BOM + b'{"a": 1}\\r\\n\\n{"b": 2}')))
    [b'{"a": 1}', b'', b'{"b": 2}']
    """
    pending = b""
    first = True
    lost = "this line and any after it are lost"
    while True:
        try:
            chunk = stream.read1(CHUNK_BYTES)  # one read at a time: a cut loses nothing read before it
        except EOFError:
            raise Damaged("truncated_file", f"the compressed file ends early (cut short?): {lost}", pending) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise Damaged("corrupt_file", f"corrupt compressed data ({exc}): {lost}", pending) from None
        if first:
            chunk = chunk.removeprefix(BOM)
            first = False
        if not chunk:
            if pending:
                yield pending.rstrip(b"\r")
            return
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line.rstrip(b"\r")


class FileSource:
    """Reads JSONL files in order, skipping blank lines and a leading byte order mark.

    A compressed file that is cut short or corrupt ends with one record flagged ``defect`` (its
    partial last line), which the runner dead-letters; the files after it are still read.
    ``done_bytes``/``total_bytes`` give progress on the files as stored (compressed size for ``.gz``).
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
                number = 0
                try:
                    for number, line in enumerate(read_lines(stream), start=1):
                        if not line.strip():
                            continue
                        batch.append(Record(line, f"{path}:{number}", origin))
                        if len(batch) >= max_records:
                            self.done_bytes = finished_before + min(stored.tell(), raw_size)
                            yield batch
                            batch = []
                except Damaged as cut:
                    batch.append(Record(cut.tail, f"{path}:{number + 1}", origin, defect=(cut.reason, cut.detail)))
                except OSError as exc:
                    raise SourceError(f"{path}: cannot read ({exc})") from exc
                if batch:
                    yield batch
            self.done_bytes = finished_before + raw_size

    def commit(self) -> None:
        """Nothing to commit: a replay starts from the top each time."""

    def close(self) -> None:
        """Files are closed as they are finished."""
