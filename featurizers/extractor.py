"""The per-event feature steps in one place: an event into a client's and its model's state, and features out.

Replay, the worker, the featurizer tests and the benchmarks all take the same
steps through a :class:`FeatureExtractor`, so the order they depend on is
written once: a redelivered event is recognised by its id (:meth:`holds`);
a new one is appended to the client's window, every featurizer observes it in
registry order (a featurizer may read what an earlier one keeps), and an
input unlike the client's earlier ones teaches the model its input scale
(:func:`featurizers.gradient_walk.novel_input`; every input when no gradient
walk runs), each client's first ``SETTLE_SHARE`` of them also towards settling it.

>>> from featurizers.state import StateStore
>>> store, extractor = StateStore(window=8), FeatureExtractor()
>>> model = store.model("m")
>>> for i in range(4):
...     client = store.touch("m", "c", float(i))
...     x = np.array([float(i), 1.0], dtype=np.float32)
...     extractor.observe(Observation(f"e{i}", float(i), x, None, -1, None), client, model)
>>> extractor.holds(client, "e3"), extractor.holds(client, "e4")
(True, False)
>>> features = extractor.features(client, model)
>>> features["events_total"], set(extractor.features_for(client, model, {"events_total"})) < set(features)
(4.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.gradient_walk import novel_input
from featurizers.input_scale import SETTLE_SHARE
from featurizers.registry import default_featurizers
from featurizers.state import ClientState, ModelState


class FeatureExtractor:
    """The featurizers (the default ones unless given) and the steps that feed and read them."""

    def __init__(self, featurizers: Sequence[Featurizer] | None = None) -> None:
        self.featurizers = list(featurizers) if featurizers is not None else default_featurizers()
        self.names: frozenset[str] = frozenset(name for f in self.featurizers for name in f.FEATURES)
        """Every feature the featurizers compute."""
        self.settling = [f for f in self.featurizers if type(f).settle is not Featurizer.settle]
        """The featurizers that act on :meth:`settle` (it runs after every scored window)."""

    def holds(self, client: ClientState, event_id: str) -> bool:
        """Whether the client's window already holds this event: a redelivery, not to be counted twice."""
        return event_id in client.event_ids

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        """Take one new event into the client's window, every featurizer's state and the model's inputs."""
        client.append(obs.event_id, obs.ts, obs.x)
        model.observed += 1
        for featurizer in self.featurizers:
            featurizer.observe(obs, client, model)
        if obs.x is not None and novel_input(client):
            counts = client.taught < SETTLE_SHARE
            client.taught += counts
            model.observe_input(obs.x, counts)

    def features(self, client: ClientState, model: ModelState) -> dict[str, float]:
        """Every feature of the client's current window."""
        merged: dict[str, float] = {}
        for featurizer in self.featurizers:
            merged.update(featurizer.compute(client, model))
        return merged

    def featurizers_for(self, names: AbstractSet[str]) -> list[Featurizer]:
        """The featurizers that compute any of ``names``, in registry order."""
        return [f for f in self.featurizers if f.FEATURES.keys() & names]

    def features_for(self, client: ClientState, model: ModelState, names: AbstractSet[str]) -> dict[str, float]:
        """At least the features in ``names`` of the client's current window (and some more): only the
        featurizers that compute them run, each skipping what it can (:meth:`Featurizer.compute_some`)."""
        merged: dict[str, float] = {}
        for featurizer in self.featurizers_for(names):
            merged.update(featurizer.compute_some(client, model, names))
        return merged

    def settle(self, client: ClientState, model: ModelState, flagged: bool) -> None:
        """Tell every featurizer whether a detector fired on the client's scored window (:meth:`Featurizer.settle`)."""
        for featurizer in self.settling:
            featurizer.settle(client, model, flagged)

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every featurizer's per-query series of the client's window (name -> times, values), for evidence."""
        merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for featurizer in self.featurizers:
            merged.update(featurizer.series(client, model))
        return merged

    def credit_match(self, client: ClientState, ts: float, exact: int, partners: set[str]) -> bool:
        """Give every featurizer the matches found elsewhere for one of the client's inputs; whether any took them."""
        taken = [f.credit_match(client, ts, exact, partners) for f in self.featurizers]
        return any(taken)

    def related_clients(self, client: ClientState, model: ModelState, fired: AbstractSet[str]) -> tuple[str, ...]:
        """Other clients named by the group-aware featurizers whose features in ``fired`` fired, in order."""
        related: list[str] = []
        for featurizer in self.featurizers_for(fired):
            related.extend(featurizer.related_clients(client, model))
        return tuple(dict.fromkeys(related))
