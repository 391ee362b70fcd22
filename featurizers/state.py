"""Per-(model_id, client_id) state and its bounded store, plus per-model context.

Per-model state (:class:`ModelState`) is what every client of a model shares; what of it is settled,
shared across workers or kept per process is written down in the README's "Architecture" section.

Memory is bounded twice: each client's windows are fixed-size rings, and the
store keeps at most ``max_clients`` clients, dropping the least recently seen
(and any idle longer than ``idle_ttl_s`` of event time), counting evictions.
Event time is the store's ``watermark``, the latest time it was given, never
one event's own ``ts`` (which may arrive late); the detector admits only events
close to it (``detector.event_time``), so no single ``ts`` can move it far.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featurizers.input_scale import ModelScale
from featurizers.ring import Ring

LABEL_BITS = 24
"""A string label's class index is this many bits of its CRC-32: exact in the float32 rows that keep them."""


def label_class(label: str) -> int:
    """The class index of a string label: the same in every process whatever order labels arrive in,
    so that a client's window keeps its meaning when the client moves to another worker.

    >>> label_class("cat"), label_class("cat") == label_class("cat"), label_class("cat") == label_class("dog")
    (6177704, True, False)
    """
    return zlib.crc32(label.encode("utf-8", "surrogatepass")) & ((1 << LABEL_BITS) - 1)


@dataclass
class ModelState:
    """What the detector knows of one model_id across all its clients.

    ``scale`` owns the model's input scale (:mod:`featurizers.input_scale`: provisional, then settled or
    adopted); ``observed`` counts the events taken in, so that of two views of the model the one that saw
    more is the one checkpointed (``detector.worker.checkpoint_store``).
    """

    model_id: str
    scale: ModelScale = field(default_factory=ModelScale)
    n_classes: int = 0
    labels: set[str] = field(default_factory=set)
    """The string labels seen (at most ``MAX_LABELS``): their count is the model's classes."""
    observed: int = 0
    shared: dict[str, Any] = field(default_factory=dict)
    """Cross-client structures owned by featurizers, keyed by featurizer name."""

    MAX_LABELS = 4096

    @property
    def input_dim(self) -> int | None:
        return self.scale.dim

    def observe_input(self, x: np.ndarray, counts: bool = True) -> None:
        """One novel input of the model (its scale learns from these while provisional; with ``counts``
        the input also counts towards settling it, :meth:`ModelScale.observe`)."""
        self.scale.observe(x, counts)

    def class_of(self, label: str | int | None) -> int:
        """A small integer per label, the same in every process (ints are taken as class indexes,
        strings hashed by :func:`label_class`); -1 if unknown.

        >>> m = ModelState("m")
        >>> m.class_of("cat") == m.class_of("cat") != m.class_of("dog"), m.class_of(7), m.class_of(None), m.n_classes
        (True, 7, -1, 8)
        """
        if label is None:
            return -1
        if isinstance(label, int):
            self.n_classes = max(self.n_classes, label + 1)
            return label
        if label not in self.labels:
            if len(self.labels) >= self.MAX_LABELS:
                return -1
            self.labels.add(label)
            self.n_classes = max(self.n_classes, len(self.labels))
        return label_class(label)


@dataclass
class ClientState:
    """The recent history of one client against one model.

    ``ts`` and ``event_ids`` cover every event; ``inputs`` only the events that
    logged an input (``input_ts`` are their times). Featurizers keep their own
    per-client series in ``slots[name]``. ``anomalous_run`` counts the latest
    consecutive scored windows the anomaly model found anomalous.
    """

    model_id: str
    client_id: str
    window: int
    ts: Ring
    event_ids: list[str]
    inputs: Ring | None = None
    input_ts: Ring | None = None
    n_events: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    events_since_scored: int = 0
    anomalous_run: int = 0
    taught: int = 0
    """Novel inputs this client counted towards its model's settled scale (at most ``SETTLE_SHARE``)."""
    slots: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, model_id: str, client_id: str, window: int) -> "ClientState":
        return cls(model_id, client_id, window, Ring(window, dtype=np.float64), [""] * window)

    def append(self, event_id: str, ts: float, x: np.ndarray | None) -> None:
        """Record one event (times may arrive slightly out of order; ``last_ts`` is the max)."""
        self.event_ids[self.ts.head] = event_id
        self.ts.append(ts)
        self.first_ts = ts if self.n_events == 0 else min(self.first_ts, ts)
        self.last_ts = max(self.last_ts, ts)
        self.n_events += 1
        self.events_since_scored += 1
        if x is not None:
            if self.inputs is None or self.inputs.data.shape[1] != x.shape[0]:
                self.inputs = Ring(self.window, width=int(x.shape[0]))
                self.input_ts = Ring(self.window, dtype=np.float64)
            self.inputs.append(x)
            self.input_ts.append(ts)

    def recent_event_ids(self, limit: int) -> list[str]:
        """Newest first, at most ``limit``."""
        n = min(limit, len(self.ts))
        return [self.event_ids[(self.ts.head - 1 - i) % self.window] for i in range(n)]

    def window_span(self) -> tuple[float, float]:
        """Event times spanned by the current window."""
        stored = self.ts.filled()
        return float(stored.min()), float(stored.max())

    @property
    def nbytes(self) -> int:
        """Approximate bytes held in this client's buffers."""
        total = self.ts.nbytes + 8 * self.window
        if self.inputs is not None:
            total += self.inputs.nbytes + self.input_ts.nbytes
        for slot in self.slots.values():
            total += getattr(slot, "nbytes", 0)
        return total

    @property
    def max_nbytes(self) -> int:
        """The most :attr:`nbytes` can grow to: slots that grow with the client (a long history)
        declare their bound as ``max_nbytes``; the others are full-size from the start."""
        growth = sum(slot.max_nbytes - slot.nbytes for slot in self.slots.values() if hasattr(slot, "max_nbytes"))
        return self.nbytes + growth


class StateStore:
    """Bounded map (model_id, client_id) -> :class:`ClientState`, least recently seen evicted first.

    >>> s = StateStore(window=4, max_clients=2, idle_ttl_s=100)
    >>> for c, t in (("a", 0), ("b", 1), ("c", 2)):
    ...     _ = s.touch("m", c, t)
    >>> sorted(k[1] for k in s.clients), s.evicted
    (['b', 'c'], 1)
    >>> _ = s.touch("m", "d", 500)   # b and c idle > 100 s
    >>> sorted(k[1] for k in s.clients), s.evicted
    (['d'], 3)
    >>> _ = s.touch("m", "e", 450)   # late: idleness is measured from the watermark
    >>> s.watermark, len(s)
    (500, 2)
    """

    def __init__(
        self,
        window: int = 64,
        max_clients: int = 100_000,
        idle_ttl_s: float = 3600.0,
        models: dict[str, ModelState] | None = None,
    ) -> None:
        self.window = window
        self.max_clients = max_clients
        self.idle_ttl_s = idle_ttl_s
        self.clients: OrderedDict[tuple[str, str], ClientState] = OrderedDict()
        self.models: dict[str, ModelState] = {} if models is None else models
        """Per-model context; several stores (one per Kafka partition) may share one dict."""
        self.evicted = 0
        self.watermark = -math.inf
        """The latest event time seen: what idleness is measured from."""

    def model(self, model_id: str) -> ModelState:
        state = self.models.get(model_id)
        if state is None:
            state = self.models[model_id] = ModelState(model_id)
        return state

    def touch(self, model_id: str, client_id: str, now: float) -> ClientState:
        """The client's state (created if new), marked most recently seen; evicts as needed."""
        key = (model_id, client_id)
        state = self.clients.get(key)
        if state is None:
            state = self.clients[key] = ClientState.new(model_id, client_id, self.window)
        else:
            self.clients.move_to_end(key)
        state.last_ts = max(state.last_ts, now)
        self.watermark = max(self.watermark, now)
        self._evict(self.watermark)
        return state

    def _evict(self, now: float) -> None:
        while len(self.clients) > self.max_clients:
            self.clients.popitem(last=False)
            self.evicted += 1
        while self.clients:
            oldest = next(iter(self.clients.values()))
            if now - oldest.last_ts <= self.idle_ttl_s:
                break
            self.clients.popitem(last=False)
            self.evicted += 1

    def __len__(self) -> int:
        return len(self.clients)
