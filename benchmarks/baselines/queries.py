"""The baselines' view of a timeline: per model, every query's client, input and predicted class, in order.

The published stateful detectors read nothing of an event but who sent it,
to which model, the input, and (PRADA) the predicted class. :func:`collect`
turns inference events (the version 1 contract) into one
:class:`ModelQueries` per ``model_id``: float32 inputs in timeline order with
each query's client and its position among that client's events, so a
detector's first flag can be reported as "the client's n-th query", as the
detection benchmark counts it. Events without an input still count in their
client's positions; they are simply not queries a baseline can see.

Every baseline leaves out a query whose input is byte-identical to one seen
before (by the same client for the per-client detectors, by anyone for
Blacklight's shared table): :attr:`ModelQueries.repeat` and
:attr:`ModelQueries.seen`. The papers do not; without it a retry, a health
check, or two users sending the same photo are "queries at distance 0",
and those benign clients set every threshold. Our own detector does the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

Key = tuple[str, str]
"""(model_id, client_id)."""

UNKNOWN_CLASS = -1
"""The predicted class of an answer that names none (a confidence alone)."""


@dataclass(frozen=True, eq=False)
class ModelQueries:
    """One model's queries in timeline order.

    ``client`` indexes ``clients``; ``position`` is the query's index among
    its client's events; ``label`` the predicted class as a small integer
    (codes per model, :data:`UNKNOWN_CLASS` when the answer has none);
    ``repeat`` marks an input identical to an earlier one of the same client,
    ``seen`` one identical to an earlier one of any client.
    """

    model_id: str
    clients: list[str]
    client: np.ndarray
    position: np.ndarray
    x: np.ndarray
    label: np.ndarray
    repeat: np.ndarray
    seen: np.ndarray

    def __len__(self) -> int:
        return len(self.client)

    def by_client(self) -> Iterator[tuple[int, np.ndarray]]:
        """Each client's number and the indices of its queries, in order.

        >>> q = collect([event("m", c, [float(i)]) for i, c in enumerate("abab")])["m"]
        >>> [(q.clients[c], rows.tolist()) for c, rows in q.by_client()]
        [('a', [0, 2]), ('b', [1, 3])]
        """
        order = np.argsort(self.client, kind="stable")
        starts = np.flatnonzero(np.diff(self.client[order], prepend=-1))
        for rows in np.split(order, starts[1:]):
            yield int(self.client[rows[0]]), rows


class _Builder:
    """Accumulates one model's queries."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.clients: dict[str, int] = {}
        self.events_of: list[int] = []
        self.seen_by: list[set[int]] = []
        self.seen_any: set[int] = set()
        """64-bit digests of the inputs seen, per client and by anyone."""
        self.classes: dict[object, int] = {}
        self.rows: list[tuple[int, int, np.ndarray, int, bool, bool]] = []
        self.width: int | None = None

    def add(self, event: Mapping) -> None:
        client = self.clients.setdefault(event["client_id"], len(self.clients))
        if client == len(self.events_of):
            self.events_of.append(0)
            self.seen_by.append(set())
        position = self.events_of[client]
        self.events_of[client] += 1
        values = event.get("input")
        if values is None:
            return
        x = np.asarray(values, dtype=np.float32)
        if self.width is None:
            self.width = len(x)
        elif len(x) != self.width:
            raise ValueError(f"{self.model_id}: inputs of {len(x)} and {self.width} values; one model, one length")
        digest = int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest())
        repeat, seen = digest in self.seen_by[client], digest in self.seen_any
        self.seen_by[client].add(digest)
        self.seen_any.add(digest)
        self.rows.append((client, position, x, self.predicted(event["output"]), repeat, seen))

    def predicted(self, output: Mapping) -> int:
        label = output.get("label")
        if label is None and output.get("scores") is not None:
            label = int(np.argmax(output["scores"]))
        if label is None:
            return UNKNOWN_CLASS
        return self.classes.setdefault(label, len(self.classes))

    def build(self) -> ModelQueries:
        client, position, x, label, repeat, seen = zip(*self.rows) if self.rows else ((),) * 6
        return ModelQueries(
            model_id=self.model_id,
            clients=list(self.clients),
            client=np.array(client, dtype=np.int64),
            position=np.array(position, dtype=np.int64),
            x=np.stack(x) if x else np.zeros((0, self.width or 0), dtype=np.float32),
            label=np.array(label, dtype=np.int64),
            repeat=np.array(repeat, dtype=bool),
            seen=np.array(seen, dtype=bool),
        )


def collect(events: Iterable[Mapping]) -> dict[str, ModelQueries]:
    """Every model's queries, from inference events in timeline order.

    >>> q = collect([event("m", "a", [1.0, 2.0]), event("m", "b", [1.0, 2.0]), event("m", "a", [1.0, 2.0])])["m"]
    >>> q.x.shape, q.repeat.tolist(), q.seen.tolist(), q.position.tolist()
    ((3, 2), [False, False, True], [False, True, True], [0, 0, 1])
    """
    builders: dict[str, _Builder] = {}
    for item in events:
        model_id = item["model_id"]
        builder = builders.get(model_id)
        if builder is None:
            builder = builders[model_id] = _Builder(model_id)
        builder.add(item)
    return {model_id: builder.build() for model_id, builder in builders.items()}


def read_events(path: Path) -> Iterator[dict]:
    """The events of a JSONL file, one per line."""
    with open(path, "rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def event(model_id: str, client_id: str, x: list[float], label: int = 0) -> dict:
    """A minimal inference event (for examples and tests).

    >>> sorted(event("m", "a", [0.5]))
    ['client_id', 'input', 'model_id', 'output']
    """
    return {"model_id": model_id, "client_id": client_id, "input": x, "output": {"label": label}}
