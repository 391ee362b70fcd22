"""Backoff, Retry-After and the retry decision, and the webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from detector.webhook.policy import Outcome, RetryPolicy, classify_error, classify_response, parse_retry_after
from detector.webhook.signing import sign, verify
from detector.worker.backoff import Backoff


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random(7))
    assert [backoff.bound(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    delays = [backoff.delay(6) for _ in range(200)]
    assert all(0.0 <= d <= 10.0 for d in delays)
    assert min(delays) < 2.0 and max(delays) > 8.0, "spread over the whole range, not in lockstep"
    assert backoff.bound(10_000) == 10.0


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 11, 22, 5, 0, tzinfo=timezone.utc)
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 45 ") == 45.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after("-5") is None and parse_retry_after("") is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, "delivered"), (202, "delivered"), (408, "failed"), (429, "retry"), (500, "retry"), (502, "retry"),
     (504, "retry"), (400, "failed"), (401, "failed"), (403, "failed"), (404, "failed"), (422, "failed"),
     (302, "failed")],
)  # fmt: skip
def test_which_answers_are_retried(status: int, kind: str) -> None:
    assert classify_response(status, {}).kind == kind


def test_which_errors_are_retried() -> None:
    assert classify_error(httpx.ConnectTimeout("t")).kind == "retry"
    assert classify_error(httpx.ConnectError("refused")).kind == "retry"
    assert classify_error(httpx.ReadError("reset")).kind == "retry"
    assert classify_error(httpx.InvalidURL("bad")).kind == "failed"


def test_policy_waits_for_retry_after_within_the_cap_and_stops_at_the_limit() -> None:
    policy = RetryPolicy(max_attempts=4, backoff=Backoff(base=1.0, cap=120.0, rng=random.Random(1)))
    busy = Outcome("retry", "HTTP 503", retry_after_s=100.0)
    assert all(100.0 <= policy.delay_after(n, busy) <= 120.0 for n in (1, 2, 3))
    assert policy.delay_after(4, busy) is None
    assert policy.delay_after(1, Outcome("retry", "HTTP 429", retry_after_s=10_000.0)) == 120.0
    assert policy.delay_after(1, Outcome("failed", "HTTP 400 (not retried)")) is None


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"v":1,"alert_id":"01JD4V8Q3J6X0M5Y7T2K9W1B3C"}'
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert sign(body, "k3y") == f"sha256={expected}"
    assert verify(body, "k3y", f"sha256={expected}")
    assert not verify(body, "other", f"sha256={expected}")
    assert not verify(body.replace(b"01JD", b"01JE"), "k3y", f"sha256={expected}")
    assert not verify(body, "k3y", expected), "the sha256= prefix is part of the header value"
