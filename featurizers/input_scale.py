"""One model's input scale: learned from its novel inputs, then settled for good.

Every distance the featurizers take between inputs (``gradient_walk``,
``neighbourhood``, ``extraction``, ``cross_client``) is divided by the model's
per-coordinate scale, so the scale decides feature values. It has one owner,
the model's :class:`ModelScale`, and one policy:

- **Provisional** while learned: the running mean and spread of the model's
  novel inputs (:class:`InputNormaliser`), snapshotted as an
  :class:`InputScale` each time their count doubles.
- **Settled** once ``SETTLE_INPUTS`` novel inputs were counted towards it, at
  most ``SETTLE_SHARE`` from any one client (so at least four clients'): their
  mean and spread, frozen. A busy camera feed or prober first on a model
  cannot settle the scale on its own inputs, and later inputs no longer move
  it, so a model's features stop depending on how much (and which part) of its
  traffic a process saw. Under scale-out, the workers' counted inputs are
  pooled (``detector.worker.shared_scales``) and the scale settles on their
  union as soon as it holds ``SETTLE_INPUTS``.
- **Adopted** from elsewhere, which overrides either: a calibrated model takes
  the scale its calibration file learned (from the first event), and under
  scale-out every worker takes the one the first worker to settle stored in the
  database (``detector.worker.shared_scales``), so that features and
  fingerprints use the same scale on every worker.

Each change of the scale in use bumps its ``version``: structures built on it
(the cross-client index, the neighbourhood projection) rebuild.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

NORMALISER_FLOOR = 0.1
"""A coordinate's scale is at least this fraction of the mean scale, so a
coordinate that never varies in benign traffic does not blow distances up."""

SETTLE_INPUTS = 256
"""Novel inputs of a model after which its learned scale settles (each coordinate's spread is then known
to about 5%). Settling at 2,048 changed no calibrated row of the detection benchmarks, and a model that
settles early is shared early under scale-out."""

SETTLE_SHARE = 64
"""Most novel inputs one client counts towards its model's settled scale. Without it a camera feed that
sent a model's first 580 events settled the scale on its own frames, and every other kind of client of
that model then looked like an input-space sweep."""

Source = Literal["provisional", "settled", "calibration", "shared"]
"""Where the scale in use comes from: learned and still moving, learned and frozen, the calibration file,
or the scale every worker of the group shares."""


class InputNormaliser:
    """Running per-coordinate mean and standard deviation of one model's inputs (Welford).

    >>> n = InputNormaliser(2)
    >>> for x in ([0, 0], [2, 10], [4, 20]):
    ...     n.update(np.array(x, dtype=np.float32))
    >>> [round(float(v), 2) for v in n.scale()]
    [1.63, 8.16]
    """

    __slots__ = ("count", "mean", "m2")

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.m2 = np.zeros(dim, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @classmethod
    def union(cls, parts: list["InputNormaliser"]) -> "InputNormaliser":
        """The statistics of all the parts' inputs together (Chan et al.'s pairwise update), as if one
        normaliser had seen them all.

        >>> a, b, whole = InputNormaliser(1), InputNormaliser(1), InputNormaliser(1)
        >>> for i, v in enumerate((1.0, 2.0, 4.0, 8.0)):
        ...     (a if i < 1 else b).update(np.array([v])); whole.update(np.array([v]))
        >>> u = InputNormaliser.union([a, b])
        >>> u.count, bool(np.allclose(u.mean, whole.mean) and np.allclose(u.m2, whole.m2))
        (4, True)
        """
        merged = cls(len(parts[0].mean))
        for part in parts:
            total = merged.count + part.count
            if part.count == 0:
                continue
            delta = part.mean - merged.mean
            merged.mean = merged.mean + delta * (part.count / total)
            merged.m2 = merged.m2 + part.m2 + delta**2 * (merged.count * part.count / total)
            merged.count = total
        return merged

    def scale(self) -> np.ndarray:
        """Per-coordinate standard deviation, floored (all ones before two inputs)."""
        if self.count < 2:
            return np.ones_like(self.mean, dtype=np.float32)
        return floored_spread(np.sqrt(self.m2 / self.count))


def floored_spread(std: np.ndarray) -> np.ndarray:
    """Per-coordinate spreads floored at ``NORMALISER_FLOOR`` of their mean (float32).

    >>> floored_spread(np.array([0.0, 2.0, 4.0])).tolist()
    [0.20000000298023224, 2.0, 4.0]
    """
    floor = max(NORMALISER_FLOOR * float(np.mean(std)), 1e-6)
    return np.maximum(std, floor).astype(np.float32)


class InputScale:
    """A model's per-coordinate input weights ``1 / (scale * sqrt(dim))`` and the centre of its inputs.

    Multiplying an input difference by ``weights`` and taking the Euclidean
    norm gives the scale-free RMS distance (``squared`` holds the weights
    squared, for squared distances in one matrix product): about 1.4 between
    two unrelated inputs of the model's distribution whatever its input size.
    ``count`` is the novel inputs it was learned from; ``version`` changes
    whenever the model's scale in use changes.
    """

    __slots__ = ("dim", "count", "weights", "squared", "centre", "version")

    def __init__(self, dim: int, count: int, weights: np.ndarray, centre: np.ndarray, version: int) -> None:
        self.dim = dim
        self.count = count
        self.weights = np.asarray(weights, dtype=np.float32)
        self.squared = np.square(self.weights)
        self.centre = np.asarray(centre, dtype=np.float32)
        self.version = version

    @classmethod
    def from_spread(cls, centre: np.ndarray, spread: np.ndarray, count: int, version: int = 0) -> "InputScale":
        """The scale of inputs centred on ``centre`` with per-coordinate (floored) ``spread``."""
        dim = len(spread)
        weights = (1.0 / (np.asarray(spread, dtype=np.float64) * math.sqrt(dim))).astype(np.float32)
        return cls(dim, count, weights, centre, version)

    @classmethod
    def unit(cls, dim: int, version: int = 0) -> "InputScale":
        """Every coordinate weighs ``1 / sqrt(dim)`` (plain RMS difference), centred on zero."""
        return cls(dim, 0, np.full(dim, 1.0 / math.sqrt(dim), dtype=np.float32), np.zeros(dim, np.float32), version)

    def same_as(self, other: "InputScale") -> bool:
        return self.dim == other.dim and np.array_equal(self.weights, other.weights) and np.array_equal(self.centre, other.centre)

    @property
    def nbytes(self) -> int:
        return self.weights.nbytes + self.squared.nbytes + self.centre.nbytes + 64


class ModelScale:
    """The owner of one model's input scale: provisional, then settled, or adopted (see the module).

    >>> rng = np.random.default_rng(0)
    >>> scale = ModelScale()
    >>> scale.observe(np.zeros(2, dtype=np.float32)); scale.current(2).count, scale.source
    (0, 'provisional')
    >>> for x in rng.normal(0, [1.0, 10.0], size=(SETTLE_INPUTS, 2)).astype(np.float32):
    ...     scale.observe(x)
    >>> settled = scale.current(2)
    >>> scale.source, settled.count, [round(float(1 / (w * 2 ** 0.5)), 1) for w in settled.weights]
    ('settled', 256, [1.0, 10.0])
    >>> scale.observe(np.array([100.0, 100.0], dtype=np.float32)); scale.current(2) is settled
    True
    >>> scale.adopt(InputScale.unit(2), "shared"); scale.source, scale.current(2).version > settled.version
    ('shared', True)
    """

    __slots__ = ("normaliser", "settling", "scale", "source")

    def __init__(self) -> None:
        self.normaliser: InputNormaliser | None = None
        self.settling: InputNormaliser | None = None
        """The inputs counted towards settling (each client's first ``SETTLE_SHARE``)."""
        self.scale: InputScale | None = None
        self.source: Source = "provisional"

    @property
    def dim(self) -> int | None:
        """The input length the scale is for (the first one seen), None before any input."""
        if self.scale is not None:
            return self.scale.dim
        return None if self.normaliser is None else len(self.normaliser.mean)

    @property
    def settled(self) -> bool:
        return self.source != "provisional"

    def observe(self, x: np.ndarray, counts: bool = True) -> None:
        """One novel input of the model: the running statistics always learn from it (the provisional
        scale and the early off-distribution test read them live); with ``counts`` (its client's share is
        not used up) it also counts towards settling, which happens at ``SETTLE_INPUTS`` counted."""
        if self.normaliser is None:
            self.normaliser = InputNormaliser(int(x.shape[0]))
            self.settling = InputNormaliser(int(x.shape[0]))
        elif len(self.normaliser.mean) != len(x):
            return  # another length than the model's first: its scale is not for these
        self.normaliser.update(x)
        if counts and not self.settled:
            self.settling.update(x)
            if self.settling.count >= SETTLE_INPUTS:
                self._use(self.learned(self.settling), "settled")

    def current(self, dim: int) -> InputScale:
        """The scale for inputs of length ``dim``: unit weights for a length the model's scale is not for,
        or before two inputs; while provisional, refreshed each time the novel inputs seen double."""
        scale = self.scale
        if self.settled:
            return scale if scale.dim == dim else InputScale.unit(dim)
        norm = self.normaliser
        count = norm.count if norm is not None and len(norm.mean) == dim else 0
        if scale is not None and scale.dim == dim and (count < 2 or count < 2 * scale.count):
            return scale
        self._use(self.learned(norm) if count >= 2 else InputScale.unit(dim), "provisional")
        return self.scale

    def adopt(self, scale: InputScale, source: Source) -> None:
        """Use a scale learned elsewhere (the calibration file, the one the workers share) from now on."""
        if self.scale is not None and self.scale.same_as(scale):
            self.source = source
            return
        self._use(scale, source)

    @staticmethod
    def learned(norm: InputNormaliser) -> InputScale:
        """The scale of the inputs ``norm`` has seen."""
        return InputScale.from_spread(norm.mean, norm.scale(), norm.count)

    def _use(self, scale: InputScale, source: Source) -> None:
        version = 0 if self.scale is None else self.scale.version + 1
        self.scale = InputScale(scale.dim, scale.count, scale.weights, scale.centre, version)
        self.source = source

    @property
    def nbytes(self) -> int:
        return (0 if self.scale is None else self.scale.nbytes) + (0 if self.normaliser is None else 32 * len(self.normaliser.mean))
