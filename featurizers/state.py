"""Per-(model_id, client_id) state and its bounded store, plus per-model context.

Memory is bounded twice: each client's windows are fixed-size rings, and the
store keeps at most ``max_clients`` clients, dropping the least recently seen
(and any idle longer than ``idle_ttl_s`` of event time), counting evictions.
Event time is the store's ``watermark``, the latest time it was given, never
one event's own ``ts`` (which may arrive late); the detector admits only events
close to it (``detector.event_time``), so no single ``ts`` can move it far.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featurizers.ring import Ring

NORMALISER_FLOOR = 0.1
"""A coordinate's scale is at least this fraction of the mean scale, so a
coordinate that never varies in benign traffic does not blow distances up."""


class InputNormaliser:
    """Running per-coordinate mean and standard deviation of one model's inputs (Welford).

    Distances between inputs are taken after dividing by :meth:`scale` and by
    the square root of the dimension, which makes them scale-free and
    comparable across models of different input sizes.

    >>> n = InputNormaliser(2)
    >>> for x in ([0, 0], [2, 10], [4, 20]):
    ...     n.update(np.array(x, dtype=np.float32))
    >>> [round(float(v), 2) for v in n.scale()]
    [1.63, 8.16]
    """

    __slots__ = ("count", "mean", "m2")

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.m2 = np.zeros(dim, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def scale(self) -> np.ndarray:
        """Per-coordinate standard deviation, floored (all ones before two inputs)."""
        if self.count < 2:
            return np.ones_like(self.mean, dtype=np.float32)
        std = np.sqrt(self.m2 / self.count)
        floor = max(NORMALISER_FLOOR * float(std.mean()), 1e-6)
        return np.maximum(std, floor).astype(np.float32)


@dataclass
class ModelState:
    """What the detector knows of one model_id across all its clients."""

    model_id: str
    input_dim: int | None = None
    normaliser: InputNormaliser | None = None
    n_classes: int = 0
    label_index: dict[str, int] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)
    """Cross-client structures owned by featurizers, keyed by featurizer name."""

    MAX_LABELS = 4096

    def observe_input(self, x: np.ndarray) -> None:
        if self.normaliser is None:
            self.input_dim = int(x.shape[0])
            self.normaliser = InputNormaliser(self.input_dim)
        self.normaliser.update(x)

    def class_of(self, label: str | int | None) -> int:
        """A stable small integer for a label (ints are taken as class indexes); -1 if unknown.

        >>> m = ModelState("m")
        >>> m.class_of("cat"), m.class_of("dog"), m.class_of("cat"), m.class_of(7), m.class_of(None)
        (0, 1, 0, 7, -1)
        """
        if label is None:
            return -1
        if isinstance(label, int):
            self.n_classes = max(self.n_classes, label + 1)
            return label
        index = self.label_index.get(label)
        if index is None:
            if len(self.label_index) >= self.MAX_LABELS:
                return -1
            index = self.label_index[label] = len(self.label_index)
            self.n_classes = max(self.n_classes, index + 1)
        return index


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
