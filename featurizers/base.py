"""The featurizer interface every feature family implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from featurizers.state import ClientState, ModelState

TRUSTED_AFTER = 64
"""Events a client sends, no detector firing, before it may teach per-model state. Most attacks are alerted
within their first 64 queries (the benchmarks' medians are 16-34), so few attackers teach the model what normal
looks like even where attacking keys are many: on the benchmarks' timelines, as many as benign ones, attackers
not yet flagged had taught the learned input distribution that blinded and covered extraction is normal."""


@dataclass(frozen=True, slots=True)
class Observation:
    """The parts of one event featurizers use (no dependency on the wire contract).

    ``x`` is the raw input (float32) or None; ``scores`` the per-class
    confidences or None; ``label_class`` the returned label mapped to a class
    index (-1 when unknown); ``confidence`` the top-1 confidence or None.
    """

    event_id: str
    ts: float
    x: np.ndarray | None
    scores: np.ndarray | None
    label_class: int
    confidence: float | None


class Featurizer(ABC):
    """One family of features.

    ``observe`` runs once per event, after the event was appended to the
    client's state: it does the cheap incremental work (one distance row, one
    counter update) and keeps what it needs in ``client.slots[self.name]``,
    bounded by the client's window. ``compute`` turns that state into named
    features; the pipeline calls it only when the client is scored. Both must be
    deterministic and must not keep references to the caller's arrays.
    """

    name: str = ""
    FEATURES: dict[str, str] = {}
    """Feature name -> what it measures, its unit and why it matters."""
    trusted_after: int = TRUSTED_AFTER
    """Events a client sends before a featurizer holds back anything of it to teach per-model state (released
    at :meth:`settle` if no detector fired). ``calibrate`` sets 0: its sample is the deployment's normal
    traffic."""

    @abstractmethod
    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        """Update per-client (and per-model shared) state with one event."""

    @abstractmethod
    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        """Features of the client's current window; every key is in ``FEATURES``."""

    def compute_some(self, client: ClientState, model: ModelState, names: AbstractSet[str]) -> dict[str, float]:
        """At least the features in ``names`` (extra ones are fine) of the client's current window,
        for a caller that needs only those (the pipeline's rules between model windows). All of
        :meth:`compute` by default; a featurizer with a costly group of features overrides it to
        skip that group when none of it is asked for."""
        return self.compute(client, model)

    def trusted(self, client: ClientState) -> bool:
        """Whether the client has sent ``trusted_after`` events (one a detector flagged never teaches anyway)."""
        return client.n_events >= self.trusted_after

    def settle(self, client: ClientState, model: ModelState, flagged: bool) -> None:
        """After each scored window of the client: whether any detector fired on it. A featurizer that
        teaches per-model state from clients' inputs holds them back until here and drops them when
        ``flagged``, so that a client a detector flagged never moves what "normal" is. Nothing by default."""

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-query series of the window worth plotting as evidence: name -> (event times, values),
        oldest first. Called only when an alert is raised; none by default."""
        return {}

    def related_clients(self, client: ClientState, model: ModelState, limit: int = 50) -> list[str]:
        """Other clients this featurizer links to ``client`` (a split attack's group); none by default."""
        return []

    def credit_match(self, client: ClientState, ts: float, exact: int, partners: set[str]) -> bool:
        """Matches of the client's input (sent at ``ts``, exact-input hash ``exact``) with ``partners``,
        found outside this process (the fingerprint exchange); whether the featurizer took them. None
        taken by default."""
        return False
