"""Checkpoint blobs: a pipeline restored from them goes on exactly as one that never stopped."""

from __future__ import annotations

import pickle
import zlib

import numpy as np
import pytest

from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings
from detector.worker.snapshot import FORMAT, SnapshotError, dump_clients, dump_model, load_clients, load_model
from featurizers.state import StateStore
from rules import load_rules
from tests.worker.harness import PROBE_RULE

SETTINGS = Settings(window=32, model_warmup=10, score_every=4)


def stream(count: int, start: int) -> list[InferenceEvent]:
    rng = np.random.default_rng(start)
    events = []
    for i in range(start, start + count):
        client = f"client-{i % 5}"
        x = np.linspace(0, 1, 6) + (rng.normal(0, 1e-3, 6) if client == "client-0" else rng.uniform(-1, 1, 6))
        scores = [0.9, 0.1] if i % 3 else [0.2, 0.8]
        events.append(InferenceEvent(event_id=f"e{i}", ts=1_800_000_000.0 + i * 0.1, client_id=client,
                                     model_id="m:1", input=x.tolist(), output={"scores": scores}))  # fmt: skip
    return events


def outcome(pipeline: Pipeline, events: list[InferenceEvent]) -> list[tuple]:
    """What the pipeline makes of events: every alert change, and every client's features at the end."""
    changes = [(c.alert.client_id, c.alert.detector, c.hit_count, c.new) for e in events for c in pipeline.process(e)]
    model = pipeline.store.models["m:1"]
    features = [(key, pipeline.extractor.features(client, model)) for key, client in sorted(pipeline.store.clients.items())]
    return changes + features


@pytest.fixture
def ruleset(tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text(PROBE_RULE.replace(">= 120", ">= 30").replace("min_events: 120", "min_events: 30"))
    return load_rules([path], include_builtin=False)


def test_a_restored_pipeline_continues_exactly_like_an_uninterrupted_one(ruleset) -> None:
    first, rest = stream(150, 0), stream(150, 150)
    uninterrupted = Pipeline(SETTINGS, ruleset)
    checkpointed = Pipeline(SETTINGS, ruleset)
    outcome(uninterrupted, first)
    outcome(checkpointed, first)
    clients_blob = dump_clients(checkpointed.store)
    model_blob = dump_model(checkpointed.store.models["m:1"], checkpointed.anomaly.models.get("m:1"))

    model_state, river = load_model(model_blob)
    store = StateStore(SETTINGS.window, SETTINGS.max_clients, SETTINGS.idle_ttl_s, models={"m:1": model_state})
    load_clients(clients_blob, store)
    restored = Pipeline(SETTINGS, ruleset, store=store, anomaly_models={"m:1": river} if river is not None else {})
    assert list(restored.store.clients) == list(checkpointed.store.clients)

    expected = outcome(uninterrupted, rest)
    assert any(detector == "rule:test-probe-count" for _, detector, *_ in expected[:-5])
    assert outcome(restored, rest) == expected
    assert restored.anomaly.models["m:1"].seen == uninterrupted.anomaly.models["m:1"].seen > 0


def test_restored_events_are_recognised_as_duplicates(ruleset) -> None:
    events = stream(40, 0)
    pipeline = Pipeline(SETTINGS, ruleset)
    outcome(pipeline, events)
    store = StateStore(SETTINGS.window, models=pipeline.store.models)
    load_clients(dump_clients(pipeline.store), store)
    restored = Pipeline(SETTINGS, ruleset, store=store, anomaly_models=pipeline.anomaly.models)
    for event in events[-10:]:
        assert restored.process(event) == []
    assert restored.stats.duplicates == 10


def test_unreadable_or_foreign_blobs_are_refused_clearly() -> None:
    with pytest.raises(SnapshotError, match="unreadable clients snapshot"):
        load_clients(b"not a snapshot", StateStore())
    other_format = zlib.compress(pickle.dumps((999, "clients", ([], 0))))
    with pytest.raises(SnapshotError, match="format 999"):
        load_clients(other_format, StateStore())
    with pytest.raises(SnapshotError, match=f"this version reads {FORMAT}/model"):
        load_model(dump_clients(StateStore()))
