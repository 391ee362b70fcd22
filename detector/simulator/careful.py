"""Disguises a careful attacker wraps around an attack's queries.

The other careful variants change who sends the queries or how fast
(``slow``: a query every few seconds; ``split``: round-robin over many API
keys; ``top1``: a top-1 API) and are set up in ``detector.simulator.kinds``.
The two here change *what* is sent, and hand the attack only the answers to
its own questions:

- ``cover``: real samples interleaved with the attack's queries;
- ``noisy``: random noise on every probe, to blur the finite-difference
  structure (the attack estimates from the answers it gets anyway).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe

Disguise = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""batch -> (what is sent, mask of the sent rows that are the attack's own)."""


def _relay(probe: Probe, disguise: Disguise) -> Probe:
    """Send each of the attack's batches disguised; give it the answers to its own rows."""
    try:
        batch = next(probe)
        while True:
            sent, own = disguise(batch)
            batch = probe.send((yield sent).take(own))
    except StopIteration:
        return


def covered(probe: Probe, cover: np.ndarray, share: float, rng: np.random.Generator) -> Probe:
    """Interleave cover queries drawn from ``cover`` so they are about ``share`` of all queries.

    >>> def asks_twice():
    ...     yield np.zeros((3, 2))
    ...     yield np.zeros((3, 2))
    >>> wrapped = covered(asks_twice(), np.ones((5, 2)), 0.5, np.random.default_rng(1))
    >>> sent = next(wrapped)
    >>> len(sent), int((sent == 0).all(axis=1).sum())  # the attack's 3 queries among cover samples
    (6, 3)
    """

    def disguise(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_cover = int(rng.negative_binomial(len(batch), 1.0 - share))
        is_cover = np.zeros(len(batch) + n_cover, dtype=bool)
        is_cover[rng.choice(len(is_cover), n_cover, replace=False)] = True
        sent = np.empty((len(is_cover), batch.shape[1]))
        sent[~is_cover] = batch
        sent[is_cover] = cover[rng.integers(len(cover), size=n_cover)]
        return sent, ~is_cover

    return _relay(probe, disguise)


def noised(probe: Probe, data: Dataset, sigma: float, rng: np.random.Generator) -> Probe:
    """Add Gaussian noise of ``sigma`` (share of each feature's range) to every probe, clipped to the range."""

    def disguise(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        noisy = data.clip(batch + sigma * data.span * rng.standard_normal(batch.shape))
        return noisy, np.ones(len(batch), dtype=bool)

    return _relay(probe, disguise)
