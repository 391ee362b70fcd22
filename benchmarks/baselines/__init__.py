"""Published stateful detectors, re-implemented as baselines to compare ours with on the same events.

- :class:`StatefulDetection` (Chen, Carlini and Wagner 2020): per client, the
  mean L2 distance of each query to its 50 nearest among the client's last
  1,000 distinct queries; flag when small.
- :class:`Prada` (Juuti et al. 2019): per client, the Shapiro-Wilk normality
  of the minimum distances of its queries to its earlier ones of the same
  predicted class; flag when not normal.
- :class:`Blacklight` (Li et al. 2022): hashes of quantized windows of every
  input in one table across clients; flag a client whose queries match
  earlier ones too often.

Each one has the small interface :class:`Baseline`: ``fit`` sets its
thresholds per model on benign-only events at a client-level
false-positive rate, ``run`` reports each client's first flagged query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from benchmarks.baselines.blacklight import Blacklight
from benchmarks.baselines.prada import Prada
from benchmarks.baselines.queries import Key, read_events
from benchmarks.baselines.stateful_detection import StatefulDetection


class Baseline(Protocol):
    """A detector calibrated on benign traffic and run over a timeline of events."""

    name: str
    cross_client: bool
    """Whether a client's flags depend on other clients' events (a shared table), or only on its own."""

    def fit(self, events: Iterable[Mapping], target_fpr: float) -> None:
        """Set thresholds (per ``model_id``) so that ``target_fpr`` of the benign clients in ``events`` are flagged."""

    def run(self, events: Iterable[Mapping]) -> dict[Key, int | None]:
        """Each (model_id, client_id) of ``events``: the index of its first flagged query among its events, or None."""


BASELINES: dict[str, Callable[[], Baseline]] = {
    StatefulDetection.name: StatefulDetection,
    Prada.name: Prada,
    Blacklight.name: Blacklight,
}
"""Every baseline by name, with the papers' parameters."""

__all__ = ["BASELINES", "Baseline", "Blacklight", "Key", "Prada", "StatefulDetection", "read_events"]
