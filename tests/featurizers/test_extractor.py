"""The feature extractor: the per-event steps in their order, and reading only the featurizers asked for."""

from __future__ import annotations

import numpy as np

from featurizers.base import Observation
from featurizers.extractor import FeatureExtractor
from featurizers.gradient_walk import GradientWalk
from featurizers.input_scale import SETTLE_INPUTS, SETTLE_SHARE
from featurizers.query_rate import QueryRate
from featurizers.state import ClientState, ModelState, StateStore


class Counting(GradientWalk):
    """gradient_walk, counting how often its features are computed."""

    computed = 0

    def compute(self, client, model):  # noqa: ANN001, ANN201 - the featurizer interface
        self.computed += 1
        return super().compute(client, model)


def fed(extractor: FeatureExtractor, inputs: list[list[float]], clients: int = 1) -> tuple[ClientState, ModelState]:
    """The inputs as events of ``clients`` clients in turn, against one model."""
    store = StateStore(window=16)
    model = store.model("m")
    for i, x in enumerate(inputs):
        client = store.touch("m", f"c{i % clients}", float(i))
        extractor.observe(Observation(f"e{i}", float(i), np.array(x, dtype=np.float32), None, -1, None), client, model)
    return client, model


def test_an_observed_event_is_held_so_a_redelivery_is_recognised() -> None:
    extractor = FeatureExtractor([QueryRate()])
    client, _ = fed(extractor, [[0.0, 1.0], [1.0, 0.0]])
    assert extractor.holds(client, "e1") and not extractor.holds(client, "e2")
    assert client.n_events == 2


def test_only_novel_inputs_teach_the_model_its_input_scale() -> None:
    extractor = FeatureExtractor([GradientWalk()])
    _, model = fed(extractor, [[0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0001], [9.0, 1.0]])
    assert model.scale.normaliser is not None and model.scale.normaliser.count == 3  # the repeats of [5, 5] are not counted


def test_without_a_gradient_walk_every_input_is_novel() -> None:
    _, model = fed(FeatureExtractor([QueryRate()]), [[5.0, 5.0]] * 4)
    assert model.scale.normaliser is not None and model.scale.normaliser.count == 4


def test_one_busy_client_cannot_settle_its_model_input_scale_on_its_own_inputs() -> None:
    walk = np.random.default_rng(0).normal(0.0, 1.0, size=(4 * SETTLE_INPUTS, 2)).tolist()
    _, alone = fed(FeatureExtractor([QueryRate()]), walk)
    assert alone.scale.source == "provisional" and alone.scale.normaliser.count == 4 * SETTLE_INPUTS
    _, shared = fed(FeatureExtractor([QueryRate()]), walk[:SETTLE_INPUTS], clients=SETTLE_INPUTS // SETTLE_SHARE)
    assert shared.scale.source == "settled"


def test_features_for_some_names_run_only_the_featurizers_that_compute_them() -> None:
    walk = Counting()
    extractor = FeatureExtractor([QueryRate(), walk])
    client, model = fed(extractor, [[float(i % 3), 1.0] for i in range(8)])
    assert "rate_60s" in extractor.features_for(client, model, {"rate_60s"}) and walk.computed == 0
    assert "dist_prev_median" in extractor.features_for(client, model, {"dist_prev_median"}) and walk.computed == 1
    every = extractor.features(client, model)
    assert walk.computed == 2 and {"rate_60s", "dist_prev_median"} <= set(every) <= extractor.names
