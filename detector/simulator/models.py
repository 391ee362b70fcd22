"""The models the simulated clients query: small scikit-learn networks, answered in numpy.

Each model is a ``StandardScaler`` + one-hidden-layer ``MLPClassifier``
(32 ReLU units, L-BFGS, L2 penalty 1.0, fixed seed) trained once per process
on its dataset's training split (about 0.7 s for both). A non-linear model
keeps the attacks honest: decision boundaries are curved, gradients change
from point to point; the penalty keeps its confidences from saturating at
exactly 0 and 1 everywhere (held-out accuracy ~98% digits, ~97% breast cancer).

Attacks ask thousands of sequential questions, and scikit-learn's per-call
overhead (tens of microseconds) would dominate, so queries are answered by
:meth:`TargetModel.proba`, a numpy forward pass over the trained weights;
the tests check that it matches ``predict_proba``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from detector.simulator.datasets import Dataset, dataset

MODEL_DATASETS: dict[str, str] = {
    "digits-classifier:1": "digits",
    "breast-cancer:1": "breast-cancer",
}
"""model_id -> the dataset it was trained on."""

HIDDEN_UNITS = 32
TRAIN_SEED = 0


@dataclass(frozen=True, eq=False)
class TargetModel:
    """A trained model: its id, its data, the fitted pipeline and its weights for numpy."""

    model_id: str
    data: Dataset
    estimator: Pipeline
    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of a batch of inputs, shape (n, n_classes).

        >>> m = target_model("breast-cancer:1")
        >>> p = m.proba(m.data.x_held_out[:3])
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
        ((3, 2), True)
        """
        h = (np.atleast_2d(x) - self.mean) / self.scale
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = np.maximum(h @ w + b, 0.0)
        logits = h @ self.weights[-1] + self.biases[-1]
        if logits.shape[1] == 1:  # binary: one logistic output unit for class 1
            logits = np.hstack([np.zeros_like(logits), logits])
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@cache
def target_model(model_id: str) -> TargetModel:
    """Train (once per process) and return the model served under ``model_id``."""
    data = dataset(MODEL_DATASETS[model_id])
    estimator = make_pipeline(
        StandardScaler(),
        MLPClassifier((HIDDEN_UNITS,), solver="lbfgs", alpha=1.0, max_iter=400, random_state=TRAIN_SEED),
    )
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):  # BLAS threads slow small fits down ~15x
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(data.x_train, data.y_train)
    scaler, network = estimator[0], estimator[-1]
    return TargetModel(
        model_id=model_id,
        data=data,
        estimator=estimator,
        mean=scaler.mean_,
        scale=scaler.scale_,
        weights=tuple(network.coefs_),
        biases=tuple(network.intercepts_),
    )
