"""Score-based evasion: ZOO, SimBA and the Square attack.

Each makes a real held-out sample misclassified using only the API's
scores, then moves on to the next sample (an evasion attacker has many
inputs to get through). All three are untargeted.
"""

from __future__ import annotations

import numpy as np

from detector.simulator.api import Answers
from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe


def _margin(scores: np.ndarray, label: int) -> np.ndarray:
    """Score of ``label`` minus the best other class's, per row (negative once fooled).

    >>> _margin(np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]]), 0).round(2).tolist()
    [0.5, -0.3]
    """
    others = scores.copy()
    others[:, label] = -np.inf
    return scores[:, label] - others.max(axis=1)


def _real_sample(data: Dataset, rng: np.random.Generator) -> np.ndarray:
    return data.x_held_out[rng.integers(len(data.x_held_out))]


def zoo(
    data: Dataset,
    rng: np.random.Generator,
    *,
    coordinates: int = 8,
    fd_step: float = 1e-4,
    learning_rate: float = 0.01,
    const: float = 10.0,
    iterations_per_sample: int = 100,
) -> Probe:
    """ZOO-ADAM (Chen, Zhang, Sharma, Yi and Hsieh, "ZOO: Zeroth Order Optimization
    Based Black-box Attacks to Deep Neural Networks without Training Substitute
    Models", AISec 2017, Algorithm 2), untargeted, L2, box-constrained.

    Loss: ||x - x0||^2 + c * max(log p_y(x) - max_{j != y} log p_j(x), -kappa)
    with kappa = 0, distances in units of the feature range. Each iteration
    queries x itself and, for a batch of ``coordinates`` random coordinates,
    the pair x + h e_i, x - h e_i with h = ``fd_step`` of the range (ZOO's
    h = 1e-4), estimates each coordinate's derivative by the symmetric
    difference, and takes a per-coordinate ADAM step (beta1 0.9, beta2 0.999)
    projected onto the valid range. After ``iterations_per_sample`` it
    moves to another sample.
    """
    d, span = data.n_features, data.span
    h = fd_step * span
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    rows = np.arange(coordinates)
    while True:
        x0 = _real_sample(data, rng)
        label = int((yield x0[None]).labels[0])
        x, m, v, t = x0.copy(), np.zeros(d), np.zeros(d), np.zeros(d)
        for _ in range(iterations_per_sample):
            picked = rng.choice(d, size=coordinates, replace=False)
            batch = np.repeat(x[None], 2 * coordinates + 1, axis=0)
            batch[1::2][rows, picked] += h[picked]
            batch[2::2][rows, picked] -= h[picked]
            batch = data.clip(batch)
            answers: Answers = yield batch
            margin = _margin(np.log(np.maximum(answers.estimates(), 1e-30)), label)
            loss = (((batch - x0) / span) ** 2).sum(axis=1) + const * np.maximum(margin, 0.0)
            width = (batch[1::2][rows, picked] - batch[2::2][rows, picked]) / span[picked]
            grad = (loss[1::2] - loss[2::2]) / width
            t[picked] += 1
            m[picked] = beta1 * m[picked] + (1 - beta1) * grad
            v[picked] = beta2 * v[picked] + (1 - beta2) * grad**2
            m_hat = m[picked] / (1 - beta1 ** t[picked])
            v_hat = v[picked] / (1 - beta2 ** t[picked])
            x[picked] -= learning_rate * span[picked] * m_hat / (np.sqrt(v_hat) + eps)
            x = data.clip(x)


def simba(data: Dataset, rng: np.random.Generator, *, epsilon: float = 0.2, max_passes: int = 4) -> Probe:
    """SimBA with the pixel (Cartesian) basis (Guo, Gardner, You, Wilson and
    Weinberger, "Simple Black-box Adversarial Attacks", ICML 2019, Algorithm 1).

    Take the basis directions in random order; for each q = e_i try
    x - eps q, then x + eps q (eps = ``epsilon`` of the range), and keep the
    first that lowers the probability of the true label. Stop at the first
    misclassification; a direction that would leave the valid range is not
    sent. After ``max_passes`` passes over the basis the sample is given up.
    """
    step = epsilon * data.span
    while True:
        x = _real_sample(data, rng)
        answers: Answers = yield x[None]
        label = int(answers.labels[0])
        p, fooled = float(answers.class_score(label)[0]), False
        for i in np.concatenate([rng.permutation(data.n_features) for _ in range(max_passes)]):
            if fooled:
                break
            for sign in (-1.0, 1.0):
                candidate = x.copy()
                candidate[i] = np.clip(x[i] + sign * step[i], data.lo[i], data.hi[i])
                if candidate[i] == x[i]:
                    continue
                answers = yield candidate[None]
                if answers.class_score(label)[0] < p:
                    x, p, fooled = candidate, float(answers.class_score(label)[0]), bool(answers.labels[0] != label)
                    break


def _p_selection(p_init: float, iteration: int, n_iterations: int) -> float:
    """The Square attack's schedule of the share of pixels a square covers (the paper's code).

    >>> [_p_selection(0.4, i, 10_000) for i in (5, 30, 300, 9_000)]
    [0.4, 0.2, 0.05, 0.00078125]
    """
    it = int(iteration / n_iterations * 10_000)
    bounds = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000, 10_000)
    for halvings, bound in enumerate(bounds):
        if it <= bound:
            return p_init / 2**halvings
    return p_init


def square(
    data: Dataset,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.05,
    p_init: float = 0.1,
    iterations_per_sample: int = 1000,
) -> Probe:
    """The L-infinity Square attack (Andriushchenko, Croce, Flammarion and Hein,
    "Square Attack: a query-efficient black-box adversarial attack via random
    search", ECCV 2020, Algorithm 1 with the L-inf sampling of Algorithm 2).

    Image tasks only. Start from vertical stripes of +-eps (eps =
    ``epsilon`` of the range, the paper's ImageNet budget); each iteration
    redraws one random square window of the perturbation to a fresh +-eps
    (its side from the paper's schedule of p, starting at ``p_init`` of the
    pixels) and keeps the candidate if the margin loss
    p_y - max_{j != y} p_j goes down. Stops at the first misclassification,
    or after ``iterations_per_sample``, then takes the next sample.
    """
    if data.image_shape is None:
        raise ValueError("the Square attack needs an image task")
    rows, cols = data.image_shape
    eps = epsilon * data.span
    while True:
        x0 = _real_sample(data, rng)
        label = int((yield x0[None]).labels[0])
        delta = np.tile(rng.choice([-1.0, 1.0], size=cols), rows) * eps
        answers: Answers = yield data.clip(x0 + delta)[None]
        loss = float(_margin(answers.estimates(), label)[0])
        for iteration in range(iterations_per_sample):
            if loss < 0:
                break
            side = int(round(np.sqrt(_p_selection(p_init, iteration, iterations_per_sample) * rows * cols)))
            side = min(max(side, 1), rows - 1)
            top, left = rng.integers(0, rows - side + 1), rng.integers(0, cols - side + 1)
            window = np.zeros((rows, cols), dtype=bool)
            window[top : top + side, left : left + side] = True
            window = window.ravel()
            candidate = delta.copy()
            while np.all(candidate[window] == delta[window]):  # as in the paper's code: the square must change
                candidate[window] = rng.choice([-1.0, 1.0]) * eps[window]
            answers = yield data.clip(x0 + candidate)[None]
            candidate_loss = float(_margin(answers.estimates(), label)[0])
            if candidate_loss < loss:
                delta, loss = candidate, candidate_loss
