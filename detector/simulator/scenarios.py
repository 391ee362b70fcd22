"""Named scenarios: how many clients of each kind share one timeline.

- ``tiny``: a handful of benign clients and one inversion attacker, for tests.
- ``demo``: ~40 benign clients of every kind and three attackers
  (inversion, HopSkipJump, Knockoff), for ``inversion-detector demo``.
- ``standard``: every benign kind with enough clients (~1,000; at least 20
  a kind, 50 for most) that a 2% false-positive rate per kind is
  measurable, 10% of them behind a top-1 API, and 5 plain clients of
  every attack kind: the detection benchmark.
- ``careful``: every attack kind under every variant of
  ``detector.simulator.variants`` (plain included, for comparison on the
  same timeline), with benign traffic of every kind of which a quarter
  uses a top-1 API (so a top-1 answer alone tells nothing).

:meth:`Scenario.benign_only` is a scenario's benign clients alone: with
another seed, a calibration sample beside a held-out test timeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from detector.simulator.benign import BENIGN_KINDS
from detector.simulator.kinds import ATTACK_KINDS
from detector.simulator.variants import VARIANTS


@dataclass(frozen=True)
class Scenario:
    """Clients per kind on one timeline of ``duration_s`` seconds.

    ``benign`` and ``attacks`` count clients per kind (``attacks`` play
    plainly); ``careful`` counts attackers per variant, who play the attack
    kinds in turn, ``inversion`` first (a ``split`` or ``slow-split``
    attacker is one attack over several API keys); ``top1_share`` of the
    benign clients are served by a
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
        for kinds, known in ((self.benign, BENIGN_KINDS), (self.attacks, ATTACK_KINDS), (self.careful, VARIANTS)):
            unknown = set(kinds) - set(known)
            if unknown:
                raise ValueError(f"scenario {self.name!r}: unknown kinds {sorted(unknown)}; known: {sorted(known)}")

    def benign_only(self) -> "Scenario":
        """The same benign clients on the same models, without attackers, named ``<name>-benign``.

        >>> calm = SCENARIOS["tiny"].benign_only()
        >>> calm.name, calm.attacks, calm.careful, calm.benign == SCENARIOS["tiny"].benign
        ('tiny-benign', {}, {}, True)
        """
        return dataclasses.replace(self, name=f"{self.name}-benign", attacks={}, careful={})


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
                "heavy-retry": 50,
                "reencode": 50,
                "tta": 50,
                "editing": 50,
                "typeahead": 50,
                "rescoring": 25,
                "shifted": 50,
                "shadow": 25,
                "labeller": 50,
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
                "heavy-retry": 10,
                "reencode": 10,
                "tta": 10,
                "editing": 10,
                "typeahead": 10,
                "rescoring": 5,
                "shifted": 10,
                "shadow": 5,
                "labeller": 10,
            },
            careful={variant: len(ATTACK_KINDS) for variant in VARIANTS},
            top1_share=0.25,
            budget_scale=0.5,
        ),
    )
}
"""Scenarios by name."""
