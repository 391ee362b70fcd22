"""Exponential backoff with full jitter, for everything that waits for a service to come back.

Full jitter (a uniform delay between zero and the exponential bound) keeps many
workers, or many webhook deliveries, from retrying in lockstep after an outage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of attempt 1, 2, ...: uniform in ``[0, min(cap, base * 2**(attempt-1))]``.

    >>> b = Backoff(base=1.0, cap=5.0, rng=random.Random(0))
    >>> [round(b.bound(n), 1) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]
    >>> all(0.0 <= b.next() <= 5.0 for _ in range(20)), b.attempts
    (True, 20)
    """

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def bound(self, attempt: int) -> float:
        """The largest delay of attempt ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, 62))

    def delay(self, attempt: int) -> float:
        """A jittered delay for attempt ``attempt``."""
        return self.rng.uniform(0.0, self.bound(attempt))

    def next(self) -> float:
        """The delay before the next retry (counts the attempt)."""
        self.attempts += 1
        return self.delay(self.attempts)

    def reset(self) -> None:
        self.attempts = 0
