"""``inversion-detector replay``: the full pipeline over JSONL files."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from detector.assembly import assemble
from detector.commands.terminal import Progress, table
from detector.formats import Decoder, open_decoder
from detector.parse import Parser
from detector.pipeline import Pipeline
from detector.runner import NATIVE, RunSummary, run_stream
from detector.settings import Settings
from detector.sinks.alert_sink import AlertSink
from detector.sinks.dead_letter import FileDeadLetterSink
from detector.sources.file_source import FileSource


def replay(paths: Sequence[str], settings: Settings, *, progress: bool | None = None) -> tuple[RunSummary, FileDeadLetterSink]:
    """Run the pipeline over the files into the configured store."""
    decoder = open_decoder(settings)
    parts = assemble(settings)
    try:
        return stream_files(paths, parts.pipeline, parts.alert_sink, progress=progress, decoder=decoder)
    finally:
        parts.engine.dispose()


def stream_files(
    paths: Sequence[str],
    pipeline: Pipeline,
    alert_sink: AlertSink,
    *,
    progress: bool | None = None,
    decoder: Decoder = NATIVE,
) -> tuple[RunSummary, FileDeadLetterSink]:
    """The files (read by ``decoder``'s input format) through the stream loop with a progress bar,
    their bad lines to dead-letter files beside them."""
    source = FileSource(paths)
    dead_letters = FileDeadLetterSink()
    bar = Progress(source.total_bytes, enabled=progress)
    try:
        summary = run_stream(
            source,
            Parser(),
            pipeline,
            alert_sink,
            dead_letters,
            on_batch=lambda s: bar.update(source.done_bytes, s.events, s.events_per_s),
            decoder=decoder,
        )
    finally:
        bar.close()
        dead_letters.close()
    return summary, dead_letters


def print_summary(summary: RunSummary, dead_letter_places: Sequence[str], out: TextIO | None = None) -> None:
    """The closing summary: throughput, dead letters by reason, alerts by detector and severity."""
    out = out or sys.stdout
    out.write(
        f"{summary.events:,} events in {summary.seconds:.1f} s ({summary.events_per_s:,.0f} events/s): "
        f"{summary.accepted:,} accepted, {summary.duplicates:,} duplicates skipped, "
        f"{sum(summary.dead_letters.values()):,} dead letters\n"
    )
    if summary.dead_letters:
        rows = [[reason, count] for reason, count in summary.dead_letters.most_common()]
        out.write("\n" + table(["dead-letter reason", "events"], rows) + "\n")
        for place in dead_letter_places:
            out.write(f"dead letters written to {place}\n")
    if summary.alerts:
        rows = [[d, s, n] for (d, s), n in sorted(summary.alerts_by().items())]
        out.write("\n" + table(["detector", "severity", "alerts"], rows) + "\n")
    else:
        out.write("no alerts\n")
