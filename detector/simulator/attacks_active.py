"""Active-learning extraction: ActiveThief (Pal, Gupta, Shukla, Kanade, Shevade and Ganapathy,
"ActiveThief: Model Extraction Using Active Learning and Unannotated Public Data", AAAI 2020).

The attacker holds a pool of unlabelled natural data from another domain
(here :func:`~detector.simulator.attacks_extraction.transfer_set`, the
Knockoff attacker's surrogate) and a substitute model of its own. It labels
a random seed batch through the API, trains the substitute on the answers'
labels, and from then on, round after round, queries the pool samples the
substitute is least sure about, retraining between rounds:

- ``margin``: the smallest gap between the substitute's top two classes;
- ``entropy``: the largest entropy of its class probabilities;
- ``k-center``: greedy k-center over its probability vectors (each next
  sample the one farthest from everything labelled or chosen so far).

Labels are enough (the API may be top-1), so the substitute learns from
them; what the API sees is an other-domain stream that drifts towards the
model's decision boundaries.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from detector.simulator.attacks_extraction import transfer_set
from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe

STRATEGIES = ("margin", "entropy", "k-center")
"""ActiveThief's subset-selection strategies played here (its DFAL ones need the substitute's gradients)."""
GROWTH = 0.2
"""A round queries at least this share of what is labelled already (besides its ``batch``)."""


def uncertainty(proba: np.ndarray, strategy: str) -> np.ndarray:
    """How unsure the substitute is of each row of class probabilities (higher = less sure).

    >>> p = np.array([[0.5, 0.45, 0.05], [0.9, 0.05, 0.05], [0.34, 0.33, 0.33]])
    >>> uncertainty(p, "margin").round(2).tolist(), uncertainty(p, "entropy").argmax()
    ([-0.05, -0.85, -0.01], np.int64(2))
    """
    if strategy == "margin":
        top2 = np.sort(proba, axis=1)[:, -2:]
        return top2[:, 0] - top2[:, 1]
    if strategy == "entropy":
        return -(proba * np.log(np.clip(proba, 1e-12, None))).sum(axis=1)
    raise ValueError(f"no uncertainty for strategy {strategy!r}")


def k_center(candidates: np.ndarray, centres: np.ndarray, k: int) -> np.ndarray:
    """Greedy k-center (Sener and Savarese 2018, as ActiveThief uses it): ``k`` rows of ``candidates``,
    each the one farthest from ``centres`` and the rows chosen before it.

    >>> k_center(np.array([[0.0], [0.1], [5.0], [9.0]]), np.array([[0.0]]), 2).tolist()
    [3, 2]
    """
    candidates, centres = candidates.astype(np.float32), centres.astype(np.float32)
    norms = (candidates**2).sum(axis=1)
    far = np.full(len(candidates), np.inf, dtype=np.float32)
    for start in range(0, len(centres), 1024):  # squared distances by one product a block, in bounded memory
        block = centres[start : start + 1024]
        squared = norms[:, None] + (block**2).sum(axis=1)[None] - 2.0 * candidates @ block.T
        far = np.minimum(far, squared.min(axis=1))
    chosen = []
    for _ in range(min(k, len(candidates))):
        best = int(far.argmax())
        chosen.append(best)
        far = np.minimum(far, ((candidates - candidates[best]) ** 2).sum(axis=1))
    return np.array(chosen, dtype=np.int64)


def active_thief(
    data: Dataset,
    rng: np.random.Generator,
    substitute: ClassifierMixin,
    *,
    strategy: str,
    pool_size: int = 12_000,
    seed_size: int = 100,
    batch: int = 100,
) -> Probe:
    """ActiveThief against the API: a random ``seed_size`` batch of the pool first, then rounds of
    ``batch`` (or ``GROWTH`` of the labelled set, if more) chosen by ``strategy``, ``substitute``
    (a scikit-learn classifier, fitted in place on inputs scaled to [0, 1]) retrained on every label
    so far before each round. Ends when the pool is spent.

    >>> from sklearn.linear_model import LogisticRegression
    >>> from detector.simulator.api import ModelAPI
    >>> from detector.simulator.models import target_model
    >>> api = ModelAPI(target_model("digits-classifier:1"))
    >>> thief = LogisticRegression(max_iter=200)
    >>> probe = active_thief(api.model.data, np.random.default_rng(0), thief, strategy="margin", pool_size=400)
    >>> sizes, sent = [], next(probe)
    >>> while True:
    ...     sizes.append(len(sent))
    ...     try:
    ...         sent = probe.send(api.answer(sent))
    ...     except StopIteration:
    ...         break
    >>> sizes, sum(sizes), len(thief.classes_)
    ([100, 100, 100, 100], 400, 10)
    """
    pool = transfer_set(data, pool_size, rng)
    unit = (pool - data.lo) / data.span
    left = np.ones(pool_size, dtype=bool)
    chosen = rng.choice(pool_size, min(seed_size, pool_size), replace=False)
    labelled: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    while len(chosen):
        answers = yield pool[chosen]
        labelled.append(chosen)
        labels.append(np.asarray(answers.labels))
        left[chosen] = False
        known, y = np.concatenate(labelled), np.concatenate(labels)
        candidates = np.flatnonzero(left)
        k = min(max(batch, int(GROWTH * len(known))), len(candidates))
        if len(np.unique(y)) < 2:  # nothing to learn a boundary from yet
            chosen = rng.choice(candidates, k, replace=False)
            continue
        with warnings.catch_warnings(), threadpool_limits(1, "blas"):  # threads only slow small fits down
            warnings.simplefilter("ignore", ConvergenceWarning)
            substitute.fit(unit[known], y)
        if not k:
            return
        proba = substitute.predict_proba(unit[candidates])
        if strategy == "k-center":
            picked = k_center(proba, substitute.predict_proba(unit[known]), k)
        else:
            picked = np.argsort(-uncertainty(proba, strategy), kind="stable")[:k]
        chosen = candidates[picked]
