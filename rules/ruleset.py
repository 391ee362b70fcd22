"""A set of loaded rules, evaluated against one client's features.

Evaluation may run on every event, so everything that can be prepared is
prepared once: disabled rules are dropped, conditions are already parsed and
exception globs are compiled into one regular expression per rule and kind.

>>> from rules.schema import Rule
>>> ruleset = RuleSet([
...     Rule(id="fast", description="fast", condition="rate_60s > 120", severity="medium", min_events=50,
...          exceptions={"clients": ["loadtest-*"]}),
...     Rule(id="off", description="off", condition="rate_60s > 0", severity="low", enabled=False),
... ])
>>> len(ruleset), sorted(ruleset.features)
(2, ['rate_60s'])
>>> [hit.rule.id for hit in ruleset.evaluate({"rate_60s": 300.0}, client_id="key_1", model_id="m", n_events=80)]
['fast']
>>> ruleset.evaluate({"rate_60s": 300.0}, client_id="key_1", model_id="m", n_events=10)  # too few events
[]
>>> ruleset.evaluate({"rate_60s": 300.0}, client_id="loadtest-7", model_id="m", n_events=80)  # allowlisted
[]
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from detector.alert import Reason
from rules.condition import Condition
from rules.schema import Rule


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a rule was defined: its file and the 1-based line where the rule starts."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule whose condition held, with the comparisons that made it hold."""

    rule: Rule
    reasons: list[Reason]


def compile_globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One case-sensitive regular expression matching a whole id against any of the fnmatch patterns.

    >>> compile_globs(["key_*", "qa-?"]).match("qa-1") is not None
    True
    >>> compile_globs(["key_*"]).match("KEY_1") is None, compile_globs([])
    (True, None)
    """
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns))


@dataclass(frozen=True, slots=True)
class _Active:
    """An enabled rule, prepared for evaluation."""

    rule: Rule
    condition: Condition
    min_events: int
    clients: re.Pattern[str] | None
    models: re.Pattern[str] | None

    @classmethod
    def of(cls, rule: Rule, thresholds: Mapping[str, float] | None = None) -> _Active:
        """The rule prepared, its named thresholds bound to ``thresholds`` where given, else its own."""
        values = dict(rule.thresholds)
        values.update({name: value for name, value in (thresholds or {}).items() if name in values})
        return cls(
            rule,
            rule.condition.bind(values) if values else rule.condition,
            rule.min_events,
            compile_globs(rule.exceptions.clients),
            compile_globs(rule.exceptions.models),
        )

    def excepts(self, client_id: str, model_id: str) -> bool:
        return bool(
            (self.clients is not None and self.clients.match(client_id))
            or (self.models is not None and self.models.match(model_id))
        )


class RuleSet:
    """Rules with unique ids, in load order, with where each came from (when loaded from a file)."""

    def __init__(self, rules: Iterable[Rule], origins: Mapping[str, Origin] | None = None) -> None:
        self._rules = tuple(rules)
        self._by_id = {rule.id: rule for rule in self._rules}
        if len(self._by_id) != len(self._rules):
            raise ValueError("rule ids must be unique")
        self._origins = dict(origins or {})
        self._active = tuple(_Active.of(rule) for rule in self._rules if rule.enabled)
        self.features: frozenset[str] = frozenset().union(*(active.condition.features for active in self._active))
        """Every feature an enabled rule reads."""

    def bind(self, thresholds: Mapping[str, Mapping[str, float]]) -> RuleSet:
        """The same rules with named thresholds replaced: rule id -> threshold name -> value (what a
        calibration gives one model). Names a rule does not have are ignored.

        >>> from rules.schema import Rule
        >>> rules = RuleSet([Rule(id="crowd", description="d", severity="high",
        ...     condition="neighbourhood_low < $crowded", thresholds={"crowded": 0.1})])
        >>> features = {"neighbourhood_low": 0.2}
        >>> len(rules.evaluate(features, client_id="c", model_id="m", n_events=1))
        0
        >>> hit, = rules.bind({"crowd": {"crowded": 0.3}}).evaluate(features, client_id="c", model_id="m", n_events=1)
        >>> hit.reasons[0].threshold
        0.3
        """
        bound = RuleSet.__new__(RuleSet)
        bound._rules, bound._by_id, bound._origins, bound.features = self._rules, self._by_id, self._origins, self.features
        bound._active = tuple(_Active.of(active.rule, thresholds.get(active.rule.id)) for active in self._active)
        return bound

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __getitem__(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def origin(self, rule_id: str) -> Origin | None:
        """The file and line that defined a rule; None for a rule not loaded from a file."""
        return self._origins.get(rule_id)

    def evaluate(
        self, features: Mapping[str, float], *, client_id: str, model_id: str, n_events: int
    ) -> list[RuleHit]:
        """The enabled rules that fire on one client's features.

        A rule is skipped while the client has sent the model fewer than its
        ``min_events`` events, and for clients and models its exceptions match.
        """
        hits: list[RuleHit] = []
        for active in self._active:
            if n_events < active.min_events or active.excepts(client_id, model_id):
                continue
            holds, reasons = active.condition.evaluate(features)
            if holds:
                hits.append(RuleHit(active.rule, reasons))
        return hits
