"""Input distribution: how far each query lies off the model's own input distribution, and the evidence a
client piles up by sending such queries.

Real inputs of a model lie near a low-dimensional part of its input space
(images of digits, records of patients); what attacks send often does not:
equation-solving and Knockoff-style extraction draw points from outside it,
Jacobian augmentation pushes records along ``sign(gradient)`` on every
coordinate, decision-based attacks and label-only membership inference walk
through unnatural mixtures, inversion climbs towards unnatural class
prototypes. Per model, this featurizer learns the distribution from its
traffic and scores each query by its residual off the principal subspace:

- **A bounded reservoir** of the model's novel inputs (``RESERVOIR``), each
  client contributing at most ``CLIENT_SHARE`` of them, so that no client,
  however busy, shapes what "normal" is. Reservoir sampling keeps it a
  uniform sample of the stream. Only inputs a client sends after its first
  ``TRUSTED_AFTER`` (64) events count (most attacks are alerted before), and
  they wait until its window is scored (:meth:`InputDistribution.settle`):
  they join the reservoir only if no detector fired, and a client flagged
  once contributes nothing more.
- **Principal components** (per-coordinate standardised, enough for
  ``VARIANCE`` of the variance) fitted when the reservoir has seen
  ``FIRST_FIT`` inputs and again each time that count doubles. A query's
  score is its RMS residual off the components over the reservoir's own
  ``OOD_QUANTILE`` residual: above 1, it is off the distribution. The
  residual is taken from the client's own centre (a running mean of its
  recent queries): a population shifted as a whole (another scanner, another
  hospital) is a drift, not an attack, and scores by its spread; random,
  synthetic and perturbed points scatter off the subspace around any centre. Before the
  first fit the score is the input's RMS z-score from the model's running
  mean and spread over ``EARLY_Z`` (a cruder test, off only for inputs far
  outside every coordinate's usual range).
- **Per client, a sequential test** (:class:`~featurizers.sequential.BernoulliCusum`) of the
  share of queries well off the distribution (scoring above ``FAR``)
  against the benign share: each such query adds ``log(P1/P0)``, each other one ``log((1-P1)/(1-P0))``, floored
  at 0. A few dozen random points are enough evidence; a benign client's
  occasional odd input never accumulates.
- **Per client, a second sequential test of scattered queries**: off the
  distribution (scoring above 1) *and* farther than ``SCATTERED`` from every
  earlier query of the client's window but its last ``COPIES``. Synthetic,
  random and other-domain extraction queries lie far from each other as well
  as off the distribution; real inputs off it (another scanner's, an editing
  session's) lie near the client's other inputs. Looking past the last
  ``COPIES`` keeps the evidence when each probe is sent as several blinded
  copies (Chen et al. 2020), and counting only scattered queries keeps it
  when benign-looking cover queries are interleaved, where the share of
  off-distribution queries halves. A retry (a query within ``NEAR_DISTANCE`` of
  one of the last ``COPIES``) is the same probe again and is not counted.
"""

from __future__ import annotations

import math

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.gradient_walk import NEAR_DISTANCE, novel_input, walk_series
from featurizers.input_scale import InputScale, floored_spread
from featurizers.ring import Ring, timed_series
from featurizers.sequential import BernoulliCusum, HeldBack
from featurizers.state import ClientState, ModelState

RESERVOIR = 2048
"""Inputs kept per model to learn its distribution from."""
CLIENT_SHARE = 16
"""Most inputs one client may contribute to the reservoir."""
FIRST_FIT = 512
"""Reservoir inputs seen before the first fit (then at every doubling)."""
VARIANCE = 0.9
"""Share of the standardised variance the principal components keep."""
MAX_COMPONENTS = 32
OOD_QUANTILE = 0.99
"""Residual quantile of the reservoir that scores 1: about 1% of the model's own inputs lie beyond it."""
CENTRE_SPAN = 32
"""A client's centre follows about this many of its latest queries (a running mean, then exponential)."""
CENTRE_PRIOR = 1
"""The model's mean counts as this many of a client's queries in its centre: its first query scores as is."""
EARLY_Z = 3.0
"""Before the first fit: an input whose RMS z-score exceeds this is off the distribution."""
FAR = 1.5
"""Score beyond which a query counts as evidence in the sequential test: well off, not just past the
model's own 99% quantile, where a noisier population (another scanner's sensor noise) sits."""
P0 = 0.05
"""Share of a benign client's queries expected off the distribution (five times the reservoir's own: views of
one input, a client's unusual but real inputs)."""
P1 = 0.3
"""Share the test is tuned to detect."""
CUSUM = BernoulliCusum(P0, P1)
COPIES = 6
"""Queries back within which a query may be a copy of the same probe (query blinding sends 2-6 of each)."""
SCATTERED = 1.6
"""Normalised RMS distance beyond which a query is far from an earlier one (two unrelated inputs of the
model's own distribution lie about 1.4 apart)."""
SCATTER_P0 = 0.02
"""Share of a benign client's queries both off the distribution and scattered (on the benchmarks' benign
kinds at most 0.5%, and 3.5% for one client sending augmented copies of odd inputs)."""
SCATTER_P1 = 0.2
SCATTER_CUSUM = BernoulliCusum(SCATTER_P0, SCATTER_P1)


class InputModel:
    """One model's reservoir of inputs and the principal subspace fitted on it."""

    __slots__ = ("dim", "reservoir", "size", "seen", "rng", "mean", "scale", "components", "limit", "next_fit")

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.reservoir = np.zeros((RESERVOIR, dim), dtype=np.float32)
        self.size = 0
        self.seen = 0
        self.rng = np.random.default_rng(dim)
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.limit = math.inf
        self.next_fit = FIRST_FIT

    def offer(self, x: np.ndarray) -> None:
        """Reservoir sampling (Vitter's algorithm R); refit when the inputs seen reach the next fit."""
        self.seen += 1
        if self.size < RESERVOIR:
            self.reservoir[self.size] = x
            self.size += 1
        else:
            slot = int(self.rng.integers(self.seen))
            if slot < RESERVOIR:
                self.reservoir[slot] = x
        if self.seen >= self.next_fit:
            self.next_fit *= 2
            self.fit()

    def fit(self) -> None:
        sample = self.reservoir[: self.size].astype(np.float64)
        mean = sample.mean(axis=0)
        std = sample.std(axis=0)
        scale = np.maximum(std, 0.1 * float(std.mean()) + 1e-9)
        z = (sample - mean) / scale
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        share = np.cumsum(singular**2) / max(float((singular**2).sum()), 1e-12)
        k = min(int(np.searchsorted(share, VARIANCE)) + 1, MAX_COMPONENTS, len(vt))
        self.mean, self.scale, self.components = mean.astype(np.float32), scale.astype(np.float32), vt[:k].astype(np.float32)
        residuals = self._residuals(sample.astype(np.float32))
        self.limit = max(float(np.quantile(residuals, OOD_QUANTILE)), 1e-6)

    def _residuals(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.scale
        off = z - (z @ self.components.T) @ self.components
        return np.sqrt(np.einsum("...i,...i->...", off, off) / self.dim)

    def score(self, x: np.ndarray, model: ModelState, centre: np.ndarray | None = None) -> float:
        """The input's residual over the model's usual one; before the first fit, its RMS z-score from
        the model's running input statistics over ``EARLY_Z`` (NaN before they have two inputs).

        With ``centre`` (the client's own, :meth:`ClientEvidence.follow`), the residual is that of the
        input's offset from it: a coherent population shifted off the model's (another scanner,
        another hospital) then scores as its own spread does, while scattered points stay off."""
        if self.components is not None:
            if centre is not None:
                x = x - centre + self.mean
            return float(self._residuals(x)) / self.limit
        norm = model.scale.normaliser
        if norm is None or norm.count < 2 or norm.mean.shape[0] != self.dim:
            return math.nan
        z = (x - norm.mean) / norm.scale()
        return math.sqrt(float(z @ z) / self.dim) / EARLY_Z

    def input_scale(self) -> InputScale | None:
        """The model's input scale as this distribution knows it: the fit's mean and spread, else the
        sample's (None with fewer than two inputs). What a calibrated model's scale settles on.

        >>> m = InputModel.from_records(np.random.default_rng(0).normal(5.0, [1.0, 4.0], size=(600, 2)).astype(np.float32))
        >>> s = m.input_scale()
        >>> [round(float(v), 1) for v in s.centre], [round(float(1 / (w * 2 ** 0.5)), 1) for w in s.weights], s.count
        ([4.9, 5.0], [1.0, 3.9], 600)
        """
        if self.mean is not None:
            return InputScale.from_spread(self.mean, self.scale, self.seen)
        if self.size < 2:
            return None
        sample = self.reservoir[: self.size].astype(np.float64)
        return InputScale.from_spread(sample.mean(axis=0), floored_spread(sample.std(axis=0)), self.seen)

    @classmethod
    def from_records(cls, records: np.ndarray) -> "InputModel":
        """A model learned from records of the distribution (a reservoir of them, fitted)."""
        learned = cls(records.shape[1])
        for x in records:
            learned.offer(x)
        learned.fit()
        return learned

    def arrays(self) -> dict[str, np.ndarray]:
        """The model as plain arrays (what a calibration file keeps beside it): the reservoir's sample,
        the counts, and the fit if there is one."""
        out = {"sample": self.reservoir[: self.size].copy(), "counts": np.array([self.seen, self.next_fit], dtype=np.int64)}
        if self.components is not None:
            out.update(mean=self.mean, scale=self.scale, components=self.components, limit=np.array([self.limit]))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "InputModel":
        """The inverse of :meth:`arrays`; raises ValueError on arrays that do not fit together.

        >>> m = InputModel(3)
        >>> for x in np.random.default_rng(0).normal(size=(600, 3)).astype(np.float32):
        ...     m.offer(x)
        >>> back = InputModel.from_arrays(m.arrays())
        >>> back.size, back.seen, back.next_fit, back.limit == m.limit, back.components.shape == m.components.shape
        (600, 600, 1024, True, True)
        """
        sample = np.asarray(arrays["sample"], dtype=np.float32)
        if sample.ndim != 2 or not 0 < len(sample) <= RESERVOIR:
            raise ValueError(f"an input sample of 1 to {RESERVOIR} rows is needed, not shape {sample.shape}")
        model = cls(sample.shape[1])
        model.size = len(sample)
        model.reservoir[: model.size] = sample
        model.seen, model.next_fit = (int(v) for v in arrays["counts"])
        if "components" in arrays:
            model.mean = np.asarray(arrays["mean"], dtype=np.float32)
            model.scale = np.asarray(arrays["scale"], dtype=np.float32)
            model.components = np.asarray(arrays["components"], dtype=np.float32)
            model.limit = float(arrays["limit"][0])
            if not model.mean.shape == model.scale.shape == (model.dim,) or model.components.shape[1:] != (model.dim,):
                raise ValueError("the fitted mean, scale and components do not match the sample's width")
        return model

    @property
    def nbytes(self) -> int:
        fitted = 0 if self.components is None else self.components.nbytes + 2 * self.mean.nbytes
        return self.reservoir.nbytes + fitted + 256

    @property
    def max_nbytes(self) -> int:
        return self.reservoir.nbytes + (MAX_COMPONENTS + 2) * self.dim * 4 + 256


class ClientEvidence:
    """One client's off-distribution scores over its window, its CUSUM and its reservoir share."""

    __slots__ = ("dim", "scores", "cusum", "scatter", "held", "centre", "followed")

    def __init__(self, window: int, dim: int) -> None:
        self.dim = dim
        self.scores = Ring(window, width=2, dtype=np.float64)
        """(event time, score) per logged input."""
        self.cusum = 0.0
        self.scatter = 0.0
        """The CUSUM of scattered off-distribution queries (:meth:`InputDistribution.scattered`)."""
        self.held = HeldBack[np.ndarray](CLIENT_SHARE)
        """The client's novel inputs for the reservoir, held back until its window is settled."""
        self.centre: np.ndarray | None = None
        """Where the client's queries lie: a running mean of its latest ``CENTRE_SPAN`` or so."""
        self.followed = 0

    def follow(self, x: np.ndarray, learned: InputModel) -> None:
        """Move the client's centre towards its latest query; it starts at the model's mean (worth
        ``CENTRE_PRIOR`` queries), or at the first query before the model is fitted.

        >>> e, m = ClientEvidence(4, 2), InputModel(2)
        >>> for x in ([2.0, 0.0], [4.0, 0.0], [6.0, 0.0]):
        ...     e.follow(np.array(x, dtype=np.float32), m)
        >>> e.centre.tolist()
        [4.0, 0.0]
        """
        if self.centre is None:
            self.centre = (x if learned.mean is None else learned.mean).astype(np.float32)
            self.followed = 0 if learned.mean is None else CENTRE_PRIOR
        self.followed += 1
        self.centre += (x - self.centre) / min(self.followed, CENTRE_SPAN)

    @property
    def nbytes(self) -> int:
        return self.scores.nbytes + sum(x.nbytes for x in self.held.pending) + 4 * self.dim + 64

    @property
    def max_nbytes(self) -> int:
        return self.scores.nbytes + (CLIENT_SHARE + 1) * 4 * self.dim + 64


class InputDistribution(Featurizer):
    """Off-distribution queries per client, against the model's own learned input distribution.

    Inputs that vary along 3 directions of 12 coordinates, and a client sending uniform random points:

    >>> from featurizers.gradient_walk import GradientWalk
    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(0)
    >>> basis = rng.normal(size=(3, 12))
    >>> store, walk, f = StateStore(window=64), GradientWalk(), InputDistribution()
    >>> def send(client, x, i):
    ...     state = store.touch("m", client, float(i))
    ...     state.append(str(i), float(i), x)
    ...     for featurizer in (walk, f):
    ...         featurizer.observe(Observation(str(i), float(i), x, None, -1, None), state, store.model("m"))
    ...     f.settle(state, store.model("m"), flagged=False)  # scored, and no detector fired
    ...     return f.compute(state, store.model("m"))
    >>> for i in range(32 * 96):  # each client trusted after its first 64 events
    ...     _ = send(f"user{i % 32}", (rng.normal(size=3) @ basis + 0.05 * rng.normal(size=12)).astype(np.float32), i)
    >>> usual = send("user0", (rng.normal(size=3) @ basis).astype(np.float32), 32 * 96)
    >>> for i in range(40):
    ...     odd = send("sweeper", rng.uniform(-3, 3, size=12).astype(np.float32), 32 * 96 + 1 + i)
    >>> usual["off_distribution_cusum"], odd["off_distribution_frac"], round(odd["off_distribution_cusum"])
    (0.0, 1.0, 72)
    """

    name = "input_distribution"
    requires = ("gradient_walk",)
    FEATURES = {
        "off_distribution_frac": "fraction of the window's queries off the model's learned input distribution "
        f"(residual off its principal subspace above its own inputs' {OOD_QUANTILE:g} quantile) (0..1); "
        "extraction by synthetic or other-domain data, Jacobian augmentation, decision walks",
        "off_distribution_cusum": f"the client's sequential evidence of sending off-distribution queries "
        f"(Bernoulli CUSUM of queries scoring above {FAR:g}, {P1:g} against the benign {P0:g}; each such query adds "
        f"{CUSUM.hit:.1f}, each other one {CUSUM.miss:.2f}, floored at 0): a few dozen random points are enough, a "
        "benign client's odd input fades",
        "off_scatter_cusum": "the client's sequential evidence of sending scattered off-distribution queries: "
        f"off the distribution and farther than {SCATTERED:g} (normalised RMS) from every earlier query of its "
        f"window but the last {COPIES} (Bernoulli CUSUM, {SCATTER_P1:g} against the benign {SCATTER_P0:g}; "
        f"+{SCATTER_CUSUM.hit:.1f} per such query, {SCATTER_CUSUM.miss:.2f} per other, retries not counted); "
        "synthetic and other-domain extraction, also blinded or among cover queries",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        if obs.x is None:
            return
        dim = int(obs.x.shape[0])
        learned = model.shared.get(self.name)
        if learned is None or learned.dim != dim:
            learned = model.shared[self.name] = InputModel(dim)
        evidence = client.slots.get(self.name)
        if evidence is None or evidence.dim != dim:
            evidence = client.slots[self.name] = ClientEvidence(client.window, dim)
        score = learned.score(obs.x, model, evidence.centre)
        evidence.follow(obs.x, learned)
        evidence.scores.append((obs.ts, score))
        if score == score:
            evidence.cusum = CUSUM.update(evidence.cusum, score > FAR)
            scattered = self.scattered(client)
            if scattered is not None:
                evidence.scatter = SCATTER_CUSUM.update(evidence.scatter, score > 1.0 and scattered)
        if evidence.held.accepting and self.trusted(client) and novel_input(client):
            evidence.held.offer(obs.x.copy())

    @staticmethod
    def scattered(client: ClientState) -> bool | None:
        """Whether the client's latest input lies farther than ``SCATTERED`` from every input of its
        window but the last ``COPIES``; None when it is a copy of one of those (a retry) or the window
        holds no older input. Reads the distances ``gradient_walk`` took for it."""
        walk, inputs = walk_series(client), client.inputs
        n = len(inputs)
        if walk is None or n <= COPIES + 1:
            return None
        d2 = walk.prev_d2[:n]
        recent = [(inputs.head - 1 - back) % inputs.capacity for back in range(COPIES + 1)]  # the latest first
        if float(d2[recent[1:]].min()) < NEAR_DISTANCE**2:
            return None
        return float(np.delete(d2, recent).min()) > SCATTERED**2

    def settle(self, client: ClientState, model: ModelState, flagged: bool) -> None:
        """The client's waiting inputs join the model's reservoir if no detector fired on its window;
        if one did, they are dropped, and so is every later one."""
        evidence = client.slots.get(self.name)
        if evidence is None:
            return
        released = evidence.held.settle(flagged)
        learned = model.shared.get(self.name)
        if learned is not None and learned.dim == evidence.dim:
            for x in released:
                learned.offer(x)

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        evidence = client.slots.get(self.name)
        if evidence is None:
            return {}
        scores = evidence.scores.filled()[:, 1]
        scores = scores[~np.isnan(scores)]
        if not len(scores):
            return {}
        return {
            "off_distribution_frac": int(np.count_nonzero(scores > 1.0)) / len(scores),
            "off_distribution_cusum": evidence.cusum,
            "off_scatter_cusum": evidence.scatter,
        }

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each query's off-distribution score (1 = the model's usual limit), by event time."""
        evidence = client.slots.get(self.name)
        if evidence is None:
            return {}
        return timed_series(evidence.scores, "off_distribution")
