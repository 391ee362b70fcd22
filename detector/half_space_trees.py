"""River's Half-Space Trees with the random trees shared between models: a new model costs its masses only.

River's ``HalfSpaceTrees`` builds its trees on its first ``learn_one`` (25 trees of height 10 are
51,175 Python node objects: ~12 MB and about a second per model) and pivots every node's mass in
a Python loop every ``window_size`` learns. The trees' splits are random and independent of the
data: every model built with the same seed, height, tree count and features has the very same
trees. So here the splits are built once per shape, with River's own builder
(``make_padded_tree``) and seed, as numpy arrays in heap order (node ``i``'s children are
``2i + 1`` and ``2i + 2``), and each model keeps only its two mass arrays (~400 KB at that size).
Walks, scores and the window pivot follow River's code step for step, so the scores are River's
to the last bit (masses are integers, so their float sums are exact in any order); the one
difference is that every feature must be present (the anomaly model always gives them all).
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np
from river.tree.padded import make_padded_tree

PADDING = 0.15
"""River's split padding: a split lies in the middle 70% of its node's range."""


@cache
def shared_splits(features: tuple[str, ...], n_trees: int, height: int, seed: int) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[float, ...], ...]]:
    """The split feature (index into ``features``) and threshold of every branch, per tree in heap order,
    exactly as River's ``HalfSpaceTrees(n_trees, height, seed=seed)`` would build them. Plain tuples:
    a walk indexes single nodes, which Python does faster than numpy."""
    rng = random.Random(seed)
    index = {name: i for i, name in enumerate(features)}
    features_of, thresholds_of = [], []
    for _ in range(n_trees):
        root = make_padded_tree(limits={name: (0.0, 1.0) for name in sorted(features)}, height=height,
                                padding=PADDING, rng=rng, r_mass=0, l_mass=0)  # fmt: skip
        split_feature, split_at = [], []
        level = [root]
        for _ in range(height):
            for node in level:
                split_feature.append(index[node.feature])
                split_at.append(node.threshold)
            level = [child for node in level for child in node.children]
        features_of.append(tuple(split_feature))
        thresholds_of.append(tuple(split_at))
    return tuple(features_of), tuple(thresholds_of)


class SharedHalfSpaceTrees:
    """Half-Space Trees over named features in [0, 1]; see the module docstring.

    >>> from river import anomaly
    >>> river = anomaly.HalfSpaceTrees(n_trees=5, height=3, window_size=3, seed=42)
    >>> shared = SharedHalfSpaceTrees(["x"], n_trees=5, height=3, window_size=3, seed=42)
    >>> for value in (0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0):
    ...     for model in (river, shared):
    ...         model.learn_one({"x": value})
    ...     assert river.score_one({"x": value}) == shared.score_one({"x": value})
    >>> round(shared.score_one({"x": 0.0}), 3), shared.masses.nbytes
    (0.853, 600)
    """

    def __init__(self, features, *, n_trees: int = 10, height: int = 8, window_size: int = 250, seed: int = 0) -> None:
        self.features = tuple(sorted(features))
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.masses = np.zeros((2, n_trees, 2 ** (height + 1) - 1), dtype=np.int32)
        """The l_mass (this window's) and r_mass (the last window's) of every node."""
        self.counter = 0
        self.first_window = True
        self._link()

    def _link(self) -> None:
        self._feature, self._threshold = shared_splits(self.features, self.n_trees, self.height, self.seed)
        self._rows = np.arange(self.n_trees)[:, None]
        self._last: tuple[dict[str, float], np.ndarray] | None = None
        self._depth_weight = 2 ** np.arange(self.height + 1, dtype=np.int64)
        self._max_score = self.n_trees * self.window_size * (2 ** (self.height + 1) - 1)

    def __getstate__(self) -> dict:
        """Everything but the shared splits, which a restored model links to again."""
        return {name: getattr(self, name) for name in
                ("features", "n_trees", "height", "window_size", "seed", "masses", "counter", "first_window")}  # fmt: skip

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._link()

    def _path(self, x: dict[str, float]) -> np.ndarray:
        """The nodes ``x`` passes through in every tree, root to leaf (trees x (height + 1)); the last
        one is kept, as a model scores a window and then learns the same one."""
        if self._last is not None and self._last[0] is x:
            return self._last[1]
        vector = [x[name] for name in self.features]
        height = self.height
        walks = []
        for split_feature, split_at in zip(self._feature, self._threshold):
            node = 0
            walk = [0]
            for _ in range(height):
                node = 2 * node + 1 + (vector[split_feature[node]] >= split_at[node])  # River: < goes left
                walk.append(node)
            walks.append(walk)
        path = np.array(walks, dtype=np.intp)
        self._last = (x, path)
        return path

    def learn_one(self, x: dict[str, float]) -> None:
        self.masses[0][self._rows, self._path(x)] += 1  # one node per tree and depth: no repeats
        self.counter += 1
        if self.counter == self.window_size:
            self.masses[1] = self.masses[0]
            self.masses[0] = 0
            self.first_window = False
            self.counter = 0

    def score_one(self, x: dict[str, float]) -> float:
        """0 (normal) to 1 (anomalous); 0 until the first window is complete."""
        if self.first_window:
            return 0
        mass = self.masses[1][self._rows, self._path(x)].astype(np.int64)
        reached = np.ones(mass.shape, dtype=bool)  # River stops below a node whose mass is under the limit
        reached[:, 1:] = np.cumprod(mass[:, :-1] >= 0.1 * self.window_size, axis=1, dtype=bool)
        score = float((mass * self._depth_weight * reached).sum())
        return 1 - score / self._max_score
