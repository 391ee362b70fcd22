"""What a model API answers, as the client sees it and as it is logged.

Two API styles exist: the usual one returns every class score and the
label; a *top-1* API returns only the label and its confidence (a common
hardening against extraction and inversion). Clients receive full-precision
numbers; the log rounds them (and the inputs) to six significant digits to
keep files small.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from detector.simulator.models import TargetModel

SIGNIFICANT_DIGITS = 6


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round every element to ``digits`` significant digits (below 1e-17 the magnitude rounds to 0).

    >>> round_significant(np.array([3.14159265, -0.000123456789, 0.0, 1234.56789])).tolist()
    [3.14159, -0.000123457, 0.0, 1234.57]
    """
    magnitude = np.floor(np.log10(np.abs(values), out=np.zeros_like(values), where=values != 0))
    scale = 10.0 ** np.minimum(digits - 1 - magnitude, 22)  # powers of ten up to 1e22 are exact doubles
    return np.round(values * scale) / scale


@dataclass(frozen=True)
class Answers:
    """The API's answers to a batch of queries.

    ``scores`` is (n, n_classes), or None from a top-1 API; ``labels`` and
    ``confidence`` are the top class and its score.
    """

    scores: np.ndarray | None
    labels: np.ndarray
    confidence: np.ndarray
    n_classes: int

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray) -> "Answers":
        """The answers of some rows (an index array or a boolean mask)."""
        return Answers(
            None if self.scores is None else self.scores[rows], self.labels[rows], self.confidence[rows], self.n_classes
        )

    def class_score(self, cls: int) -> np.ndarray:
        """What the client knows of class ``cls``'s confidence for each query.

        From a top-1 API it is the returned confidence when the label is
        ``cls``, else the mass left over shared evenly by the other classes:
        an attacker's best estimate that still rises as the top class weakens.

        >>> a = Answers(None, np.array([2, 0]), np.array([0.9, 0.7]), n_classes=4)
        >>> a.class_score(2).round(3).tolist()
        [0.9, 0.1]
        """
        if self.scores is not None:
            return self.scores[:, cls]
        return np.where(self.labels == cls, self.confidence, (1.0 - self.confidence) / (self.n_classes - 1))

    def estimates(self) -> np.ndarray:
        """What the client knows of every class score, (n, n_classes): the scores, or from a top-1 API
        :meth:`class_score` of every class.

        >>> Answers(None, np.array([1]), np.array([0.8]), n_classes=3).estimates().round(2).tolist()
        [[0.1, 0.8, 0.1]]
        """
        if self.scores is not None:
            return self.scores
        return np.stack([self.class_score(cls) for cls in range(self.n_classes)], axis=1)

    def logged(self, n: int) -> Iterator[dict[str, object]]:
        """The ``output`` objects of the first ``n`` answers as the log records them."""
        labels = self.labels[:n].tolist()
        if self.scores is None:
            confidence = round_significant(self.confidence[:n]).tolist()
            yield from ({"label": label, "confidence": c} for label, c in zip(labels, confidence))
            return
        scores = round_significant(self.scores[:n])
        for row, label in zip(scores, labels):
            yield {"scores": row.tolist(), "label": label}


@dataclass(frozen=True)
class ModelAPI:
    """A model behind an API of one style."""

    model: TargetModel
    top1: bool = False

    def answer(self, x: np.ndarray) -> Answers:
        """Serve a batch of queries (n, n_features).

        >>> from detector.simulator.models import target_model
        >>> api = ModelAPI(target_model("digits-classifier:1"), top1=True)
        >>> a = api.answer(api.model.data.x_held_out[:2])
        >>> a.scores is None, a.labels.tolist() == api.model.data.y_held_out[:2].tolist()
        (True, True)
        """
        scores = self.model.proba(x)
        labels = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), labels]
        return Answers(None if self.top1 else scores, labels, confidence, scores.shape[1])
