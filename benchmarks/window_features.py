"""Features of clients' windows at their last event, to see why an attacker was missed.

A second pass over a replay file through a fresh :class:`Pipeline` (the
same featurizers, no alert store, no scoring: :meth:`Pipeline.take`): when an
event is the last one of a client asked for, the client's features are taken
with its feature extractor. Comparing a missed attacker's values with the
benign clients' spread shows which features separate it and how far each
rule threshold is from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from detector.assembly import load_ruleset
from detector.parse import DeadLetter, parse
from detector.pipeline import Pipeline
from detector.settings import Settings

Key = tuple[str, str]
"""(model_id, client_id)."""


def features_at_end(events_path: Path, last_event: Mapping[Key, str], settings: Settings) -> dict[Key, dict[str, float]]:
    """Each asked client's features right after its last event (``last_event``: client -> its last event id)."""
    pipeline = Pipeline(settings, load_ruleset(settings))
    wanted = {event_id: key for key, event_id in last_event.items()}
    found: dict[Key, dict[str, float]] = {}
    with open(events_path, "rb") as lines:
        for line in lines:
            event = parse(line)
            if isinstance(event, DeadLetter):
                continue
            pipeline.take(event)  # features only where asked: every event observed, none scored
            key = wanted.get(event.event_id)
            if key is not None:
                state = pipeline.store.clients[key]
                found[key] = pipeline.extractor.features(state, pipeline.store.model(key[0]))
    return found


def percentiles(rows: Iterable[Mapping[str, float]], names: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """Per feature, the 1st, 50th and 99th percentile over ``rows`` (NaN-free values only).

    >>> percentiles([{"a": float(v)} for v in range(101)], ["a"])
    {'a': (1.0, 50.0, 99.0)}
    """
    rows = list(rows)
    out = {}
    for name in names:
        values = np.array([row[name] for row in rows if name in row and np.isfinite(row[name])])
        if len(values):
            low, mid, high = np.percentile(values, [1, 50, 99])
            out[name] = (float(low), float(mid), float(high))
    return out
