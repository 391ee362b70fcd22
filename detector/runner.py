"""The stream loop shared by replay and the worker: source -> parse -> pipeline -> sinks.

Per batch: parse every record (bad ones to the dead-letter sink), let the
stream's clock admit valid events by their time (:mod:`detector.event_time`),
run them through the pipeline, flush the sinks, and only then commit the
source, so that nothing the batch caused is lost if the process dies.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from detector.decide import AlertChange
from detector.event import InferenceEvent
from detector.event_time import Admitted, EventClock
from detector.formats import Decoder, Rejected
from detector.formats.decoder import NativeDecoder
from detector.parse import DeadLetter, Parser
from detector.pipeline import Pipeline
from detector.sinks.alert_sink import AlertSink
from detector.sources.base import Record, Source


NATIVE = NativeDecoder()
"""Records that hold contract events as they are."""


class DeadLetterSink(Protocol):
    """Where rejected records go: ``add`` buffers, ``flush`` makes them durable."""

    def add(self, letter: DeadLetter, record: Record) -> None: ...

    def flush(self) -> None: ...


@dataclass
class RunSummary:
    """What a run did, for the closing summary and for tests."""

    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_letters: Counter = field(default_factory=Counter)
    alerts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """alert id -> (detector, severity) of every alert created or updated."""
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def alerts_by(self) -> Counter:
        """Alerts counted by (detector, severity)."""
        return Counter(self.alerts.values())


def process_record(
    record: Record,
    parser: Parser,
    clock: EventClock,
    pipeline: Pipeline,
    alert_sink: AlertSink,
    dead_letters: DeadLetterSink,
    summary: RunSummary,
    decoder: Decoder = NATIVE,
) -> list[InferenceEvent]:
    """Decode one record from its input format, parse what it holds, let the clock judge each event's
    time, and run what it lets through the pipeline (a bad record, or one the clock does not believe,
    goes to the dead letters); returns the events processed (usually this record's, none when it was
    rejected, held or waits for its other half, several for a batch or when a hold ends)."""
    summary.events += 1
    if record.defect is not None:
        _dead_letter(DeadLetter(*record.defect, record.value), record, dead_letters, summary)
        return []
    processed = []
    for item in decoder.decode(record):
        if isinstance(item, Rejected):
            _dead_letter(item.letter, item.record, dead_letters, summary)
            continue
        result = parser.parse(item.value)
        if isinstance(result, DeadLetter):
            _dead_letter(result, item, dead_letters, summary)
            continue
        processed += run_admitted(clock.admit(result, item), pipeline, alert_sink, dead_letters, summary)
    return processed


def dead_letter_rejected(rejected: list[Rejected], dead_letters: DeadLetterSink, summary: RunSummary) -> None:
    """Records an input format gave up on outside :func:`process_record` (timed out, or left at the end)."""
    for item in rejected:
        _dead_letter(item.letter, item.record, dead_letters, summary)


def run_admitted(
    admitted: list[Admitted],
    pipeline: Pipeline,
    alert_sink: AlertSink,
    dead_letters: DeadLetterSink,
    summary: RunSummary,
) -> list[InferenceEvent]:
    """Process the events the clock let through and dead-letter the ones it rejected; returns the events."""
    processed = []
    for item, record in admitted:
        if isinstance(item, DeadLetter):
            _dead_letter(item, record, dead_letters, summary)
            continue
        summary.accepted += 1
        changes = pipeline.process(item)
        if changes:
            alert_sink.add(changes)
            for change in changes:
                summary.alerts[change.alert.alert_id] = (change.alert.detector, change.alert.severity)
        processed.append(item)
    return processed


def _dead_letter(letter: DeadLetter, record: Record, dead_letters: DeadLetterSink, summary: RunSummary) -> None:
    summary.dead_letters[letter.reason] += 1
    dead_letters.add(letter, record)


def adopt_replaced(replaced: dict[str, AlertChange], pipeline: Pipeline, summary: RunSummary) -> None:
    """After a flush: alerts the sink re-created (the one they updated was closed meanwhile)
    become the pipeline's current alerts for their keys."""
    if replaced:
        pipeline.decider.rebind(replaced)
        for old_id, change in replaced.items():
            summary.alerts.pop(old_id, None)
            summary.alerts[change.alert.alert_id] = (change.alert.detector, change.alert.severity)


def run_stream(
    source: Source,
    parser: Parser,
    pipeline: Pipeline,
    alert_sink: AlertSink,
    dead_letters: DeadLetterSink,
    *,
    batch_size: int = 2000,
    on_batch: Callable[[RunSummary], None] | None = None,
    decoder: Decoder = NATIVE,
) -> RunSummary:
    """Drive the stream to its end (or until the source stops) and return the summary. The stream
    keeps its own time (no wall clock: a replay's time is its files'); what the decoder still holds
    at the end is dead-lettered."""
    summary = RunSummary()
    clock = EventClock.for_settings(pipeline.store, pipeline.settings)

    def finish_batch() -> None:
        dead_letters.flush()
        adopt_replaced(alert_sink.flush(), pipeline, summary)
        source.commit()
        summary.duplicates = pipeline.stats.duplicates
        summary.seconds = time.perf_counter() - summary.started
        if on_batch is not None:
            on_batch(summary)

    for batch in source.batches(batch_size):
        for record in batch:
            process_record(record, parser, clock, pipeline, alert_sink, dead_letters, summary, decoder)
        finish_batch()
    left = decoder.drain()
    if clock.held or left:
        dead_letter_rejected(left, dead_letters, summary)
        run_admitted(clock.close(), pipeline, alert_sink, dead_letters, summary)
        finish_batch()
    summary.seconds = time.perf_counter() - summary.started
    return summary
