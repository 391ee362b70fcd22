"""The rule scorer: the features a window computes and the hits it gives follow the rules in force."""

from __future__ import annotations

import numpy as np

from detector.hit import SEVERITY_SCORE
from detector.rule_scorer import RuleScorer
from detector.threshold_policy import ThresholdPolicy
from featurizers.base import Observation
from featurizers.extractor import FeatureExtractor
from featurizers.gradient_walk import GradientWalk
from featurizers.query_rate import QueryRate
from featurizers.state import StateStore
from rules import RuleSet
from rules.schema import Rule


def rules(**conditions: str) -> RuleSet:
    return RuleSet([Rule(id=rule_id, description=rule_id, condition=c, severity="high") for rule_id, c in conditions.items()])


def test_a_window_computes_what_the_rules_in_force_read_and_fires_them() -> None:
    extractor = FeatureExtractor([QueryRate(), GradientWalk()])
    scorer = RuleScorer(extractor, ThresholdPolicy(rules(busy="rate_60s > 1000"), online=False))
    store = StateStore(window=8)
    model = store.model("m")
    for i in range(8):
        client = store.touch("m", "c", float(i))
        extractor.observe(Observation(f"e{i}", float(i), np.array([i % 3, 1.0], dtype=np.float32), None, -1, None),
                          client, model)  # fmt: skip
    assert "dist_prev_median" not in scorer.features(client, model)
    scorer.use(rules(busy="rate_60s > 1000", walked="dist_prev_median >= 0"))
    features = scorer.features(client, model)
    hit, = scorer.hits(features, client, model)
    assert (hit.detector, hit.score, hit.related_clients) == ("rule:walked", SEVERITY_SCORE["high"], ())
    assert hit.reasons[0].feature == "dist_prev_median"
