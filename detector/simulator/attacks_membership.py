"""Membership inference: is this record in the training set? Ask about it and its neighbours.

Label-only membership inference by robustness to noise (Choquette-Choo,
Tramer, Carlini and Papernot, "Label-Only Membership Inference Attacks",
ICML 2021, Section 4.2): a model is more robust around the points it was
trained on, so the attacker queries a candidate record and many random
perturbations of it and counts how often the label survives.
"""

from __future__ import annotations

import numpy as np

from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe


def noise_robustness(
    data: Dataset,
    rng: np.random.Generator,
    *,
    perturbations: tuple[int, int] = (50, 200),
    sigmas: tuple[float, ...] = (0.01, 0.02, 0.04),
) -> Probe:
    """For one candidate record after another (real records, members or not),
    query the record, then a number of Gaussian perturbations of it drawn
    from ``perturbations``, at a noise level (share of the feature range)
    picked from ``sigmas``, clipped to the valid range."""
    pool = data.x_all
    while True:
        record = pool[rng.integers(len(pool))]
        yield record[None]
        n = int(rng.integers(perturbations[0], perturbations[1] + 1))
        sigma = float(rng.choice(sigmas))
        yield data.clip(record + sigma * data.span * rng.standard_normal((n, data.n_features)))
