"""The detector's own clock: which events' times it believes, so that no ``ts`` can blind it.

A model API with a broken clock, or one that copies a client-supplied time,
can write any ``ts``. Were eviction to take each event's time as "now", one
event dated in the year 3000 would make every tracked client look idle. So
the stream's time is the watermark of its client store (the latest admitted
time), and an event is admitted only when its ``ts`` is

- at most ``max_lateness_s`` (the idle TTL) behind the watermark: an older
  event would belong to clients already forgotten; and
- at most ``max_skew_s`` ahead of the clock: with ``wall`` (the worker, ``run``)
  the host's clock, so no event can claim a time that has not come yet; without
  it (``replay`` of files, whose time is their own) the watermark, except that
  the stream may move on after a gap: an event further ahead is held until the
  stream vouches for its time, and let through once ``QUORUM`` of the next
  ``VOTES`` arrivals are at most ``max_skew_s`` earlier than it. Spoofing the
  clock forward then takes most of the stream's traffic, not one event.

Everything else is a dead letter, ``ts_out_of_range``, whose detail says by
how much and against what. Slightly out-of-order events (within those bounds)
are admitted as they come.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from detector.event import InferenceEvent
from detector.parse import DeadLetter
from detector.settings import Settings
from detector.sources.base import Record
from featurizers.state import StateStore

REASON = "ts_out_of_range"
VOTES = 127
"""Arrivals after a held event that decide on it (odd, so a majority always exists)."""
QUORUM = VOTES // 2 + 1

Admitted = tuple[InferenceEvent | DeadLetter, Record]
"""An event to process, or a dead letter to write, with the record it came from."""


@dataclass(slots=True)
class _Held:
    """An event ahead of the watermark, waiting for the stream to confirm or refute its time."""

    event: InferenceEvent
    record: Record
    votes: int = 0
    against: int = 0


class EventClock:
    """Admits events whose time is believable against ``store.watermark``; see the module docstring.

    >>> store = StateStore()
    >>> clock = EventClock(store, max_skew_s=300, max_lateness_s=3600, wall=lambda: 10_000.0)
    >>> def event(ts):
    ...     return InferenceEvent(event_id="e", ts=ts, client_id="c", model_id="m", output={"label": 1})
    >>> [type(item).__name__ for item, _ in clock.admit(event(9_000.0), Record(b"", "f:1", "f"))]
    ['InferenceEvent']
    >>> store.watermark = 9_000.0   # what processing that event does
    >>> letter, _ = clock.admit(event(1e300), Record(b"", "f:2", "f"))[0]
    >>> letter.reason, letter.detail
    ('ts_out_of_range', 'ts: 1e+300 is 1e+300 s ahead of the clock (10000, at most 300 s ahead)')
    >>> clock.admit(event(5_000.0), Record(b"", "f:3", "f"))[0][0].detail
    'ts: 5000 is 4000 s behind the watermark (9000, at most 3600 s behind)'
    """

    def __init__(
        self,
        store: StateStore,
        *,
        max_skew_s: float,
        max_lateness_s: float,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.max_skew_s = max_skew_s
        self.max_lateness_s = max_lateness_s
        self.wall = wall
        self.held: list[_Held] = []
        self.released = -math.inf
        """The latest time let through, processed or not yet (the store's watermark follows it)."""

    @classmethod
    def for_settings(cls, store: StateStore, settings: Settings, wall: Callable[[], float] | None = None) -> EventClock:
        """The clock of a store under the detector's settings: the skew allowed ahead, the idle TTL behind."""
        return cls(store, max_skew_s=settings.max_clock_skew_s, max_lateness_s=settings.idle_ttl_s, wall=wall)

    @property
    def watermark(self) -> float:
        return max(self.store.watermark, self.released)

    def admit(self, event: InferenceEvent, record: Record) -> list[Admitted]:
        """What this arrival lets through, in order: held events the stream now vouches for (or
        refutes), then the event itself unless it is held."""
        out: list[Admitted] = []
        if self.held:
            self._vote(event.ts, out)
        if self.wall is not None:
            now = self.wall()
            if event.ts > now + self.max_skew_s:
                out.append((self._ahead(event, record, now, "the clock"), record))
            else:
                self._release(event, record, out)
        elif self.watermark == -math.inf or event.ts > self.watermark + self.max_skew_s:
            self.held.append(_Held(event, record))
        else:
            self._release(event, record, out)
        return out

    def close(self) -> list[Admitted]:
        """At the end of the stream: each held event is let through unless more of the arrivals
        after it refuted its time than vouched for it."""
        out: list[Admitted] = []
        held, self.held = self.held, []
        for entry in held:
            if entry.votes >= entry.against:
                self._release(entry.event, entry.record, out)
            else:
                out.append((self._ahead(entry.event, entry.record, self.watermark, "the stream"), entry.record))
        return out

    def _vote(self, ts: float, out: list[Admitted]) -> None:
        """Count this arrival's time for or against each held event; then let through the confirmed
        ones and those the watermark has caught up with, and dead-letter the refuted ones."""
        for entry in self.held:
            if ts >= entry.event.ts - self.max_skew_s:
                entry.votes += 1
            else:
                entry.against += 1
        moved = True
        while moved:
            moved = False
            horizon = self.watermark + self.max_skew_s
            for entry in list(self.held):
                if entry.votes >= QUORUM or entry.event.ts <= horizon:
                    self.held.remove(entry)
                    self._release(entry.event, entry.record, out)
                    moved = True
        for entry in [entry for entry in self.held if entry.against > VOTES - QUORUM]:
            self.held.remove(entry)
            out.append((self._ahead(entry.event, entry.record, self.watermark, "the stream"), entry.record))

    def _release(self, event: InferenceEvent, record: Record, out: list[Admitted]) -> None:
        oldest = self.watermark - self.max_lateness_s
        if event.ts < oldest:
            behind = self.watermark - event.ts
            detail = (
                f"ts: {event.ts:g} is {behind:.0f} s behind the watermark "
                f"({self.watermark:.0f}, at most {self.max_lateness_s:g} s behind)"
            )
            out.append((DeadLetter(REASON, detail, record.value), record))
            return
        self.released = max(self.released, event.ts)
        out.append((event, record))

    def _ahead(self, event: InferenceEvent, record: Record, reference: float, what: str) -> DeadLetter:
        detail = (
            f"ts: {event.ts:g} is {event.ts - reference:.3g} s ahead of {what} "
            f"({reference:.0f}, at most {self.max_skew_s:g} s ahead)"
        )
        if what == "the stream":
            detail += "; the events after it did not vouch for its time"
        return DeadLetter(REASON, detail, record.value)
