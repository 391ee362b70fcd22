"""The dispatcher's decisions against a scripted receiver (httpx mock transport) and a SQLite outbox:
signing, delivery, retry with backoff and Retry-After, no retry on other 4xx, the attempt limit,
leases, and redelivery."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from detector.commands.webhook import redeliver
from detector.db.alert_store import AlertFilter, AlertStore, alert_from_row
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.db.tables import webhook_outbox
from detector.settings import Settings
from detector.webhook.dispatcher import Dispatcher
from detector.webhook.outbox import Outbox
from detector.webhook.policy import RetryPolicy
from detector.webhook.signing import SIGNATURE_HEADER, sign
from detector.worker.backoff import Backoff
from tests.worker.harness import queue_alerts

URL = "https://soc.example.com/hooks/abc"
SECRET = "whsec-unit"


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    ensure_schema(engine)
    yield engine
    engine.dispose()


def queue(engine) -> str:
    (alert_id,) = queue_alerts(engine)
    return alert_id


class Script:
    """A receiver answering from a list (a status, a (status, headers) pair, or an exception to raise)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return httpx.Response(status, headers=headers)


def dispatcher(engine, script: Script, *, secret: str | None = SECRET, max_attempts: int = 5) -> Dispatcher:
    policy = RetryPolicy(max_attempts, Backoff(base=2.0, cap=60.0, rng=random.Random(3)))
    client = httpx.Client(transport=httpx.MockTransport(script))
    return Dispatcher(engine, URL, secret=secret, policy=policy, timeout_s=5.0, client=client)


def row(engine, alert_id: str):
    with engine.connect() as connection:
        return connection.execute(select(webhook_outbox).where(webhook_outbox.c.alert_id == alert_id)).one()


def make_due(engine) -> None:
    """Skip the backoff wait (the delay itself was checked when it was set)."""
    with engine.begin() as connection:
        connection.execute(update(webhook_outbox).values(next_attempt_at=datetime.now(timezone.utc)))


def seconds_until(value: datetime) -> float:
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return (value - datetime.now(timezone.utc)).total_seconds()


def test_delivery_posts_the_alert_contract_signed_over_the_raw_body(engine) -> None:
    alert_id = queue(engine)
    script = Script(200)
    assert dispatcher(engine, script).deliver_due() == 1
    (request,) = script.requests
    body = request.content
    assert request.headers[SIGNATURE_HEADER] == sign(body, SECRET)
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(body) == alert_from_row(AlertStore(engine).get(alert_id)).model_dump()
    stored = row(engine, alert_id)
    assert stored.state == "delivered" and stored.attempts == 1 and stored.delivered_at is not None
    assert dispatcher(engine, Script()).deliver_due() == 0, "a delivered alert is not sent again"


def test_no_signature_header_without_a_secret(engine) -> None:
    queue(engine)
    script = Script(204)
    dispatcher(engine, script, secret=None).deliver_due()
    assert SIGNATURE_HEADER not in script.requests[0].headers


@pytest.mark.parametrize(
    "answer", [500, 503, 429, httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")]
)
def test_transient_failures_are_retried_later_with_backoff(engine, answer) -> None:
    alert_id = queue(engine)
    dispatcher(engine, Script(answer)).deliver_due()
    stored = row(engine, alert_id)
    assert stored.state == "pending" and stored.attempts == 1 and stored.last_error
    assert 0.0 <= seconds_until(stored.next_attempt_at) <= 2.0 + 1.0  # first backoff bound is 2 s
    assert dispatcher(engine, Script()).deliver_due() == 0, "not due before its backoff ends"


def test_retry_after_is_honoured(engine) -> None:
    alert_id = queue(engine)
    dispatcher(engine, Script((429, {"Retry-After": "30"}))).deliver_due()
    assert 29.0 <= seconds_until(row(engine, alert_id).next_attempt_at) <= 31.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
def test_other_answers_fail_at_once(engine, status: int) -> None:
    alert_id = queue(engine)
    dispatcher(engine, Script(status)).deliver_due()
    stored = row(engine, alert_id)
    assert stored.state == "failed" and stored.attempts == 1 and f"HTTP {status}" in stored.last_error


def test_the_last_attempt_fails_the_delivery_and_redeliver_queues_it_again(engine, capsys) -> None:
    alert_id = queue(engine)
    for _ in range(3):
        dispatcher(engine, Script(500), max_attempts=3).deliver_due()
        make_due(engine)
    stored = row(engine, alert_id)
    assert stored.state == "failed" and stored.attempts == 3 and stored.last_error == "HTTP 500"
    store = AlertStore(engine)
    assert [r.delivery for r in store.list(AlertFilter())] == ["failed"]

    assert redeliver(store, None, Settings(webhook_url=URL)) == 0
    assert f"1 failed deliveries queued again\n  {alert_id}\n" in capsys.readouterr().out
    assert row(engine, alert_id).state == "pending" and row(engine, alert_id).attempts == 0
    dispatcher(engine, Script(200)).deliver_due()
    assert row(engine, alert_id).state == "delivered"


def test_a_claimed_row_is_leased_and_a_stale_claim_cannot_finish_it(engine) -> None:
    alert_id = queue(engine)
    outbox = Outbox(engine)
    (first,) = outbox.claim(limit=10, lease_s=60.0)
    assert outbox.claim(limit=10, lease_s=60.0) == [], "in flight: not claimed twice"
    with engine.begin() as connection:  # the lease runs out (the first dispatcher hung)
        connection.execute(update(webhook_outbox).values(next_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    (second,) = outbox.claim(limit=10, lease_s=60.0)
    assert second.attempt == first.attempt + 1
    assert not outbox.delivered(first), "the stale claim no longer owns the row"
    assert outbox.delivered(second)
    assert row(engine, alert_id).state == "delivered"
    assert outbox.depth() == 0
