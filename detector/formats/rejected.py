"""What an input format gives back when a record cannot become an event: a reason and the record.

Every record an input format reads ends as events or as a :class:`Rejected`, which the stream loop
sends to the dead-letter sink beside the record it came from: nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.parse import DeadLetter
from detector.sources.base import Record


class FormatError(Exception):
    """A payload that does not fit its format: ``reason`` is the dead-letter reason code, ``detail``
    names the field and the problem."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Rejected:
    """A dead letter and the record it is about (the record says where it goes: its file or its topic)."""

    letter: DeadLetter
    record: Record

    @classmethod
    def of(cls, error: FormatError, record: Record) -> Rejected:
        return cls(DeadLetter(error.reason, error.detail, record.value), record)
