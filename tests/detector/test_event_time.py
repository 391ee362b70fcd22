"""The detector's clock: events dated far outside it are dead letters, and cannot evict, hide or
reorder anything; a gap in a replay, sparse traffic and slight disorder still pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pytest
from sqlalchemy import select

from detector.assembly import load_ruleset
from detector.db.engine import make_engine
from detector.db.tables import alerts
from detector.db.migrate import ensure_schema
from detector.event import InferenceEvent
from detector.event_time import QUORUM, REASON, EventClock
from detector.parse import Parser
from detector.pipeline import Pipeline
from detector.runner import run_stream
from detector.settings import Settings
from detector.sinks.alert_sink import AlertSink
from detector.sinks.dead_letter import FileDeadLetterSink, dlq_path
from detector.sources.base import Record
from detector.sources.file_source import FileSource
from featurizers.state import StateStore
from tests.worker.harness import PROBE_DETECTOR, write_rules

T0 = 1_790_000_000.0
IDLE_TTL_S = 600.0


def line(client: str, number: int, ts: float, x: np.ndarray) -> bytes:
    return orjson.dumps({"event_id": f"{client}-{number}", "ts": ts, "client_id": client, "model_id": "m:1",
                         "input": x.round(5).tolist(), "output": {"scores": [0.4, 0.6]}})  # fmt: skip


def normal_stream() -> list[bytes]:
    """Eight people (a query every 20 s) and a prober (a query every 2 s, tiny steps around one point,
    150 queries: past the probe rule's 120), over 25 minutes, in time order."""
    rng = np.random.default_rng(3)
    timed = []
    for person in range(8):
        for n in range(75):
            timed.append((T0 + person + 20.0 * n, line(f"person-{person}", n, T0 + person + 20.0 * n, rng.uniform(0, 1, 6))))
    centre = np.linspace(0, 1, 6)
    for n in range(150):
        timed.append((T0 + 2.0 * n, line("prober", n, T0 + 2.0 * n, centre + rng.normal(0, 1e-3, 6))))
    return [raw for _, raw in sorted(timed, key=lambda item: item[0])]


def spoofed(stream: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The stream with events from unrelated clients dated far ahead (a day, the year 3000, 1e300)
    and far behind (a day, the epoch) scattered through it; also the bad lines alone."""
    bad_times = [T0 + 86_400.0, 32_503_680_000.0, 1e300, T0 - 86_400.0, 0.0, T0 + 7 * 86_400.0]
    out, bad = list(stream), []
    for i in range(9):
        raw = line(f"spoof-{i}", 0, bad_times[i % len(bad_times)], np.full(6, 0.5))
        out.insert(len(stream) * (i + 1) // 10 + i, raw)
        bad.append(raw)
    return out, bad


@dataclass
class Replayed:
    pipeline: Pipeline
    dead_letters: dict[str, int]
    dlq: list[dict]
    """The dead-letter file's records."""
    alerts: list[tuple[str, str, str]]
    """(client, detector, triggering event) of every stored alert."""


def replay(lines: list[bytes], folder: Path, **settings: object) -> Replayed:
    """Replay ``lines`` as a file into a fresh SQLite store, with the probe rule beside the built-in ones."""
    folder.mkdir()
    events = folder / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    settings = Settings(database_url=f"sqlite:///{folder / 'alerts.db'}", rules=[str(write_rules(folder))],
                        idle_ttl_s=IDLE_TTL_S, model_warmup=10**6, **settings)  # fmt: skip
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    pipeline = Pipeline(settings, load_ruleset(settings))
    dead_letters = FileDeadLetterSink()
    try:
        summary = run_stream(FileSource([events]), Parser(), pipeline, AlertSink(engine, webhook_enabled=False),
                             dead_letters)  # fmt: skip
        with engine.connect() as connection:
            rows = connection.execute(select(alerts.c.client_id, alerts.c.detector, alerts.c.trigger_event_id))
            stored = sorted(tuple(row) for row in rows)
    finally:
        dead_letters.close()
        engine.dispose()
    dlq = dlq_path(events)
    records = [orjson.loads(row) for row in dlq.read_bytes().splitlines()] if dlq.exists() else []
    return Replayed(pipeline, dict(summary.dead_letters), records, stored)


def windows(pipeline: Pipeline) -> dict:
    """Every tracked client's window: its newest event ids and their times, in order."""
    return {key: (state.recent_event_ids(state.window), state.ts.ordered().tolist())
            for key, state in pipeline.store.clients.items()}  # fmt: skip


def test_far_future_and_far_past_events_change_no_window_and_no_alert_and_go_to_the_dlq(tmp_path: Path) -> None:
    stream = normal_stream()
    with_bad, bad = spoofed(stream)
    clean = replay(stream, tmp_path / "clean")
    dirty = replay(with_bad, tmp_path / "dirty")

    assert clean.dead_letters == {}
    # idle eviction still runs: the prober, quiet for the last 20 minutes, is forgotten; the people are not
    assert sorted(client for _, client in clean.pipeline.store.clients) == [f"person-{p}" for p in range(8)]
    assert windows(dirty.pipeline) == windows(clean.pipeline)
    assert ("prober", PROBE_DETECTOR) in {(client, detector) for client, detector, _ in clean.alerts}
    assert dirty.alerts == clean.alerts
    assert dirty.dead_letters == {REASON: len(bad)}
    assert sorted(record["raw"].encode() for record in dirty.dlq) == sorted(bad)
    assert dirty.pipeline.store.watermark == clean.pipeline.store.watermark == T0 + 7 + 20.0 * 74


def through(clock: EventClock, times: list[float]) -> tuple[list[float], list[float]]:
    """Feed events with these times, processing what is admitted as the pipeline would (touching the
    store); the times processed, in order, and the times dead-lettered."""
    processed, dead = [], []

    def handle(admitted: list) -> None:
        for item, record in admitted:
            if isinstance(item, InferenceEvent):
                clock.store.touch(item.model_id, item.client_id, item.ts)
                processed.append(item.ts)
            else:
                assert item.reason == REASON
                dead.append(float(record.position))

    for ts in times:
        event = InferenceEvent(event_id=f"e{ts}", ts=ts, client_id="c", model_id="m", output={"label": 1})
        handle(clock.admit(event, Record(b"{}", repr(ts), "f")))
    handle(clock.close())
    return processed, dead


def stream_clock(**bounds: float) -> EventClock:
    return EventClock(StateStore(), **{"max_skew_s": 300.0, "max_lateness_s": 3600.0, **bounds})


def test_a_gap_in_a_replay_and_sparse_traffic_are_followed_in_order() -> None:
    gap = [T0 + i for i in range(200)] + [T0 + 7200.0 + i for i in range(200)]
    assert through(stream_clock(), gap) == (gap, [])
    sparse = [T0 + 900.0 * i for i in range(300)]  # one event every 15 minutes, each past the skew
    assert through(stream_clock(), sparse) == (sparse, [])
    assert through(stream_clock(), [T0]) == ([T0], [])


def test_slightly_out_of_order_events_are_all_admitted_as_they_come() -> None:
    rng = np.random.default_rng(0)
    times = (T0 + np.arange(2000) * 0.5 + rng.uniform(-120, 120, 2000)).tolist()
    processed, dead = through(stream_clock(), times)
    assert dead == [] and processed[QUORUM:] == times[QUORUM:] and sorted(processed) == sorted(times)


def test_a_burst_of_spoofed_times_short_of_a_majority_of_the_stream_is_refused() -> None:
    normal = [T0 + i for i in range(1000)]
    times = normal[:500] + [T0 + 1e6] * (QUORUM - 1) + normal[500:]
    assert through(stream_clock(), times) == (normal, [T0 + 1e6] * (QUORUM - 1))


def test_the_worker_clock_refuses_times_past_the_host_clock_and_follows_any_gap_before_it() -> None:
    clock = stream_clock(wall=lambda: T0 + 10_000.0)
    times = [T0, T0 + 1, T0 + 9_000.0, T0 + 10_200.0, T0 + 10_400.0, T0 + 9_100.0, T0 + 5_000.0]
    assert through(clock, times) == ([T0, T0 + 1, T0 + 9_000.0, T0 + 10_200.0, T0 + 9_100.0],
                                     [T0 + 10_400.0, T0 + 5_000.0])  # fmt: skip
