"""Blacklight (Li, Shan, Wenger, Zhang, Zheng and Zhao 2022, "Blacklight: scalable defense for neural
networks against query-based black-box attacks").

An iterative attack's queries are near-copies of each other, whoever sends
them. Each input is quantized (step 50 on 0-255 pixels: six levels over the
input's range), a window of ``window`` values slides over the flattened
quantized input one value at a time, each window is hashed with SHA-256, and
the ``keep`` largest hashes are the query's fingerprint. One table per model,
shared by every client, maps hash -> the earlier queries that had it; a query
*matches* when some earlier query (of any client) shares at least
``match_share`` of its hashes (the paper: 25 of 50). A client is flagged when
its count of matching queries exceeds a threshold set for a target
client-level false-positive rate on benign traffic.

What this re-implementation decides where the paper's images do not:

- Input range: learned per model and per coordinate from the calibration
  sample (its 0.5th to 99.5th percentile; a coordinate that never varies
  there takes the model's overall range), since a tabular model takes
  standardised features of very different spreads, not 0-255 pixels. Values
  outside the range fall in the outer levels.
- Window: the paper's 20, but at most a third of the input's length: a
  single changed value then breaks at most half of the windows, as it barely
  touches the top 50 of a 3,072-value image's 3,053 windows (the 30 values
  of a tabular input take windows of 10).
- Hashes are compared by their first 8 bytes (SHA-256 is still computed;
  64 bits keep collisions out of reach of these tables).
- A query byte-identical to an earlier one of the model is neither matched
  nor stored (see :mod:`benchmarks.baselines.queries`).

Candidates are found by prefix filtering: an earlier query sharing ``t`` of a
query's ``h`` hashes holds at least one of its ``h - t + 1`` rarest, so only
their table entries are read, and the first candidate with ``t`` shared
hashes ends the search. The table is not bounded (nor is the paper's).

>>> import numpy as np
>>> from benchmarks.baselines.queries import collect, event
>>> rng = np.random.default_rng(0)
>>> users = [event("m", f"user{i}", rng.uniform(0, 16, 64).tolist()) for i in range(100)]
>>> start = rng.uniform(0, 16, 64)
>>> probes = [event("m", "prober", np.clip(start + 0.05 * rng.standard_normal(64), 0, 16).tolist()) for _ in range(20)]
>>> queries = collect(users + probes)["m"]
>>> detector = Blacklight()
>>> counts = detector.statistics(queries, detector.prepare(queries))
>>> int(np.nanmax(counts[:100])), int(counts[-1])
(0, 19)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from benchmarks.baselines.queries import ModelQueries
from benchmarks.baselines.statistic import ThresholdedStatistic

LEVELS_STEP = 50 / 255
"""The paper's quantization step (50 on 0-255 pixels) as a share of the input range."""
WINDOW = 20
KEEP = 50
MATCH_SHARE = 0.5
"""The paper's match threshold: 25 of the 50 hashes kept."""
RANGE_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Quantizer:
    """A model's input range (per coordinate) and the window that suits its input length."""

    lo: np.ndarray
    span: np.ndarray
    window: int

    def levels(self, x: np.ndarray) -> np.ndarray:
        """Each value's quantization level, 0-5, as uint8."""
        share = np.clip((x - self.lo) / self.span, 0.0, 1.0)
        return np.floor(share / LEVELS_STEP).astype(np.uint8)


def fingerprint(levels: bytes, window: int, keep: int) -> list[int]:
    """The ``keep`` largest window hashes (first 8 bytes of SHA-256, as integers), largest first.

    >>> a = fingerprint(bytes(range(30)), 10, 50)
    >>> len(a), a == sorted(a, reverse=True), len(fingerprint(bytes(30), 10, 50))  # equal windows hash once
    (21, True, 1)
    """
    hashes = {
        int.from_bytes(hashlib.sha256(levels[start : start + window]).digest()[:8], signed=True)
        for start in range(len(levels) - window + 1)
    }
    return sorted(hashes, reverse=True)[:keep]


class Blacklight(ThresholdedStatistic):
    """A client's count of queries matching an earlier query of anyone; flag above."""

    name = "blacklight"
    cross_client = True
    falls = False

    def __init__(self, window: int = WINDOW, keep: int = KEEP, match_share: float = MATCH_SHARE) -> None:
        super().__init__()
        self.window, self.keep, self.match_share = window, keep, match_share

    def prepare(self, queries: ModelQueries) -> Quantizer:
        x = queries.x.astype(np.float64)
        lo, hi = np.percentile(x, RANGE_PERCENTILES, axis=0)
        overall = float(hi.max() - lo.min()) or 1.0
        span = np.where(hi - lo > 1e-9 * overall, hi - lo, overall)
        return Quantizer(lo, span, max(1, min(self.window, (x.shape[1] + 1) // 3)))

    def statistics(self, queries: ModelQueries, learned: object) -> np.ndarray:
        assert isinstance(learned, Quantizer)
        values = np.full(len(queries), np.nan)
        windows = queries.x.shape[1] - learned.window + 1
        need = math.ceil(self.match_share * min(self.keep, windows))
        table: dict[int, list[int]] = {}
        stored = np.zeros((len(queries), self.keep), dtype=np.int64)
        sizes = np.zeros(len(queries), dtype=np.int64)
        matches = np.zeros(len(queries.clients), dtype=np.int64)
        levels = learned.levels(queries.x)
        for i in np.flatnonzero(~queries.seen).tolist():
            hashes = fingerprint(levels[i].tobytes(), learned.window, self.keep)
            client = queries.client[i]
            matches[client] += self._matches(hashes, need, table, stored, sizes)
            values[i] = matches[client]
            stored[i, : len(hashes)] = hashes
            sizes[i] = len(hashes)
            for h in hashes:
                table.setdefault(h, []).append(i)
        return values

    @staticmethod
    def _matches(
        hashes: list[int], need: int, table: dict[int, list[int]], stored: np.ndarray, sizes: np.ndarray
    ) -> bool:
        """Whether an earlier query shares at least ``need`` of ``hashes``."""
        if len(hashes) < need:
            return False
        rarest = sorted(hashes, key=lambda h: len(table.get(h, ())))[: len(hashes) - need + 1]
        candidates = set().union(*(table.get(h, ()) for h in rarest))
        mine = set(hashes)
        return any(len(mine.intersection(stored[c, : sizes[c]].tolist())) >= need for c in candidates)
