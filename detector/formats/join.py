"""Request and response halves joined by their shared id, in a bounded buffer with a timeout.

Whichever half comes first waits for the other. The buffer's clock is the stream's own: the latest
CloudEvent ``time`` seen, so a replay (or a worker catching up on a backlog) does not time a half out
while its partner is only a few records behind. A worker also calls :meth:`PairJoin.expire_idle`
between polls, which times halves out by the wall clock since they arrived, for when traffic stops.
A half that is not joined ends as a dead letter with its reason, never silently:

- ``unmatched_half``: its partner did not come within ``timeout_s``, or before the input ended;
- ``join_overflow``: ``max_pending`` halves were waiting and it was the oldest;
- ``duplicate_half``: a second request (or response) with an id that is already waiting.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from detector.formats.cloudevent import CloudEvent
from detector.formats.rejected import FormatError, Rejected
from detector.sources.base import Record


@dataclass(frozen=True, slots=True)
class Half:
    event: CloudEvent
    record: Record
    due: float
    """Stream time after which it has waited too long."""
    due_wall: float
    """Wall-clock time after which it has waited too long (for :meth:`PairJoin.expire_idle`)."""


@dataclass(frozen=True, slots=True)
class Pair:
    request: CloudEvent
    response: CloudEvent
    record: Record
    """The record that completed the pair (its partition processes the events)."""
    other: Record
    """The record of the half that waited."""


class PairJoin:
    """The waiting halves, oldest first, keyed by (InferenceService, id).

    >>> from detector.formats.cloudevent import REQUEST_TYPE, RESPONSE_TYPE
    >>> join = PairJoin(max_pending=10, timeout_s=30.0)
    >>> half = lambda kind, id, t: (CloudEvent(id, kind, "s", t, {}, {}), Record(b"", f"f:{id}", "f"))
    >>> join.add(*half(RESPONSE_TYPE, "a", 0.0)), len(join)
    ((None, []), 1)
    >>> pair, expired = join.add(*half(REQUEST_TYPE, "a", 0.1))
    >>> pair.request.type == REQUEST_TYPE, expired, len(join)
    (True, [], 0)
    >>> join.add(*half(REQUEST_TYPE, "b", 1.0))[1], join.add(*half(REQUEST_TYPE, "c", 40.0))[1][0].letter.reason
    ([], 'unmatched_half')
    """

    def __init__(self, max_pending: int, timeout_s: float, wall: Callable[[], float] = time.monotonic) -> None:
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.wall = wall
        self.pending: OrderedDict[tuple[str, str], Half] = OrderedDict()
        self.now = float("-inf")
        """The stream's time: the latest event time seen."""

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, event: CloudEvent, record: Record) -> tuple[Pair | None, list[Rejected]]:
        """Join ``event`` with its waiting partner, or keep it waiting; also returns the halves that
        waited too long or were pushed out."""
        if event.time is not None and event.time > self.now:
            self.now = event.time
        key = (event.extensions.get("inferenceservicename", ""), event.id)
        waiting = self.pending.get(key)
        if waiting is not None:
            if waiting.event.type == event.type:
                error = FormatError("duplicate_half", f"id {event.id!r}: a {_kind(event)} with this id is already waiting")
                return None, [Rejected.of(error, record)]
            del self.pending[key]
            request, response = (event, waiting.event) if event.is_request else (waiting.event, event)
            return Pair(request, response, record, waiting.record), self._expire_stream()
        start = event.time if event.time is not None else self.now  # no time of its own: the stream's
        due = start + self.timeout_s if start > float("-inf") else float("inf")
        self.pending[key] = Half(event, record, due, self.wall() + self.timeout_s)
        rejected = self._expire_stream()
        while len(self.pending) > self.max_pending:
            _, oldest = self.pending.popitem(last=False)
            detail = f"id {oldest.event.id!r}: pushed out of the join buffer ({self.max_pending} halves waiting)"
            rejected.append(Rejected.of(FormatError("join_overflow", detail), oldest.record))
        return None, rejected

    def expire_idle(self) -> list[Rejected]:
        """The halves that have waited longer than ``timeout_s`` by the wall clock."""
        now = self.wall()
        return self._expire(lambda half: half.due_wall < now, f"no partner within {self.timeout_s:g} s")

    def drain(self) -> list[Rejected]:
        """Every half still waiting (the input ended)."""
        return self._expire(lambda half: True, "the input ended before its partner came")

    def _expire_stream(self) -> list[Rejected]:
        now = self.now
        return self._expire(lambda half: half.due < now, f"no partner within {self.timeout_s:g} s")

    def _expire(self, overdue: Callable[[Half], bool], why: str) -> list[Rejected]:
        rejected = []
        while self.pending:
            key, oldest = next(iter(self.pending.items()))
            if not overdue(oldest):
                break
            del self.pending[key]
            error = FormatError("unmatched_half", f"{_kind(oldest.event)} {oldest.event.id!r}: {why}")
            rejected.append(Rejected.of(error, oldest.record))
        return rejected


def _kind(event: CloudEvent) -> str:
    return "request" if event.is_request else "response"
