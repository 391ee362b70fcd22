"""Extraction: PRADA normality, class coverage, input-space coverage and out-of-distribution share."""

from __future__ import annotations

import numpy as np
import pytest

from featurizers.confidence_climb import ConfidenceClimb
from featurizers.extraction import MIN_SHAPIRO_POINTS, Extraction, coverage_entropy, shapiro_w
from featurizers.gradient_walk import GradientWalk
from featurizers.state import StateStore
from tests.featurizers.streams import Query, Replay, benign, coordinate_walk, population

DIM = 16


def extraction_features(xs: np.ndarray | None, labels: list[int], classes: int = 10) -> dict[str, float]:
    r = Replay([GradientWalk(), ConfidenceClimb(), Extraction()], StateStore(window=64))
    population(r, np.random.default_rng(99), DIM)
    r.model().class_of(classes - 1)
    for i, label in enumerate(labels):
        r.send(Query("c", float(i), x=None if xs is None else xs[i], label=label, confidence=0.9))
    return Extraction().compute(r.client("c"), r.model())


def test_jacobian_augmentation_like_queries_are_not_normal_and_benign_ones_are() -> None:
    rng = np.random.default_rng(0)
    seeds = rng.standard_normal((4, DIM))
    synthetic = np.concatenate([s + 0.05 * rng.standard_normal((16, DIM)) for s in seeds])
    attack = extraction_features(synthetic, list(range(64)))
    users = extraction_features(benign(rng, 64, DIM), list(range(64)))
    assert attack["prada_shapiro_w"] < 0.6 < 0.9 < users["prada_shapiro_w"]


def test_exact_repeats_do_not_count_against_normality() -> None:
    rng = np.random.default_rng(1)
    xs = benign(rng, 64, DIM)
    xs[1::4] = xs[0::4]  # every fourth query is retried once
    assert extraction_features(xs, [0] * 64)["prada_shapiro_w"] > 0.9


def test_normality_needs_enough_distances() -> None:
    rng = np.random.default_rng(2)
    few = MIN_SHAPIRO_POINTS  # the first input has no distance
    assert "prada_shapiro_w" not in extraction_features(benign(rng, few, DIM), [0] * few)
    assert "prada_shapiro_w" in extraction_features(benign(rng, few + 1, DIM), [0] * (few + 1))


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 11, 20, 21, 63, 64, 255, 1000, 4096])
def test_shapiro_w_is_scipys_statistic(n: int) -> None:
    stats = pytest.importorskip("scipy.stats")  # installed with river; the reference implementation
    rng = np.random.default_rng(n)
    two_clusters = np.r_[rng.normal(size=n // 2), 5 + rng.random(n - n // 2)]
    for sample in (rng.normal(size=n), rng.exponential(size=n), two_clusters):
        sample = sample.astype(np.float32)
        assert shapiro_w(sample) == pytest.approx(stats.shapiro(sample.astype(np.float64)).statistic, abs=1e-7)


def test_class_coverage_entropy_is_near_one_for_uniform_coverage_and_zero_for_one_class() -> None:
    assert extraction_features(None, [i % 10 for i in range(60)])["class_coverage_entropy"] == pytest.approx(1.0)
    assert extraction_features(None, [3] * 60)["class_coverage_entropy"] == 0.0
    assert 0.2 < extraction_features(None, [i % 2 for i in range(60)])["class_coverage_entropy"] < 0.4


def test_coverage_entropy_is_normalised_by_what_this_many_queries_can_reach() -> None:
    assert coverage_entropy(np.arange(8), 1000) == pytest.approx(1.0)
    assert coverage_entropy(np.array([5]), 10) is None
    assert coverage_entropy(np.array([0, 0, 0]), 1) is None


def test_input_coverage_is_relative_to_the_model_spread() -> None:
    rng = np.random.default_rng(3)
    probing = extraction_features(coordinate_walk(rng, DIM, 4), [0] * 64)
    users = extraction_features(benign(rng, 64, DIM), [0] * 64)
    random_noise = extraction_features(rng.uniform(-4, 4, (64, DIM)), [0] * 64)
    assert probing["input_coverage"] < 0.1
    assert users["input_coverage"] == pytest.approx(1.0, abs=0.15)
    assert random_noise["input_coverage"] > 2.0


def test_inputs_far_from_the_model_distribution_are_out_of_distribution() -> None:
    rng = np.random.default_rng(4)
    assert extraction_features(benign(rng, 64, DIM), [0] * 64)["ood_frac"] == 0.0
    assert extraction_features(benign(rng, 64, DIM) * 5 + 3, [0] * 64)["ood_frac"] == 1.0


def test_without_inputs_only_class_coverage_is_measured() -> None:
    assert set(extraction_features(None, [1, 2, 3])) == {"class_coverage_entropy"}
