"""Score a client's window with its model's River anomaly detector, and raise a hit on a persistent anomaly.

One :class:`~detector.anomaly_model.WindowAnomalyModel` per ``model_id``
(made on the model's first window, shared by every pipeline of a process)
scores a window's features before it learns from them. A single unusual
window is not an alert: only ``persistence`` anomalous windows in a row of a
full window are (the run is kept in the client's state, so it moves with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from detector.anomaly_model import WindowAnomalyModel
from detector.hit import Hit
from featurizers.state import ClientState

ANOMALY_EXCLUDED_FEATURES = frozenset(
    {"events_total", "distinct_queries_total", "target_class", "sign_steps", "sign_step_frac", "training_near_frac",
     "off_scatter_cusum"}
)  # fmt: skip
"""Identifiers and counters that say nothing about normality on their own (they grow with a client's age), and the
sign-step, training-record and scattered-query features: zero for nearly every benign client, so that once
standardised a single chance match would stand out (their rules read them with a threshold set from benign
traffic)."""

ANOMALY_SEVERITY = "low"
ANOMALY_SUPPRESS_S = 3600.0


class AnomalyScorer:
    """The anomaly models (``models``: model_id -> model, a dict that may be shared) over the given features
    but those in :data:`ANOMALY_EXCLUDED_FEATURES`."""

    def __init__(
        self,
        features: Iterable[str],
        *,
        warmup: int,
        quantile: float,
        persistence: int,
        models: dict[str, WindowAnomalyModel] | None = None,
    ) -> None:
        self.features = sorted(set(features) - ANOMALY_EXCLUDED_FEATURES)
        self.warmup = warmup
        self.quantile = quantile
        self.persistence = persistence
        self.models: dict[str, WindowAnomalyModel] = {} if models is None else models

    def score(self, client: ClientState, features: Mapping[str, float], *, flagged: bool) -> Hit | None:
        """Score the client's window (every feature of it) and learn from it unless ``flagged`` (by a rule)
        or anomalous; a hit when the client's run of anomalous windows reaches ``persistence``."""
        verdict = self.model(client.model_id).score_and_learn(features, flagged=flagged)
        client.anomalous_run = client.anomalous_run + 1 if verdict.anomalous else 0
        # Only full windows: a client's first few queries say too little to call it unusual.
        if client.anomalous_run < self.persistence or client.n_events < client.window:
            return None
        return Hit(
            detector=f"model:{WindowAnomalyModel.name}",
            severity=ANOMALY_SEVERITY,
            score=verdict.score,
            reasons=verdict.contributors,
            description=f"{client.anomalous_run} windows in a row unlike this model's usual clients "
            f"(anomaly score {verdict.score:.2f} >= {verdict.threshold:.2f})",
            suppress_for_s=ANOMALY_SUPPRESS_S,
        )

    def model(self, model_id: str) -> WindowAnomalyModel:
        """The model's anomaly model, made on first use."""
        found = self.models.get(model_id)
        if found is None:
            found = self.models[model_id] = WindowAnomalyModel(self.features, warmup=self.warmup, quantile=self.quantile)
        return found
