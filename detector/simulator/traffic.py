"""How a client's queries become served queries: the two shapes of client behaviour.

- Benign clients do not react to answers: they are plain iterators of
  :data:`Chunk` ``(gaps_s, inputs)``, each gap being the wait before the
  matching query, so every benign kind owns its timing.
- Attacks do react: an attack is a :data:`Probe`, a generator that yields a
  batch of inputs (n, n_features) and receives the API's :class:`Answers`
  to that batch (``answers = yield batch``). It knows nothing about time,
  the model or the log, which keeps each algorithm as its paper writes it.
  :func:`scripted` runs it against an API at a scripted :class:`Cadence`.

Both end as the same stream of :data:`Served` chunks. Streams are mostly endless;
the client's event budget cuts them (see ``detector.simulator.actors``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np

from detector.simulator.api import Answers, ModelAPI

Chunk = tuple[np.ndarray, np.ndarray]
"""(gaps before each query in seconds, inputs (n, n_features))."""

Probe = Generator[np.ndarray, Answers, None]
"""An attack: yields batches of inputs, receives their answers."""

Served = tuple[np.ndarray, np.ndarray, Answers]
"""(gaps, inputs, answers) of queries that were served."""

MIN_GAP_S = 0.001
"""Shortest gap between two queries of one client, enforced when events are timed
(keeps a client's serving times strictly increasing)."""


@dataclass(frozen=True)
class Cadence:
    """Gaps of a scripted client: lognormal with a mean and a coefficient of variation.

    >>> gaps = Cadence(0.1, 0.3).gaps(np.random.default_rng(0), 10_000)
    >>> round(float(gaps.mean()), 2), round(float(gaps.std() / gaps.mean()), 1)
    (0.1, 0.3)
    """

    mean_s: float
    cv: float

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` gaps in seconds."""
        sigma = np.sqrt(np.log1p(self.cv**2))
        return self.mean_s * rng.lognormal(-(sigma**2) / 2, sigma, n)


def answered(chunks: Iterator[Chunk], api: ModelAPI) -> Iterator[Served]:
    """Serve a benign client's chunks."""
    for gaps, inputs in chunks:
        yield gaps, inputs, api.answer(inputs)


def scripted(probe: Probe, api: ModelAPI, cadence: Cadence, rng: np.random.Generator) -> Iterator[Served]:
    """Run an attack against ``api``, one query after another at ``cadence``.

    An attack that ends (none of the built-in ones do) ends the stream.
    """
    try:
        inputs = next(probe)
        while True:
            answers = api.answer(inputs)
            yield cadence.gaps(rng, len(inputs)), inputs, answers
            inputs = probe.send(answers)
    except StopIteration:
        return
