"""The simulated models: the numpy forward pass is scikit-learn's model, the API styles, the log rounding."""

from __future__ import annotations

import numpy as np
import pytest

from detector.simulator.api import ModelAPI, round_significant
from detector.simulator.models import MODEL_DATASETS, target_model


@pytest.mark.parametrize("model_id", sorted(MODEL_DATASETS))
def test_numpy_forward_pass_matches_predict_proba(model_id: str) -> None:
    model = target_model(model_id)
    data = model.data
    uniform = data.lo + data.span * np.random.default_rng(0).random((200, data.n_features))
    for inputs in (data.x_held_out, uniform):
        np.testing.assert_allclose(model.proba(inputs), model.estimator.predict_proba(inputs), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model_id", sorted(MODEL_DATASETS))
def test_models_are_accurate_on_held_out_samples(model_id: str) -> None:
    model = target_model(model_id)
    accuracy = (model.proba(model.data.x_held_out).argmax(axis=1) == model.data.y_held_out).mean()
    assert accuracy > 0.9


def test_models_have_the_documented_shapes_and_ranges() -> None:
    digits, cancer = target_model("digits-classifier:1").data, target_model("breast-cancer:1").data
    assert (digits.n_features, digits.n_classes, digits.image_shape) == (64, 10, (8, 8))
    assert digits.lo.max() == 0.0 and digits.hi.min() == 16.0
    assert (cancer.n_features, cancer.n_classes, cancer.image_shape) == (30, 2, None)
    assert np.allclose(cancer.x_train.mean(axis=0), 0.0) and np.allclose(cancer.x_train.std(axis=0), 1.0)


def test_training_happens_once_per_process() -> None:
    assert target_model("digits-classifier:1") is target_model("digits-classifier:1")


def test_full_api_returns_scores_and_label_top1_api_only_label_and_confidence() -> None:
    model = target_model("digits-classifier:1")
    inputs = model.data.x_held_out[:5]
    full, top1 = ModelAPI(model).answer(inputs), ModelAPI(model, top1=True).answer(inputs)
    assert full.scores is not None and top1.scores is None
    assert np.array_equal(full.labels, top1.labels) and np.allclose(full.confidence, top1.confidence)
    assert set(next(full.logged(1))) == {"scores", "label"}
    assert set(next(top1.logged(1))) == {"label", "confidence"}


def test_top1_class_score_is_exact_for_the_returned_label_and_shares_the_rest() -> None:
    model = target_model("digits-classifier:1")
    inputs = model.data.x_held_out[:20]
    answers = ModelAPI(model, top1=True).answer(inputs)
    label = int(answers.labels[0])
    estimate = answers.class_score(label)
    exact = model.proba(inputs)[:, label]
    returned = answers.labels == label
    assert np.allclose(estimate[returned], exact[returned])
    assert np.allclose(estimate[~returned], (1 - answers.confidence[~returned]) / 9)


def test_logged_numbers_keep_six_significant_digits() -> None:
    values = np.random.default_rng(0).lognormal(0.0, 6.0, 10_000) * np.random.default_rng(1).choice([-1, 1], 10_000)
    values = values[np.abs(values) > 1e-15]
    rounded = round_significant(values)
    assert np.all(np.abs(rounded - values) <= 5e-6 * np.abs(values))
    digits = [repr(v).split("e")[0].replace("-", "").replace(".", "").strip("0") for v in rounded.tolist()]
    assert max(len(d) for d in digits) == 6
