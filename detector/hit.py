"""What a scorer reports and the decider takes: one detector that fired on a client's window."""

from __future__ import annotations

from dataclasses import dataclass

from detector.alert import Reason, Severity

SEVERITY_SCORE = {"info": 0.2, "low": 0.4, "medium": 0.6, "high": 0.8, "critical": 0.95}
"""Score of a rule hit: rules are calibrated, so their severity is their confidence."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One detector that fired on a client's window."""

    detector: str
    severity: Severity
    score: float
    reasons: list[Reason]
    description: str
    suppress_for_s: float
    related_clients: tuple[str, ...] = ()
