"""Model inversion: reconstruct a class's prototype from its confidence (MI-Face).

Fredrikson, Jha and Ristenpart, "Model Inversion Attacks that Exploit
Confidence Information and Basic Countermeasures", CCS 2015, Algorithm 1
(MI-Face), run black-box as the paper allows: the gradient of the cost is
estimated by finite differences instead of read from the model.
"""

from __future__ import annotations

import numpy as np

from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe


def mi_face(
    data: Dataset,
    target: int,
    rng: np.random.Generator,
    *,
    coordinates: int = 8,
    fd_step: float = 0.02,
    learning_rate: float = 0.05,
    patience: int = 100,
    stop_cost: float = 0.001,
    max_iterations: int = 5000,
) -> Probe:
    """MI-Face against class ``target``, with finite differences.

    The cost is c(x) = 1 - f_target(x) (no auxiliary term). From the blank
    input x0 = 0, each iteration estimates the gradient of c on
    ``coordinates`` random coordinates with symmetric pairs x + h e_i,
    x - h e_i (h = ``fd_step`` of the feature's range; a pair clipped by the
    range is divided by its real width), steps x <- Process(x - lambda g)
    with Process the projection onto the valid range, and queries the new x
    to learn its cost. A run stops when the cost is no lower than the worst
    of the previous beta = ``patience`` costs, falls to gamma =
    ``stop_cost``, or after alpha = ``max_iterations``; the attacker then
    starts over from a random dim input (restarts give more reconstructions
    of the class). Coordinates are in units of the feature's range.

    One change from the paper: g is the estimate *normalised*, so every step
    has length lambda = ``learning_rate``. A network's confidence in a class
    it does not see is ~1e-6 with a gradient to match, and a fixed lambda
    times that never moves; with unit steps the confidence climbs over a few
    hundred to a couple of thousand queries. On a top-1 API the confidence
    is what :meth:`Answers.class_score` can tell, and progress is poorer.
    """
    d, span = data.n_features, data.span
    h = fd_step * span
    start = data.clip(np.zeros(d))
    rows = np.arange(coordinates)
    while True:
        x = start
        costs = [1.0 - (yield x[None]).class_score(target)[0]]
        for _ in range(max_iterations):
            picked = rng.choice(d, size=coordinates, replace=False)
            pairs = np.repeat(x[None], 2 * coordinates, axis=0).reshape(coordinates, 2, d)
            pairs[rows, 0, picked] += h[picked]
            pairs[rows, 1, picked] -= h[picked]
            pairs = data.clip(pairs).reshape(2 * coordinates, d)
            confidence = (yield pairs).class_score(target)
            width = pairs[0::2][rows, picked] - pairs[1::2][rows, picked]
            ascent = np.zeros(d)
            ascent[picked] = (confidence[0::2] - confidence[1::2]) / width * span[picked]
            norm = np.linalg.norm(ascent)
            if norm > 0:
                x = data.clip(x + learning_rate * span * ascent / norm)
            costs.append(1.0 - (yield x[None]).class_score(target)[0])
            if costs[-1] <= stop_cost or (len(costs) > patience and costs[-1] >= max(costs[-patience - 1 : -1])):
                break
        start = data.clip(np.zeros(d) + 0.1 * span * rng.random(d))
