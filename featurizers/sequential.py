"""Per-client sequential evidence, and what a client may teach per-model state: the two patterns every
featurizer that learns "normal" from the model's own clients shares.

- :class:`BernoulliCusum`: Page's (1954) CUSUM of a client's share of
  suspicious queries, tuned to tell a share ``p1`` from the benign ``p0``:
  a few dozen suspicious queries are evidence, a benign client's occasional
  one fades.
- :class:`HeldBack`: what one client contributes to per-model state (a
  reservoir, a reference sketch), at most ``share`` items, held until its
  scored window is settled (``Featurizer.settle``): released if no detector
  fired, dropped if one did, and nothing more from a client flagged once.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

Item = TypeVar("Item")


class BernoulliCusum:
    """Steps of a Bernoulli CUSUM: each hit adds ``log(p1/p0)``, each miss ``log((1-p1)/(1-p0))``; floored at 0.

    >>> c = BernoulliCusum(0.05, 0.3)
    >>> round(c.hit, 2), round(c.miss, 2)
    (1.79, -0.31)
    >>> value = 0.0
    >>> for hit in (True, True, False, True):
    ...     value = c.update(value, hit)
    >>> round(value, 2), c.update(0.1, False)
    (5.07, 0.0)
    """

    __slots__ = ("p0", "p1", "hit", "miss")

    def __init__(self, p0: float, p1: float) -> None:
        if not 0.0 < p0 < p1 < 1.0:
            raise ValueError(f"a CUSUM needs 0 < p0 < p1 < 1, not p0={p0}, p1={p1}")
        self.p0, self.p1 = p0, p1
        self.hit = math.log(p1 / p0)
        self.miss = math.log((1 - p1) / (1 - p0))

    def update(self, value: float, hit: bool) -> float:
        """The statistic after one more query."""
        return max(0.0, value + (self.hit if hit else self.miss))


class HeldBack(Generic[Item]):
    """One client's contributions to per-model state, waiting for its scored window to settle.

    >>> held = HeldBack[int](share=2)
    >>> for x in (1, 2, 3):
    ...     held.offer(x)
    >>> held.settle(flagged=False), held.settle(flagged=False)
    ([1, 2], [])
    >>> late = HeldBack[int](share=5)
    >>> late.offer(7); late.settle(flagged=True); late.offer(8)
    []
    >>> late.settle(flagged=False), late.flagged
    ([], True)
    """

    __slots__ = ("share", "given", "pending", "flagged")

    def __init__(self, share: int) -> None:
        self.share = share
        self.given = 0
        """Items released or waiting (at most ``share``)."""
        self.pending: list[Item] = []
        self.flagged = False
        """A detector fired on the client once: it teaches nothing more."""

    @property
    def accepting(self) -> bool:
        """Whether an item offered now would be held (the client is not flagged and has share left)."""
        return not self.flagged and self.given < self.share

    def offer(self, item: Item) -> None:
        """Hold one item, unless the client is flagged or has given its share."""
        if self.accepting:
            self.given += 1
            self.pending.append(item)

    def settle(self, flagged: bool) -> list[Item]:
        """The items to teach the model now: the waiting ones if no detector fired, else none (ever again)."""
        released = [] if flagged else self.pending
        self.flagged = self.flagged or flagged
        self.pending = []
        return released
