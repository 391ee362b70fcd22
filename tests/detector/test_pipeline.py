"""The pipeline's own wiring: the store it is given, and how often the model and the rules look at a client."""

from __future__ import annotations

import pytest

from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings
from featurizers.gradient_walk import GradientWalk
from featurizers.query_rate import QueryRate
from featurizers.state import StateStore
from rules import RuleSet
from rules.schema import Rule


def event(i: int, client: str = "c") -> InferenceEvent:
    return InferenceEvent(event_id=f"e{i}", ts=1_800_000_000.0 + i, client_id=client, model_id="m",
                          input=[float(i % 7), 1.0], output={"scores": [0.3, 0.7]})  # fmt: skip


def test_an_empty_store_given_is_the_store_used() -> None:
    store = StateStore(window=8)
    assert len(store) == 0
    pipeline = Pipeline(Settings(window=8), RuleSet([]), store=store)
    pipeline.process(event(0))
    assert pipeline.store is store and len(store) == 1


class Counting(GradientWalk):
    """gradient_walk, counting how often its features are computed."""

    computed = 0

    def compute(self, client, model):  # noqa: ANN001, ANN201 - the featurizer interface
        self.computed += 1
        return super().compute(client, model)


def rule(condition: str, min_events: int = 1, rule_id: str = "r") -> RuleSet:
    return RuleSet([Rule(id=rule_id, description=rule_id, condition=condition, severity="low", min_events=min_events)])


@pytest.mark.parametrize(("model_every", "windows"), [(4, 16), (16, 4), (12, 5), (1, 16)])
def test_the_model_scores_a_client_once_every_model_every_events(model_every: int, windows: int) -> None:
    settings = Settings(window=16, score_every=4, model_every=model_every, model_warmup=1000)
    pipeline = Pipeline(settings, RuleSet([]))
    for i in range(64):
        pipeline.process(event(i))
    assert pipeline.stats.windows_scored == 16
    assert pipeline.anomaly.models["m"].seen == windows


def test_windows_the_model_skips_compute_only_the_features_the_rules_read() -> None:
    walk = Counting()
    settings = Settings(window=16, score_every=4, model_every=16, model_warmup=1000)
    pipeline = Pipeline(settings, rule("rate_60s > 1000"), featurizers=[QueryRate(), walk])
    for i in range(64):
        pipeline.process(event(i))
    assert walk.computed == 4  # the model's windows only


def test_a_new_alert_from_a_window_the_model_skips_carries_every_feature() -> None:
    walk = Counting()
    settings = Settings(window=16, score_every=4, model_every=16, model_warmup=1000)
    pipeline = Pipeline(settings, rule("events_total >= 8", min_events=8), featurizers=[QueryRate(), walk])
    changes = [change for i in range(12) for change in pipeline.process(event(i))]
    assert [(change.alert.detector, change.new) for change in changes] == [("rule:r", True), ("rule:r", False)]
    assert walk.computed == 1  # for the new alert only: an update keeps the features it was raised with
    assert set(walk.FEATURES) & set(changes[0].alert.features) == set(walk.compute(*client_and_model(pipeline)))


def test_a_reloaded_rule_over_features_no_rule_read_before_fires_on_the_next_window_the_model_skips() -> None:
    """The featurizers a rule window computes follow the rules in force, not those the pipeline
    started with: a reload that adds a rule over another featurizer's features fires at once."""
    settings = Settings(window=16, score_every=4, model_every=1000, model_warmup=1000)
    pipeline = Pipeline(settings, rule("rate_60s > 1000"), featurizers=[QueryRate(), GradientWalk()])
    assert [change for i in range(8) for change in pipeline.process(event(i))] == []
    pipeline.use_rules(RuleSet([*rule("rate_60s > 1000"), *rule("dist_prev_median >= 0", rule_id="walk")]))
    changes = [change for i in range(8, 12) for change in pipeline.process(event(i))]
    assert [(change.alert.detector, change.new) for change in changes] == [("rule:walk", True)]
    assert pipeline.anomaly.models == {}  # scored by the rules alone


def client_and_model(pipeline: Pipeline) -> tuple:
    return pipeline.store.clients[("m", "c")], pipeline.store.models["m"]
