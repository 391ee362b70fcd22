"""Neighbourhood: how crowded the space around each query is, over a client's long history.

Every query-based attack revisits one small region of the input space many
times: finite differences around a point, a probe cloud on the decision
boundary, random search steps from the current best. Stateful Detection
(Chen, Carlini & Wagner 2020) turns that into one statistic: the mean
distance from each query to its k = 50 nearest among the client's last
~1,000 queries. Its benign distribution is stable across kinds of clients,
because it needs *dozens* of queries in one neighbourhood, not two: a retried
request (2-5 copies), the 4-16 views of test-time augmentation or the fields
of one form never fill a query's 50 nearest, so unrelated inputs dominate the
mean. Per-probe noise and query blinding move probes apart by a few percent of
the input range, far less than unrelated inputs lie apart (about 1.4 in these
units), so the statistic survives both.

This featurizer keeps it with three changes that make the benign side
quieter still:

- **Repeats collapse.** A query identical to one in the client's window, or
  within ``REPEAT_DISTANCE`` of it by a *dense* difference (float noise from
  re-encoding or resizing, far below the input's resolution, moves every
  coordinate a little), is not stored again and gets no value of its own. A
  finite-difference probe a hair from its centre moves one or a few
  coordinates (sparse, as the gradient walk measures): it is kept.
- **Recent queries do not count as neighbours.** The newest ``LAG`` stored
  queries are left out of each query's neighbours, so a burst of views of one
  input (augmentation, a retry storm, the frames of the last second of a
  camera) cannot crowd its own members; an attack's probes stay crowded by
  the probes it sent before.
- **Noise on quiet coordinates is not magnified.** Coordinates are scaled by
  the model's per-coordinate spread, floored at its *median* spread: a
  coordinate that barely varies in benign traffic (the border pixels of a
  digit) would otherwise turn a probe's i.i.d. noise of 1% of the range into a
  large distance, hiding the probes' crowding behind it.
- **Memory is bounded and small.** Each stored query is the centred, scaled
  input (:class:`featurizers.input_scale.ModelScale`, floored as above) projected to
  ``PROJECTION_DIM`` coordinates by a fixed random matrix per model
  (Johnson-Lindenstrauss: distances are kept to a few percent on average) and
  held as float16, in a buffer that grows with the client up to
  ``HISTORY_FACTOR`` windows (1,024 queries at the default window of 64:
  64 KiB).

Distances are normalised RMS differences, like the gradient walk's.
"""

from __future__ import annotations

import math

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.gradient_walk import WalkSeries, quantile, walk_series
from featurizers.input_scale import InputScale
from featurizers.ring import Ring, timed_series
from featurizers.state import ClientState, ModelState

K_NEAREST = 50
"""Neighbours averaged per query (Chen, Carlini & Wagner 2020)."""
K_MIN = 16
"""Fewest older neighbours a query needs for a value (it averages ``min(K_NEAREST, available)``)."""
LAG = 16
"""The newest stored queries left out of each query's neighbours."""
REPEAT_DISTANCE = 0.006
"""A query nearer than this to an input of its window, by a dense difference, is a repeat (normalised
RMS: about 1e-3 of a pixel's range as noise on an image, half that on standardised tabular
features; per-probe attack noise of 0.5% of the range or more lies 4-10x farther)."""
DENSE_SPARSITY = 0.5
"""Hoyer sparsity below which a difference is dense (Gaussian noise: ~0.2; one coordinate: 1)."""
HISTORY_FACTOR = 16
"""Stored distinct queries per client, in windows."""
PROJECTION_DIM = 32
"""Coordinates each stored query keeps (inputs of this size or smaller are kept whole)."""
LOW_QUANTILE = 0.2
"""``neighbourhood_low`` is this quantile of the recent per-query values: it still sees an attack
that sends one probe in four among benign-looking queries (cover traffic, a mixed key)."""
RECENT = 32
"""Per-query values ``neighbourhood_low`` looks back over."""


class Projection:
    """A model's fixed random projection ``R`` (``dim -> PROJECTION_DIM``), seeded by the input size so
    every worker and every restart draws the same one.

    >>> p = Projection.for_dim(1000)
    >>> a, b = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    >>> exact = float(np.linalg.norm(a - b))
    >>> abs(float(np.linalg.norm(p.apply(a) - p.apply(b))) / exact - 1.0) < 0.2
    True
    >>> Projection.for_dim(8).matrix is None  # small inputs are kept whole
    True
    """

    __slots__ = ("dim", "matrix", "version", "weights")

    def __init__(self, dim: int, matrix: np.ndarray | None) -> None:
        self.dim = dim
        self.matrix = matrix
        self.version = -1
        self.weights = np.ones(dim, dtype=np.float32)

    def floored(self, scale: InputScale) -> np.ndarray:
        """The scale's weights with every coordinate's spread floored at the median spread (cached per
        version of the scale).

        >>> p = Projection.for_dim(4)
        >>> scale = InputScale(4, 10, np.array([0.5, 0.5, 5.0, 0.05], dtype=np.float32), np.zeros(4, np.float32), 0)
        >>> p.floored(scale).tolist()   # spreads 1, 1, 0.1, 10: the quiet third one weighs as a median one
        [0.5, 0.5, 0.5, 0.05000000074505806]
        """
        if scale.version != self.version:
            spread = 1.0 / scale.weights
            self.weights = (1.0 / np.maximum(spread, np.median(spread))).astype(np.float32)
            self.version = scale.version
        return self.weights

    @classmethod
    def for_dim(cls, dim: int) -> "Projection":
        if dim <= PROJECTION_DIM:
            return cls(dim, None)
        rng = np.random.default_rng(dim)
        return cls(dim, (rng.standard_normal((dim, PROJECTION_DIM)) / math.sqrt(PROJECTION_DIM)).astype(np.float32))

    @property
    def width(self) -> int:
        return self.dim if self.matrix is None else PROJECTION_DIM

    def apply(self, z: np.ndarray) -> np.ndarray:
        return z if self.matrix is None else z @ self.matrix

    @property
    def nbytes(self) -> int:
        return (0 if self.matrix is None else self.matrix.nbytes) + self.weights.nbytes


class History:
    """One client's stored distinct queries (float16, grown by doubling up to ``capacity``, then a ring)
    and its recent per-query values."""

    __slots__ = ("points", "capacity", "head", "count", "values", "repeats", "stored_slot", "nearest_slot")

    def __init__(self, width: int, capacity: int, recent: int) -> None:
        self.points = np.zeros((min(64, capacity), width), dtype=np.float16)
        self.capacity = capacity
        self.head = 0
        self.count = 0
        self.values = Ring(recent, width=2, dtype=np.float64)
        """(event time, value) of the newest distinct queries."""
        self.repeats = 0
        self.stored_slot = -1
        """Where the client's newest query was stored; -1 when it was a repeat (featurizers that keep
        something per stored query, aligned with these slots, read it)."""
        self.nearest_slot = -1
        """The slot of the stored query nearest to the newest one, before it was added (-1: none)."""

    @property
    def width(self) -> int:
        return self.points.shape[1]

    def stored(self) -> np.ndarray:
        return self.points[: self.count]

    def add(self, point: np.ndarray) -> None:
        if self.count == len(self.points) and self.count < self.capacity:
            grown = np.zeros((min(2 * self.count, self.capacity), self.width), dtype=np.float16)
            grown[: self.count] = self.points
            self.points = grown
        self.points[self.head] = point
        self.stored_slot = self.head
        self.head = (self.head + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def recent_slots(self, lag: int) -> np.ndarray:
        """Storage indexes of the newest ``lag`` stored points."""
        return (self.head - 1 - np.arange(min(lag, self.count))) % self.capacity

    @property
    def nbytes(self) -> int:
        return self.points.nbytes + self.values.nbytes + 64

    @property
    def max_nbytes(self) -> int:
        return self.capacity * self.width * 2 + self.values.nbytes + 64


def neighbourhood_value(distances: np.ndarray, exclude: np.ndarray) -> float:
    """Mean of the ``min(K_NEAREST, n)`` smallest ``distances`` outside ``exclude``; NaN below ``K_MIN``.

    >>> d = np.arange(40, dtype=np.float32)
    >>> neighbourhood_value(d, np.array([0, 1])), math.isnan(neighbourhood_value(d[:17], np.array([0, 1])))
    (20.5, True)
    """
    older = np.delete(distances, exclude) if len(exclude) else distances
    k = min(K_NEAREST, len(older))
    if k < K_MIN:
        return math.nan
    return float(np.partition(older, k - 1)[:k].mean(dtype=np.float64))


def is_repeat(client: ClientState) -> bool:
    """Whether the client's newest input repeats one of its window: identical, or nearer than
    ``REPEAT_DISTANCE`` by a dense difference (read from the gradient walk's row for it)."""
    walk = walk_series(client)
    if walk is None or len(walk.rows) == 0:
        return False
    row = walk.rows.last()
    nn, sparsity = float(row[WalkSeries.COLUMNS.index("nn")]), float(row[WalkSeries.COLUMNS.index("sparsity")])
    return nn == 0.0 or (nn < REPEAT_DISTANCE and not sparsity >= DENSE_SPARSITY)


class Neighbourhood(Featurizer):
    """Mean distance from each query to its nearest among the client's long history.

    A walk of noisy probes (2% noise) around a slowly moving point against a
    batch job's unrelated inputs and a heavy-retry client, on a model whose
    inputs are standard normal:

    >>> from featurizers.gradient_walk import GradientWalk
    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(0)
    >>> def replay(inputs):
    ...     store, walk, f = StateStore(window=64), GradientWalk(), Neighbourhood()
    ...     model = store.model("m")
    ...     for x in rng.normal(size=(400, 16)).astype(np.float32):
    ...         model.observe_input(x)
    ...     for i, x in enumerate(np.asarray(inputs, dtype=np.float32)):
    ...         client = store.touch("m", "c", float(i))
    ...         client.append(str(i), float(i), x)
    ...         for featurizer in (walk, f):
    ...             featurizer.observe(Observation(str(i), float(i), x, None, -1, None), client, model)
    ...     return f.compute(client, model)
    >>> centre, walk = rng.normal(size=16), []
    >>> for _ in range(300):
    ...     walk.append(centre + 0.1 * rng.normal(size=16))
    ...     centre = centre + 0.01 * rng.normal(size=16)
    >>> round(replay(walk)["neighbourhood_low"], 2)
    0.13
    >>> round(replay(rng.normal(size=(300, 16)))["neighbourhood_low"], 2)
    0.97
    >>> retried = np.repeat(rng.normal(size=(100, 16)), 3, axis=0) + 1e-4 * rng.normal(size=(300, 16))
    >>> r = replay(retried)
    >>> round(r["neighbourhood_low"], 2), r["repeat_frac"]
    (1.16, 0.6666666666666666)
    """

    name = "neighbourhood"
    requires = ("gradient_walk",)
    FEATURES = {
        "neighbourhood_low": f"{LOW_QUANTILE:g} quantile over the client's last {RECENT} distinct queries of each "
        f"one's mean distance to its {K_NEAREST} nearest among the client's earlier distinct queries (the newest "
        f"{LAG} left out; normalised RMS, ~1.4 between unrelated inputs); small when the client keeps coming back "
        "to one neighbourhood, as every query-based attack does, noisy or blinded probes included (Stateful "
        "Detection, Chen, Carlini & Wagner 2020)",
        "repeat_frac": "fraction of the client's queries that repeated an input of its window, identically or "
        f"within {REPEAT_DISTANCE} by a dense difference (0..1): retries and re-encoded copies, collapsed before "
        "any neighbourhood statistic sees them",
        "history_size": "distinct queries held in the client's history (bounded)",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        if obs.x is None:
            return
        dim = int(obs.x.shape[0])
        projection = model.shared.get(self.name)
        if projection is None or projection.dim != dim:
            projection = model.shared[self.name] = Projection.for_dim(dim)
        history = client.slots.get(self.name)
        if history is None or history.width != projection.width:
            history = client.slots[self.name] = History(projection.width, HISTORY_FACTOR * client.window, RECENT)
        history.stored_slot = history.nearest_slot = -1
        if is_repeat(client):
            history.repeats += 1
            return
        scale = model.scale.current(dim)
        point = projection.apply((obs.x - scale.centre) * projection.floored(scale)).astype(np.float32)
        if history.count:
            diff = history.stored().astype(np.float32) - point
            distances = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            history.values.append((obs.ts, neighbourhood_value(distances, history.recent_slots(LAG))))
            history.nearest_slot = int(np.argmin(distances))
        history.add(point)

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        history = client.slots.get(self.name)
        if history is None:
            return {}
        seen = history.count + history.repeats
        feats = {"repeat_frac": history.repeats / seen, "history_size": float(history.count)}
        values = history.values.filled()[:, 1]
        values = values[~np.isnan(values)]
        if len(values):
            feats["neighbourhood_low"] = quantile(np.sort(values).tolist(), LOW_QUANTILE)
        return feats

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each recent distinct query's neighbourhood distance, by event time."""
        history = client.slots.get(self.name)
        if history is None:
            return {}
        return timed_series(history.values, "neighbourhood")
