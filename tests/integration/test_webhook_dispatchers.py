"""Several dispatchers on one PostgreSQL outbox never send one alert twice."""

from __future__ import annotations

import threading

from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.webhook.dispatcher import Dispatcher
from detector.webhook.outbox import Outbox
from detector.webhook.policy import RetryPolicy
from detector.worker.backoff import Backoff
from tests.worker.harness import WebhookReceiver, queue_alerts

ALERTS = 60
DISPATCHERS = 4


def test_concurrent_dispatchers_deliver_each_alert_once(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    ensure_schema(engine)
    alert_ids = sorted(queue_alerts(engine, ALERTS))
    engine.dispose()
    receiver = WebhookReceiver()
    receiver.listen()
    engines = [make_engine(postgres_url) for _ in range(DISPATCHERS)]
    dispatchers = [
        Dispatcher(engine, receiver.url, secret="s", policy=RetryPolicy(3, Backoff(0.01, 0.05)), timeout_s=5.0)
        for engine in engines
    ]
    start = threading.Barrier(DISPATCHERS)

    def drain(dispatcher: Dispatcher) -> None:
        start.wait()
        while dispatcher.deliver_due():
            pass

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert Outbox(engines[0]).depth() == 0
    finally:
        receiver.close()
        for dispatcher, engine in zip(dispatchers, engines):
            dispatcher.close()
            engine.dispose()
    assert sorted(r.alert_id for r in receiver.requests) == alert_ids
