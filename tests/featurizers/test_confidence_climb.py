"""Confidence climb: a driven-up target class, boundary hugging and label flips, with full scores or top-1 only."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from featurizers.confidence_climb import MAX_TRACKED_CLASSES, ConfidenceClimb, rising_run, trends
from featurizers.gradient_walk import GradientWalk
from featurizers.state import StateStore
from tests.featurizers.streams import Query, Replay, benign, climbing_scores, population, random_scores

DIM = 8


def replay(window: int = 64) -> Replay:
    return Replay([GradientWalk(), ConfidenceClimb()], StateStore(window=window))


def scores_features(all_scores: np.ndarray, window: int = 64) -> dict[str, float]:
    r = replay(window)
    for i, s in enumerate(all_scores):
        r.send(Query("c", float(i), scores=s))
    return r.features("c")


def test_a_driven_up_class_is_the_target_with_a_steady_climb() -> None:
    rng = np.random.default_rng(0)
    scores = climbing_scores(64, 10, target=7, rng=rng)
    feats = scores_features(scores)
    assert feats["target_class"] == 7.0 and feats["target_confidence_trend"] > 0.99
    assert feats["target_confidence_slope"] == pytest.approx(np.polyfit(np.arange(64), scores[:, 7], 1)[0], rel=1e-4)
    assert feats["target_confidence_gain"] > 0.7
    assert feats["target_rising_run"] == 64.0


def test_unrelated_outputs_have_no_steady_climb() -> None:
    rng = np.random.default_rng(1)
    feats = scores_features(random_scores(rng, 64, 10))
    assert feats["target_confidence_trend"] < 0.5
    assert feats["target_confidence_slope"] < 0.005
    assert feats["target_rising_run"] < 16


def test_a_climb_far_below_the_top_class_is_found_by_its_steadiness() -> None:
    rng = np.random.default_rng(6)
    scores = random_scores(rng, 64, 10) * 0.999
    scores[:, 4] = np.geomspace(1e-6, 1e-3, 64)  # an optimiser's early progress on an unlikely class
    feats = scores_features(scores)
    assert feats["target_class"] == 4.0 and feats["target_confidence_trend"] == 1.0
    assert feats["target_confidence_slope"] < 1e-4


def test_constant_outputs_have_no_target() -> None:
    feats = scores_features(np.tile([0.1, 0.2, 0.7], (30, 1)))
    assert not any(name.startswith("target_") for name in feats)


def test_trends_match_scipy_spearman_with_ties_and_gaps() -> None:
    rng = np.random.default_rng(7)
    y = rng.random((64, 12))
    y[:10, 3] = np.nan  # a class tracked late
    y[:, 5] = np.round(y[:, 5], 1)  # ties
    y[::7] = np.nan  # events without scores
    rho, slope, count = trends(y)
    for j in range(12):
        present = ~np.isnan(y[:, j])
        t = np.arange(64)[present]
        assert rho[j] == pytest.approx(stats.spearmanr(t, y[present, j]).statistic, abs=1e-12)
        assert slope[j] == pytest.approx(np.polyfit(t, y[present, j], 1)[0], abs=1e-12)
        assert count[j] == present.sum()


def test_the_target_of_a_thousand_class_model_is_found_with_bounded_memory() -> None:
    rng = np.random.default_rng(2)
    r = replay()
    for i, s in enumerate(climbing_scores(64, 1000, target=700, rng=rng)):
        r.send(Query("c", float(i), scores=s))
    slot = r.client("c").slots["confidence_climb"]
    assert slot.tracked.data.shape == (64, MAX_TRACKED_CLASSES)
    feats = r.features("c")
    assert feats["target_class"] == 700.0 and feats["target_confidence_gain"] > 0.8


def test_queries_on_the_decision_boundary() -> None:
    on = np.tile([0.46, 0.44, 0.10], (20, 1))
    off = np.tile([0.90, 0.05, 0.05], (20, 1))
    assert scores_features(on)["boundary_frac"] == 1.0
    assert scores_features(off)["boundary_frac"] == 0.0
    assert scores_features(np.concatenate([on, off]))["boundary_frac"] == 0.5


def test_with_top1_only_the_boundary_is_a_low_confidence_and_the_climb_is_of_the_usual_label() -> None:
    r = replay()
    for i, conf in enumerate(np.linspace(0.3, 0.95, 40)):
        r.send(Query("c", float(i), label="cat", confidence=float(conf)))
        if i % 4 == 0:
            r.send(Query("c", i + 0.5, label="dog", confidence=0.99))
    feats = r.features("c")
    assert feats["target_class"] == float(r.model().class_of("cat"))
    assert feats["target_confidence_slope"] > 0.01 and feats["target_rising_run"] >= 40
    assert feats["boundary_frac"] == pytest.approx(15 / 50), "15 of 40 cats below 0.55, no dog"


def test_labels_that_flip_between_near_identical_inputs() -> None:
    rng = np.random.default_rng(3)
    r = replay()
    population(r, rng, DIM)
    base = rng.standard_normal(DIM)
    for i in range(40):  # a boundary search: tiny moves, the label alternates
        r.send(Query("search", float(i), x=base + 0.001 * i, label=i % 2, confidence=0.51))
    for i in range(40):  # video frames: tiny moves, the label stays
        r.send(Query("frames", float(i), x=base + 0.001 * i, label=1, confidence=0.9))
    for i, x in enumerate(benign(rng, 40, DIM)):  # unrelated inputs: labels differ, but nothing is near
        r.send(Query("batch", float(i), x=x, label=i % 2, confidence=0.9))
    assert r.features("search")["label_flip_frac"] == 1.0
    assert r.features("frames")["label_flip_frac"] == 0.0
    assert r.features("batch")["label_flip_frac"] == 0.0


def test_label_only_answers_give_flips_but_no_confidence_features() -> None:
    r = replay()
    for i in range(20):
        r.send(Query("c", float(i), x=np.full(DIM, 0.001 * i), label=i % 2))
    feats = r.features("c")
    assert "label_flip_frac" in feats
    assert not {"top_confidence_mean", "boundary_frac", "target_confidence_slope"} & feats.keys()


def test_events_without_input_still_get_confidence_features() -> None:
    feats = scores_features(np.tile([0.2, 0.8], (10, 1)))
    assert feats["top_confidence_mean"] == pytest.approx(0.8) and "label_flip_frac" not in feats


def test_fewer_than_eight_scored_queries_have_no_target_yet() -> None:
    rng = np.random.default_rng(4)
    assert "target_confidence_slope" not in scores_features(climbing_scores(7, 3, 0, rng))
    assert "target_confidence_slope" in scores_features(climbing_scores(8, 3, 0, rng))


def test_a_changed_score_length_restarts_the_class_history() -> None:
    r = replay()
    for i in range(10):
        r.send(Query("c", float(i), scores=np.array([0.5, 0.5])))
    for i in range(10, 20):
        r.send(Query("c", float(i), scores=np.array([0.2, 0.3, 0.5])))
    slot = r.client("c").slots["confidence_climb"]
    assert slot.n_scores == 3 and len(slot.tracked) == 10


@pytest.mark.parametrize(
    ("series", "run"),
    [([0.1, 0.2, 0.3, 0.4], 4), ([0.4, 0.3, 0.2], 0), ([0.1, 0.3, 0.0, 0.1, 0.2, 0.3], 4), ([0.2], 0), ([], 0)],
)
def test_rising_run(series: list[float], run: int) -> None:
    assert rising_run(series) == run


def test_series_follow_the_target_class() -> None:
    rng = np.random.default_rng(5)
    r = replay(window=16)
    for i, s in enumerate(climbing_scores(40, 5, target=3, rng=rng)):
        r.send(Query("c", float(i), scores=s))
    series = ConfidenceClimb().series(r.client("c"), r.model())
    times, values = series["target_confidence"]
    assert times.tolist() == list(range(24, 40)) and np.all(np.diff(values) > 0)
    assert len(series["top2_margin"][0]) == 16


def test_without_a_target_feature_asked_for_only_the_trend_is_left_out() -> None:
    rng = np.random.default_rng(11)
    r = replay()
    for i, s in enumerate(climbing_scores(64, 10, target=3, rng=rng)):
        r.send(Query("c", float(i), x=rng.normal(size=DIM), scores=s))
    f, client, model = ConfidenceClimb(), r.client("c"), r.model()
    full = f.compute(client, model)
    some = f.compute_some(client, model, {"boundary_frac", "near_dup_frac"})
    assert some == {name: value for name, value in full.items() if not name.startswith("target_")}
    assert f.compute_some(client, model, {"target_class"}) == full
