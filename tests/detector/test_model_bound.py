"""Per-model state under ``max_models``: a thousand model ids cost no more memory than the bound's worth."""

from __future__ import annotations

import numpy as np

from benchmarks.scaling import rss_bytes
from detector.assembly import load_ruleset
from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings

MAX_MODELS = 20


def events_of(model: int, rng: np.random.Generator) -> list[InferenceEvent]:
    """One client's four events against its model: enough for a window scored by the anomaly model."""
    return [
        InferenceEvent(event_id=f"m{model}-{i}", ts=1_790_000_000.0 + 4 * model + i, client_id=f"c{model}",
                       model_id=f"m:{model}", input=rng.uniform(0, 1, 16).tolist(), output={"scores": [0.2, 0.8]})
        for i in range(4)
    ]  # fmt: skip


def test_a_thousand_model_ids_stay_within_max_models_memory() -> None:
    settings = Settings(window=8, score_every=4, model_every=4, max_models=MAX_MODELS, max_clients=50, model_warmup=10**6)
    pipeline = Pipeline(settings, load_ruleset(settings))
    rng = np.random.default_rng(0)
    rss = {}
    for model in range(1000):
        for event in events_of(model, rng):
            pipeline.process(event)
        if model + 1 in (250, 1000):
            rss[model + 1] = rss_bytes()
    assert len(pipeline.store.models) == len(pipeline.anomaly.models) == MAX_MODELS
    assert pipeline.model_bound.evicted == 1000 - MAX_MODELS
    assert sorted(pipeline.anomaly.models) == sorted(f"m:{m}" for m in range(1000 - MAX_MODELS, 1000))
    # flat once the bound is reached: unbounded, the 750 models after the 250th take ~160 MB
    assert rss[1000] - rss[250] < 40 * 2**20


def test_a_model_seen_again_after_eviction_starts_afresh_in_a_replay() -> None:
    settings = Settings(window=8, score_every=4, model_every=4, max_models=2, model_warmup=10**6)
    pipeline = Pipeline(settings, load_ruleset(settings))
    rng = np.random.default_rng(1)
    for model in (0, 1, 2, 0):
        for event in events_of(model, rng):
            pipeline.process(event.model_copy(update={"event_id": f"{event.event_id}-{pipeline.stats.events}"}))
    assert sorted(pipeline.store.models) == ["m:0", "m:2"] and pipeline.model_bound.evicted == 2
    assert pipeline.anomaly.models["m:0"].seen == 1  # relearned from its one window since it came back
