"""The rule schema: defaults, durations, strictness and feature-name checking."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from detector.alert import SEVERITIES, Severity
from rules.condition import Condition
from rules.schema import Rule, parse_duration

MINIMAL = {"id": "r-1", "description": "d", "condition": "x > 1", "severity": "low"}


def rule(**changes: Any) -> Rule:
    return Rule.model_validate({**MINIMAL, **changes})


def error_of(**changes: Any) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        rule(**changes)
    (error,) = caught.value.errors()
    return error["loc"], error["msg"]


def test_defaults() -> None:
    r = rule()
    assert (r.tags, r.min_events, r.suppress_for, r.enabled) == ([], 1, 600.0, True)
    assert (r.exceptions.clients, r.exceptions.models) == ([], [])
    assert r.condition == Condition("x > 1")


@pytest.mark.parametrize(
    ("written", "seconds"),
    [(90, 90.0), (2.5, 2.5), ("90s", 90.0), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0), (" 1.5 h ", 5400.0),
     ("45", 45.0), (0, 0.0)],
)
def test_suppress_for_is_normalised_to_seconds(written: object, seconds: float) -> None:
    assert rule(suppress_for=written).suppress_for == seconds
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("written", ["10 minutes", "-5s", "m", "", True, -1, float("inf"), float("nan"), [10]])
def test_bad_durations_are_rejected(written: object) -> None:
    loc, message = error_of(suppress_for=written)
    assert loc == ("suppress_for",)
    assert "duration" in message


@pytest.mark.parametrize("bad_id", ["High-Rate", "-rate", "rate_60", "", "rate rule", "räte"])
def test_ids_are_slugs(bad_id: str) -> None:
    loc, message = error_of(id=bad_id)
    assert loc == ("id",)
    assert "lowercase letters, digits and '-'" in message


@pytest.mark.parametrize("good_id", ["a", "0day", "high-query-rate", "r-2-b"])
def test_good_ids(good_id: str) -> None:
    assert rule(id=good_id).id == good_id


def test_severity_reuses_the_alert_severities() -> None:
    assert Rule.model_fields["severity"].annotation is Severity
    assert tuple(rule(severity=s).severity for s in SEVERITIES) == SEVERITIES
    assert error_of(severity="urgent")[0] == ("severity",)


def test_min_events_must_be_at_least_one() -> None:
    assert error_of(min_events=0)[0] == ("min_events",)
    assert rule(min_events=50).min_events == 50


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"sevrity": "low"}, ("sevrity",)),
        ({"exceptions": {"client": ["a"]}}, ("exceptions", "client")),
    ],
)
def test_unknown_keys_are_errors(changes: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert error_of(**changes) == (loc, "Extra inputs are not permitted")


def test_condition_syntax_errors_are_field_errors() -> None:
    loc, message = error_of(condition="x >")
    assert loc == ("condition",)
    assert message.endswith("expected a number after '>' at column 4, found the end")


def test_condition_must_be_a_string() -> None:
    assert error_of(condition=3)[1].endswith("must be a string, not int")


def test_known_features_in_the_context_reject_other_names_with_a_suggestion() -> None:
    data = {**MINIMAL, "condition": "rate_6s > 1 and x > 1 and zzz < 2"}
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate(data, context={"known_features": {"rate_60s", "x"}})
    (error,) = caught.value.errors()
    assert error["loc"] == ("condition",)
    assert error["msg"].endswith("unknown feature 'rate_6s' (did you mean 'rate_60s'?); unknown feature 'zzz'")
    assert Rule.model_validate(data).condition.features == {"rate_6s", "x", "zzz"}  # no context: no check


def test_condition_serialises_as_written_and_round_trips() -> None:
    r = rule(condition="x>1  and not y<2", suppress_for="2m")
    dumped = r.model_dump()
    assert dumped["condition"] == "x>1  and not y<2"
    assert dumped["suppress_for"] == 120.0
    assert Rule.model_validate(dumped) == r
    assert Rule.model_validate_json(r.model_dump_json()) == r


def test_rules_are_immutable() -> None:
    with pytest.raises(ValidationError):
        rule().severity = "high"
