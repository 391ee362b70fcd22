"""Named rule thresholds learned from a model's own benign clients, at a client-level false-positive rate.

A rule comparison with a named threshold (``neighbourhood_low < $crowded``)
is *calibratable*. For each one, every scored window of a client yields a
*critical value*: the feature's value in a window where the rest of the rule
would fire (the comparison's own threshold set to let everything through).
A client's extreme is its most attack-like critical value (the smallest for
``<``, the largest for ``>``): the client is flagged by the comparison exactly
when its extreme passes the threshold.

Clients are tested many times by several rules, so the false-positive budget
is spent per client, not per test: :func:`fit` picks one tail share for all
calibratable comparisons of a model so that the share of clients flagged by
*any* of them stays within the target, with 95% confidence on the sample
(Clopper-Pearson). A sample too small for that confidence gets thresholds a
margin beyond its most extreme client.

:class:`ThresholdLearner` keeps the extremes per model, bounded, from the
clients no other detector flagged; ``calibrate`` fits them once over a sample
of traffic, and the pipeline refits them online as the model's traffic comes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import beta

from rules import RuleSet

CONFIDENCE = 0.95
"""Confidence that a fitted threshold's client-level false-positive rate is within the target."""
MAX_LOWERING = 10.0
"""A rising threshold is never set below the shipped value over this: a sample's quiet tail (a model whose
clients gathered almost no sequential evidence) says little of what the clients it lacks will gather."""
MIN_CLIENTS = 50
"""Fewest clients a model needs for a fit at all: below it the model keeps what covers it otherwise."""
SPARSE_MARGIN = 0.8
"""Where the sample is too small for that confidence: thresholds at this factor of the most extreme
client or beyond it by as much as the tail spreads, whichever is further (``>``: its value / 0.8, or
twice its distance above the 90th percentile: rising statistics such as sequential evidence have long
tails; ``<``: 0.8x its value, or as far below it, as a ratio, as it lies below the 10th percentile:
the low tail of a distance statistic is a few clients of one kind, camera feeds say, and the next
sample's may reach further). Never past the shipped value, though, where that keeps the 0.8x margin to every
sample client: a sample that cannot place its tail has no evidence for a stricter threshold than the
one shipped, only for keeping the margin beyond its own clients. A rising threshold the fit would put at
or below zero (the sample's clients have none of the statistic: no sequential evidence at all) stays at
the shipped value: at zero, a single chance event would fire it."""


@dataclass(frozen=True, slots=True)
class Calibratable:
    """One named threshold: the rule, the threshold's name, the feature it compares and how."""

    rule_id: str
    name: str
    feature: str
    op: str
    shipped: float | None = None
    """The rule's own value for the threshold, if it has one."""

    @property
    def falling(self) -> bool:
        """Attacks push the feature down (``<``, ``<=``): a client's extreme is its minimum."""
        return self.op in ("<", "<=")

    @property
    def key(self) -> str:
        return f"{self.rule_id}.{self.name}"


def calibratables(ruleset: RuleSet) -> list[Calibratable]:
    """Every named threshold of the enabled rules, in rule order.

    >>> from rules.schema import Rule
    >>> rules = RuleSet([Rule(id="crowd", description="d", severity="high",
    ...     condition="neighbourhood_low < $crowded and history_size > 10", thresholds={"crowded": 0.1})])
    >>> calibratables(rules)
    [Calibratable(rule_id='crowd', name='crowded', feature='neighbourhood_low', op='<', shipped=0.1)]
    """
    found = []
    for rule in ruleset:
        if not rule.enabled:
            continue
        for comparison in rule.condition.named_comparisons():
            if comparison.op in ("<", "<=", ">", ">="):
                shipped = rule.thresholds.get(comparison.name)
                found.append(Calibratable(rule.id, comparison.name, comparison.feature, comparison.op, shipped))
    return found


def clopper_pearson_upper(flagged: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence bound of a rate seen as ``flagged`` of ``n``.

    >>> round(clopper_pearson_upper(0, 300), 4), round(clopper_pearson_upper(2, 1000), 4)
    (0.0099, 0.0063)
    """
    if flagged >= n:
        return 1.0
    return float(beta.ppf(confidence, flagged + 1, n - flagged))


def allowed_flags(n: int, target: float, confidence: float = CONFIDENCE) -> int | None:
    """The most of ``n`` sample clients a fit may flag while the rate stays within ``target`` with
    ``confidence``; None when even 0 of ``n`` is not enough evidence.

    >>> allowed_flags(1000, 0.01), allowed_flags(300, 0.01), allowed_flags(100, 0.01)
    (4, 0, None)
    """
    allowed = None
    for k in range(n + 1):
        if clopper_pearson_upper(k, n, confidence) > target:
            break
        allowed = k
    return allowed


def fit(extremes: np.ndarray, targets: list[Calibratable], target_fpr: float) -> tuple[dict[str, float], dict]:
    """Thresholds (``key`` -> value) for a model from its clients' extremes (clients x calibratables,
    NaN where a client never had a window for one), and what the fit found: clients, the tail share
    used, and how many sample clients the thresholds flag.

    >>> rng = np.random.default_rng(0)
    >>> targets = [Calibratable("crowd", "crowded", "neighbourhood_low", "<")]
    >>> extremes = rng.uniform(0.2, 1.0, size=(2000, 1))
    >>> thresholds, info = fit(extremes, targets, 0.01)
    >>> round(thresholds["crowd.crowded"], 3), info["flagged"], info["confident"]
    (0.204, 12, True)
    >>> thresholds, info = fit(extremes[:150], targets, 0.01)   # too few: a margin beyond the extreme
    >>> round(thresholds["crowd.crowded"], 3), info["flagged"], info["confident"]
    (0.15, 0, False)
    >>> shipped = [Calibratable("crowd", "crowded", "neighbourhood_low", "<", shipped=0.16)]
    >>> round(fit(extremes[:150], shipped, 0.01)[0]["crowd.crowded"], 3)  # the shipped value spares them all
    0.16
    >>> fit(extremes[:40], targets, 0.01)[0]   # too few for any fit
    {}
    >>> evidence = [Calibratable("odd", "evidence", "off_distribution_cusum", ">", shipped=120.0)]
    >>> fit(np.zeros((150, 1)), evidence, 0.01)[0]   # no client had any evidence: the shipped value stands
    {'odd.evidence': 120.0}
    >>> fit(np.full((150, 1), 0.5), evidence, 0.01)[0]   # hardly any: at most tenfold below the shipped value
    {'odd.evidence': 12.0}
    """
    n = extremes.shape[0]
    info: dict = {"clients": n, "flagged": 0, "confident": False, "tail_share": 0.0}
    if n < MIN_CLIENTS or not targets:
        return {}, info
    # Most attack-like first, so a client's rank in a column is its position in that tail.
    signed = np.where([t.falling for t in targets], extremes, -extremes)
    ranks = np.full(extremes.shape, np.inf)
    for j in range(len(targets)):
        column = signed[:, j]
        defined = np.flatnonzero(~np.isnan(column))
        ranks[defined[np.argsort(column[defined], kind="stable")], j] = np.arange(len(defined))
    allowed = allowed_flags(n, target_fpr)
    info["confident"] = allowed is not None
    # The largest per-column tail size m whose union over columns flags at most `allowed` clients.
    best = 0
    if allowed:
        low, high = 0, n
        while low < high:
            mid = (low + high + 1) // 2
            if int(np.count_nonzero((ranks < mid).any(axis=1))) <= allowed:
                low = mid
            else:
                high = mid - 1
        best = low
    thresholds: dict[str, float] = {}
    for j, t in enumerate(targets):
        column = np.sort(signed[:, j][~np.isnan(signed[:, j])])
        if len(column) == 0:
            continue
        if best == 0:
            edge = float(column[0])
            if t.falling:  # the mirror of the rising case, on a log scale (ratios, not distances)
                p10 = float(np.quantile(column, 0.1))
                spread = edge * edge / p10 if p10 > 0 else edge * SPARSE_MARGIN
                floor = spread if t.shipped is None else max(spread, t.shipped)
                thresholds[t.key] = min(edge * SPARSE_MARGIN, floor)
            else:
                top, p90 = -edge, -float(np.quantile(column, 0.1))
                spread = top + (top - p90)
                ceiling = spread if t.shipped is None else min(spread, t.shipped)
                thresholds[t.key] = max(top / SPARSE_MARGIN, ceiling)
        elif best >= len(column):
            thresholds[t.key] = math.inf if t.falling else -math.inf
        else:  # between the last flagged client and the first one kept
            thresholds[t.key] = float((column[best - 1] + column[best]) / 2.0) * (1 if t.falling else -1)
        if not t.falling and t.shipped is not None and thresholds[t.key] <= 0 < t.shipped:
            thresholds[t.key] = t.shipped  # the sample's clients have none of it: no tail to place
        elif not t.falling and t.shipped is not None and t.shipped > 0:
            thresholds[t.key] = max(thresholds[t.key], t.shipped / MAX_LOWERING)
    info["flagged"] = int(np.count_nonzero((ranks < best).any(axis=1)))
    info["tail_share"] = best / n
    return thresholds, info


def nested(thresholds: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``{"rule.name": v}`` -> ``{"rule": {"name": v}}`` (what :meth:`RuleSet.bind` takes).

    >>> nested({"crowd.crowded": 0.2, "crowd.far": 3.0})
    {'crowd': {'crowded': 0.2, 'far': 3.0}}
    """
    out: dict[str, dict[str, float]] = {}
    for key, value in thresholds.items():
        rule_id, name = key.rsplit(".", 1)
        out.setdefault(rule_id, {})[name] = value
    return out


@dataclass
class ModelExtremes:
    """One model's clients' extremes, least recently updated dropped beyond ``max_clients``; clients
    that another detector flagged are left out and remembered (bounded too)."""

    width: int
    max_clients: int
    clients: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)
    events: dict[str, int] = field(default_factory=dict)
    excluded: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def update(self, client_id: str, values: np.ndarray, falling: np.ndarray, n_events: int) -> None:
        if client_id in self.excluded:
            return
        current = self.clients.get(client_id)
        if current is None:
            current = self.clients[client_id] = np.full(self.width, np.nan)
        else:
            self.clients.move_to_end(client_id)
        more = np.where(falling, np.fmin(current, values), np.fmax(current, values))
        current[:] = more
        self.events[client_id] = n_events
        while len(self.clients) > self.max_clients:
            dropped, _ = self.clients.popitem(last=False)
            self.events.pop(dropped, None)

    def exclude(self, client_id: str) -> None:
        self.clients.pop(client_id, None)
        self.events.pop(client_id, None)
        self.excluded[client_id] = None
        self.excluded.move_to_end(client_id)
        while len(self.excluded) > self.max_clients:
            self.excluded.popitem(last=False)

    def matrix(self, min_events: int = 0) -> np.ndarray:
        rows = [v for c, v in self.clients.items() if self.events.get(c, 0) >= min_events]
        return np.array(rows).reshape(len(rows), self.width)

    @property
    def nbytes(self) -> int:
        return len(self.clients) * (self.width * 8 + 160) + len(self.excluded) * 100


class ThresholdLearner:
    """Extremes of every calibratable comparison, per model, from each scored window.

    ``observe`` takes a window's features and whether a *non-calibratable* detector fired on it
    (those clients are excluded: they may be attackers, and they would be alerted whatever the
    thresholds). A calibratable rule's own hits stay in: they are the tail being measured.
    """

    def __init__(self, ruleset: RuleSet, max_clients: int = 100_000) -> None:
        self.targets = calibratables(ruleset)
        self.max_clients = max_clients
        self._falling = np.array([t.falling for t in self.targets], dtype=bool)
        rules = {rule.id: rule for rule in ruleset}
        # Each target's condition with its own threshold letting every finite value through, the
        # others at their shipped values: it holds where the rest of the rule would fire.
        self._open = [
            rules[t.rule_id].condition.bind(
                {**rules[t.rule_id].thresholds, t.name: math.inf if t.falling else -math.inf}
            )
            for t in self.targets
        ]
        self._min_events = [rules[t.rule_id].min_events for t in self.targets]
        self.calibrated_rules = frozenset(t.rule_id for t in self.targets)

    def new_model(self) -> ModelExtremes:
        return ModelExtremes(len(self.targets), self.max_clients)

    def observe(
        self, extremes: ModelExtremes, client_id: str, n_events: int, features: Mapping[str, float], excluded: bool
    ) -> None:
        if not self.targets:
            return
        if excluded:
            extremes.exclude(client_id)
            return
        values = np.full(len(self.targets), np.nan)
        for j, (target, condition) in enumerate(zip(self.targets, self._open)):
            if n_events >= self._min_events[j] and condition.evaluate(features).holds:
                values[j] = features[target.feature]
        if not np.isnan(values).all():
            extremes.update(client_id, values, self._falling, n_events)
