"""Wait for a condition by polling it until a deadline, never by sleeping a fixed time.

Tests and the service launchers share this one loop, so every wait in the
suite is bounded and says what it was waiting for when it gives up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.01) -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    Raises :class:`TimeoutError` naming ``what`` if ``timeout`` seconds pass
    first. ``condition`` is always called at least once, and once more at the
    deadline, so a slow first call does not cost the last chance.

    >>> answers = iter([None, 0, "ready"])
    >>> poll_until(lambda: next(answers), timeout=1.0, what="the answer", interval=0)
    'ready'
    >>> poll_until(lambda: False, timeout=0.02, what="a miracle")
    Traceback (most recent call last):
    ...
    TimeoutError: a miracle did not happen within 0.02 s
    """
    deadline = time.monotonic() + timeout
    while True:
        last_chance = time.monotonic() >= deadline
        result = condition()
        if result:
            return result
        if last_chance:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
