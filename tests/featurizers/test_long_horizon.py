"""Long horizon: distinct queries over a client's life, in a sketch that stays within its byte bound, survives a
checkpoint and drives an extraction budget that a re-scoring job's fixed set does not exhaust."""

from __future__ import annotations

import pickle

import numpy as np

from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings
from featurizers.gradient_walk import GradientWalk
from featurizers.long_horizon import SKETCH_NBYTES, DistinctInputs, LongHorizon
from featurizers.neighbourhood import Neighbourhood
from featurizers.state import StateStore
from rules import RuleSet
from rules.schema import Rule
from tests.featurizers.streams import Replay

DIM = 16


def test_the_sketch_counts_distinct_inputs_within_its_byte_bound_and_survives_a_checkpoint() -> None:
    rng = np.random.default_rng(0)
    sketch = DistinctInputs()
    inputs = rng.normal(size=(20_000, DIM)).astype(np.float32)
    for x in inputs:
        sketch.add(x)
    for x in inputs[:5000]:  # sent again: not new
        sketch.add(x)
    assert abs(sketch.estimate / 20_000 - 1) < 0.05
    assert sketch.nbytes <= sketch.max_nbytes == SKETCH_NBYTES <= 1100
    restored = pickle.loads(pickle.dumps(sketch))
    assert restored.estimate == sketch.estimate


def test_retries_and_re_encoded_copies_are_not_distinct() -> None:
    rng = np.random.default_rng(1)
    r = Replay([GradientWalk(), Neighbourhood(), LongHorizon()], StateStore(window=64))
    originals = rng.normal(size=(300, DIM))
    copies = [x + 1e-4 * rng.standard_normal(DIM) for x in originals for _ in range(3)]
    r.inputs("retrying", copies)
    assert abs(r.features("retrying")["distinct_queries_total"] - 300) <= 15


def event(i: int, client: str, x: np.ndarray) -> InferenceEvent:
    return InferenceEvent(event_id=f"{client}-{i}", ts=1_800_000_000.0 + i, client_id=client, model_id="m",
                          input=x.tolist(), output={"scores": [0.3, 0.7]})  # fmt: skip


def test_a_budget_is_reached_by_new_queries_and_not_by_a_fixed_set_sent_again() -> None:
    rng = np.random.default_rng(2)
    budget = RuleSet([Rule(id="budget", description="budget", condition="distinct_queries_total > $budget",
                           thresholds={"budget": 500}, severity="medium", min_events=64)])  # fmt: skip
    pipeline = Pipeline(Settings(online_calibration=False), budget)
    fixed = rng.normal(size=(200, DIM))
    alerted = set()
    for i in range(1200):
        for client, x in (("rescoring", fixed[i % 200]), ("extracting", rng.normal(size=DIM))):
            alerted |= {change.alert.client_id for change in pipeline.process(event(i, client, x))}
    assert alerted == {"extracting"}
