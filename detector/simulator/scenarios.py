"""Named scenarios: how many clients of each kind share one timeline.

- ``tiny``: a handful of benign clients and one inversion attacker, for tests.
- ``demo``: ~40 benign clients of every kind and three attackers
  (inversion, HopSkipJump, Knockoff), for ``inversion-detector demo``.
- ``standard``: every benign kind with enough clients (~550) that a 0.5%
  client-level false-positive rate is measurable, 10% of them behind a
  top-1 API, and 5 clients of every attack kind: the detection benchmark.
- ``careful``: every careful variant (slow, split, cover, noisy, top1)
  several times, with benign traffic of which a quarter uses a top-1 API
  (so a top-1 answer alone tells nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.simulator.benign import BENIGN_KINDS
from detector.simulator.kinds import ATTACK_KINDS, CAREFUL_BASES


@dataclass(frozen=True)
class Scenario:
    """Clients per kind on one timeline of ``duration_s`` seconds.

    ``benign`` and ``attacks`` count clients per kind; ``careful`` counts
    attackers per careful variant (a ``split`` attacker is one walk over
    several API keys); ``top1_share`` of the benign clients are served by a
    top-1 API; ``budget_scale`` scales every attacker's query budget (small
    scenarios stay small). Clients start at random times in the first 80% of
    the duration.
    """

    name: str
    duration_s: float
    benign: dict[str, int]
    attacks: dict[str, int] = field(default_factory=dict)
    careful: dict[str, int] = field(default_factory=dict)
    top1_share: float = 0.0
    budget_scale: float = 1.0

    def __post_init__(self) -> None:
        for kinds, known in ((self.benign, BENIGN_KINDS), (self.attacks, ATTACK_KINDS), (self.careful, CAREFUL_BASES)):
            unknown = set(kinds) - set(known)
            if unknown:
                raise ValueError(f"scenario {self.name!r}: unknown kinds {sorted(unknown)}; known: {sorted(known)}")


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "tiny",
            duration_s=900.0,
            benign={"interactive": 2, "healthcheck": 1, "retry": 1, "augment": 1},
            attacks={"inversion": 1},
            budget_scale=0.45,
        ),
        Scenario(
            "demo",
            duration_s=3600.0,
            benign={"interactive": 15, "batch": 2, "healthcheck": 4, "retry": 6, "video": 2, "drift": 3, "augment": 7},
            attacks={"inversion": 1, "hopskipjump": 1, "knockoff": 1},
            budget_scale=0.8,
        ),
        Scenario(
            "standard",
            duration_s=6 * 3600.0,
            benign={
                "interactive": 200,
                "batch": 25,
                "healthcheck": 40,
                "retry": 100,
                "video": 40,
                "drift": 50,
                "augment": 90,
            },
            attacks={kind: 5 for kind in ATTACK_KINDS},
            top1_share=0.1,
        ),
        Scenario(
            "careful",
            duration_s=8 * 3600.0,
            benign={
                "interactive": 50,
                "batch": 6,
                "healthcheck": 12,
                "retry": 25,
                "video": 10,
                "drift": 15,
                "augment": 25,
            },
            careful={"slow": 4, "split": 3, "cover": 6, "noisy": 4, "top1": 4},
            top1_share=0.25,
        ),
    )
}
"""Scenarios by name."""
