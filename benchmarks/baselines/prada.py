"""PRADA (Juuti, Szyller, Marchal and Asokan 2019, "PRADA: protecting against DNN model stealing attacks").

Benign clients' queries are natural samples: the distance from each new
query to the nearest earlier one is roughly normally distributed. Extraction
attacks synthesise queries from a few seeds (Jacobian augmentation, small
perturbations), which makes those distances markedly non-normal. Per client
and per predicted class ``c``, a growing set ``G_c`` of the client's queries;
each new query's minimum L2 distance to ``G_c`` joins the client's set of
distances ``D_c``, and the query joins ``G_c`` when that distance exceeds
``T_c = max(T_c, mean - std of the distances that grew G_c)``. Every
``test_every`` queries, the distances of the classes holding at least
``min_class`` of them are pooled, values more than 3 standard deviations
from their mean are dropped, and once more than ``min_points`` remain, their
Shapiro-Wilk ``W`` (``scipy.stats.shapiro``) is the statistic: flag when
``W`` is below a threshold set for a target false-positive rate. This is
Algorithm 1 of the paper as the authors' code runs it (test every 10
queries, classes with 10 or more distances, 3-sigma outlier removal,
more than 100 distances).

Distances are in the raw input space, as in the paper; ``W`` does not
depend on their scale. A query identical to one the client sent before is
left out (a retry is not a new sample).

>>> import numpy as np
>>> from benchmarks.baselines.queries import collect, event
>>> rng = np.random.default_rng(0)
>>> points = list(3.0 * rng.standard_normal((4, 8)))  # a few seeds, then Jacobian-style steps from earlier points
>>> for _ in range(296):
...     points.append(points[rng.integers(len(points))] + 0.1 * np.sign(rng.standard_normal(8)))
>>> copier = [event("m", "copier", p.tolist(), int(p[0] > 0)) for p in points]
>>> user = [event("m", "user", (3.0 * rng.standard_normal(8)).tolist(), i % 4) for i in range(300)]
>>> w = Prada().statistics(collect(copier + user)["m"], None)
>>> round(float(np.nanmin(w[:300])), 2), round(float(np.nanmin(w[300:])), 2)
(0.27, 0.97)
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import shapiro

from benchmarks.baselines.queries import ModelQueries
from benchmarks.baselines.statistic import ThresholdedStatistic

TEST_EVERY = 10
MIN_CLASS = 10
MIN_POINTS = 100
OUTLIER_SIGMAS = 3.0


class _ClassSet:
    """One class's growing set of queries, the distances that grew it, its threshold and its distances."""

    def __init__(self, first: np.ndarray, capacity: int) -> None:
        self.rows = np.empty((capacity, len(first)), dtype=np.float64)
        self.rows[0] = first
        self.size = 1
        self.growth = [0.0, 0.0]
        """Sum and sum of squares of the distances that grew the set (the first query's counts as 0)."""
        self.threshold = 0.0
        self.distances: list[float] = []

    def add(self, x: np.ndarray) -> None:
        steps = self.rows[: self.size] - x
        nearest = math.sqrt(float(np.einsum("ij,ij->i", steps, steps).min()))
        self.distances.append(nearest)
        if nearest > self.threshold:
            self.rows[self.size] = x
            self.size += 1
            self.growth[0] += nearest
            self.growth[1] += nearest * nearest
            mean = self.growth[0] / self.size
            spread = math.sqrt(max(self.growth[1] / self.size - mean * mean, 0.0))  # np.std's (population)
            self.threshold = max(self.threshold, mean - spread)


def normality(distances: np.ndarray, min_points: int = MIN_POINTS) -> float:
    """Shapiro-Wilk ``W`` of the distances within 3 standard deviations of their mean (NaN when
    ``min_points`` or fewer remain).

    >>> rng = np.random.default_rng(1)
    >>> round(normality(rng.normal(5.0, 1.0, 400)), 3), round(normality(rng.exponential(1.0, 400)), 3)
    (0.997, 0.876)
    >>> normality(np.ones(50))
    nan
    """
    kept = distances[np.abs(distances - distances.mean()) < OUTLIER_SIGMAS * distances.std()]
    return float(shapiro(kept).statistic) if len(kept) > min_points else float("nan")


class Prada(ThresholdedStatistic):
    """Shapiro-Wilk ``W`` of a client's per-class minimum distances to its growing sets; flag below."""

    name = "prada"
    falls = True

    def __init__(self, test_every: int = TEST_EVERY, min_class: int = MIN_CLASS, min_points: int = MIN_POINTS) -> None:
        super().__init__()
        self.test_every, self.min_class, self.min_points = test_every, min_class, min_points

    def statistics(self, queries: ModelQueries, learned: object) -> np.ndarray:
        values = np.full(len(queries), np.nan)
        for _, rows in queries.by_client():
            rows = rows[~queries.repeat[rows]]
            x, labels = queries.x[rows].astype(np.float64), queries.label[rows]
            classes, counts = np.unique(labels, return_counts=True)
            capacity = dict(zip(classes.tolist(), counts.tolist()))
            sets: dict[int, _ClassSet] = {}
            for j, label in enumerate(labels.tolist()):
                found = sets.get(label)
                if found is None:
                    sets[label] = _ClassSet(x[j], capacity[label])
                else:
                    found.add(x[j])
                if j % self.test_every == 0:
                    pooled = [s.distances for s in sets.values() if len(s.distances) >= self.min_class]
                    if sum(map(len, pooled)) > self.min_points:
                        values[rows[j]] = normality(np.concatenate(pooled), self.min_points)
        return values
