"""The rule schema: what one rule in a rule file may say, validated by pydantic.

A rule's condition is parsed while the rule is validated, so a rule that
exists is a rule that can be evaluated. When the validation context carries
``known_features`` (a collection of feature names), a condition that reads any
other name is rejected too.

>>> rule = Rule.model_validate({
...     "id": "high-query-rate", "description": "automated querying", "severity": "medium",
...     "condition": "rate_60s > 120", "tags": ["attack.extraction"], "suppress_for": "10m"})
>>> rule.suppress_for, rule.min_events, sorted(rule.condition.features), rule.enabled
(600.0, 1, ['rate_60s'], True)
>>> rule.model_dump()["condition"]
'rate_60s > 120'

A named threshold needs its shipped value:

>>> Rule.model_validate({"id": "crowd", "description": "d", "severity": "high",
...     "condition": "neighbourhood_low < $crowded", "thresholds": {"crowded": 0.1}}).thresholds
{'crowded': 0.1}
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection
from typing import Annotated

from pydantic import (
    AfterValidator,
    model_validator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
)

from detector.alert import Severity
from rules.condition import Condition, ConditionSyntaxError

RULE_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*")


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string with a unit (s, m, h, d).

    >>> parse_duration(90), parse_duration("90s"), parse_duration("10m"), parse_duration("1.5h")
    (90.0, 90.0, 600.0, 5400.0)
    >>> parse_duration("ten minutes")
    Traceback (most recent call last):
    ...
    ValueError: must be seconds or a duration like '90s', '10m', '2h' or '1d', not 'ten minutes'
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match[1]) * DURATION_UNITS[match[2] or "s"]
    else:
        raise ValueError(f"must be seconds or a duration like '90s', '10m', '2h' or '1d', not {value!r}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"must be a finite, non-negative duration, not {value!r}")
    return seconds


def _slug(value: str) -> str:
    if not RULE_ID.fullmatch(value):
        raise ValueError(f"must be lowercase letters, digits and '-', starting with a letter or digit, not {value!r}")
    return value


def _condition(value: object, info: ValidationInfo) -> Condition:
    """Parse a condition; with ``known_features`` in the context, also check the names it reads."""
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    try:
        condition = Condition(value)
    except ConditionSyntaxError as exc:
        raise ValueError(exc.message) from None
    known = (info.context or {}).get("known_features")
    if known is not None:
        unknown = sorted(condition.features.difference(known))
        if unknown:
            raise ValueError("; ".join(_unknown_feature(name, known) for name in unknown))
    return condition


def _unknown_feature(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"unknown feature {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


ParsedCondition = Annotated[Condition, BeforeValidator(_condition), PlainSerializer(str, return_type=str)]
"""Written as a string, held parsed."""
Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""Written as seconds or a duration string (``90s``, ``10m``, ``2h``), held as seconds."""
Glob = Annotated[str, StringConstraints(min_length=1)]
"""An fnmatch pattern (``*``, ``?``, ``[seq]``), matched case-sensitively against a whole id."""


class RuleExceptions(BaseModel):
    """Analysts' allowlist: clients and models a rule never alerts on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: list[Glob] = Field(default_factory=list, description="client id patterns never alerted")
    models: list[Glob] = Field(default_factory=list, description="model id patterns never alerted")


class Rule(BaseModel):
    """One detection rule: when ``condition`` holds over a client's features, raise an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: Annotated[str, AfterValidator(_slug)] = Field(
        description="unique slug: lowercase letters, digits and '-'; alerts name it as rule:<id>"
    )
    description: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="what the rule detects, in an analyst's words (used in alert summaries)"
    )
    condition: ParsedCondition = Field(description="comparisons of features, combined with and, or, not")
    severity: Severity
    tags: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list, description="e.g. attack.inversion, attack.extraction, attack.evasion"
    )
    min_events: int = Field(1, ge=1, description="events the client must have sent the model before it may fire")
    suppress_for: Seconds = Field(600.0, description="repeats for the same client and model update one alert")
    exceptions: RuleExceptions = Field(default_factory=RuleExceptions)
    enabled: bool = True
    thresholds: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")], float] = Field(
        default_factory=dict,
        description="the shipped value of every named threshold ($name) of the condition: in force for "
        "models no calibration covers; a calibration file or the online calibration replaces it per model",
    )

    @model_validator(mode="after")
    def _every_named_threshold_has_a_default(self) -> "Rule":
        names = self.condition.names
        missing = sorted(names - self.thresholds.keys())
        unused = sorted(self.thresholds.keys() - names)
        problems = [f"condition reads ${name} but thresholds gives it no value" for name in missing]
        problems += [f"thresholds names {name!r}, which the condition does not read" for name in unused]
        problems += [f"thresholds.{name} must be a finite number" for name, v in self.thresholds.items() if not math.isfinite(v)]
        if problems:
            raise ValueError("; ".join(problems))
        return self
