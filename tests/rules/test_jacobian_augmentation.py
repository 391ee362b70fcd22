"""Jacobian-based dataset augmentation is alerted when each child comes hundreds of queries after its parent;
sessions whose steps also move every coordinate by one amount are not."""

from __future__ import annotations

import numpy as np

from detector.settings import Settings
from tests.rules.test_noise_and_blinding import DIM, alerts, events, person, sample

RULE = "rule:jacobian-augmentation"


def augmentation(rng, seeds=40, between=500, step=0.1):
    """Seed records, ``between`` other records, then each seed again as ``x + step * sign(g)`` for a
    gradient ``g`` of its own (Papernot et al. 2017), clipped to the input's range."""
    parents = sample(rng, seeds)
    children = np.clip(parents + step * np.sign(rng.standard_normal((seeds, DIM))), 0, 1)
    return np.vstack([parents, sample(rng, between), children])


def contrast_slider(rng, n=120, step=0.01):
    """An editing session: a contrast slider dragged up and down, every pixel moving ``step`` away from
    (or back to) the middle grey at each re-score."""
    x, out = sample(rng, 1)[0], []
    direction = np.sign(x - 0.5)
    for t in range(n):
        level = (t % 40) if (t // 40) % 2 == 0 else 40 - t % 40
        out.append(np.clip(x + level * step * direction, 0, 1))
    return np.array(out)


def test_children_of_parents_500_queries_back_are_alerted_and_sessions_are_not() -> None:
    lines, kind_of = events({"person": (person, 30), "jbda": (augmentation, 2), "slider": (contrast_slider, 4)}, seed=5)
    fired = alerts(lines, Settings(online_calibration=False))
    for client, kind in kind_of.items():
        if kind == "jbda":
            assert RULE in fired[client], f"{client}: {sorted(fired[client]) or 'no alert'}"
        else:
            assert RULE not in fired[client], f"{client} ({kind}) alerted"
