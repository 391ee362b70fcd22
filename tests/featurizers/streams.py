"""Replaying hand-made query sequences through featurizers the way the pipeline does, and the sequences.

:class:`Replay` touches the client and hands each query to the same
:class:`featurizers.extractor.FeatureExtractor` the pipeline uses, without
the rest of the pipeline, so featurizer tests stay fast and pure.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.extractor import FeatureExtractor
from featurizers.state import ClientState, ModelState, StateStore


@dataclass(frozen=True)
class Query:
    """One event as a test describes it (any part may be missing, as in the contract)."""

    client_id: str
    ts: float
    x: np.ndarray | None = None
    scores: np.ndarray | None = None
    label: int | str | None = None
    confidence: float | None = None
    model_id: str = "m"


class Replay:
    """Featurizers plus a state store, fed one :class:`Query` at a time."""

    def __init__(self, featurizers: Sequence[Featurizer], store: StateStore | None = None) -> None:
        self.extractor = FeatureExtractor(featurizers)
        self.store = store if store is not None else StateStore(window=64)
        self.clock = 0.0

    @property
    def featurizers(self) -> list[Featurizer]:
        return self.extractor.featurizers

    def model(self, model_id: str = "m") -> ModelState:
        return self.store.model(model_id)

    def client(self, client_id: str, model_id: str = "m") -> ClientState:
        return self.store.clients[(model_id, client_id)]

    def observation(self, query: Query, model: ModelState) -> Observation:
        """The featurizers' view of a query, as the pipeline builds it."""
        scores = None if query.scores is None else np.asarray(query.scores, dtype=np.float32)
        top = int(np.argmax(scores)) if scores is not None else query.label
        confidence = float(scores.max()) if scores is not None else query.confidence
        x = None if query.x is None else np.asarray(query.x, dtype=np.float32)
        return Observation(f"{query.client_id}-{query.ts}", query.ts, x, scores, model.class_of(top), confidence)

    def send(self, query: Query, *, flagged: bool = False) -> ClientState:
        """Take one query, then settle the client as a scored window would (``flagged``: a detector fired)."""
        model = self.store.model(query.model_id)
        client = self.store.touch(query.model_id, query.client_id, query.ts)
        self.extractor.observe(self.observation(query, model), client, model)
        self.extractor.settle(client, model, flagged)
        return client

    def send_all(self, queries: Iterable[Query]) -> None:
        for query in queries:
            self.send(query)

    def inputs(self, client_id: str, xs: Iterable[np.ndarray], scores: Iterable[np.ndarray] | None = None) -> None:
        """Send inputs (and optionally scores) from one client, one second apart after the clock."""
        for x, s in zip(xs, scores if scores is not None else itertools.repeat(None)):
            self.clock += 1.0
            self.send(Query(client_id, self.clock, x=x, scores=s))

    def features(self, client_id: str, model_id: str = "m") -> dict[str, float]:
        return self.extractor.features(self.client(client_id, model_id), self.model(model_id))


def population(replay: Replay, rng: np.random.Generator, dim: int, n: int = 400, scale: float = 1.0) -> None:
    """Teach the model what its other clients' inputs look like (standard normal times ``scale``)."""
    model = replay.model()
    for x in (rng.standard_normal((n, dim)) * scale).astype(np.float32):
        model.observe_input(x)


# -- query sequences ------------------------------------------------------------------------------


def coordinate_walk(rng: np.random.Generator, dim: int, steps: int, h: float = 0.01, pairs: int = 8) -> np.ndarray:
    """MI-Face / ZOO: per step, central differences ``c +- h*e_i`` on ``pairs`` coordinates, then move ``c``."""
    centre, eye, out = rng.standard_normal(dim), np.eye(dim), []
    for step in range(steps):
        for i in rng.choice(dim, size=pairs, replace=False):
            out += [centre + h * eye[i], centre - h * eye[i]]
        centre = centre + 0.05 * rng.standard_normal(dim)
    return np.array(out)


def direction_walk(rng: np.random.Generator, dim: int, steps: int, h: float = 0.02, pairs: int = 6) -> np.ndarray:
    """Random-direction finite differences that query the centre first (``c``, then ``c +- h*u``)."""
    centre, out = rng.standard_normal(dim), []
    for step in range(steps):
        out.append(centre)
        for _ in range(pairs):
            u = rng.standard_normal(dim)
            u *= h * np.sqrt(dim) / np.linalg.norm(u)
            out += [centre + u, centre - u]
        centre = centre + 0.05 * rng.standard_normal(dim)
    return np.array(out)


def benign(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Distinct inputs from the model's distribution (a batch job)."""
    return rng.standard_normal((n, dim))


def video(rng: np.random.Generator, n: int, dim: int, shift: float = 0.03) -> np.ndarray:
    """Consecutive frames: every coordinate moves a little each time."""
    return rng.standard_normal(dim) + np.cumsum(shift * rng.standard_normal((n, dim)), axis=0)


def climbing_scores(n: int, classes: int, target: int, rng: np.random.Generator) -> np.ndarray:
    """Scores whose ``target`` class climbs from ~1/classes to ~0.9 with a little probe noise."""
    out = []
    for p in np.linspace(0.0, 1.0, n):
        s = np.full(classes, (1.0 - 0.9 * p) / classes) + 0.03 * rng.random(classes) / classes
        s[target] += 0.9 * p
        out.append(s / s.sum())
    return np.array(out)


def random_scores(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """Unrelated outputs, as for distinct real inputs."""
    return rng.dirichlet(np.full(classes, 0.3), size=n)
