"""When to retry a webhook delivery, and after how long.

Connection errors, timeouts, 5xx and 429 are retried with exponential backoff
and full jitter, waiting at least what a ``Retry-After`` header asks (up to the
backoff cap); any other answer that is not 2xx (a 4xx: wrong URL, rejected
signature, ...) will not get better by itself and fails the delivery at once,
as does the last allowed attempt.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from detector.worker.backoff import Backoff


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: ``delivered``, ``retry`` (a transient failure) or ``failed``."""

    kind: Literal["delivered", "retry", "failed"]
    detail: str
    retry_after_s: float | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or an HTTP date); None if absent or unreadable.

    >>> parse_retry_after("120"), parse_retry_after("soon"), parse_retry_after(None)
    (120.0, None, None)
    >>> parse_retry_after("Sun, 22 Nov 2026 05:01:30 GMT", datetime(2026, 11, 22, 5, 1, 0, tzinfo=timezone.utc))
    30.0
    >>> parse_retry_after("Sun, 22 Nov 2026 05:00:00 GMT", datetime(2026, 11, 22, 5, 1, 0, tzinfo=timezone.utc))
    0.0
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def classify_response(status: int, headers: Mapping[str, str]) -> Outcome:
    """The outcome of an HTTP answer.

    >>> [classify_response(s, {}).kind for s in (200, 204, 500, 503, 429, 400, 401, 404, 301)]
    ['delivered', 'delivered', 'retry', 'retry', 'retry', 'failed', 'failed', 'failed', 'failed']
    >>> classify_response(429, {"retry-after": "7"}).retry_after_s
    7.0
    """
    if 200 <= status < 300:
        return Outcome("delivered", f"HTTP {status}")
    if status == 429 or status >= 500:
        return Outcome("retry", f"HTTP {status}", parse_retry_after(headers.get("retry-after")))
    return Outcome("failed", f"HTTP {status} (not retried)")


def classify_error(exc: httpx.HTTPError) -> Outcome:
    """The outcome of a request that got no answer: network trouble is retried, a bad URL is not.

    >>> classify_error(httpx.ConnectError("refused")).kind, classify_error(httpx.ReadTimeout("slow")).kind
    ('retry', 'retry')
    >>> classify_error(httpx.UnsupportedProtocol("ftp")).kind
    'failed'
    """
    if isinstance(exc, httpx.TimeoutException):
        return Outcome("retry", f"timeout ({type(exc).__name__})")
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return Outcome("retry", f"{type(exc).__name__}: {exc}")
    return Outcome("failed", f"{type(exc).__name__}: {exc} (not retried)")


@dataclass
class RetryPolicy:
    """Attempts allowed and the delays between them.

    >>> p = RetryPolicy(max_attempts=3, backoff=Backoff(base=1.0, cap=60.0, rng=random.Random(1)))
    >>> retry = Outcome("retry", "HTTP 503")
    >>> 0.0 <= p.delay_after(1, retry) <= 1.0, 0.0 <= p.delay_after(2, retry) <= 2.0, p.delay_after(3, retry)
    (True, True, None)
    >>> p.delay_after(1, Outcome("retry", "HTTP 429", retry_after_s=30.0)) >= 30.0
    True
    >>> p.delay_after(1, Outcome("retry", "HTTP 429", retry_after_s=3600.0))
    60.0
    >>> p.delay_after(1, Outcome("failed", "HTTP 404 (not retried)")) is None
    True
    """

    max_attempts: int
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=600.0))

    def delay_after(self, attempts_made: int, outcome: Outcome) -> float | None:
        """Seconds until the next attempt after ``attempts_made`` attempts, or None: give up."""
        if outcome.kind != "retry" or attempts_made >= self.max_attempts:
            return None
        delay = self.backoff.delay(attempts_made)
        if outcome.retry_after_s is not None:
            delay = max(delay, min(outcome.retry_after_s, self.backoff.cap))
        return delay
