"""Score a client's window with the rules in force: the features they read, their hits, what their thresholds learn.

Everything the scorer needs from the rules is derived from the rules in force
when it scores, never kept from the rules it started with: after a reload
(:meth:`RuleScorer.use`, a SIGHUP) a new rule over features no earlier rule
read makes the next window compute them, and fires on it, whether or not the
anomaly scorer looks at that window too.
"""

from __future__ import annotations

from collections.abc import Mapping

from detector.calibration import Calibration
from detector.hit import SEVERITY_SCORE, Hit
from detector.threshold_policy import ThresholdPolicy
from featurizers.extractor import FeatureExtractor
from featurizers.state import ClientState, ModelState
from rules import RuleSet


class RuleScorer:
    """The rules, bound per model with the thresholds in force (``thresholds``), over an extractor's features."""

    def __init__(self, extractor: FeatureExtractor, thresholds: ThresholdPolicy) -> None:
        self.extractor = extractor
        self.thresholds = thresholds

    @property
    def ruleset(self) -> RuleSet:
        """The rules in force (their shipped thresholds; :attr:`thresholds` binds them per model)."""
        return self.thresholds.ruleset

    def use(self, ruleset: RuleSet, calibration: Calibration | None = None) -> None:
        """Put new rules and calibration in force (a SIGHUP reload)."""
        self.thresholds.use(ruleset, calibration)

    def features(self, client: ClientState, model: ModelState) -> dict[str, float]:
        """The features of the client's window that the rules in force read (and some more): only the
        featurizers that compute them run."""
        return self.extractor.features_for(client, model, self.ruleset.features)

    def hits(self, features: Mapping[str, float], client: ClientState, model: ModelState) -> list[Hit]:
        """The rules that fire on the window's features, each naming the other clients of a split
        attack that the featurizers behind its fired conditions link to this one."""
        return [
            Hit(
                detector=f"rule:{hit.rule.id}",
                severity=hit.rule.severity,
                score=SEVERITY_SCORE[hit.rule.severity],
                reasons=hit.reasons,
                description=hit.rule.description,
                suppress_for_s=hit.rule.suppress_for,
                related_clients=self.extractor.related_clients(client, model, {r.feature for r in hit.reasons}),
            )
            for hit in self.thresholds.rules_for(model).evaluate(
                features, client_id=client.client_id, model_id=client.model_id, n_events=client.n_events
            )
        ]

    def learn(self, model: ModelState, client: ClientState, features: Mapping[str, float], fired: set[str]) -> None:
        """Let the model's online thresholds learn from a scored window; ``fired``: every detector that
        fired on it (a client another detector flagged is left out)."""
        self.thresholds.observe(model, client, features, fired)
