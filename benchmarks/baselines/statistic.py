"""A per-query statistic, thresholded per model at a client-level false-positive rate.

Each published detector computes one number per query (a mean distance to
the nearest neighbours, a normality statistic, a count of matches) and
flags when it crosses a threshold. A client is tested many times, so the
threshold is set for the share of benign *clients* flagged at least once:
on a benign-only sample, every client's most extreme value over all its
queries, and the threshold at the target quantile of those extremes
(:func:`client_threshold`). Thresholds are per ``model_id``: each model's
benign traffic has its own scale.

Subclasses say which way is attack-like (``falls``), what they learn per
model from the calibration sample besides the threshold (``prepare``, e.g.
an input range), and how to compute the statistic over one model's queries
(``statistics``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from benchmarks.baselines.queries import Key, ModelQueries, collect


def client_threshold(extremes: np.ndarray, target_fpr: float, *, falls: bool) -> float:
    """The threshold that flags at most ``target_fpr`` of the clients whose most extreme values are
    ``extremes`` (infinite = never tested): flag below it when ``falls``, above it otherwise.

    With no ties it flags ``floor(target_fpr * n)`` of the ``n`` clients exactly.

    >>> extremes = np.arange(100.0)
    >>> t = client_threshold(extremes, 0.05, falls=True); t, int((extremes < t).sum())
    (5.0, 5)
    >>> t = client_threshold(extremes, 0.05, falls=False); t, int((extremes > t).sum())
    (94.0, 5)
    >>> client_threshold(np.array([1.0, np.inf, np.inf]), 0.5, falls=True)  # one may be flagged: any tested one
    inf
    >>> client_threshold(np.array([]), 0.01, falls=False)  # no benign clients: never flag
    inf
    """
    if not len(extremes):
        return -np.inf if falls else np.inf
    ordered = np.sort(extremes if falls else -extremes)  # most attack-like first
    allowed = int(np.floor(target_fpr * len(ordered) + 1e-9))
    threshold = float(ordered[allowed]) if allowed < len(ordered) else np.inf
    return threshold if falls else -threshold


class ThresholdedStatistic:
    """A detector that flags a client at its first query whose statistic crosses its model's threshold."""

    name: str
    cross_client = False
    falls: bool
    """True when small values are attack-like (flag below the threshold), False when large ones are."""

    def __init__(self) -> None:
        self.thresholds: dict[str, float] = {}
        self.learned: dict[str, object] = {}

    def prepare(self, queries: ModelQueries) -> object:
        """What the detector learns of a model from its benign calibration queries (default: nothing)."""
        return None

    def statistics(self, queries: ModelQueries, learned: object) -> np.ndarray:
        """The statistic after each query (float, NaN where the query is not tested)."""
        raise NotImplementedError

    def extremes(self, queries: ModelQueries, values: np.ndarray) -> np.ndarray:
        """Each client's most attack-like value (infinitely benign when it was never tested)."""
        sign = 1.0 if self.falls else -1.0
        worst = np.full(len(queries.clients), np.inf)
        np.minimum.at(worst, queries.client, np.where(np.isnan(values), np.inf, sign * values))
        return sign * worst

    def fit(self, events: Iterable[Mapping], target_fpr: float) -> None:
        """Calibrate on benign-only ``events``: per model, the threshold flagging ``target_fpr`` of its clients."""
        self.thresholds, self.learned = {}, {}
        for model_id, queries in collect(events).items():
            learned = self.learned[model_id] = self.prepare(queries)
            extremes = self.extremes(queries, self.statistics(queries, learned))
            self.thresholds[model_id] = client_threshold(extremes, target_fpr, falls=self.falls)

    def run(self, events: Iterable[Mapping]) -> dict[Key, int | None]:
        """Every client's first flagged query (its index among the client's events), or None."""
        flagged: dict[Key, int | None] = {}
        for model_id, queries in collect(events).items():
            if model_id not in self.thresholds:
                message = f"{self.name}: no calibration for {model_id!r}; its clients are never flagged"
                warnings.warn(message, stacklevel=2)
                flagged.update(((model_id, client), None) for client in queries.clients)
                continue
            values = self.statistics(queries, self.learned[model_id])
            threshold = self.thresholds[model_id]
            with np.errstate(invalid="ignore"):
                beyond = values < threshold if self.falls else values > threshold
            first: dict[int, int] = {}
            for row in np.flatnonzero(beyond).tolist():
                first.setdefault(int(queries.client[row]), int(queries.position[row]))
            flagged.update(((model_id, client), first.get(number)) for number, client in enumerate(queries.clients))
        return flagged
