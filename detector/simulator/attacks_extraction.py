"""Model extraction: Knockoff Nets, Jacobian-based dataset augmentation, equation solving.

The attacker's goal is a copy of the model; what the API sees is how the
attacker chooses its queries, which is what these generators reproduce.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe


def transfer_set(data: Dataset, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` natural-looking inputs from a distribution other than the task's.

    Images: 8x8 windows at a random offset inside a 2x2 mosaic of real
    images, randomly flipped or transposed: handwriting strokes and parts of
    several digits, not digits. Tabular rows: each feature taken from an
    independently drawn real record, so every value is realistic but the
    joint distribution is not.

    >>> from detector.simulator.datasets import dataset
    >>> x = transfer_set(dataset("digits"), 5, np.random.default_rng(0))
    >>> x.shape, float(x.min()) >= 0.0, float(x.max()) <= 16.0
    ((5, 64), True, True)
    """
    pool = data.x_all
    if data.image_shape is None:
        return pool[rng.integers(len(pool), size=(n, data.n_features)), np.arange(data.n_features)]
    rows, cols = data.image_shape
    tiles = pool[rng.integers(len(pool), size=(n, 4))].reshape(n, 2, 2, rows, cols)
    mosaic = tiles.transpose(0, 1, 3, 2, 4).reshape(n, 2 * rows, 2 * cols)
    out = np.empty((n, rows, cols))
    for i, (top, left) in enumerate(zip(rng.integers(1, rows, n), rng.integers(1, cols, n))):
        window = mosaic[i, top : top + rows, left : left + cols]
        window = window[:, ::-1] if rng.random() < 0.5 else window
        out[i] = window.T if rng.random() < 0.5 else window
    return out.reshape(n, data.n_features)


def knockoff(data: Dataset, rng: np.random.Generator, *, batch: int = 64) -> Probe:
    """Knockoff Nets, random strategy (Orekondy, Schiele and Fritz, "Knockoff
    Nets: Stealing Functionality of Black-Box Models", CVPR 2019).

    Sample the transfer set (:func:`transfer_set`) uniformly at random and
    query every sample once, collecting the answers as soft labels to train
    a knockoff model offline: a high volume of natural, diverse inputs from
    another distribution.
    """
    while True:
        yield transfer_set(data, batch, rng)


def _gradient_signs(substitute: LogisticRegression, u: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sign of d p_label(u) / d u for a softmax-regression substitute, one row per input.

    With p = softmax(W u + b), d p_c / d u = p_c (W_c - sum_k p_k W_k); a binary
    substitute is the softmax over logits [0, w u + b].
    """
    weights = substitute.coef_
    if len(substitute.classes_) == 2:
        weights = np.vstack([np.zeros_like(weights), weights])
    p = substitute.predict_proba(u)
    own = np.searchsorted(substitute.classes_, labels)
    rows = np.arange(len(u))
    return np.sign(p[rows, own][:, None] * (weights[own] - p @ weights))


def jacobian_augmentation(
    data: Dataset,
    rng: np.random.Generator,
    *,
    seeds_per_class: int = 10,
    step: float = 0.1,
    period: int = 3,
    full_rounds: int = 3,
    reservoir: int = 400,
) -> Probe:
    """Jacobian-based dataset augmentation (Papernot, McDaniel, Goodfellow, Jha,
    Celik and Swami, "Practical Black-Box Attacks against Machine Learning",
    AsiaCCS 2017, Algorithm 1, with the periodic step size and reservoir
    sampling of its Section 6).

    Label a small real seed set (``seeds_per_class`` per class) with the
    API, train a substitute (softmax regression) on it, and grow the set by
    x + lambda * sign(J_F[O(x)]) for each x: the sign of the substitute's
    gradient of the class the API gave x, lambda = ``step`` of the range,
    negated every ``period`` rounds; query the new points and retrain. After
    ``full_rounds`` rounds only ``reservoir`` random points of the set are
    augmented per round.
    """
    by_class = [np.flatnonzero(data.y_held_out == c) for c in range(data.n_classes)]
    known = data.x_held_out[np.concatenate([rng.choice(rows, seeds_per_class, replace=False) for rows in by_class])]
    labels = (yield known).labels
    substitute = LogisticRegression(max_iter=50, warm_start=True)
    for round_ in itertools.count():
        with warnings.catch_warnings(), threadpool_limits(1, "blas"):  # threads only slow small fits down
            warnings.simplefilter("ignore", ConvergenceWarning)
            substitute.fit((known - data.lo) / data.span, labels)
        chosen = np.arange(len(known))
        if round_ >= full_rounds and len(known) > reservoir:
            chosen = rng.choice(len(known), reservoir, replace=False)
        signs = _gradient_signs(substitute, (known[chosen] - data.lo) / data.span, labels[chosen])
        lam = step * (-1) ** (round_ // period)
        new = data.clip(known[chosen] + lam * signs * data.span)
        known = np.vstack([known, new])
        labels = np.concatenate([labels, (yield new).labels])


def equation_solving(data: Dataset, rng: np.random.Generator, *, batch: int = 50) -> Probe:
    """Equation-solving extraction (Tramer, Zhang, Juels, Reiter and Ristenpart,
    "Stealing Machine Learning Models via Prediction APIs", USENIX Security
    2016, Section 4.1): inputs drawn uniformly at random over the feature
    domain, each answer's scores giving equations in the model's unknown
    parameters (d + 1 per class for softmax regression; a few times the
    parameter count for the paper's neural networks, fitted offline)."""
    while True:
        yield data.lo + data.span * rng.random((batch, data.n_features))
