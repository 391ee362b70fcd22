"""Sign steps: Jacobian-augmentation children against the client's long history, and benign look-alikes."""

from __future__ import annotations

import numpy as np

from featurizers.gradient_walk import GradientWalk
from featurizers.neighbourhood import Neighbourhood
from featurizers.sign_steps import SignSteps
from tests.featurizers.streams import Replay, population

DIM = 30


def features(inputs: np.ndarray) -> dict[str, float]:
    replay = Replay([GradientWalk(), Neighbourhood(), SignSteps()])
    population(replay, np.random.default_rng(0), DIM)
    replay.inputs("c", np.clip(inputs, 0.0, 1.0).astype(np.float32))
    return replay.features("c")


def two_class_augmentation(rng: np.random.Generator, rounds: int = 6) -> np.ndarray:
    """Jacobian augmentation of a two-class model whose features all push one way: every record of a class
    steps all up (or all down) by 0.1 each round; each round sends the whole set again (earlier points
    repeat exactly), as the real breast-cancer models get."""
    points = rng.uniform(0.05, 0.5, size=(10, DIM))
    direction = np.where(np.arange(10) < 5, 1.0, -1.0)[:, None]
    sent = [points]
    for _ in range(rounds):
        points = np.clip(np.vstack([points, points[-10:] + 0.1 * direction]), 0.0, 1.0)
        sent.append(points)
    return np.vstack(sent)


def test_all_up_steps_from_records_sent_rounds_earlier_are_sign_steps() -> None:
    got = features(two_class_augmentation(np.random.default_rng(1)))
    assert got["sign_steps"] >= 8 and got["sign_step_frac"] > 0.1


def test_brightness_views_right_after_each_input_are_not() -> None:
    """Test-time augmentation: each input, then views of it a few percent brighter or darker."""
    rng = np.random.default_rng(2)
    sent = []
    for base in rng.uniform(0.1, 0.8, size=(40, DIM)):
        sent += [base] + [base + b for b in (0.05, 0.1, -0.05, -0.1)]
    got = features(np.array(sent))
    assert got["sign_steps"] == 0
