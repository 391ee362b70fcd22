"""The detection pipeline for one stream: event -> state -> features -> hits -> alert changes.

Sources, parsing and sinks stay outside: the pipeline takes valid events and
returns alert changes, so replay, the Kafka worker, tests and benchmarks all
drive the same code. It composes one stage per job, each the owner of its
state: the feature extractor (per-client windows and featurizer state, in the
client and model states of its store), the rule scorer (the rules in force
and their per-model thresholds), the anomaly scorer (one River model per
model_id) and the decider (the open alerts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.anomaly_model import WindowAnomalyModel
from detector.anomaly_scorer import AnomalyScorer
from detector.calibration import Calibration
from detector.decide import AlertChange, Decider, Lookup
from detector.event import InferenceEvent
from detector.evidence import Evidence, Series
from detector.group_ids import GroupIds
from detector.hit import Hit
from detector.model_bound import ModelBound
from detector.rule_scorer import RuleScorer
from detector.settings import Settings
from detector.threshold_policy import ThresholdPolicy
from featurizers.base import Featurizer, Observation
from featurizers.extractor import FeatureExtractor
from featurizers.state import ClientState, ModelState, StateStore
from rules import RuleSet


def observation(event: InferenceEvent, model: ModelState) -> Observation:
    """The featurizers' view of an event (labels mapped to per-model class indexes)."""
    scores = None if event.output.scores is None else np.asarray(event.output.scores, dtype=np.float32)
    return Observation(
        event_id=event.event_id,
        ts=event.ts,
        x=event.input_vector,
        scores=scores,
        label_class=model.class_of(event.output.label if scores is None else event.top_class),
        confidence=event.top_confidence,
    )


class Deferred(Mapping[str, float]):
    """A mapping computed on first use: the decider reads a window's features only for a new alert.

    >>> calls = []
    >>> d = Deferred(lambda: calls.append(1) or {"a": 1.0})
    >>> len(calls), d["a"], dict(d), len(calls)
    (0, 1.0, {'a': 1.0}, 1)
    """

    __slots__ = ("_compute", "_value")

    def __init__(self, compute: Callable[[], dict[str, float]]) -> None:
        self._compute = compute
        self._value: dict[str, float] | None = None

    def _get(self) -> dict[str, float]:
        if self._value is None:
            self._value = self._compute()
        return self._value

    def __getitem__(self, name: str) -> float:
        return self._get()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


@dataclass
class PipelineStats:
    events: int = 0
    duplicates: int = 0
    windows_scored: int = 0
    hits: Counter = field(default_factory=Counter)


class Pipeline:
    """Extract features, score them with the rules and the anomaly models, then decide."""

    def __init__(
        self,
        settings: Settings,
        ruleset: RuleSet,
        *,
        featurizers: Sequence[Featurizer] | None = None,
        lookup: Lookup | None = None,
        store: StateStore | None = None,
        anomaly_models: dict[str, WindowAnomalyModel] | None = None,
        calibration: Calibration | None = None,
        model_bound: ModelBound | None = None,
        groups: GroupIds | None = None,
    ) -> None:
        """``store`` and ``anomaly_models`` may be shared or split: the worker runs one pipeline per
        partition, each with its own client store, sharing per-model state and River models (and
        the ``model_bound`` that keeps them within ``max_models``) and the ``groups`` that name
        split attacks, whose members may sit in any partition."""
        self.settings = settings
        self.extractor = FeatureExtractor(featurizers)
        self.rules = RuleScorer(
            self.extractor,
            ThresholdPolicy(
                ruleset,
                calibration,
                online=settings.online_calibration,
                target_fpr=settings.calibration_target_fpr,
                warmup_clients=settings.calibration_warmup_clients,
                min_events=settings.calibration_min_events,
            ),
        )
        self.anomaly = AnomalyScorer(
            self.extractor.names,
            warmup=settings.model_warmup,
            quantile=settings.model_quantile,
            persistence=settings.model_persistence,
            models=anomaly_models,
        )
        self.store = store if store is not None else StateStore(settings.window, settings.max_clients, settings.idle_ttl_s)
        if calibration is not None:
            calibration.seed(self.store)
        self.decider = Decider(
            lookup=lookup,
            max_active=settings.max_clients,
            groups=groups if groups is not None else GroupIds(max_members=settings.max_clients),
        )
        self.model_bound = (
            model_bound
            if model_bound is not None
            else ModelBound(settings.max_models, self.store.models, self.anomaly.models)
        )
        self.stats = PipelineStats()

    def use_rules(self, ruleset: RuleSet, calibration: Calibration | None = None) -> None:
        """Put new rules and calibration in force (a SIGHUP reload): the next window scores with them (and
        models not seen yet start from the input distribution it learned)."""
        self.rules.use(ruleset, calibration)
        if calibration is not None:
            calibration.seed(self.store)

    def process(self, event: InferenceEvent) -> list[AlertChange]:
        """Feed one valid event; returns the alert changes it caused (usually none)."""
        due = self.take(event)
        if due is None:
            return []
        client, model = due
        # once per run of model_every events, whatever the phase of the scoring points
        with_anomaly = client.n_events % self.settings.model_every < self.settings.score_every
        return self.score(client, model, event.event_id, with_anomaly=with_anomaly)

    def take(self, event: InferenceEvent) -> tuple[ClientState, ModelState] | None:
        """Take one valid event into state, scoring nothing; its client and model when the client's
        window is due to be scored (every ``score_every`` of its events), else None."""
        self.model_bound.seen(event.model_id)
        model = self.store.model(event.model_id)
        client = self.store.touch(event.model_id, event.client_id, event.ts)
        if self.extractor.holds(client, event.event_id):
            self.stats.duplicates += 1
            return None
        self.stats.events += 1
        self.extractor.observe(observation(event, model), client, model)
        if client.events_since_scored < self.settings.score_every:
            return None
        client.events_since_scored = 0
        return client, model

    def credit_match(self, model_id: str, client_id: str, ts: float, exact: int, partners: set[str]) -> ClientState | None:
        """Matches of one of a client's inputs with other processes' clients (the fingerprint exchange),
        given to the cross-client features; the client when they took them (its window is then worth
        scoring again, :meth:`rescore`), else None (not held here, or the input left the window)."""
        client = self.store.clients.get((model_id, client_id))
        if client is None or not self.extractor.credit_match(client, ts, exact, partners):
            return None
        return client

    def rescore(self, client: ClientState) -> list[AlertChange]:
        """Score a client's window again with the rules, between its own events (after :meth:`credit_match`:
        its next event may be long in coming)."""
        model = self.store.models.get(client.model_id)
        if model is None:  # evicted meanwhile: its next event brings it back
            return []
        return self.score(client, model, client.recent_event_ids(1)[0], with_anomaly=False)

    def score(
        self, client: ClientState, model: ModelState, trigger_event_id: str, *, with_anomaly: bool = True
    ) -> list[AlertChange]:
        """Evaluate the rules, and the anomaly model if ``with_anomaly``, on the client's window and decide.

        Without the anomaly model only the features the rules read are computed, and all of them only
        when a new alert needs them: an alert always carries every feature of its window."""
        self.stats.windows_scored += 1
        features = self.extractor.features(client, model) if with_anomaly else self.rules.features(client, model)
        hits = self.rules.hits(features, client, model)
        if with_anomaly:
            anomaly = self.anomaly.score(client, features, flagged=bool(hits))
            if anomaly is not None:
                hits.append(anomaly)
        for hit in hits:
            self.stats.hits[hit.detector] += 1
        self.rules.learn(model, client, features, {hit.detector for hit in hits})
        self.extractor.settle(client, model, flagged=bool(hits))
        if not hits:
            return []
        window_features = features if with_anomaly else Deferred(lambda: self.extractor.features(client, model))
        return self.decider.decide(
            hits, client, window_features, trigger_event_id, evidence=lambda hit: self.evidence(client, model, hit)
        )

    def evidence(self, client: ClientState, model: ModelState, hit: Hit) -> Evidence:
        """Per-query series of the client's window from every featurizer that keeps some,
        and the query times of the other clients a group alert names."""
        series = {
            name: Series(t=times.tolist(), y=values.tolist())
            for name, (times, values) in self.extractor.series(client, model).items()
        }
        group = {}
        for other in hit.related_clients:
            state = self.store.clients.get((client.model_id, other))
            if state is not None:
                group[other] = state.ts.ordered().tolist()
        return Evidence(series=series, group=group)
