"""The real-attack benchmark's models answered in numpy: the same probabilities, without scikit-learn's per-call cost.

ART's decision-based attacks ask one row at a time, thousands of times per
client, and two of the benchmark's models spend most of that time checking
their input: the Platt-calibrated RBF SVC (~7 ms a call: the kernel, the
one-vs-one vote and ten sigmoid calibrators, each validating its input) and
the random forest (~5 ms: fifty trees through joblib). :func:`answerer`
computes the same numbers from the fitted estimators' attributes (the tests
check them against ``predict_proba``); any other model keeps its own
``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

Proba = Callable[[np.ndarray], np.ndarray]
"""Inputs (n, n_features) -> class probabilities (n, n_classes)."""


def _ovr_votes(decisions: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's one-vs-rest view of one-vs-one decisions (pair (i, j), i < j, in order; positive
    for i): each class's votes plus its summed confidence squashed into (-1/3, 1/3)."""
    first, second = np.triu_indices(n_classes, 1)
    wins_first = (decisions >= 0).astype(float)
    votes = np.zeros((len(decisions), n_classes))
    confidence = np.zeros((len(decisions), n_classes))
    np.add.at(votes.T, first, wins_first.T)
    np.add.at(votes.T, second, 1.0 - wins_first.T)
    np.add.at(confidence.T, first, decisions.T)
    np.add.at(confidence.T, second, -decisions.T)
    return votes + confidence / (3 * (np.abs(confidence) + 1))


def _rbf_svc_decisions(svc: SVC) -> Callable[[np.ndarray], np.ndarray]:
    """An RBF SVC's one-vs-one decision function (libsvm's layout of ``dual_coef_``, as scikit-learn documents it)."""
    vectors, gamma = svc.support_vectors_, svc._gamma
    squared = (vectors**2).sum(axis=1)
    bounds = np.concatenate([[0], np.cumsum(svc.n_support_)])
    pairs = list(zip(*np.triu_indices(len(svc.classes_), 1)))

    def decisions(x: np.ndarray) -> np.ndarray:
        distances = np.maximum((x**2).sum(axis=1)[:, None] + squared[None] - 2.0 * x @ vectors.T, 0.0)
        kernel = np.exp(-gamma * distances)
        out = np.empty((len(x), len(pairs)))
        for k, (i, j) in enumerate(pairs):
            own_i, own_j = slice(bounds[i], bounds[i + 1]), slice(bounds[j], bounds[j + 1])
            out[:, k] = (
                kernel[:, own_i] @ svc.dual_coef_[j - 1, own_i] + kernel[:, own_j] @ svc.dual_coef_[i, own_j] + svc.intercept_[k]
            )
        return out

    return decisions


def _calibrated_svc(model: CalibratedClassifierCV) -> Proba:
    """A sigmoid-calibrated multi-class RBF SVC fitted with ``ensemble=False``."""
    calibrated = model.calibrated_classifiers_[0]
    decisions, n_classes = _rbf_svc_decisions(calibrated.estimator), len(model.classes_)
    a = np.array([c.a_ for c in calibrated.calibrators])
    b = np.array([c.b_ for c in calibrated.calibrators])

    def proba(x: np.ndarray) -> np.ndarray:
        scores = expit(-(a * _ovr_votes(decisions(np.asarray(x, dtype=float)), n_classes) + b))
        total = scores.sum(axis=1, keepdims=True)
        out = np.divide(scores, total, out=np.full_like(scores, 1.0 / n_classes), where=total != 0)
        out[(1.0 < out) & (out <= 1.0 + 1e-5)] = 1.0
        return out

    return proba


def _forest(model: RandomForestClassifier) -> Proba:
    """A random forest: the mean of its trees' leaf class fractions."""
    trees, n_classes = [tree.tree_ for tree in model.estimators_], model.n_classes_

    def proba(x: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(x, dtype=np.float32)
        return sum(tree.predict(rows)[:, :n_classes] for tree in trees) / len(trees)

    return proba


def answerer(model: object) -> Proba:
    """The fastest exact ``predict_proba`` of a fitted model: numpy for a calibrated RBF SVC (one fit,
    multi-class) and a single-output random forest, the model's own otherwise.

    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit(np.eye(3), [0, 1, 2])
    >>> answerer(model) == model.predict_proba
    True
    """
    if isinstance(model, RandomForestClassifier) and model.n_outputs_ == 1:
        return _forest(model)
    if (
        isinstance(model, CalibratedClassifierCV)
        and len(model.calibrated_classifiers_) == 1
        and model.calibrated_classifiers_[0].method == "sigmoid"
        and isinstance(model.calibrated_classifiers_[0].estimator, SVC)
        and model.calibrated_classifiers_[0].estimator.kernel == "rbf"
        and len(model.classes_) > 2
    ):
        return _calibrated_svc(model)
    return model.predict_proba
