"""Which rule thresholds are in force for each model, and how they are learned.

One written policy, in order of precedence:

1. **A calibration file** (``--calibration``): its thresholds for the model,
   or its default section for models it does not cover. Nothing is learned.
2. **Online self-calibration** (the default without a file): each model
   starts on the shipped thresholds (conservative: set for traffic we have
   never seen). Every scored window of a client no other detector flagged
   feeds that model's :class:`~detector.thresholds.ModelExtremes`; once
   ``calibration_warmup_clients`` clients with ``calibration_min_events``
   events each have been seen, the thresholds are refitted every
   ``refit_every`` (2,000) scored windows at the target client-level
   rate. A fitted threshold is never more permissive than the shipped one,
   so that traffic crafted to look benign cannot switch a rule off.
3. **The shipped thresholds** otherwise (``online_calibration = false``).

The per-model learning state lives in the model's :class:`ModelState`
(``shared["thresholds"]``), so it is checkpointed and moves with the model's
state. ``calibrate`` runs the same learner over a sample with nothing in
force but the shipped thresholds, and writes what it fits.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

from detector.calibration import Calibration, Thresholds
from detector.thresholds import Calibratable, ModelExtremes, ThresholdLearner, fit, nested
from featurizers.state import ClientState, ModelState
from rules import RuleSet

SHARED_KEY = "thresholds"
BOUND_CACHE = 4096
"""Models whose bound rules are cached (least recently used dropped: model ids may churn)."""


@dataclass
class OnlineThresholds:
    """One model's online calibration: the extremes seen, the thresholds fitted last, and when."""

    extremes: ModelExtremes
    fitted: Thresholds = field(default_factory=dict)
    windows_since_fit: int = 0
    fits: int = 0

    @property
    def nbytes(self) -> int:
        return self.extremes.nbytes


def clamp(target: Calibratable, fitted: float, shipped: float) -> float:
    """The fitted value, or the shipped one where that is stricter (flags fewer clients).

    >>> t = Calibratable("crowd", "crowded", "neighbourhood_low", "<")
    >>> clamp(t, 0.05, 0.03), clamp(t, 0.01, 0.03)
    (0.05, 0.03)
    """
    if not math.isfinite(fitted):
        return shipped
    return max(fitted, shipped) if target.falling else min(fitted, shipped)


class ThresholdPolicy:
    """The rules bound with each model's thresholds in force, and the online learning behind them."""

    def __init__(
        self,
        ruleset: RuleSet,
        calibration: Calibration | None = None,
        *,
        online: bool = True,
        collect: bool = False,
        target_fpr: float = 0.01,
        warmup_clients: int = 100,
        min_events: int = 32,
        refit_every: int = 2000,
        max_clients: int = 5000,
    ) -> None:
        self.online_wanted = online
        self.collect = collect
        """Record every model's extremes without refitting (``calibrate``); implies no online learning."""
        self.target_fpr = target_fpr
        self.warmup_clients = warmup_clients
        self.min_events = min_events
        self.refit_every = refit_every
        self.max_clients = max_clients
        self._bound: OrderedDict[str, tuple[tuple[int, int], RuleSet]] = OrderedDict()
        self._version = 0
        self.use(ruleset, calibration)

    def use(self, ruleset: RuleSet, calibration: Calibration | None) -> None:
        """Put new rules (and a new calibration) in force, as a SIGHUP reload does. A calibration turns
        online learning off; models keep what they learned for when it is gone again."""
        self.ruleset = ruleset
        self.calibration = calibration
        self.online = self.online_wanted and calibration is None and not self.collect
        self.learner = ThresholdLearner(ruleset, self.max_clients)
        self._calibrated_detectors = frozenset(f"rule:{rule_id}" for rule_id in self.learner.calibrated_rules)
        self.shipped = {rule.id: dict(rule.thresholds) for rule in ruleset if rule.thresholds}
        self._bound.clear()
        self._version += 1

    def rules_for(self, model: ModelState) -> RuleSet:
        """The rules with the model's thresholds in force."""
        online = model.shared.get(SHARED_KEY) if self.online else None
        stamp = (self._version, online.fits if online is not None else 0)
        cached = self._bound.get(model.model_id)
        if cached is not None and cached[0] == stamp:
            self._bound.move_to_end(model.model_id)
            return cached[1]
        ruleset = self.ruleset.bind(self.thresholds_for(model))
        self._bound[model.model_id] = (stamp, ruleset)
        self._bound.move_to_end(model.model_id)
        if len(self._bound) > BOUND_CACHE:
            self._bound.popitem(last=False)
        return ruleset

    def thresholds_for(self, model: ModelState) -> Thresholds:
        if self.calibration is not None:
            return self.calibration.thresholds_for(model.model_id)
        online = model.shared.get(SHARED_KEY) if self.online else None
        return online.fitted if online is not None else {}

    def observe(self, model: ModelState, client: ClientState, features, detectors: set[str]) -> None:
        """Learn from one scored window (online, or collecting); ``detectors`` fired on it."""
        if not (self.online or self.collect) or not self.learner.targets:
            return
        state = model.shared.get(SHARED_KEY)
        if state is None or state.extremes.width != len(self.learner.targets):
            state = model.shared[SHARED_KEY] = OnlineThresholds(self.learner.new_model())
        self.learn(state.extremes, client, features, detectors)
        state.windows_since_fit += 1
        if self.online and state.windows_since_fit >= self.refit_every:
            state.windows_since_fit = 0
            self.refit(state)

    def learn(self, extremes: ModelExtremes, client: ClientState, features, detectors: set[str]) -> None:
        """Feed one window to a model's extremes; a client a non-calibratable detector flagged is left out."""
        excluded = bool(detectors - self._calibrated_detectors)
        self.learner.observe(extremes, client.client_id, client.n_events, features, excluded)

    def refit(self, state: OnlineThresholds) -> None:
        """Fit the model's thresholds again once it has seen enough clients; clamp to the shipped ones."""
        matrix = state.extremes.matrix(self.min_events)
        if len(matrix) < self.warmup_clients:
            return
        fitted, _ = fit(matrix, self.learner.targets, self.target_fpr)
        by_key = {t.key: t for t in self.learner.targets}
        values = {}
        for key, value in fitted.items():
            target = by_key[key]
            values[key] = clamp(target, value, self.shipped[target.rule_id][target.name])
        state.fitted = nested(values)
        state.fits += 1
