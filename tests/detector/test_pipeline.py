"""The pipeline's own wiring: the store it is given, and how often the model and the rules look at a client."""

from __future__ import annotations

from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings
from featurizers.state import StateStore
from rules import RuleSet


def event(i: int, client: str = "c") -> InferenceEvent:
    return InferenceEvent(event_id=f"e{i}", ts=1_800_000_000.0 + i, client_id=client, model_id="m",
                          input=[float(i % 7), 1.0], output={"scores": [0.3, 0.7]})  # fmt: skip


def test_an_empty_store_given_is_the_store_used() -> None:
    store = StateStore(window=8)
    assert len(store) == 0
    pipeline = Pipeline(Settings(window=8), RuleSet([]), store=store)
    pipeline.process(event(0))
    assert pipeline.store is store and len(store) == 1
