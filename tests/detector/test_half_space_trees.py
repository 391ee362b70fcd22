"""Shared-split Half-Space Trees: River's scores exactly, a model's memory only its masses."""

from __future__ import annotations

import pickle
import random

from river import anomaly

from detector.half_space_trees import SharedHalfSpaceTrees

FEATURES = [f"f{i}" for i in range(12)]


def test_scores_are_rivers_to_the_last_bit_across_window_pivots() -> None:
    rng = random.Random(1)
    river = anomaly.HalfSpaceTrees(n_trees=25, height=10, window_size=50, seed=7)
    shared = SharedHalfSpaceTrees(FEATURES, n_trees=25, height=10, window_size=50, seed=7)
    for i in range(400):
        centre = 0.8 if i % 97 == 0 else 0.4  # now and then an outlier
        x = {name: min(max(rng.gauss(centre, 0.1), 0.0), 1.0) for name in FEATURES}
        assert shared.score_one(x) == river.score_one(x)
        river.learn_one(x)
        shared.learn_one(x)


def test_models_share_their_splits_even_after_a_round_trip_and_keep_their_own_masses() -> None:
    one = SharedHalfSpaceTrees(FEATURES, n_trees=25, height=10, window_size=50, seed=7)
    one.learn_one(dict.fromkeys(FEATURES, 0.3))
    blob = pickle.dumps(one)
    restored = pickle.loads(blob)
    other = SharedHalfSpaceTrees(FEATURES, n_trees=25, height=10, window_size=50, seed=7)
    assert restored._feature is other._feature is one._feature
    assert (restored.masses == one.masses).all() and other.masses.sum() == 0
    assert len(blob) < 1.1 * one.masses.nbytes  # the splits are not in the snapshot
