"""The models the real-attack benchmark attacks, and the logging layer between ART and them.

Four small scikit-learn models on the two datasets bundled with scikit-learn
(the simulator's splits, every feature min-max scaled to [0, 1] so one
``clip_values`` fits all): an MLP and an RBF SVC (Platt-calibrated) on digits (64 pixels, 10
classes), a logistic regression and a random forest on breast cancer (30
measurements, 2 classes). The random forest answers piecewise-constant
scores, on which finite-difference attacks see no gradient: real models are
not all smooth.

ART never touches a model directly. It holds a :class:`LoggedModel` (an
scikit-learn classifier that forwards to the real one) inside ART's own
``ScikitlearnClassifier``; every ``predict`` call goes through an
:class:`Endpoint`, which puts the attacker's variant disguise on it (probe
noise, blinded copies, cover queries: ``detector.simulator.variants``, the
same code the simulator's attackers use), serves the rows actually sent,
records them in the attacker's :class:`QueryLog` as the simulator's served
chunks ``(gaps, inputs, answers)`` (so the events are written exactly as
the simulator writes its own), and hands ART the answers the disguise makes
of them: the attack runs on what it really got back. An attack that needs class
gradients gets :class:`FiniteDifferenceClassifier`, whose gradients are
central differences computed through the logged ``predict``: every probe a
black-box attacker would send is in the log.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from art.estimators.classification import BlackBoxClassifierNeuralNetwork
from art.estimators.classification.classifier import ClassGradientsMixin
from art.estimators.classification.scikitlearn import ScikitlearnClassifier
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from benchmarks.art_answers import Proba, answerer
from detector.simulator.api import Answers
from detector.simulator.datasets import Dataset, dataset
from detector.simulator.traffic import Cadence, Served
from detector.simulator.variants import Disguise

CLIP = (0.0, 1.0)
"""Every model's input range."""


def unit_scaled(data: Dataset) -> Dataset:
    """The dataset with every feature min-max scaled to [0, 1] (same split, same samples).

    >>> d = unit_scaled(dataset("breast-cancer"))
    >>> float(d.x_all.min()), float(d.x_all.max()), d.lo.tolist() == [0.0] * 30
    (0.0, 1.0, True)
    """
    lo, span = data.lo, data.span

    def scale(x: np.ndarray) -> np.ndarray:
        return np.clip((x - lo) / span, *CLIP)

    return Dataset(
        name=data.name,
        x_train=scale(data.x_train),
        y_train=data.y_train,
        x_held_out=scale(data.x_held_out),
        y_held_out=data.y_held_out,
        lo=np.zeros_like(lo),
        hi=np.ones_like(lo),
        n_classes=data.n_classes,
        image_shape=data.image_shape,
    )


@dataclass(frozen=True, eq=False)
class Target:
    """A trained model served under ``model_id``, the data it was trained on, and its ``predict_proba``
    as the API computes it (:func:`benchmarks.art_answers.answerer`)."""

    model_id: str
    data: Dataset
    model: ClassifierMixin
    proba: Proba

    @property
    def accuracy(self) -> float:
        """Held-out accuracy."""
        return float((self.model.predict(self.data.x_held_out) == self.data.y_held_out).mean())


MODELS: dict[str, tuple[str, object]] = {
    "art-digits-mlp:1": ("digits", lambda: MLPClassifier((64,), max_iter=1000, random_state=0)),
    "art-digits-svc:1": ("digits", lambda: CalibratedClassifierCV(SVC(), ensemble=False)),
    "art-cancer-logreg:1": ("breast-cancer", lambda: LogisticRegression(max_iter=1000)),
    "art-cancer-forest:1": ("breast-cancer", lambda: RandomForestClassifier(50, random_state=0)),
}
"""model_id -> (dataset, a factory of the untrained scikit-learn model)."""


@cache
def target(model_id: str) -> Target:
    """Train (once per process) the model served as ``model_id``.

    >>> t = target("art-cancer-logreg:1")
    >>> t.data.n_features, t.accuracy > 0.9
    (30, True)
    """
    name, make = MODELS[model_id]
    data = unit_scaled(dataset(name))
    model = make()
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.x_train, data.y_train)
    return Target(model_id, data, model, answerer(model))


@dataclass(frozen=True)
class Endpoint:
    """A model behind an API of one style (every class score, or ``top1``: only the top label and its
    confidence), as one client reaches it: through its variant's ``disguise``, if any."""

    target: Target
    top1: bool = False
    disguise: Disguise | None = None

    def answer(self, x: np.ndarray) -> Answers:
        """Serve a batch of flat inputs (n, n_features), as the simulator's ``ModelAPI`` does."""
        scores = self.target.proba(x)
        labels = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), labels]
        return Answers(None if self.top1 else scores, labels, confidence, scores.shape[1])

    def query(self, x: np.ndarray, log: QueryLog) -> Answers:
        """One ``predict`` call of the attack: disguise its rows, serve and log what is sent, and return
        the answers the attack gets (also kept in ``log.seen``).

        >>> from detector.simulator.variants import Blinded
        >>> t = target("art-cancer-logreg:1")
        >>> endpoint = Endpoint(t, disguise=Blinded(t.data, 3, 0.0, 0.02, 0.005, np.random.default_rng(0)))
        >>> log = QueryLog(Cadence(0.1, 0.3), 0.005, 1000, np.random.default_rng(0))
        >>> seen = endpoint.query(t.data.x_held_out[:2], log)
        >>> len(seen), log.n_queries  # two probes, each sent as three blinded copies
        (2, 6)
        """
        sent, reduce = (x, None) if self.disguise is None else self.disguise(x)
        answers = self.answer(sent)
        log.record(sent, answers)
        seen = answers if reduce is None else reduce(answers)
        log.seen.append(seen)
        return seen


class QueryBudgetSpent(Exception):
    """The attacker has sent its query budget; the attack stops where it is."""


@dataclass
class QueryLog:
    """One client's served queries, timed.

    A ``predict`` call is sent as requests of at most ``max_rows`` rows (an
    API's batch limit). Each request waits a gap drawn from ``between_calls``
    after the previous one, then its rows are served ``row_s`` apart (rows of
    a batch get nearly the same time). Once ``budget`` rows are served the
    next request raises :class:`QueryBudgetSpent`. ``seen`` holds the answers
    the attack got back (after its variant's disguise), one per call.

    >>> log = QueryLog(Cadence(0.1, 0.3), 0.005, 250, np.random.default_rng(0), max_rows=100)
    >>> endpoint = Endpoint(target("art-cancer-logreg:1"))
    >>> log.record(np.zeros((230, 30)), endpoint.answer(np.zeros((230, 30))))
    >>> log.n_queries, log.requests, log.chunks[0][0][1:3].tolist()
    (230, 3, [0.005, 0.005])
    >>> log.record(np.zeros((30, 30)), endpoint.answer(np.zeros((30, 30))))
    >>> log.record(np.zeros((1, 30)), endpoint.answer(np.zeros((1, 30))))
    Traceback (most recent call last):
    benchmarks.art_targets.QueryBudgetSpent
    """

    between_calls: Cadence
    row_s: float
    budget: int
    rng: np.random.Generator
    max_rows: int = 100
    chunks: list[Served] = field(default_factory=list)
    seen: list[Answers] = field(default_factory=list)
    n_queries: int = 0

    @property
    def requests(self) -> int:
        """Requests served so far."""
        return len(self.chunks)

    def record(self, inputs: np.ndarray, answers: Answers) -> None:
        """Serve one ``predict`` call's rows as requests; raises once the budget is spent."""
        for start in range(0, len(inputs), self.max_rows):
            if self.n_queries >= self.budget:
                raise QueryBudgetSpent
            rows = np.arange(start, min(start + self.max_rows, len(inputs)))
            gaps = np.full(len(rows), self.row_s)
            gaps[0] = self.between_calls.gaps(self.rng, 1)[0]
            self.chunks.append((gaps, np.array(inputs[rows], dtype=np.float64), answers.take(rows)))
            self.n_queries += len(rows)


class LoggedModel(ClassifierMixin, BaseEstimator):
    """An scikit-learn classifier that answers through ``endpoint`` and logs every row.

    From a top-1 endpoint the caller gets what such an API tells: the label's confidence, and the rest
    shared by the other classes (:meth:`Answers.estimates`; the top class is the label).
    """

    def __init__(self, endpoint: Endpoint, log: QueryLog) -> None:
        self.endpoint = endpoint
        self.log = log
        self.classes_ = np.arange(endpoint.target.data.n_classes)
        self.n_features_in_ = endpoint.target.data.n_features

    def fit(self, x: np.ndarray, y: np.ndarray) -> LoggedModel:
        raise TypeError("the attacked model is trained already")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return self.endpoint.query(flat, self.log).estimates()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


class FiniteDifferenceClassifier(ClassGradientsMixin, ScikitlearnClassifier):
    """ART's scikit-learn classifier with class gradients estimated by central differences
    ``(f(x + h e_i) - f(x - h e_i)) / 2h`` (clipped to the input range), all ``2 d`` probes of
    a row in one logged ``predict`` call, as a black-box attacker must."""

    def __init__(self, model: LoggedModel, step: float = 0.01) -> None:
        super().__init__(model=model, clip_values=CLIP)
        self.step = step

    def class_gradient(self, x: np.ndarray, label: int | list[int] | np.ndarray | None = None, **kwargs) -> np.ndarray:
        rows = x.reshape(len(x), -1)
        d = rows.shape[1]
        if label is None:
            classes = np.tile(np.arange(self.nb_classes), (len(rows), 1))
        else:
            classes = np.broadcast_to(np.asarray(label, dtype=int), (len(rows),))[:, None]
        gradients = []
        for row, wanted in zip(rows, classes):
            plus = np.clip(row + self.step * np.eye(d), *CLIP)
            minus = np.clip(row - self.step * np.eye(d), *CLIP)
            scores = self.predict(np.vstack([plus, minus]))
            width = np.maximum((plus - minus).diagonal(), 1e-12)
            gradients.append(((scores[:d, wanted] - scores[d:, wanted]) / width[:, None]).T)
        return np.stack(gradients).reshape((len(x), -1, *self.input_shape))


def classifier(endpoint: Endpoint, log: QueryLog) -> ScikitlearnClassifier:
    """ART's generic scikit-learn classifier over the logged model."""
    return ScikitlearnClassifier(LoggedModel(endpoint, log), clip_values=CLIP)


def gradient_classifier(endpoint: Endpoint, log: QueryLog, step: float) -> FiniteDifferenceClassifier:
    """A classifier with finite-difference class gradients through the logged model."""
    return FiniteDifferenceClassifier(LoggedModel(endpoint, log), step)


def image_classifier(endpoint: Endpoint, log: QueryLog) -> BlackBoxClassifierNeuralNetwork:
    """The logged model as ART's black-box image network (1 channel first), for attacks that need image shapes."""
    shape = endpoint.target.data.image_shape
    if shape is None:
        raise ValueError(f"{endpoint.target.model_id} is not an image model")
    return BlackBoxClassifierNeuralNetwork(
        LoggedModel(endpoint, log).predict_proba,
        (1, *shape),
        endpoint.target.data.n_classes,
        channels_first=True,
        clip_values=CLIP,
    )
