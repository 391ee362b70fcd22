"""The attack kinds (families) a scenario can ask for, and how each is played.

A kind names its paper's algorithm (in the ``attacks_*`` modules), the
number of queries one attacking client sends and its pace. Every kind can
be played under every variant of ``detector.simulator.variants``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from detector.simulator.attacks_active import STRATEGIES, active_thief
from detector.simulator.attacks_decision import boundary, hop_skip_jump
from detector.simulator.attacks_extraction import equation_solving, jacobian_augmentation, knockoff
from detector.simulator.attacks_inversion import mi_face
from detector.simulator.attacks_membership import noise_robustness
from detector.simulator.attacks_score import simba, square, zoo
from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe


@dataclass(frozen=True)
class AttackKind:
    """How one kind of attacker is played.

    ``build(data, rng, target)`` starts the algorithm (``target`` is the
    class to invert when ``targeted``, else None); ``budget`` bounds the
    queries one client sends; ``mean_gap_s`` bounds the mean gap of its
    script (drawn per client); ``image_only`` kinds need an image task.
    """

    build: Callable[[Dataset, np.random.Generator, int | None], Probe]
    budget: tuple[int, int]
    mean_gap_s: tuple[float, float] = (0.03, 0.3)
    image_only: bool = False
    targeted: bool = False


ATTACK_KINDS: dict[str, AttackKind] = {
    "inversion": AttackKind(lambda d, r, t: mi_face(d, int(t), r), (1500, 4000), targeted=True),
    "zoo": AttackKind(lambda d, r, t: zoo(d, r), (1500, 4000)),
    "boundary": AttackKind(lambda d, r, t: boundary(d, r), (1000, 3000)),
    "hopskipjump": AttackKind(lambda d, r, t: hop_skip_jump(d, r), (1500, 4000)),
    "simba": AttackKind(lambda d, r, t: simba(d, r), (500, 2000)),
    "square": AttackKind(lambda d, r, t: square(d, r), (500, 2000), image_only=True),
    "knockoff": AttackKind(lambda d, r, t: knockoff(d, r), (2000, 6000), mean_gap_s=(0.01, 0.05)),
    "jbda": AttackKind(lambda d, r, t: jacobian_augmentation(d, r), (1500, 4000)),
    "tramer": AttackKind(lambda d, r, t: equation_solving(d, r), (500, 3000)),
    "membership": AttackKind(lambda d, r, t: noise_robustness(d, r), (500, 2000)),
    "activethief": AttackKind(
        lambda d, r, t: active_thief(d, r, LogisticRegression(max_iter=100), strategy=str(r.choice(STRATEGIES))),
        (2000, 6000),
        mean_gap_s=(0.01, 0.05),
    ),
}
"""Attack kinds by name."""

SCRIPT_CV = 0.3
"""Coefficient of variation of a script's gaps."""
