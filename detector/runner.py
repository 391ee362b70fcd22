"""The stream loop shared by replay and the worker: source -> parse -> pipeline -> sinks.

Per batch: parse every record (bad ones to the dead-letter sink), run valid
events through the pipeline, flush the sinks, and only then commit the source,
so that nothing the batch caused is lost if the process dies.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from detector.decide import AlertChange
from detector.event import InferenceEvent
from detector.parse import DeadLetter, Parser
from detector.pipeline import Pipeline
from detector.sinks.alert_sink import AlertSink
from detector.sources.base import Record, Source


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
    pipeline: Pipeline,
    alert_sink: AlertSink,
    dead_letters: DeadLetterSink,
    summary: RunSummary,
) -> InferenceEvent | DeadLetter:
    """Parse one record and run it through the pipeline (a bad one goes to the dead letters);
    returns what the parser made of it."""
    summary.events += 1
    result = parser.parse(record.value)
    if isinstance(result, DeadLetter):
        summary.dead_letters[result.reason] += 1
        dead_letters.add(result, record)
        return result
    summary.accepted += 1
    changes = pipeline.process(result)
    if changes:
        alert_sink.add(changes)
        for change in changes:
            summary.alerts[change.alert.alert_id] = (change.alert.detector, change.alert.severity)
    return result


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
) -> RunSummary:
    """Drive the stream to its end (or until the source stops) and return the summary."""
    summary = RunSummary()
    for batch in source.batches(batch_size):
        for record in batch:
            process_record(record, parser, pipeline, alert_sink, dead_letters, summary)
        dead_letters.flush()
        adopt_replaced(alert_sink.flush(), pipeline, summary)
        source.commit()
        summary.duplicates = pipeline.stats.duplicates
        summary.seconds = time.perf_counter() - summary.started
        if on_batch is not None:
            on_batch(summary)
    summary.seconds = time.perf_counter() - summary.started
    return summary
