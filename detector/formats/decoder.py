"""The interface between a source's records and the contract parser, and the native format's decoder.

A decoder turns each raw record into records holding contract events (one, none while a half waits
for its partner, several for a batch) and :class:`~detector.formats.rejected.Rejected` ones; the
stream loop parses the first like any event and dead-letters the second.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Protocol

import orjson

from detector.formats.rejected import Rejected
from detector.parse import DeadLetter, json_document
from detector.sources.base import Record


class Decoder(Protocol):
    """Records in, contract-event records and rejections out."""

    def decode(self, record: Record) -> list[Record | Rejected]:
        """What one record becomes (rejections may be about earlier records that waited too long)."""

    def expire_idle(self) -> list[Rejected]:
        """Halves that waited too long by the wall clock (called between polls of a worker)."""

    def drain(self) -> list[Rejected]:
        """Everything still waiting, rejected: the input ended."""


class NativeDecoder:
    """Records already hold contract events.

    >>> NativeDecoder().decode(Record(b"{}", "f:1", "f"))[0].value
    b'{}'
    """

    def decode(self, record: Record) -> list[Record | Rejected]:
        return [record]

    def expire_idle(self) -> list[Rejected]:
        return []

    def drain(self) -> list[Rejected]:
        return []


class JsonDecoder(ABC):
    """A format whose records are JSON documents: reads each one (a record that is not JSON is
    rejected with the parser's reason) and hands it to :meth:`decode_document`. Nothing waits."""

    def decode(self, record: Record) -> list[Record | Rejected]:
        document = json_document(record.value)
        if isinstance(document, DeadLetter):
            return [Rejected(document, record)]
        return self.decode_document(document, record)

    @abstractmethod
    def decode_document(self, document: object, record: Record) -> list[Record | Rejected]:
        """What one record, already read as JSON, becomes."""

    def expire_idle(self) -> list[Rejected]:
        return []

    def drain(self) -> list[Rejected]:
        return []


def event_records(events: Iterable[dict], record: Record) -> list[Record | Rejected]:
    """Contract events made from ``record``, each as a record of its own at the same place.

    >>> [r.value for r in event_records([{"a": 1}], Record(b"x", "f:1", "f", headers=(("h", b""),)))]
    [b'{"a":1}']
    """
    return [dataclasses.replace(record, value=orjson.dumps(event), headers=()) for event in events]
