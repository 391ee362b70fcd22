"""Simulated parties and the inference events they cause.

An :class:`Actor` is one party on the timeline: a benign client, an
attacker, or an attacker behind several API keys (its
:class:`~detector.simulator.variants.Schedule` says which key sends each
query, and may replace the pace of its stream). It owns a stream of served
queries and a fixed number of events, known up front so the ground truth
can be written before the traffic. :func:`events` turns it into contract events (without
``event_id``, which the writer assigns in timeline order).

Times: the queue order is the time a query was served; the logged ``ts``
equals it except for rare events (:data:`JITTER_SHARE`) logged up to
:data:`MAX_JITTER_S` early, as a replica with a skewed clock would, so a
client's events are occasionally slightly out of order, as the contract
allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from detector.simulator.api import round_significant
from detector.simulator.traffic import MIN_GAP_S, Served
from detector.simulator.variants import Schedule

EPOCH = 1795300000.0
"""Simulated time zero (epoch seconds)."""

JITTER_SHARE = 0.001
MAX_JITTER_S = 2.0

Timed = tuple[float, int, dict[str, object]]
"""(seconds since the epoch in serving order, actor number, event)."""


@dataclass(frozen=True)
class ClientTruth:
    """Ground truth for one client id: what it is, and how many events it sent."""

    client_id: str
    model_id: str
    kind: str
    attack: bool
    variant: str | None
    group: str | None
    target_class: int | None
    n_events: int


@dataclass(frozen=True)
class Identity:
    """An API key and the request context it is seen with."""

    client_id: str
    meta: dict[str, str]


@dataclass
class Actor:
    """One party: who it is, what it sends, when it starts and what it really is."""

    kind: str
    model_id: str
    identities: list[Identity]
    served: Iterator[Served]
    n_events: int
    start_s: float
    jitter_rng: np.random.Generator
    attack: bool
    variant: str | None = None
    group: str | None = None
    target_class: int | None = None
    schedule: Schedule | None = None
    """Which key sends each query and when; None: the one key, at the stream's own pace."""

    def truth(self) -> list[ClientTruth]:
        """One row per API key that sends anything."""
        counts = [self.n_events] if self.schedule is None else self.schedule.counts(len(self.identities))
        return [
            ClientTruth(
                identity.client_id,
                self.model_id,
                self.kind,
                self.attack,
                self.variant,
                self.group,
                self.target_class,
                count,
            )
            for identity, count in zip(self.identities, counts)
            if count
        ]


def events(actor: Actor, number: int) -> Iterator[Timed]:
    """The actor's first ``n_events`` served queries as timed events, in serving order."""
    clock, sent, schedule = actor.start_s, 0, actor.schedule
    rng = actor.jitter_rng
    for gaps, inputs, answers in actor.served:
        take = min(len(inputs), actor.n_events - sent)
        if schedule is not None and schedule.gaps is not None:
            gaps = schedule.gaps[sent : sent + take]
        served_at = clock + np.cumsum(np.maximum(gaps[:take], MIN_GAP_S))
        clock = float(served_at[-1])
        early = np.where(rng.random(take) < JITTER_SHARE, rng.uniform(0.0, MAX_JITTER_S, take), 0.0)
        logged = np.round(EPOCH + served_at - early, 3).tolist()
        rows = round_significant(inputs[:take])
        for i, (at, ts, row, output) in enumerate(zip(served_at.tolist(), logged, rows, answers.logged(take))):
            identity = actor.identities[0 if schedule is None else schedule.keys[sent + i]]
            event = {
                "v": 1,
                "event_id": "",
                "ts": ts,
                "client_id": identity.client_id,
                "model_id": actor.model_id,
                "input": row.tolist(),
                "output": output,
                "meta": identity.meta,
            }
            yield at, number, event
        sent += take
        if sent >= actor.n_events:
            return
