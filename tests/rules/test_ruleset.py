"""Evaluating a rule set: gating by min_events, exceptions and enabled, hits with reasons."""

from __future__ import annotations

from typing import Any

import pytest

from detector.alert import Reason
from rules import Rule, RuleHit, RuleSet
from rules.ruleset import Origin

FAST = {"rate_60s": 300.0, "interarrival_cv": 0.1}


def make(rule_id: str = "fast", **changes: Any) -> Rule:
    fields = {"description": "fast", "condition": "rate_60s > 120 and interarrival_cv < 0.5", "severity": "medium"}
    return Rule.model_validate({"id": rule_id, **fields, **changes})


def fired(ruleset: RuleSet, features: dict[str, float] = FAST, *, client_id: str = "key_1",
          model_id: str = "digits:3", n_events: int = 100) -> list[str]:
    hits = ruleset.evaluate(features, client_id=client_id, model_id=model_id, n_events=n_events)
    return [hit.rule.id for hit in hits]


def test_a_hit_carries_its_rule_and_reasons() -> None:
    rule = make()
    (hit,) = RuleSet([rule]).evaluate(FAST, client_id="c", model_id="m", n_events=1)
    assert hit == RuleHit(
        rule,
        [
            Reason(feature="rate_60s", value=300.0, op=">", threshold=120.0),
            Reason(feature="interarrival_cv", value=0.1, op="<", threshold=0.5),
        ],
    )


def test_rules_that_do_not_hold_do_not_hit() -> None:
    assert fired(RuleSet([make()]), {"rate_60s": 300.0, "interarrival_cv": 0.9}) == []
    assert fired(RuleSet([make()]), {"rate_60s": 300.0}) == []  # absent feature


def test_min_events_is_inclusive() -> None:
    ruleset = RuleSet([make(min_events=50)])
    assert fired(ruleset, n_events=49) == []
    assert fired(ruleset, n_events=50) == ["fast"]


def test_disabled_rules_never_fire_and_read_no_features() -> None:
    ruleset = RuleSet([make("on"), make("off", enabled=False, condition="other > 0")])
    assert fired(ruleset, {**FAST, "other": 1.0}) == ["on"]
    assert ruleset.features == {"rate_60s", "interarrival_cv"}
    assert [rule.id for rule in ruleset] == ["on", "off"]


@pytest.mark.parametrize(
    ("exceptions", "client_id", "model_id", "fires"),
    [
        ({"clients": ["loadtest-*"]}, "loadtest-7", "digits:3", False),
        ({"clients": ["loadtest-*"]}, "key_loadtest-7", "digits:3", True),  # whole-id match
        ({"clients": ["loadtest-*"]}, "LOADTEST-7", "digits:3", True),  # case-sensitive
        ({"clients": ["qa-?", "ci-[0-9]"]}, "ci-4", "digits:3", False),
        ({"clients": ["qa-?", "ci-[0-9]"]}, "qa-10", "digits:3", True),
        ({"models": ["digits:*"]}, "key_1", "digits:3", False),
        ({"models": ["digits:*"]}, "key_1", "faces:1", True),
        ({"clients": ["a.b"]}, "axb", "m", True),  # '.' is literal, not a regex
        ({"clients": ["trusted"], "models": ["sandbox"]}, "key_1", "sandbox", False),
        ({"clients": ["trusted"], "models": ["sandbox"]}, "trusted", "prod", False),
        ({"clients": ["trusted"], "models": ["sandbox"]}, "key_1", "prod", True),
    ],
)
def test_exceptions_are_globs_over_whole_ids(exceptions: dict[str, list[str]], client_id: str, model_id: str,
                                              fires: bool) -> None:
    ruleset = RuleSet([make(exceptions=exceptions)])
    assert fired(ruleset, client_id=client_id, model_id=model_id) == (["fast"] if fires else [])


def test_exceptions_are_per_rule() -> None:
    ruleset = RuleSet([make("a", exceptions={"clients": ["key_1"]}), make("b")])
    assert fired(ruleset, client_id="key_1") == ["b"]


def test_every_firing_rule_is_reported_in_order() -> None:
    ruleset = RuleSet([make("b", condition="rate_60s > 100"), make("a", condition="rate_60s > 200"),
                       make("c", condition="rate_60s > 400")])
    assert fired(ruleset) == ["b", "a"]
    assert ruleset.features == {"rate_60s"}


def test_len_iteration_lookup_and_origins() -> None:
    rules = [make("a"), make("b")]
    ruleset = RuleSet(rules, {"a": Origin("mine.yaml", 3)})
    assert len(ruleset) == 2
    assert list(ruleset) == rules
    assert ruleset["b"] is rules[1]
    assert str(ruleset.origin("a")) == "mine.yaml:3"
    assert ruleset.origin("b") is None
    with pytest.raises(KeyError):
        ruleset["c"]


def test_ids_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        RuleSet([make("a"), make("a")])


def test_an_empty_rule_set_fires_nothing() -> None:
    assert fired(RuleSet([])) == []
    assert RuleSet([]).features == frozenset()
