"""Confidence climb: a class whose confidence a client drives up, and queries that hug the boundary.

Model inversion (Fredrikson et al. 2015) and score-based evasion (ZOO, SimBA,
Square attack) optimise the model's own output: over hundreds of queries the
confidence of one target class climbs steadily, probes around each point
differ only slightly. Decision-based attacks (Boundary attack, HopSkipJump)
instead stay on the decision boundary: the top-2 margin is small and the label
flips between near-identical inputs. Real users do not optimise the output:
their confidences wander, and near-identical inputs (retries, video frames)
keep their label.

Per event this featurizer keeps, bounded by the window, the top-1 confidence,
the top-2 margin, the top label and whether the label flipped against a
near-identical previous input (the distance comes from ``gradient_walk``,
which runs before it). With full scores it also keeps a per-class confidence
history for at most ``MAX_TRACKED_CLASSES`` classes (all of them for small
models; for large ones the classes that reached the top two, replacing the
one with the least recent confidence mass). With only a top-1 label and
confidence, the climb is measured on the confidence of the most frequent label.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.gradient_walk import NEAR_DISTANCE, defined_mean, walk_series
from featurizers.ring import Ring
from featurizers.state import ClientState, ModelState

MAX_TRACKED_CLASSES = 32
"""Classes whose confidence history is kept per client (bounds memory for 1000-class models)."""

MASS_DECAY = 0.95
"""Per-query decay of a tracked class's confidence mass (about the last 20 queries count)."""

BOUNDARY_MARGIN = 0.1
"""Top-1 minus top-2 confidence below which a query is on the decision boundary."""

BOUNDARY_TOP1 = 0.5 + BOUNDARY_MARGIN / 2
"""With top-1 only: a margin below ``BOUNDARY_MARGIN`` needs top-1 below this (top-2 <= 1 - top-1)."""

MIN_FIT_POINTS = 8
"""Queries with a class's confidence needed before its slope is fitted."""

RISE_TOLERANCE = 0.02
"""A drop smaller than this between consecutive queries does not end a rising run (probe noise)."""

MIN_RUN_GAIN = 0.05
"""A run counts as rising only if it gained at least this much confidence."""

CONF, MARGIN, LABEL, FLIP = range(4)


class ConfidenceSeries:
    """Per-event confidence series of one client (NaN where unknown)."""

    __slots__ = ("rows", "tracked", "classes", "column_of", "mass", "n_scores", "last_input_label")

    def __init__(self, window: int) -> None:
        self.rows = Ring(window, width=4)
        """top-1 confidence, top-2 margin, top label (-1 unknown), label flip (1/0, NaN if no near input before)."""
        self.tracked: Ring | None = None
        """Per-class confidences of the classes in ``classes``, one row per event since the first scores."""
        self.classes = np.zeros(0, dtype=np.int64)
        self.column_of: dict[int, int] = {}
        self.mass = np.zeros(0, dtype=np.float32)
        self.n_scores = 0
        """Length of the last score vector (the model's class count as the API reports it)."""
        self.last_input_label = -1

    def track(self, window: int, n_scores: int) -> None:
        """Start (or restart, if the score length changed) the per-class history."""
        width = min(n_scores, MAX_TRACKED_CLASSES)
        self.tracked = Ring(window, width=width)
        self.classes = np.arange(width, dtype=np.int64)
        self.column_of = {c: c for c in range(width)}
        self.mass = np.zeros(width, dtype=np.float32)
        self.n_scores = n_scores

    def admit(self, cls: int, score: float) -> None:
        """Track ``cls``, replacing the tracked class with the least confidence mass (its history is dropped).

        The newcomer starts with the mass of a class that had held ``score`` for a while, so a class
        climbing out of the noise is not pushed out again by the next brief spike of another class.
        """
        if cls in self.column_of:
            return
        column = int(self.mass.argmin())
        del self.column_of[int(self.classes[column])]
        self.classes[column] = cls
        self.column_of[cls] = column
        self.mass[column] = score / (1.0 - MASS_DECAY)
        self.tracked.data[:, column] = np.nan

    @property
    def nbytes(self) -> int:
        total = self.rows.nbytes + self.classes.nbytes + self.mass.nbytes + 48 * len(self.column_of) + 64
        return total + (self.tracked.nbytes if self.tracked is not None else 0)


def average_ranks(y: np.ndarray) -> np.ndarray:
    """Ranks (0-based) down each column of confidences (values in [0, 1]), ties sharing their average rank;
    NaN stays NaN and is not ranked.

    All columns are ranked with one sort: column j is shifted to [2j, 2j + 1], so a value's rank in its
    column is the number of smaller values in the whole array minus those of the columns before it.

    >>> average_ranks(np.array([[0.3, 1.0], [0.1, np.nan], [0.3, 0.5], [0.2, 0.5]])).tolist()
    [[2.5, 2.0], [0.0, nan], [2.5, 0.5], [1.0, 0.5]]
    """
    shift = 2.0 * np.arange(y.shape[1])
    shifted = y + shift
    ascending = np.sort(shifted, axis=None)  # NaN last
    before = np.searchsorted(ascending, shift)
    below = np.searchsorted(ascending, shifted, side="left")
    up_to = np.searchsorted(ascending, shifted, side="right")
    ranks = (below + up_to - 1) / 2.0 - before
    ranks[np.isnan(y)] = np.nan
    return ranks


def trends(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``y`` (rows = queries in order, NaN = missing): Spearman's rank correlation with
    the query index, the least-squares slope per query, and how many values are present.

    The rank correlation measures how steadily a confidence rises whatever its scale (an optimiser's
    target often starts near 1e-6) and is not swayed by the spikes that unrelated inputs give every
    class; it is NaN for a constant column.

    >>> rho, slope, count = trends(np.array([[0.1, 0.5, 0.2], [0.2, np.nan, 0.2], [0.15, 0.4, 0.2], [0.9, 0.3, 0.2]]))
    >>> rho.round(2).tolist(), slope.round(3).tolist(), count.tolist()
    ([0.8, -1.0, nan], [0.235, -0.064, 0.0], [4.0, 3.0, 4.0])
    """
    n = y.shape[0]
    present = ~np.isnan(y)
    if present.all():  # the usual case: every query in order, products instead of masks
        t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        ranks = average_ranks(y)
        ranks -= (n - 1) / 2.0
        t_var = t @ t
        spread = np.sqrt(t_var * np.einsum("ij,ij->j", ranks, ranks))
        # a constant column (spread 0, ranks 0) gets NaN without a 0/0 to silence (np.errstate costs more)
        rho = t @ ranks / np.where(spread > 0, spread, np.nan)
        return rho, t @ y / t_var, np.full(y.shape[1], float(n))
    weight = present.astype(np.float64)
    count = weight.sum(axis=0)
    t = np.arange(n, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        t_centred = (t - (t * weight).sum(axis=0) / count) * weight
        t_var = (t_centred * t_centred).sum(axis=0)
        slope = (t_centred * np.where(present, y, 0.0)).sum(axis=0) / t_var
        order = np.cumsum(weight, axis=0) * weight  # the query's rank among the present ones, 1-based
        o_centred = (order - (count + 1.0) / 2.0) * weight
        ranks = np.where(present, average_ranks(y), 0.0)
        r_centred = (ranks - ranks.sum(axis=0) / count) * weight
        o_var, r_var = (o_centred * o_centred).sum(axis=0), (r_centred * r_centred).sum(axis=0)
        rho = (o_centred * r_centred).sum(axis=0) / np.sqrt(o_var * r_var)
    return rho, slope, count


def rising_run(y: list[float]) -> int:
    """Longest run of queries with no drop larger than ``RISE_TOLERANCE`` that gained at least ``MIN_RUN_GAIN``.

    >>> rising_run([0.1, 0.2, 0.19, 0.3, 0.1, 0.12])
    4
    >>> rising_run([0.5, 0.5, 0.5])
    0
    """
    best, start = 0, 0
    for i in range(1, len(y) + 1):
        if i == len(y) or y[i] < y[i - 1] - RISE_TOLERANCE:
            if y[i - 1] - y[start] >= MIN_RUN_GAIN:
                best = max(best, i - start)
            start = i
    return best


class ConfidenceClimb(Featurizer):
    """Target-class confidence trend, boundary hugging and label flips.

    An inversion-like client drives class 2 up while probing; a benign one
    gets unrelated outputs:

    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(1)
    >>> def replay(all_scores):
    ...     store, f = StateStore(window=64), ConfidenceClimb()
    ...     model = store.model("m")
    ...     for i, s in enumerate(np.asarray(all_scores, dtype=np.float32)):
    ...         client = store.touch("m", "c", float(i))
    ...         client.append(str(i), float(i), None)
    ...         obs = Observation(str(i), float(i), None, s, int(s.argmax()), float(s.max()))
    ...         f.observe(obs, client, model)
    ...     return f.compute(client, model)
    >>> climb = [np.r_[0.5 - 0.4 * p, 0.5 - 0.4 * p, 0.8 * p] + 0.01 * rng.random(3) for p in np.linspace(0, 1, 60)]
    >>> c = replay([s / s.sum() for s in climb])
    >>> c["target_class"], round(c["target_confidence_slope"], 4), round(c["target_confidence_gain"], 2)
    (2.0, 0.0133, 0.79)
    >>> round(c["target_confidence_trend"], 2), c["target_rising_run"]
    (1.0, 60.0)
    >>> b = replay(rng.dirichlet(np.ones(3), size=60))
    >>> round(b["target_confidence_trend"], 2), round(b["target_confidence_gain"], 2), b["target_rising_run"]
    (0.11, 0.08, 4.0)
    """

    name = "confidence_climb"
    requires = ("gradient_walk",)
    FEATURES = {
        "top_confidence_mean": "mean top-1 confidence over the window (0..1)",
        "boundary_frac": "fraction of queries on the decision boundary: top-2 margin < 0.1, or with top-1 "
        "only, top-1 confidence < 0.55 (0..1); decision-based attacks hug the boundary",
        "label_flip_frac": "fraction of queries whose top label differs from that of a near-identical "
        "(< 0.1) previous input (0..1); boundary searches flip, retries and video frames do not",
        "target_class": "class index of the target: the class whose confidence rises most steadily over "
        "the window (an identifier, not a magnitude)",
        "target_confidence_trend": "Spearman rank correlation of the target class's confidence with query "
        "order (-1..1); near 1 while an optimiser drives it up, whatever the scale of the gain; about "
        "0.1-0.3 for unrelated inputs",
        "target_confidence_slope": "least-squares slope of the target class's confidence per query "
        "(confidence/query)",
        "target_confidence_gain": "target confidence at the last query minus its minimum over the window (0..1)",
        "target_rising_run": "longest run of queries over which the target confidence never dropped by more "
        "than 0.02 and gained at least 0.05 (queries); optimisation climbs for long runs",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        slot = client.slots.get(self.name)
        if slot is None:
            slot = client.slots[self.name] = ConfidenceSeries(client.window)
        confidence = np.nan if obs.confidence is None else obs.confidence
        margin = np.nan
        scores = obs.scores
        if scores is not None:
            margin = self._track(slot, scores, client.window)
        elif slot.tracked is not None:
            slot.tracked.append(np.nan)
        flip = np.nan
        if obs.x is not None:
            walk = walk_series(client)
            dist_prev = walk.last_dist_prev if walk is not None else np.nan
            if not math.isnan(dist_prev):  # a previous input exists
                labels_known = obs.label_class >= 0 and slot.last_input_label >= 0
                near = 0 < dist_prev < NEAR_DISTANCE
                flip = float(near and labels_known and obs.label_class != slot.last_input_label)
            slot.last_input_label = obs.label_class
        slot.rows.append((confidence, margin, obs.label_class, flip))

    @staticmethod
    def _track(slot: ConfidenceSeries, scores: np.ndarray, window: int) -> float:
        """Record one score vector; returns its top-2 margin (NaN for a single score)."""
        k = len(scores)
        if k != slot.n_scores or slot.tracked is None:
            slot.track(window, k)
        if k < 2:
            slot.tracked.append(scores)
            return np.nan
        if k <= MAX_TRACKED_CLASSES:
            second, first = sorted(scores.tolist())[-2:]  # few values: cheaper than np.partition
            slot.tracked.append(scores)
            return first - second
        top2 = np.argpartition(scores, k - 2)[k - 2 :]
        second, first = scores[top2].tolist()
        for cls, score in zip(top2.tolist(), (second, first)):
            slot.admit(cls, score)
        row = scores[slot.classes]
        slot.tracked.append(row)
        slot.mass *= MASS_DECAY
        slot.mass += row
        return first - second

    TARGET_FEATURES = frozenset(name for name in FEATURES if name.startswith("target_"))
    """The features of the target class's trend: most of the cost of :meth:`compute`."""

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        return self.compute_some(client, model, self.TARGET_FEATURES)

    def compute_some(self, client: ClientState, model: ModelState, names: AbstractSet[str]) -> dict[str, float]:
        """The window's boundary and flip features, and the target's trend if any of it is in ``names``."""
        slot = client.slots.get(self.name)
        if slot is None or len(slot.rows) == 0:
            return {}
        rows = slot.rows.ordered()
        confidence, margin = rows[:, CONF], rows[:, MARGIN]
        # on the boundary: by the margin where the scores are known, else by a low top-1 confidence
        boundary = np.where(np.isnan(margin), np.where(np.isnan(confidence), np.nan, confidence < BOUNDARY_TOP1),
                            margin < BOUNDARY_MARGIN)
        feats: dict[str, float] = {}
        for name, values in (
            ("top_confidence_mean", confidence),
            ("boundary_frac", boundary),
            ("label_flip_frac", rows[:, FLIP]),
        ):
            value = defined_mean(values)
            if value is not None:
                feats[name] = value
        if not self.TARGET_FEATURES.isdisjoint(names):
            feats.update(self._target(slot, rows)[0])
        return feats

    @staticmethod
    def _history(slot: ConfidenceSeries, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-class confidence history (queries x classes, NaN = unknown) and the class of each column."""
        if slot.tracked is not None and slot.n_scores >= 2:
            return slot.tracked.ordered(), slot.classes
        labels = rows[:, LABEL].astype(np.int64)
        known = (labels >= 0) & ~np.isnan(rows[:, CONF])
        if not known.any():
            return np.empty((0, 0)), slot.classes[:0]
        values, counts = np.unique(labels[known], return_counts=True)  # class indexes may be 24-bit label hashes
        mode = int(values[np.argmax(counts)])
        y = np.where(known & (labels == mode), rows[:, CONF], np.nan)
        return y[:, None], np.array([mode])

    def _target(self, slot: ConfidenceSeries, rows: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """The target class's features and its confidence per query (NaN = unknown); none before
        ``MIN_FIT_POINTS`` queries with a confidence."""
        history, classes = self._history(slot, rows)
        none = {}, np.empty(0)
        if history.shape[0] < MIN_FIT_POINTS:
            return none
        rho, slope, count = trends(history.astype(np.float64))
        candidates = np.where((count >= MIN_FIT_POINTS) & ~np.isnan(rho), rho, -np.inf)
        column = int(candidates.argmax())
        if candidates[column] == -np.inf:
            return none
        series = history[:, column]
        y = series[~np.isnan(series)].tolist()
        feats = {
            "target_class": float(classes[column]),
            "target_confidence_trend": float(rho[column]),
            "target_confidence_slope": float(slope[column]),
            "target_confidence_gain": y[-1] - min(y),
            "target_rising_run": float(rising_run(y)),
        }
        return feats, series

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``target_confidence`` (of the current target class) and ``top2_margin`` of each query, by event time."""
        slot = client.slots.get(self.name)
        if slot is None or len(slot.rows) == 0:
            return {}
        rows = slot.rows.ordered()
        times = client.ts.ordered()
        out = {}
        for name, values in (("target_confidence", self._target(slot, rows)[1]), ("top2_margin", rows[:, MARGIN])):
            keep = ~np.isnan(values)
            if keep.any():
                out[name] = (times[-len(values) :][keep], values[keep].astype(np.float64))
        return out
