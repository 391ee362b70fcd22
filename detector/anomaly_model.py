"""Online anomaly model per model_id, scored on client windows (River).

One model per model_id learns what the feature vector of a normal client's
window looks like; a window scoring above a running quantile of past scores is
anomalous. It scores before it learns and never learns from a window that a
rule or the model itself flagged, so an attacker cannot teach it that probing
is normal. The score quantile, though, counts every window no rule flagged,
the model's own anomalies included: were it fed only the windows below it, it
would sink with every window it flags and flag ever more. Features are
standardised online and squashed into [0, 1], the range HalfSpaceTrees
expects. The trees are River's Half-Space Trees with their random splits shared by every model
(:mod:`detector.half_space_trees`): the same scores, a fraction of the memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from river import preprocessing, stats

from detector.alert import Reason
from detector.half_space_trees import SharedHalfSpaceTrees

TOP_CONTRIBUTORS = 3


@dataclass(frozen=True, slots=True)
class AnomalyVerdict:
    """A model's judgement of one window: its score, whether it is anomalous and why."""

    score: float
    anomalous: bool
    threshold: float
    contributors: list[Reason]


class WindowAnomalyModel:
    """StandardScaler -> squash -> HalfSpaceTrees, thresholded at a running quantile of its scores.

    >>> import random
    >>> rng = random.Random(0)
    >>> m = WindowAnomalyModel(["a", "b"], warmup=200, quantile=0.99, seed=1)
    >>> for _ in range(400):
    ...     _ = m.score_and_learn({"a": rng.gauss(0, 1), "b": rng.gauss(5, 1)})
    >>> v = m.score_and_learn({"a": 4.0, "b": -10.0})
    >>> v.anomalous, v.contributors[0].feature
    (True, 'b')
    """

    name = "hst"

    def __init__(
        self,
        features: Iterable[str],
        *,
        warmup: int = 500,
        quantile: float = 0.999,
        seed: int = 7,
        height: int = 10,
        n_trees: int = 25,
        window_size: int = 250,
    ) -> None:
        self.features = tuple(sorted(features))
        self.warmup = warmup
        self.scaler = preprocessing.StandardScaler()
        self.trees = SharedHalfSpaceTrees(self.features, n_trees=n_trees, height=height, window_size=window_size, seed=seed)
        self.threshold = stats.Quantile(quantile)
        self.seen = 0

    def _vector(self, features: Mapping[str, float]) -> dict[str, float]:
        """The window's values of the model's features; a feature the window lacks (no small steps,
        no scores, too few distinct inputs) is left out rather than given a made-up value."""
        return {name: float(value) for name in self.features if (value := features.get(name)) is not None}

    def _squash(self, raw: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """Standardised values (z) and their squashing into (0, 1); a missing feature sits at the
        centre (z = 0: says nothing either way), so absence alone never looks anomalous.

        >>> m = WindowAnomalyModel(["a", "b"])
        >>> for v in (1.0, 2.0, 3.0):
        ...     m.scaler.learn_one({"a": v, "b": v})
        >>> z, x = m._squash({"a": 2.0})
        >>> z, x
        ({'a': 0.0}, {'a': 0.5, 'b': 0.5})
        """
        z = self.scaler.transform_one(raw)
        return z, {name: 0.5 * (1.0 + math.tanh(z.get(name, 0.0) / 3.0)) for name in self.features}

    def score_and_learn(self, features: Mapping[str, float], *, flagged: bool = False) -> AnomalyVerdict:
        """Score a window, then learn from it unless it was flagged (by rules or by this model)."""
        raw = self._vector(features)
        z, x = self._squash(raw)
        score = float(self.trees.score_one(x))
        threshold = self.threshold.get() or math.inf
        warm = self.seen >= self.warmup
        anomalous = warm and score >= threshold
        contributors = []
        if anomalous:
            ranked = sorted(z.items(), key=lambda item: -abs(item[1]))[:TOP_CONTRIBUTORS]
            for name, value in ranked:
                mean = float(self.scaler.means.get(name, 0.0))
                contributors.append(Reason(feature=name, value=raw[name], op=">" if value > 0 else "<", threshold=mean))
        if not flagged:
            self.threshold.update(score)
            if not anomalous:
                self.scaler.learn_one(raw)
                self.trees.learn_one(x)
                self.seen += 1
        return AnomalyVerdict(score=min(max(score, 0.0), 1.0), anomalous=anomalous, threshold=threshold, contributors=contributors)
