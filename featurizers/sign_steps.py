"""Sign steps: queries that differ from an earlier one by one magnitude on every coordinate, with mixed signs.

Jacobian-based dataset augmentation (Papernot et al. 2017, "Practical
Black-Box Attacks against Machine Learning") grows a substitute's training
set by ``x + lambda * sign(gradient)`` for every point it already labelled:
each child moves *every* coordinate of its parent by the same step, up or
down, clipped at the input's bounds. Each round doubles the set, so from the
second round on a child's parent was sent hundreds of queries earlier, far
out of any short window; and the children themselves look like a scoring
job's in every window statistic (no two are near, none repeats). What gives
them away is the shape of the difference to their parent: no benign client
sends a record and, much later, the same record with each coordinate nudged
by one amount in a direction of its own. Edits change a few fields by their
own amounts, a brightness slider moves every pixel the same way, re-encoding
noise is tiny and uneven, and unrelated inputs differ by anything.

Per distinct query (retries and re-encoded copies are collapsed by
``neighbourhood`` and never tested), the earlier query nearest to it in the
client's long history (``neighbourhood``'s search, over up to 1,024 distinct
queries) is compared with it on ``COORDINATES`` fixed coordinates of the raw
input, kept per stored query as float16 (64 bytes: enough precision for a step of
a few percent of a coordinate's range; a value beyond float16's range becomes
infinite and that coordinate never counts as moved). The difference is a
*sign step* when at least ``MIN_MOVED`` coordinates moved, ``STEP_SHARE`` of
them by one magnitude (within ``BAND`` of their median), in both directions
(each at least ``MIXED`` of them), by a step between ``SMALLEST`` and
``LARGEST`` of the coordinates' range: not quantisation noise, and not the
flips of binary or one-hot features. A step with every coordinate one way
counts too when its parent was sent ``FAR_BACK`` or more queries earlier, it
steps by ``ONE_WAY_SMALLEST`` or more, and most of the client's recent one-way
steps share its size (``SIZE_MODE``, within ``SIZE_SPREAD``): a
brightness slider or a test-time augmentation moves every pixel one way from
the image just sent, while a two-class model whose features all push one way
(records of positively correlated measurements) gives every record of a
class the same all-up (or all-down) Jacobian step, rounds after the record. "One magnitude" is tested both in the
input's own units (pixels share one range) and in units of each
coordinate's observed range (tabular features each have their own), since an
attacker steps in one or the other.
"""

from __future__ import annotations

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.neighbourhood import History, Neighbourhood
from featurizers.ring import Ring
from featurizers.state import ClientState, ModelState

COORDINATES = 32
"""Raw coordinates kept per stored query (a fixed random choice per input size; all of smaller inputs)."""
MIN_MOVED = 4
"""Fewest kept coordinates a sign step moves."""
DENSE = 0.4
"""Least share of the kept coordinates a sign step moves: every one but those clipped at a bound (an
edit or a form being filled moves a few)."""
MOVED = 1e-3
"""A coordinate moved when it changed by more than this share of its range."""
BAND = 0.2
"""Relative distance from the median step within which a coordinate's step counts as the same magnitude."""
STEP_SHARE = 0.7
"""Share of the moved coordinates that must move by the same magnitude."""
MIXED = 0.05
"""Least share of the moved coordinates going each way: a brightness change moves them all one way, while a
Jacobian step on tabular records often moves nine in ten coordinates one way (the simulator's breast-cancer
children: 83-90% up), so one in twenty the other way is enough."""
SMALLEST, LARGEST = 0.03, 0.35
"""Bounds of the median step, as a share of the coordinates' range."""
RECENT = 64
"""Distinct queries ``sign_step_frac`` looks back over."""
FAR_BACK = 32
"""Queries back a parent must have been sent for a step moving every coordinate one way to count."""
ONE_WAY_SMALLEST = 0.06
"""Least median step of a one-way step, as a share of the coordinates' range: a drifting feed's gain and
offset grow by a few percent of the range between two sendings of a record, while a Jacobian step is
lambda (0.1 or more, as a share of the input's range, in the published attacks)."""
SIZE_SPREAD = 0.05
"""How far (log2) a one-way step's size may lie from the median size of the client's recent ones to count."""
SIZE_MODE = 0.8
"""Least share of a client's recent one-way steps that must share one size for them to count: Jacobian
augmentation steps by one lambda every round, while a drifting feed that sends a record again later, under
a gain and offset grown meanwhile, steps by whatever the drift grew in between."""
NOT_A_STEP, MIXED_STEP = 0.0, 1.0


def is_sign_step(difference: np.ndarray, span: np.ndarray, one_way: bool = False) -> bool:
    """Whether ``difference`` (raw units) moves its coordinates by one magnitude, both ways (or, with
    ``one_way``, possibly all one way), by a small step.

    ``span`` is each coordinate's range; the test passes in raw units (with the
    median range) or in units of each coordinate's range.

    >>> span = np.ones(8)
    >>> is_sign_step(0.1 * np.array([1, -1, 1, 1, -1, -1, 1, 0]), span)     # a Jacobian step, one coordinate clipped
    True
    >>> is_sign_step(0.1 * np.ones(8), span)                                # brightness: all one way
    False
    >>> is_sign_step(0.1 * np.ones(8), span, one_way=True)                  # ... from a parent far back
    True
    >>> is_sign_step(0.1 * np.array([1, 1, 1, 1, 1, 1, 1, -1]), span)        # seven of eight one way
    True
    >>> is_sign_step(np.array([1.0, -1, 1, -1, 0, 0, 0, 0]), span)          # binary features flipped
    False
    >>> is_sign_step(np.random.default_rng(0).normal(0, 0.1, 8), span)      # unrelated values
    False
    >>> is_sign_step(np.array([2, -3, 2, 3, -2, -3, 2, 3]) * 0.05, np.array([2, 3, 2, 3, 2, 3, 2, 3.0]))
    True
    """
    kind = step_kind(difference, span)
    return kind == MIXED_STEP or (one_way and kind < NOT_A_STEP)


def step_kind(difference: np.ndarray, span: np.ndarray) -> float:
    """``NOT_A_STEP``, ``MIXED_STEP`` (one magnitude, both ways), or for one magnitude all one way
    minus its size (the median step of the moved coordinates, in the input's units).

    >>> span = np.ones(8)
    >>> step_kind(0.1 * np.array([1, -1, 1, 1, -1, -1, 1, 0]), span), round(step_kind(0.1 * np.ones(8), span), 3)
    (1.0, -0.1)
    >>> step_kind(np.random.default_rng(0).normal(0, 0.1, 8), span)
    0.0
    """
    for scaled, scale, unit in ((difference, span, float(np.median(span))), (difference / span, 1.0, 1.0)):
        size = np.abs(scaled)
        moved = size > MOVED * scale
        count = int(np.count_nonzero(moved))
        if count < max(MIN_MOVED, DENSE * len(difference)):
            continue
        steps = size[moved]
        median = float(np.median(steps))
        if not SMALLEST * unit <= median <= LARGEST * unit:
            continue
        if np.count_nonzero(np.abs(steps - median) <= BAND * median) < STEP_SHARE * count:
            continue
        up = int(np.count_nonzero(scaled[moved] > 0))
        if min(up, count - up) >= MIXED * count:
            return MIXED_STEP
        if median < ONE_WAY_SMALLEST * unit:
            continue
        return -float(np.median(np.abs(difference[moved])))  # in the input's units: one lambda, whatever the ranges
    return NOT_A_STEP


class Coordinates:
    """A model's kept coordinates (seeded by the input size, so every worker keeps the same ones) and
    their observed range."""

    __slots__ = ("dim", "index", "low", "high")

    def __init__(self, dim: int) -> None:
        self.dim = dim
        rng = np.random.default_rng(dim)
        self.index = np.arange(dim) if dim <= COORDINATES else np.sort(rng.choice(dim, COORDINATES, replace=False))
        self.low = np.full(len(self.index), np.inf, dtype=np.float32)
        self.high = np.full(len(self.index), -np.inf, dtype=np.float32)

    def observe(self, kept: np.ndarray) -> None:
        np.minimum(self.low, kept, out=self.low)
        np.maximum(self.high, kept, out=self.high)

    def span(self) -> np.ndarray:
        span = self.high - self.low
        floor = max(float(np.median(span)) * 1e-3, 1e-6)
        return np.maximum(span, floor)

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + self.low.nbytes + self.high.nbytes + 64


class Steps:
    """One client's kept coordinates per stored query (aligned with ``neighbourhood``'s slots), its recent
    sign-step flags and its count."""

    __slots__ = ("history", "kept", "sent", "flags", "count")

    def __init__(self, history: History, width: int) -> None:
        self.history = history
        """The neighbourhood history whose slots ``kept`` follows (a new one starts over)."""
        self.kept = np.zeros((len(history.points), width), dtype=np.float16)
        self.sent = np.zeros(len(history.points), dtype=np.int32)
        """Per slot, the client's event count when the query was first sent."""
        self.flags = Ring(RECENT, dtype=np.float32)
        """Per recent distinct query: :func:`step_kind` (one-way steps only from parents ``FAR_BACK`` back)."""
        self.count = 0
        """Mixed sign steps so far."""

    def counted(self) -> np.ndarray:
        """Which recent distinct queries count as sign steps: the mixed ones, and the one-way ones of the
        common size if ``SIZE_MODE`` of them share it."""
        flags = self.flags.filled()
        counted = flags == MIXED_STEP
        one_way = flags < NOT_A_STEP
        if np.count_nonzero(one_way) >= 2:
            sizes = np.log2(-flags[one_way])
            close = np.abs(sizes - np.median(sizes)) <= SIZE_SPREAD
            if close.mean() >= SIZE_MODE:
                counted[np.flatnonzero(one_way)[close]] = True
        return counted

    def store(self, slot: int, kept: np.ndarray, sent: int) -> None:
        if slot >= len(self.kept):
            grown = np.zeros((len(self.history.points), self.kept.shape[1]), dtype=np.float16)
            grown[: len(self.kept)] = self.kept
            self.kept = grown
            self.sent = np.concatenate([self.sent, np.zeros(len(grown) - len(self.sent), dtype=np.int32)])
        self.kept[slot] = kept
        self.sent[slot] = sent

    @property
    def nbytes(self) -> int:
        return self.kept.nbytes + self.sent.nbytes + self.flags.nbytes + 64

    @property
    def max_nbytes(self) -> int:
        return self.history.capacity * (self.kept.shape[1] * 2 + 4) + self.flags.nbytes + 64


class SignSteps(Featurizer):
    """Sign steps against the client's long history.

    Ten seed records, then their Jacobian-style children (each coordinate
    moved by 0.1, up or down) sent after 300 unrelated records; and a batch
    job's unrelated records alone:

    >>> from featurizers.gradient_walk import GradientWalk
    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(0)
    >>> def replay(inputs):
    ...     store, chain = StateStore(window=64), (GradientWalk(), Neighbourhood(), SignSteps())
    ...     model = store.model("m")
    ...     for x in rng.uniform(0, 1, size=(400, 16)).astype(np.float32):
    ...         model.observe_input(x)
    ...     for i, x in enumerate(np.asarray(inputs, dtype=np.float32)):
    ...         client = store.touch("m", "c", float(i))
    ...         client.append(str(i), float(i), x)
    ...         for featurizer in chain:
    ...             featurizer.observe(Observation(str(i), float(i), x, None, -1, None), client, model)
    ...     return chain[-1].compute(client, model)
    >>> seeds = rng.uniform(0.2, 0.8, size=(10, 16))
    >>> children = seeds + 0.1 * rng.choice([-1.0, 1.0], size=(10, 16))
    >>> replay(np.vstack([seeds, rng.uniform(0, 1, size=(300, 16)), children]))
    {'sign_step_frac': 0.15625, 'sign_steps': 10.0}
    >>> replay(rng.uniform(0, 1, size=(320, 16)))
    {'sign_step_frac': 0.0, 'sign_steps': 0.0}
    """

    name = "sign_steps"
    requires = ("gradient_walk", Neighbourhood.name)
    FEATURES = {
        "sign_step_frac": f"fraction of the client's last {RECENT} distinct queries that differ from their nearest "
        "earlier query (over its long history) by one magnitude on every coordinate, up or down (0..1): the "
        "children x + lambda * sign(gradient) of Jacobian-based dataset augmentation, whose parents lie hundreds "
        "of queries back",
        "sign_steps": "distinct queries so far that were such a sign step from an earlier one (one-way steps: "
        f"those among the last {RECENT})",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        history = client.slots.get(Neighbourhood.name)
        if obs.x is None or history is None or history.stored_slot < 0:
            return
        dim = int(obs.x.shape[0])
        coordinates = model.shared.get(self.name)
        if coordinates is None or coordinates.dim != dim:
            coordinates = model.shared[self.name] = Coordinates(dim)
        kept = obs.x[coordinates.index].astype(np.float16).astype(np.float32)  # as it will be stored
        coordinates.observe(kept)
        steps = client.slots.get(self.name)
        if steps is None or steps.history is not history or steps.kept.shape[1] != len(kept):
            steps = client.slots[self.name] = Steps(history, len(kept))
        if history.nearest_slot >= 0:
            parent = steps.kept[history.nearest_slot].astype(np.float32)
            kind = step_kind(kept - parent, coordinates.span())
            if kind < NOT_A_STEP and client.n_events - int(steps.sent[history.nearest_slot]) < FAR_BACK:
                kind = NOT_A_STEP
            steps.flags.append(kind)
            steps.count += kind == MIXED_STEP
        steps.store(history.stored_slot, kept, client.n_events)

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        steps = client.slots.get(self.name)
        if steps is None or not len(steps.flags):
            return {}
        counted = steps.counted()
        one_way = int(np.count_nonzero(counted & (steps.flags.filled() < NOT_A_STEP)))
        return {"sign_step_frac": float(counted.mean()), "sign_steps": float(steps.count + one_way)}
