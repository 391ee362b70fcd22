"""Stateful Detection (Chen, Carlini and Wagner 2020, "Stateful detection of black-box adversarial attacks").

A query-based attack sends many inputs close to each other; benign users do
not. Per client, a buffer of its last ``buffer`` distinct queries; for each
new query (once the buffer holds ``k``), the mean L2 distance to its ``k``
nearest in the buffer; the query is flagged when that mean is below a
threshold set for a target false-positive rate on benign traffic.

Distances are in the raw input space, the vector the model receives (the
paper's pixel-space variant; its main results use a learned similarity
encoder, which a tabular model does not have). Per-coordinate
standardisation was not used: near-constant coordinates (the border pixels
of digits) would then dominate every distance with noise. The threshold is
per model, so each model's own scale is absorbed there. A query identical to
one the client sent before is left out (the buffer keeps *distinct* queries),
and the buffer is not cleared after a flag: only the first flag is reported.

>>> import numpy as np
>>> from benchmarks.baselines.queries import collect, event
>>> rng = np.random.default_rng(0)
>>> walk = [event("m", "prober", (10.0 + 0.001 * i + 0.001 * rng.standard_normal(4)).tolist()) for i in range(80)]
>>> scatter = [event("m", "user", (10.0 * rng.standard_normal(4)).tolist()) for i in range(80)]
>>> d = StatefulDetection(k=50).statistics(collect(walk + scatter)["m"], None)
>>> int(np.isnan(d[:80]).sum()), round(float(np.nanmax(d[:80])), 3), round(float(np.nanmin(d[80:])), 1)
(50, 0.053, 17.3)
"""

from __future__ import annotations

import numpy as np

from benchmarks.baselines.queries import ModelQueries
from benchmarks.baselines.statistic import ThresholdedStatistic

K = 50
BUFFER = 1000


class StatefulDetection(ThresholdedStatistic):
    """Mean L2 distance to the ``k`` nearest of the client's last ``buffer`` distinct queries; flag below."""

    name = "stateful-detection"
    falls = True

    def __init__(self, k: int = K, buffer: int = BUFFER) -> None:
        super().__init__()
        self.k, self.buffer = k, buffer

    def statistics(self, queries: ModelQueries, learned: object) -> np.ndarray:
        values = np.full(len(queries), np.nan)
        k, size = self.k, self.buffer
        for _, rows in queries.by_client():
            rows = rows[~queries.repeat[rows]]
            x = queries.x[rows]
            for j in range(k, len(rows)):
                steps = x[max(0, j - size) : j] - x[j]
                distances = np.sqrt(np.einsum("ij,ij->i", steps, steps))
                values[rows[j]] = np.partition(distances, k - 1)[:k].mean()
        return values
